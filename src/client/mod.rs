//! LedgerMQ's own small clients, for our tools, benchmarks, tests and the Jepsen suite.
//! Compatibility is proven with clients nobody here wrote; these are not that.
//!
//! ```text
//! mq.rs        MqClient: name-server calls, route cache, broker address table, client id
//! route.rs     route → writable / readable queues, round-robin selection
//! producer.rs  Producer: sync send and batch send, TBW102 auto-create, failover retries
//! consumer/    Consumer: clustering push consumer (rebalance, long-polling pulls, offsets)
//! admin.rs     MqAdmin: what `ledgermq mqadmin` needs
//! browse.rs    more MqAdmin calls for the dashboard: messages by time, offset reset
//! transaction.rs  a transactional send (half message, END_TRANSACTION, check-back answer)
//! error.rs     ClientError
//! raft_admin.rs  RaftAdminClient: the peer port's admin requests (not RocketMQ)
//! ```
//!
//! What these clients must never do: hide a failure. Every call returns a [`ClientError`]
//! naming the peer and the RocketMQ code, and retries happen only where a retry is safe and
//! documented (the producer's send loop, the consumer's pull loops).

pub mod admin;
pub mod browse;
pub mod consumer;
pub mod error;
pub mod mq;
pub mod producer;
pub mod raft_admin;
pub mod route;
pub mod transaction;

pub use admin::{BrokerNode, MqAdmin};
pub use browse::ResetOffset;
pub use consumer::{Consumer, ConsumerConfig, MessageStream, ReceivedMessage};
pub use error::ClientError;
pub use mq::{ClientOptions, MqClient};
pub use producer::{Message, Producer, ProducerConfig, SendResult, SendStatus};
pub use raft_admin::{AdminError, RaftAdminClient};

/// Java producers zlib-compress bodies over 4 KiB and flag them COMPRESSED; the broker stores
/// them as sent, and the consumer inflates them, as Java's does. A body that does not inflate
/// is delivered as stored, flag kept, with a warning.
pub fn inflate_body(mut m: crate::message::MessageExt) -> crate::message::MessageExt {
    use std::io::Read;
    if !crate::message::sysflag::is_compressed(m.sys_flag) {
        return m;
    }
    let mut out = Vec::with_capacity(m.body.len() * 4);
    match flate2::read::ZlibDecoder::new(&m.body[..]).read_to_end(&mut out) {
        Ok(_) => {
            m.body = bytes::Bytes::from(out);
            m.sys_flag = crate::message::sysflag::clear_compressed_flag(m.sys_flag);
        }
        Err(e) => {
            tracing::warn!(topic = %m.topic, queue_offset = m.queue_offset, error = %e, "compressed body does not inflate; delivering it as stored")
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn compressed_bodies_are_inflated_and_others_left_alone() {
        let text = "Hello RocketMQ ".repeat(500);
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(5));
        enc.write_all(text.as_bytes()).unwrap();
        let m = crate::message::MessageExt {
            sys_flag: 0x1,
            body: bytes::Bytes::from(enc.finish().unwrap()),
            ..Default::default()
        };
        let out = super::inflate_body(m);
        assert_eq!(out.body, text.as_bytes());
        assert_eq!(out.sys_flag & 0x1, 0);
        let plain = crate::message::MessageExt {
            body: bytes::Bytes::from_static(b"x"),
            ..Default::default()
        };
        assert_eq!(super::inflate_body(plain).body, &b"x"[..]);
    }
}
