//! One Raft node in-process: the write batcher's group commit, and the state machine's
//! message path (queue offsets, ConsumeQueue entries, restart and snapshot recovery).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::in_process::{free_addr, node_config};
use ledgermq::message::{
    encode_stored, tags_hash_code, MessageExt, MessageProperties, StoredMessageView,
};
use ledgermq::raft::{ApplyResult, LogCommand, RaftNode, RaftNodeConfig};
use openraft::ServerState;

fn config(dir: &std::path::Path, addr: &str, snapshot_every: u64) -> RaftNodeConfig {
    RaftNodeConfig {
        segment_size: 1 << 20,
        consume_queue_file_size: 20 * 100,
        snapshot_logs_since_last: snapshot_every,
        ..node_config(
            dir,
            0,
            &BTreeMap::from([(0, addr.to_string())]),
            "node-test",
        )
    }
}

async fn start(dir: &std::path::Path, addr: &str, snapshot_every: u64) -> RaftNode {
    let node = RaftNode::start(config(dir, addr, snapshot_every))
        .await
        .expect("start node");
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.core().raft().metrics().borrow().state != ServerState::Leader {
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
    properties
        .insert("KEYS", format!("key-{body} shared"))
        .expect("keys");
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
            .commit_log()
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
                .broker_state()
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
                    .commit_log()
                    .read_at(e.commit_log_offset as u64, e.size as usize)
                    .expect("message bytes");
                let view = StoredMessageView::parse(&bytes).expect("a stored message");
                assert_eq!(view.topic(), topic);
                assert_eq!(view.body(), bodies[offset as usize].as_bytes());
            }
        }
    };
    check(&node);
    // Snapshots are built in the background, after the entries they cover were applied (and
    // answered); wait for one rather than race it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.core().raft().metrics().borrow().snapshot.is_none() {
        assert!(Instant::now() < deadline, "a snapshot was taken");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.shutdown().await;

    let node = start(dir.path(), &addr, 50).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.core().last_applied().map(|l| l.index) < node.core().commit_log().last_index() {
        assert!(
            Instant::now() < deadline,
            "replay after restart did not finish"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check(&node);
    // Keys of messages the snapshot covered are indexed again by the start-up scan.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits = node.core().broker_state().index().get("key-body-3", 10);
        let all = node.core().broker_state().index().get("shared", 1000).len();
        if let ([offset], 230) = (&hits[..], all) {
            let offset = *offset;
            let bytes = node.core().commit_log().read_at(offset, 200).expect("read");
            let view = StoredMessageView::parse(&bytes).expect("message at the indexed offset");
            assert_eq!(view.body(), b"body-3");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "key index not rebuilt: {hits:?}, {all} of 230"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    assert!(node
        .core()
        .broker_state()
        .consume_queue("../../escape", 0)
        .is_none());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_filter_by_tag_and_report_offset_status_like_rocketmq() {
    use ledgermq::broker::message_store::{
        earliest_store_time, get_messages, message_at, search_offset_by_time, GetRequest, GetStatus,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(dir.path(), &free_addr(), 1_000_000).await;
    let core = node.core();
    let mut offsets = Vec::new();
    for i in 0..20 {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let mut m = MessageExt {
            topic: "T".into(),
            queue_id: 0,
            store_timestamp: 1_000 + i as i64 * 10,
            body: Bytes::from(format!("m{i}")),
            ..MessageExt::default()
        };
        m.properties.insert("TAGS", tag).expect("tags");
        let ok = core
            .write(LogCommand::PutMessage(encode_stored(&m).expect("encode")))
            .await
            .expect("put");
        let ApplyResult::Put(pos) = ok.result else {
            panic!("{:?}", ok.result);
        };
        offsets.push(pos.commit_log_offset);
    }
    let state = core.broker_state();
    let req = |offset, max_count| GetRequest {
        topic: "T",
        queue_id: 0,
        offset,
        max_count,
        max_bytes: 1 << 20,
    };
    let tag_a = tags_hash_code("TagA");
    let r = get_messages(state, req(0, 4), &|code| code == tag_a);
    assert_eq!(r.status, GetStatus::Found);
    assert_eq!(r.count, 4);
    assert_eq!(
        r.next_begin_offset, 7,
        "next begins after the last scanned entry"
    );
    let msgs = ledgermq::message::decode_all(&r.joined_body(), true).expect("pull body decodes");
    let got: Vec<(i64, String)> = msgs
        .iter()
        .map(|m| (m.queue_offset, String::from_utf8_lossy(&m.body).to_string()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "m0".into()),
            (2, "m2".into()),
            (4, "m4".into()),
            (6, "m6".into())
        ]
    );
    assert_eq!(
        msgs[1].commit_log_offset as u64, offsets[2],
        "PHYSICALOFFSET is filled in"
    );
    // The parts (patched heads copied, the rest shared with the mapped segment) join to the
    // single buffer the pull path built before: each message copied whole and patched.
    let mut copied = Vec::new();
    for i in [0, 2, 4, 6] {
        copied.extend_from_slice(&message_at(state, offsets[i]).expect("message at its offset"));
    }
    assert_eq!(r.body_len, copied.len());
    assert_eq!(&r.joined_body()[..], &copied[..]);
    assert_eq!(r.parts.len(), 8, "a head and a tail per message");

    let none = get_messages(state, req(19, 4), &|code| code == tag_a);
    assert_eq!(none.status, GetStatus::NoMatchedMessage);
    assert_eq!(none.next_begin_offset, 20);
    assert_eq!(
        get_messages(state, req(20, 4), &|_| true).status,
        GetStatus::OffsetOverflowOne
    );
    let bad = get_messages(state, req(25, 4), &|_| true);
    assert_eq!(
        (bad.status, bad.next_begin_offset),
        (GetStatus::OffsetOverflowBadly, 20)
    );
    let missing = GetRequest {
        topic: "Nope",
        ..req(0, 4)
    };
    assert_eq!(
        get_messages(state, missing, &|_| true).status,
        GetStatus::NoMatchedLogicQueue
    );

    assert_eq!(search_offset_by_time(state, "T", 0, 0), 0);
    assert_eq!(search_offset_by_time(state, "T", 0, 1_055), 6);
    assert_eq!(search_offset_by_time(state, "T", 0, 10_000), 20);
    assert_eq!(earliest_store_time(state, "T", 0), Some(1_000));

    let viewed = message_at(state, offsets[5]).expect("message at its offset");
    let (m, _) = ledgermq::message::decode_stored(&viewed, true).expect("decodes");
    assert_eq!((m.queue_offset, &m.body[..]), (5, &b"m5"[..]));
    assert!(
        message_at(state, offsets[5] + 1).is_none(),
        "no message starts mid-record"
    );
    node.shutdown().await;
}
