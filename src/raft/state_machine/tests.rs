//! The state machine over a real CommitLog: what each kind of command does, the verdicts every
//! node must reach alike, and snapshots from one node installed on another.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bytes::Bytes;
use openraft::{CommittedLeaderId, Membership};

use super::*;
use crate::message::{encode_stored, MessageExt};
use crate::protocol::topic::TopicConfig;
use crate::raft::types::{MetaCommand, PutPosition};
use crate::store::{CommitLogConfig, FlushMode};

/// A state machine over a real CommitLog in `dir`, and the index of the next entry.
struct Node {
    log: Arc<CommitLog>,
    sm: StateMachine,
    next: u64,
}

fn open(dir: &Path) -> Node {
    let log = CommitLog::open(CommitLogConfig {
        dir: dir.join("commitlog"),
        checkpoint_path: dir.join("checkpoint"),
        segment_size: 1 << 20,
        flush: FlushMode::Sync,
    })
    .unwrap();
    let sm =
        StateMachine::open(&dir.join("raft"), &dir.join("cq"), 20 * 1000, log.clone()).unwrap();
    Node { log, sm, next: 1 }
}

impl Node {
    /// Appends `payload` as the next entry, as the log store would, and applies it.
    async fn commit(&mut self, payload: EntryPayload<TypeConfig>) -> ApplyResult {
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 0), self.next),
            payload,
        };
        self.next += 1;
        let (meta, parts) = codec::encode(&entry).unwrap();
        let parts: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        self.log.append(&[(meta, &parts[..])]).unwrap();
        let mut results = self.sm.apply(vec![entry]).await.unwrap();
        assert_eq!(results.len(), 1);
        results.remove(0)
    }

    async fn command(&mut self, cmd: LogCommand) -> ApplyResult {
        self.commit(EntryPayload::Normal(cmd)).await
    }

    fn read(&self, pos: &PutPosition) -> Bytes {
        self.log
            .read_at(pos.commit_log_offset, pos.size as usize)
            .unwrap()
    }
}

fn message(topic: &str, queue_id: i32, body: &str) -> Bytes {
    encode_stored(&MessageExt {
        topic: topic.into(),
        queue_id,
        body: Bytes::from(body.to_string()),
        ..MessageExt::default()
    })
    .unwrap()
}

fn put(r: &ApplyResult) -> PutPosition {
    match r {
        ApplyResult::Put(p) => *p,
        other => panic!("not a put: {other:?}"),
    }
}

fn body(bytes: &[u8]) -> Vec<u8> {
    crate::message::StoredMessageView::parse(bytes)
        .unwrap()
        .body()
        .to_vec()
}

#[tokio::test]
async fn a_message_takes_the_next_offset_of_its_queue_where_its_record_lies() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = open(dir.path());
    let first = put(&n
        .command(LogCommand::PutMessage(message("T", 1, "a")))
        .await);
    let second = put(&n
        .command(LogCommand::PutMessage(message("T", 1, "b")))
        .await);
    let other = put(&n
        .command(LogCommand::PutMessage(message("T", 0, "c")))
        .await);
    assert_eq!(
        (first.queue_offset, second.queue_offset, other.queue_offset),
        (0, 1, 0)
    );
    assert_eq!(
        first.commit_log_offset,
        n.log.position(1).unwrap() + RECORD_HEADER_LEN as u64,
        "a message's offset is its record's payload"
    );
    assert_eq!(body(&n.read(&second)), b"b");
    let cq = n.sm.broker_state().consume_queue("T", 1).unwrap();
    assert_eq!(cq.max_offset(), 2);
    assert_eq!(
        cq.get(1).unwrap().commit_log_offset as u64,
        second.commit_log_offset
    );
    assert_eq!(n.sm.last_applied().map(|l| l.index), Some(3));
}

#[tokio::test]
async fn a_batch_takes_consecutive_offsets_of_one_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = open(dir.path());
    n.command(LogCommand::PutMessage(message("B", 0, "before")))
        .await;
    let msgs: Vec<Bytes> = (0..3).map(|i| message("B", 0, &format!("m{i}"))).collect();
    let r = n.command(LogCommand::PutBatch(msgs.concat().into())).await;
    let ApplyResult::Batch(positions) = r else {
        panic!("{r:?}");
    };
    let offsets: Vec<u64> = positions.iter().map(|p| p.queue_offset).collect();
    assert_eq!(offsets, vec![1, 2, 3]);
    for (i, (p, m)) in positions.iter().zip(&msgs).enumerate() {
        assert_eq!(p.size as usize, m.len());
        assert_eq!(body(&n.read(p)), format!("m{i}").as_bytes());
    }
    assert_eq!(
        positions[1].commit_log_offset,
        positions[0].commit_log_offset + msgs[0].len() as u64
    );
    // One bad message refuses the whole batch, and no queue moves.
    let bad = [message("B", 0, "ok"), message("B", -1, "bad")].concat();
    let r = n.command(LogCommand::PutBatch(bad.into())).await;
    assert_eq!(
        r,
        ApplyResult::Rejected(RejectReason::InBatch {
            at: message("B", 0, "ok").len(),
            reason: Box::new(RejectReason::NegativeQueueId(-1)),
        })
    );
    // So does a message cut short after a good one.
    let ok = message("B", 0, "ok");
    let cut = message("B", 0, "cut");
    let torn = [ok.clone(), cut.slice(..cut.len() - 1)].concat();
    let r = n.command(LogCommand::PutBatch(torn.into())).await;
    assert!(
        matches!(r, ApplyResult::Rejected(RejectReason::MalformedInBatch { at, .. }) if at == ok.len()),
        "{r:?}"
    );
    assert_eq!(
        n.sm.broker_state()
            .consume_queue("B", 0)
            .unwrap()
            .max_offset(),
        4
    );
}

#[tokio::test]
async fn a_group_applies_each_command_at_its_own_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = open(dir.path());
    let cmds = vec![
        LogCommand::PutMessage(message("G", 0, "first")),
        LogCommand::Meta(MetaCommand::UpdateTopic(TopicConfig::new("G", 4))),
        LogCommand::PutMessage(message("bad/topic", 0, "x")),
        LogCommand::Raw(Bytes::from_static(b"raw bytes")),
        LogCommand::PutMessage(message("G", 0, "last")),
    ];
    let r = n.command(LogCommand::Group(cmds.clone())).await;
    let ApplyResult::Group(results) = r else {
        panic!("{r:?}");
    };
    let base = n.log.position(1).unwrap() + RECORD_HEADER_LEN as u64;
    let at: Vec<u64> = codec::group_offsets(&cmds)
        .into_iter()
        .map(|o| base + o)
        .collect();
    assert_eq!(results.len(), 5);
    let first = put(&results[0]);
    assert_eq!((first.queue_offset, first.commit_log_offset), (0, at[0]));
    assert_eq!(body(&n.read(&first)), b"first");
    assert_eq!(results[1], ApplyResult::None);
    assert_eq!(
        results[2],
        ApplyResult::Rejected(RejectReason::InvalidTopicName("bad/topic".into()))
    );
    assert_eq!(
        results[3],
        ApplyResult::Raw {
            commit_log_offset: at[3]
        }
    );
    let last = put(&results[4]);
    assert_eq!((last.queue_offset, last.commit_log_offset), (1, at[4]));
    assert_eq!(body(&n.read(&last)), b"last");
    assert!(n.sm.broker_state().topic("G").is_some());

    // The encoder never writes a group inside a group; the state machine still answers
    // one (applied from memory) without touching the log.
    let entry = Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 0), 99),
        payload: EntryPayload::Normal(LogCommand::Group(vec![
            LogCommand::Group(vec![]),
            LogCommand::Meta(MetaCommand::DeleteTopic("G".into())),
        ])),
    };
    assert_eq!(
        n.sm.apply(vec![entry]).await.unwrap(),
        vec![ApplyResult::Group(vec![
            ApplyResult::Rejected(RejectReason::NestedGroup),
            ApplyResult::None
        ])]
    );
    assert!(n.sm.broker_state().topic("G").is_none());
}

#[tokio::test]
async fn metadata_commands_change_topics_and_consumer_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = open(dir.path());
    let tc = TopicConfig::new("Orders", 8);
    let r = n
        .command(LogCommand::Meta(MetaCommand::UpdateTopic(tc.clone())))
        .await;
    assert_eq!(r, ApplyResult::None);
    assert_eq!(n.sm.broker_state().topic("Orders"), Some(tc));
    n.command(LogCommand::PutMessage(message("Orders", 3, "m")))
        .await;
    let commit = MetaCommand::CommitOffset {
        group: "billing".into(),
        topic: "Orders".into(),
        queue_id: 3,
        offset: 1,
    };
    assert_eq!(n.command(LogCommand::Meta(commit)).await, ApplyResult::None);
    let state = n.sm.broker_state().clone();
    assert_eq!(state.consumer_offset("billing", "Orders", 3), Some(1));

    let r = n
        .command(LogCommand::Meta(MetaCommand::DeleteTopic("Orders".into())))
        .await;
    assert_eq!(r, ApplyResult::None);
    assert_eq!(state.topic("Orders"), None);
    assert!(state.consume_queue("Orders", 3).is_none());
    assert_eq!(state.consumer_offset("billing", "Orders", 3), None);
    assert!(!dir.path().join("cq").join("Orders").exists());
}

#[tokio::test]
async fn a_rejected_topic_name_is_answered_identically_on_every_node() {
    let bad = [
        LogCommand::PutMessage(message("../../escape", 0, "x")),
        LogCommand::Meta(MetaCommand::UpdateTopic(TopicConfig::new("a/b", 1))),
        LogCommand::Meta(MetaCommand::DeleteTopic(String::new())),
        LogCommand::PutBatch(
            message("%RETRY%ok", 0, "y")
                .into_iter()
                .chain(message("no space", 0, "z"))
                .collect(),
        ),
    ];
    let mut answers = Vec::new();
    for node in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut n = open(dir.path());
        let mut mine = Vec::new();
        for cmd in &bad {
            mine.push(n.command(cmd.clone()).await);
        }
        assert!(n.sm.broker_state().topics().is_empty(), "node {node}");
        assert!(
            !dir.path().join("cq").exists()
                || std::fs::read_dir(dir.path().join("cq"))
                    .unwrap()
                    .next()
                    .is_none(),
            "node {node} made no queue directory"
        );
        answers.push(mine);
    }
    assert_eq!(answers[0], answers[1]);
    let texts: Vec<String> = answers[0]
        .iter()
        .map(|r| match r {
            ApplyResult::Rejected(why) => why.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    let batch_at = message("%RETRY%ok", 0, "y").len();
    assert_eq!(
        texts,
        vec![
            "invalid topic name \"../../escape\"".to_string(),
            "invalid topic name \"a/b\"".to_string(),
            "invalid topic name \"\"".to_string(),
            format!("message at byte {batch_at} of batch: invalid topic name \"no space\""),
        ]
    );
}

#[tokio::test]
async fn a_snapshot_built_on_one_node_installs_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(&dir.path().join("a"));
    let voters = BTreeSet::from([0u64]);
    let nodes = BTreeMap::from([(0u64, crate::raft::types::PeerNode { addr: "n0".into() })]);
    a.commit(EntryPayload::Membership(Membership::new(
        vec![voters],
        nodes,
    )))
    .await;
    a.command(LogCommand::Meta(MetaCommand::UpdateTopic(
        TopicConfig::new("S", 2),
    )))
    .await;
    for i in 0..5 {
        a.command(LogCommand::PutMessage(message(
            "S",
            i % 2,
            &format!("m{i}"),
        )))
        .await;
    }
    a.command(LogCommand::Meta(MetaCommand::CommitOffset {
        group: "g".into(),
        topic: "S".into(),
        queue_id: 1,
        offset: 2,
    }))
    .await;
    let mut snapshot =
        a.sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
    let want = a.sm.broker_state().metadata();
    assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(8));
    assert_eq!(want.next_commit_log_offset, a.log.max_offset());

    // A new node whose log is empty installs it and continues where the leader's log does.
    let mut b = open(&dir.path().join("b"));
    let mut receiving = b.sm.begin_receiving_snapshot().await.unwrap();
    std::io::copy(&mut snapshot.snapshot, &mut *receiving).unwrap();
    receiving.set_position(0);
    b.sm.install_snapshot(&snapshot.meta, receiving)
        .await
        .unwrap();
    // Everything but the messages: each queue restarts, empty, at the leader's next
    // offset, since the messages before it are not in this node's log.
    let without_messages = want.clone().with_empty_queues();
    assert_eq!(b.sm.broker_state().metadata(), without_messages);
    let (applied, membership) = b.sm.applied_state().await.unwrap();
    assert_eq!(applied, snapshot.meta.last_log_id);
    assert_eq!(membership, snapshot.meta.last_membership);
    assert_eq!(b.log.max_offset(), a.log.max_offset());
    assert_eq!(b.log.last_index(), None);
    let current = b.sm.get_current_snapshot().await.unwrap().expect("kept");
    assert_eq!(current.meta, snapshot.meta);

    // Both apply the next entry alike.
    a.next = 9;
    b.next = 9;
    let on_a = a
        .command(LogCommand::PutMessage(message("S", 1, "after")))
        .await;
    let on_b = b
        .command(LogCommand::PutMessage(message("S", 1, "after")))
        .await;
    assert_eq!(on_a, on_b);
    assert_eq!(put(&on_b).queue_offset, 2);

    // And the installed snapshot is what the node loads after a restart.
    b.log.close();
    drop(b);
    let mut b = open(&dir.path().join("b"));
    assert_eq!(b.sm.last_applied(), snapshot.meta.last_log_id);
    assert_eq!(b.sm.broker_state().metadata(), without_messages);
    let current = b.sm.get_current_snapshot().await.unwrap().expect("kept");
    assert_eq!(current.meta, snapshot.meta);
}

mod schedule;
