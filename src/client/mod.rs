//! LedgerMQ's own small clients, for our tools, benchmarks, tests and the Jepsen suite.
//! Compatibility is proven with clients nobody here wrote; these are not that.
//!
//! ```text
//! mq.rs        MqClient: name-server calls, route cache, broker address table, client id
//! route.rs     route → writable / readable queues, round-robin selection
//! producer.rs  Producer: sync send and batch send, TBW102 auto-create, failover retries
//! consumer/    Consumer: clustering push consumer (rebalance, long-polling pulls, offsets)
//! admin.rs     MqAdmin: what `ledgermq mqadmin` needs
//! error.rs     ClientError
//! raft_admin.rs  RaftAdminClient: the peer port's admin requests (not RocketMQ)
//! ```
//!
//! What these clients must never do: hide a failure. Every call returns a [`ClientError`]
//! naming the peer and the RocketMQ code, and retries happen only where a retry is safe and
//! documented (the producer's send loop, the consumer's pull loops).

pub mod admin;
pub mod consumer;
pub mod error;
pub mod mq;
pub mod producer;
pub mod raft_admin;
pub mod route;

pub use admin::{BrokerNode, MqAdmin};
pub use consumer::{Consumer, ConsumerConfig, MessageStream, ReceivedMessage};
pub use error::ClientError;
pub use mq::{ClientOptions, MqClient};
pub use producer::{Message, Producer, ProducerConfig, SendResult, SendStatus};
pub use raft_admin::{AdminError, RaftAdminClient};
