//! Transactions in the state machine: a half message becomes pending, a resolution applies
//! once (a second one is refused and indexes nothing), check-backs are counted only while the
//! half is pending, and the table travels in a snapshot.

use std::path::Path;

use bytes::Bytes;
use openraft::CommittedLeaderId;

use super::*;
use crate::message::{encode_stored, MessageExt, MessageProperties};
use crate::raft::broker_state::transactions::{Resolution, TransactionCommand};
use crate::raft::types::PutPosition;
use crate::store::{CommitLogConfig, FlushMode};

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
    async fn command(&mut self, cmd: LogCommand) -> ApplyResult {
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 0), self.next),
            payload: EntryPayload::Normal(cmd),
        };
        self.next += 1;
        let (meta, parts) = codec::encode(&entry).unwrap();
        let parts: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        self.log.append(&[(meta, &parts[..])]).unwrap();
        self.sm.apply(vec![entry]).await.unwrap().remove(0)
    }

    /// Stores a half message for `T` queue 1 (as the send path places it; the broker's
    /// `transaction::half` tests cover that placement) and returns its position.
    async fn prepare(&mut self, body: &str) -> PutPosition {
        let bytes = encode_stored(&MessageExt {
            topic: "RMQ_SYS_TRANS_HALF_TOPIC".into(),
            queue_id: 0,
            born_timestamp: 1_000,
            body: Bytes::from(body.to_string()),
            properties: MessageProperties::decode(
                "TRAN_MSG\u{1}true\u{2}PGROUP\u{1}PG\u{2}UNIQ_KEY\u{1}U\u{2}REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}1",
            ),
            ..MessageExt::default()
        })
        .unwrap();
        match self.command(LogCommand::PutMessage(bytes)).await {
            ApplyResult::Put(p) => p,
            other => panic!("not a put: {other:?}"),
        }
    }

    /// The entry that resolves the half message at `pos`: its op record and, on commit, the
    /// real message (what END_TRANSACTION builds).
    fn resolution(&self, pos: &PutPosition, r: Resolution) -> LogCommand {
        let mut bytes = encode_stored(&MessageExt {
            topic: "RMQ_SYS_TRANS_OP_HALF_TOPIC".into(),
            sys_flag: r.op_sys_flag(),
            body: Bytes::from(pos.queue_offset.to_string()),
            properties: MessageProperties::decode("TAGS\u{1}d"),
            ..MessageExt::default()
        })
        .unwrap()
        .to_vec();
        if r == Resolution::Commit {
            let real = encode_stored(&MessageExt {
                topic: "T".into(),
                queue_id: 1,
                body: Bytes::from_static(b"real"),
                ..MessageExt::default()
            })
            .unwrap();
            bytes.extend_from_slice(&real);
        }
        LogCommand::EndTransaction(Bytes::from(bytes))
    }

    fn real_queue_len(&self) -> u64 {
        self.sm
            .broker_state()
            .consume_queue("T", 1)
            .map_or(0, |q| q.max_offset())
    }
}

#[tokio::test]
async fn a_commit_applies_once_and_a_second_resolution_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = open(dir.path());
    let half = n.prepare("order-1").await;
    let state = n.sm.broker_state().clone();
    let rec = state.pending_half(half.queue_offset).expect("pending");
    assert_eq!(
        (rec.producer_group.as_str(), rec.real_topic.as_str()),
        ("PG", "T")
    );
    assert_eq!(rec.commit_log_offset, half.commit_log_offset);
    assert_eq!(
        n.real_queue_len(),
        0,
        "a half message is not in its real queue"
    );

    let commit = n.resolution(&half, Resolution::Commit);
    match n.command(commit.clone()).await {
        ApplyResult::Batch(p) => assert_eq!(p.len(), 2),
        other => panic!("commit: {other:?}"),
    }
    assert_eq!(n.real_queue_len(), 1);
    assert!(state.pending_half(half.queue_offset).is_none());

    // The same commit again (a check-back's answer racing the producer's), or a rollback.
    for again in [commit, n.resolution(&half, Resolution::Rollback)] {
        assert_eq!(
            n.command(again).await,
            ApplyResult::Rejected(RejectReason::TransactionResolved(half.queue_offset))
        );
    }
    assert_eq!(n.real_queue_len(), 1, "committed exactly once");
    let op = state
        .consume_queue("RMQ_SYS_TRANS_OP_HALF_TOPIC", 0)
        .unwrap();
    assert_eq!(op.max_offset(), 1, "one op record");
    let t = state.transactions();
    assert_eq!((t.committed, t.rolled_back, t.discarded), (1, 0, 0));
}

#[tokio::test]
async fn check_backs_count_only_while_pending_and_the_table_is_in_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(&dir.path().join("a"));
    let first = a.prepare("one").await;
    let second = a.prepare("two").await;
    let checked = |half_offset| {
        LogCommand::Transaction(TransactionCommand::Checked {
            half_offset,
            at_ms: 5_000,
        })
    };
    assert_eq!(
        a.command(checked(first.queue_offset)).await,
        ApplyResult::None
    );
    assert_eq!(
        a.command(checked(first.queue_offset)).await,
        ApplyResult::None
    );
    let state = a.sm.broker_state().clone();
    let rec = state.pending_half(first.queue_offset).unwrap();
    assert_eq!((rec.check_times, rec.last_check_ms), (2, Some(5_000)));

    let rollback = a.resolution(&second, Resolution::Rollback);
    assert!(matches!(a.command(rollback).await, ApplyResult::Batch(_)));
    assert_eq!(
        a.command(checked(second.queue_offset)).await,
        ApplyResult::Rejected(RejectReason::TransactionResolved(second.queue_offset))
    );
    assert_eq!(a.real_queue_len(), 0, "a rollback stores no real message");

    let mut snapshot =
        a.sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
    let mut b = open(&dir.path().join("b"));
    let mut receiving = b.sm.begin_receiving_snapshot().await.unwrap();
    std::io::copy(&mut snapshot.snapshot, &mut *receiving).unwrap();
    receiving.set_position(0);
    b.sm.install_snapshot(&snapshot.meta, receiving)
        .await
        .unwrap();
    assert_eq!(b.sm.broker_state().transactions(), state.transactions());
    assert_eq!(
        b.sm.broker_state()
            .pending_half(first.queue_offset)
            .map(|r| r.check_times),
        Some(2),
        "a new leader continues with the same check counts"
    );

    // A restart of `a` reloads the table from its snapshot.
    drop(a);
    let a = open(&dir.path().join("a"));
    assert_eq!(a.sm.broker_state().transactions(), state.transactions());
}
