//! One Raft node in-process: the write batcher's group commit, and the state machine's
//! message path (queue offsets, ConsumeQueue entries, restart and snapshot recovery).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ledgermq::config::BrokerConfig;
use ledgermq::message::{
    encode_stored, tags_hash_code, MessageExt, MessageProperties, StoredMessageView,
};
use ledgermq::raft::{ApplyResult, LogCommand, RaftNode, RaftNodeConfig};
use openraft::ServerState;

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("127.0.0.1:{}", l.local_addr().expect("addr").port())
}

fn config(dir: &std::path::Path, addr: &str, snapshot_every: u64) -> RaftNodeConfig {
    let broker = BrokerConfig {
        delete_when: Vec::new(),
        disk_max_used_space_ratio: 95,
        ..BrokerConfig::default()
    };
    RaftNodeConfig {
        node_id: 0,
        peers: BTreeMap::from([(0, addr.to_string())]),
        group: "node-test".into(),
        commit_log_dir: dir.join("commitlog"),
        checkpoint_path: dir.join("checkpoint"),
        raft_dir: dir.join("raft"),
        consume_queue_dir: dir.join("consumequeue"),
        abort_file: dir.join("abort"),
        segment_size: 1 << 20,
        consume_queue_file_size: 20 * 100,
        heartbeat_ms: 50,
        election_timeout_ms: 300,
        snapshot_logs_since_last: snapshot_every,
        ..RaftNodeConfig::from_broker_config(&broker)
    }
}

async fn start(dir: &std::path::Path, addr: &str, snapshot_every: u64) -> RaftNode {
    let node = RaftNode::start(config(dir, addr, snapshot_every))
        .await
        .expect("start node");
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.core().raft.metrics().borrow().state != ServerState::Leader {
        assert!(
            Instant::now() < deadline,
            "single node did not elect itself"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node
}

fn message(topic: &str, queue_id: i32, tags: &str, body: &str) -> Bytes {
    let mut properties = MessageProperties::new();
    properties.insert("TAGS", tags).expect("tags");
    encode_stored(&MessageExt {
        topic: topic.into(),
        queue_id,
        body: Bytes::from(body.to_string()),
        properties,
        ..MessageExt::default()
    })
    .expect("encode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_grouped_and_each_gets_its_own_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Arc::new(start(dir.path(), &free_addr(), 1_000_000).await);
    let mut tasks = Vec::new();
    for i in 0..400 {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            let value = format!("value-{i}");
            let ok = node
                .core()
                .write(LogCommand::Raw(Bytes::from(value.clone())))
                .await
                .expect("write");
            (value, ok)
        }));
    }
    let mut entries = std::collections::HashSet::new();
    for t in tasks {
        let (value, ok) = t.await.expect("task");
        entries.insert(ok.log_id.index);
        let ApplyResult::Raw { commit_log_offset } = ok.result else {
            panic!("unexpected result {:?}", ok.result);
        };
        let stored = node
            .core()
            .log
            .read_at(commit_log_offset, value.len())
            .expect("read back");
        assert_eq!(
            &stored[..],
            value.as_bytes(),
            "each caller's offset points at its own bytes"
        );
    }
    assert!(
        entries.len() < 400,
        "400 concurrent writes were group-committed into fewer entries ({})",
        entries.len()
    );
    Arc::try_unwrap(node)
        .ok()
        .expect("sole owner")
        .shutdown()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_get_queue_offsets_and_survive_restart_and_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    // A snapshot every 50 entries, so the restart loads one and replays the rest.
    let node = start(dir.path(), &addr, 50).await;
    let mut expected: BTreeMap<(String, u32), Vec<String>> = BTreeMap::new();
    for i in 0..230 {
        let (topic, qid) = if i % 3 == 0 {
            ("TopicA", 0)
        } else {
            ("TopicB", i % 2)
        };
        let body = format!("body-{i}");
        let ok = node
            .core()
            .write(LogCommand::PutMessage(message(topic, qid, "TagA", &body)))
            .await
            .expect("put");
        let ApplyResult::Put(pos) = ok.result else {
            panic!("unexpected result {:?}", ok.result);
        };
        let list = expected.entry((topic.to_string(), qid as u32)).or_default();
        assert_eq!(
            pos.queue_offset,
            list.len() as u64,
            "queue offsets are consecutive per queue"
        );
        list.push(body);
    }
    let check = |node: &RaftNode| {
        for ((topic, qid), bodies) in &expected {
            let cq = node
                .core()
                .state
                .consume_queue(topic, *qid)
                .expect("queue exists");
            assert_eq!(
                cq.max_offset(),
                bodies.len() as u64,
                "{topic}/{qid} max offset"
            );
            for (offset, e) in cq.read(0, 1000) {
                assert_eq!(e.tags_code, tags_hash_code("TagA"));
                let bytes = node
                    .core()
                    .log
                    .read_at(e.commit_log_offset as u64, e.size as usize)
                    .expect("message bytes");
                let view = StoredMessageView::parse(&bytes).expect("a stored message");
                assert_eq!(view.topic(), topic);
                assert_eq!(view.body(), bodies[offset as usize].as_bytes());
            }
        }
    };
    check(&node);
    assert!(
        node.core().raft.metrics().borrow().snapshot.is_some(),
        "a snapshot was taken"
    );
    node.shutdown().await;

    let node = start(dir.path(), &addr, 50).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.core().sm.last_applied().map(|l| l.index) < node.core().log.last_index() {
        assert!(
            Instant::now() < deadline,
            "replay after restart did not finish"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check(&node);
    // New messages continue the queues.
    let ok = node
        .core()
        .write(LogCommand::PutMessage(message(
            "TopicA", 0, "TagA", "after",
        )))
        .await
        .expect("put after restart");
    let ApplyResult::Put(pos) = ok.result else {
        panic!("unexpected result {:?}", ok.result);
    };
    assert_eq!(
        pos.queue_offset,
        expected[&("TopicA".to_string(), 0)].len() as u64
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_rejected_the_same_way_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(dir.path(), &free_addr(), 1_000_000).await;
    for bad in [
        Bytes::from_static(b"not a message"),
        message("../../escape", 0, "T", "x"),
        message("TopicA", -1, "T", "x"),
    ] {
        let ok = node
            .core()
            .write(LogCommand::PutMessage(bad))
            .await
            .expect("committed");
        assert!(
            matches!(ok.result, ApplyResult::Rejected(_)),
            "{:?}",
            ok.result
        );
    }
    assert!(node.core().state.consume_queue("../../escape", 0).is_none());
    node.shutdown().await;
}
