//! The replicated schedule in the state machine: a delayed message becomes pending when it is
//! applied, one delivery stores it in its real topic and retires the slot, a second delivery of
//! the same slot is ignored, and the schedule survives a snapshot and a restart.

use super::*;
use crate::message::MessageProperties;
use crate::protocol::topic_names::SCHEDULE_TOPIC;
use crate::raft::schedule::Delivery;

fn scheduled(level: i32, store_ts: i64) -> Bytes {
    encode_stored(&MessageExt {
        topic: SCHEDULE_TOPIC.into(),
        queue_id: level - 1,
        store_timestamp: store_ts,
        body: Bytes::from_static(b"later"),
        properties: MessageProperties::decode(&format!(
            "DELAY\u{1}{level}\u{2}REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}1"
        )),
        ..MessageExt::default()
    })
    .unwrap()
}

fn due(n: &Node, now: u64) -> Vec<crate::raft::schedule::ScheduleSlot> {
    n.sm.broker_state()
        .with_schedule(|s| s.due(now, &[1_000, 5_000], 100))
        .into_iter()
        .map(|(slot, _)| slot)
        .collect()
}

#[tokio::test]
async fn a_delivery_stores_the_message_once_and_retires_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.command(LogCommand::PutMessage(scheduled(2, 10_000)))
        .await;
    a.command(LogCommand::PutMessage(scheduled(1, 10_000)))
        .await;
    assert_eq!(
        due(&a, 11_000).len(),
        1,
        "level 1 (1 s) is due, level 2 (5 s) is not"
    );
    let slots = due(&a, 15_000);
    assert_eq!(slots.len(), 2);

    let deliver = |slot| {
        LogCommand::Deliver(Delivery {
            slot,
            message: message("T", 1, "later"),
        })
    };
    let first = a.command(deliver(slots[0])).await;
    let pos = put(&first);
    assert_eq!(pos.queue_offset, 0);
    assert_eq!(body(&a.read(&pos)), b"later");
    assert_eq!(
        a.sm.broker_state()
            .consume_queue("T", 1)
            .unwrap()
            .max_offset(),
        1
    );
    // The same slot again (a new leader proposing what the old one had committed): ignored.
    assert_eq!(a.command(deliver(slots[0])).await, ApplyResult::None);
    assert_eq!(
        a.sm.broker_state()
            .consume_queue("T", 1)
            .unwrap()
            .max_offset(),
        1
    );
    // Inside a group, alike.
    let group = a
        .command(LogCommand::Group(vec![
            deliver(slots[1]),
            deliver(slots[1]),
        ]))
        .await;
    match group {
        ApplyResult::Group(r) => {
            assert!(matches!(r[0], ApplyResult::Put(_)));
            assert_eq!(r[1], ApplyResult::None);
        }
        other => panic!("{other:?}"),
    }
    assert!(due(&a, u64::MAX).is_empty());
    assert_eq!(
        a.sm.broker_state()
            .consume_queue("T", 1)
            .unwrap()
            .max_offset(),
        2
    );
}

#[tokio::test]
async fn the_schedule_survives_a_snapshot_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(dir.path());
    a.command(LogCommand::PutMessage(scheduled(2, 10_000)))
        .await;
    a.command(LogCommand::PutMessage(scheduled(2, 10_500)))
        .await;
    a.sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let before = due(&a, u64::MAX);
    assert_eq!(before.len(), 2);
    a.log.close();
    drop(a);
    let a = open(dir.path());
    assert_eq!(due(&a, u64::MAX), before);
    assert_eq!(due(&a, 15_000).len(), 1);
}

#[tokio::test]
async fn a_snapshot_from_before_the_schedule_still_loads() {
    #[derive(serde::Serialize)]
    struct MetadataV1 {
        topics: BTreeMap<String, TopicConfig>,
        consumer_offsets: BTreeMap<String, BTreeMap<u32, u64>>,
        queues: BTreeMap<(String, u32), crate::raft::broker_state::QueueRange>,
        next_commit_log_offset: u64,
    }
    #[derive(serde::Serialize)]
    struct FileV1 {
        meta: SnapshotMeta,
        data: MetadataV1,
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("raft")).unwrap();
    let old = FileV1 {
        meta: SnapshotMeta::default(),
        data: MetadataV1 {
            topics: BTreeMap::from([("T".to_string(), TopicConfig::new("T", 4))]),
            consumer_offsets: BTreeMap::new(),
            queues: BTreeMap::new(),
            next_commit_log_offset: 0,
        },
    };
    crate::raft::meta::write_atomic(&dir.path().join("raft").join("snapshot"), &old).unwrap();
    let a = open(dir.path());
    assert!(a.sm.broker_state().topic("T").is_some());
    assert!(due(&a, u64::MAX).is_empty());
}
