//! The whole send path on a real single-node broker (a master alone in its Raft group, store in
//! a tempdir, no client port): the steps that need topics and a write, end to end. The pure
//! steps are tested in `encode.rs`.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::*;
use crate::broker::message_store::message_at;
use crate::config::BrokerConfig;
use crate::message::{
    decode_offset_msg_id, decode_stored, encode_batch, BatchMessage, MessageExt, MessageProperties,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::SendMessageRequestHeader;
use crate::raft::{RaftNode, RaftNodeConfig};

struct TestBroker {
    bc: Arc<BrokerContext>,
    node: Option<RaftNode>,
    ctx: Arc<ChannelContext>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

impl TestBroker {
    /// An ASYNC_MASTER with `maxMessageSize=1024`, leading its group of one, with the system
    /// topics and `TopicTest` (4 queues).
    async fn start() -> TestBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = format!(
            "brokerName=broker-t\nbrokerIP1=127.0.0.1\nlistenPort={}\nhaListenPort={}\n\
             storePathRootDir={}\nmaxMessageSize=1024\n",
            free_port(),
            free_port(),
            dir.path().display()
        );
        let cfg = BrokerConfig::parse(&conf, &dir.path().join("broker.conf"), false)
            .expect("broker.conf");
        let store_host = format!("127.0.0.1:{}", cfg.listen_port)
            .parse()
            .expect("store host");
        let node = RaftNode::start(RaftNodeConfig::from_broker_config(&cfg))
            .await
            .expect("raft node");
        let bc = Arc::new(BrokerContext::new(cfg, node.core().clone(), store_host));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !bc.is_master() {
            assert!(std::time::Instant::now() < deadline, "never became master");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        bc.topics
            .ensure_system_topics()
            .await
            .expect("system topics");
        bc.topics
            .put(TopicConfig::new("TopicTest", 4))
            .await
            .expect("TopicTest");
        let (ctx, _pushed) = ChannelContext::detached("10.0.0.1:5555".parse().expect("addr"));
        TestBroker {
            bc,
            node: Some(node),
            ctx,
            _dir: dir,
        }
    }

    async fn send(&self, code: i32, h: &SendMessageRequestHeader, body: Bytes) -> RemotingCommand {
        let mut req = RemotingCommand::request(code).with_body(body);
        req.ext_fields = if code == request_code::SEND_MESSAGE {
            h.to_ext()
        } else {
            h.to_v2()
        };
        send(&self.bc, &self.ctx, &req).await
    }

    /// The stored messages a SEND_OK's msgIds name, read back from the CommitLog.
    fn stored(&self, resp: &RemotingCommand) -> Vec<MessageExt> {
        let h = SendMessageResponseHeader::from_ext(&resp.ext_fields).expect("send response");
        h.msg_id
            .split(',')
            .map(|id| {
                let (_, offset) = decode_offset_msg_id(id).expect("offset msgId");
                let bytes =
                    message_at(self.bc.core.broker_state(), offset as u64).expect("stored message");
                decode_stored(&bytes, true).expect("decodes").0
            })
            .collect()
    }

    fn queue_len(&self, topic: &str, queue: u32) -> u64 {
        self.bc
            .core
            .broker_state()
            .consume_queue(topic, queue)
            .map_or(0, |cq| cq.max_offset())
    }

    async fn stop(mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }
}

fn header(topic: &str, properties: &str) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "P".into(),
        topic: topic.into(),
        default_topic: AUTO_CREATE_TOPIC_KEY.into(),
        default_topic_queue_nums: 4,
        queue_id: 1,
        sys_flag: 0,
        born_timestamp: now_ms(),
        flag: 0,
        properties: Some(properties.into()),
        reconsume_times: None,
        unit_mode: false,
        max_reconsume_times: None,
        batch: false,
        broker_name: None,
    }
}

#[tokio::test]
async fn a_retry_past_max_reconsume_times_is_stored_in_the_dead_letter_topic() {
    let b = TestBroker::start().await;
    let body = Bytes::from_static(b"failed too often");

    // Below the limit: stored in the retry topic, auto-created, in the queue it named.
    let h = SendMessageRequestHeader {
        reconsume_times: Some(2),
        max_reconsume_times: Some(3),
        queue_id: 0,
        ..header("%RETRY%G1", "")
    };
    let resp = b.send(request_code::SEND_MESSAGE, &h, body.clone()).await;
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    assert_eq!(b.queue_len("%RETRY%G1", 0), 1);
    assert!(b.bc.topics.get("%DLQ%G1").is_none());

    // At the limit: the group's DLQ topic is created and the message lands in its queue 0.
    let h = SendMessageRequestHeader {
        reconsume_times: Some(3),
        ..h
    };
    let resp = b.send(request_code::SEND_MESSAGE, &h, body.clone()).await;
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    let answer = SendMessageResponseHeader::from_ext(&resp.ext_fields).expect("header");
    assert_eq!((answer.queue_id, answer.queue_offset), (0, 0));
    let dlq = b.bc.topics.get("%DLQ%G1").expect("DLQ topic created");
    assert_eq!((dlq.write_queue_nums, dlq.perm), (1, perm::READ_WRITE));
    assert_eq!(b.queue_len("%DLQ%G1", 0), 1);
    assert_eq!(
        b.queue_len("%RETRY%G1", 0),
        1,
        "nothing more in the retry topic"
    );
    let stored = b.stored(&resp);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].topic, "%DLQ%G1");
    assert_eq!((stored[0].queue_id, stored[0].reconsume_times), (0, 3));
    assert_eq!(stored[0].body, body);
    b.stop().await;
}

#[tokio::test]
async fn a_batch_is_stored_with_the_headers_properties_merged_into_each_message() {
    let b = TestBroker::start().await;
    let frames = encode_batch(&[
        BatchMessage {
            flag: 1,
            body: Bytes::from_static(b"one"),
            properties: MessageProperties::decode("TAGS\u{1}own"),
        },
        BatchMessage {
            flag: 2,
            body: Bytes::from_static(b"two"),
            properties: MessageProperties::new(),
        },
    ])
    .expect("batch");
    let h = SendMessageRequestHeader {
        batch: true,
        ..header("TopicTest", "WAIT\u{1}true\u{2}TAGS\u{1}header")
    };
    let resp = b.send(request_code::SEND_BATCH_MESSAGE, &h, frames).await;
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    let answer = SendMessageResponseHeader::from_ext(&resp.ext_fields).expect("header");
    assert_eq!((answer.queue_id, answer.queue_offset), (1, 0));
    let stored = b.stored(&resp);
    let got: Vec<(i32, &[u8], BTreeMap<&str, &str>)> = stored
        .iter()
        .map(|m| (m.flag, &m.body[..], m.properties.iter().collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                1,
                &b"one"[..],
                BTreeMap::from([("TAGS", "own"), ("WAIT", "true")])
            ),
            (
                2,
                &b"two"[..],
                BTreeMap::from([("TAGS", "header"), ("WAIT", "true")])
            ),
        ]
    );
    assert_eq!(b.queue_len("TopicTest", 1), 2);
    b.stop().await;
}

#[tokio::test]
async fn oversize_bodies_and_empty_batches_are_message_illegal_and_write_nothing() {
    let b = TestBroker::start().await;
    let last = || b.bc.core.commit_log().last_index();
    let before = last();

    let h = header("TopicTest", "");
    let resp = b
        .send(
            request_code::SEND_MESSAGE_V2,
            &h,
            Bytes::from(vec![b'x'; 1025]),
        )
        .await;
    assert_eq!(resp.code, code::MESSAGE_ILLEGAL);
    assert_eq!(
        resp.remark.as_deref(),
        Some("the message body size over max value, MAX: 1024")
    );

    let h = SendMessageRequestHeader {
        batch: true,
        ..header("TopicTest", "")
    };
    let resp = b
        .send(request_code::SEND_BATCH_MESSAGE, &h, Bytes::new())
        .await;
    assert_eq!(resp.code, code::MESSAGE_ILLEGAL);
    assert_eq!(resp.remark.as_deref(), Some("the batch is empty"));

    assert_eq!(last(), before, "no entry was proposed");
    assert_eq!(b.queue_len("TopicTest", 1), 0);

    // The limit is inclusive, and the broker still serves.
    let h = header("TopicTest", "");
    let resp = b
        .send(
            request_code::SEND_MESSAGE_V2,
            &h,
            Bytes::from(vec![b'x'; 1024]),
        )
        .await;
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    b.stop().await;
}

#[test]
fn msg_ids_are_one_offset_msg_id_per_message() {
    let host: std::net::SocketAddr = "127.0.0.1:10911".parse().expect("addr");
    let at = |commit_log_offset| PutPosition {
        queue_offset: 0,
        commit_log_offset,
        size: 1,
    };
    let ids = msg_ids(host, &[at(0), at(200)]);
    let offsets: Vec<i64> = ids
        .split(',')
        .map(|id| decode_offset_msg_id(id).expect("msgId").1)
        .collect();
    assert_eq!(offsets, [0, 200]);
}

mod schedule;
