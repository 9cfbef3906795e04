//! openraft's state machine: applies committed entries to the [`BrokerState`] and keeps
//! snapshots of its metadata.
//!
//! Persistence: `apply` does not fsync. A snapshot (the metadata only, never messages) is written
//! atomically after the ConsumeQueues are fsynced; on restart the state is loaded from it, the
//! queues are cut back to it, and openraft replays the committed entries after it from the
//! CommitLog.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::broker_state::{BrokerMetadata, BrokerState};
use super::codec;
use super::meta::{read_atomic, write_atomic};
use super::types::{
    ApplyResult, Entry, LogCommand, LogId, RejectReason, SnapshotMeta, StorageError,
    StoredMembership, TypeConfig,
};
use crate::store::{CommitLog, StoreError, RECORD_HEADER_LEN};

/// The snapshot file: openraft's metadata plus ours.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    data: BrokerMetadata,
}

#[derive(Debug, Default)]
struct Applied {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    current: Option<SnapshotFile>,
    snapshot_seq: u64,
}

#[derive(Debug, Clone)]
pub struct StateMachine {
    state: Arc<BrokerState>,
    log: Arc<CommitLog>,
    snapshot_path: PathBuf,
    applied: Arc<Mutex<Applied>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateMachineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Meta(#[from] super::meta::MetaError),
}

impl StateMachine {
    /// Loads the last snapshot from `raft_dir` (if any) and opens the ConsumeQueues cut back to
    /// it.
    pub fn open(
        raft_dir: &Path,
        cq_dir: &Path,
        cq_file_size: u64,
        log: Arc<CommitLog>,
    ) -> Result<StateMachine, StateMachineError> {
        std::fs::create_dir_all(raft_dir)
            .map_err(|e| StoreError::io("create raft dir", raft_dir, e))?;
        let snapshot_path = raft_dir.join("snapshot");
        let file: Option<SnapshotFile> = read_atomic(&snapshot_path)?;
        let (data, applied) = match file {
            Some(f) => {
                tracing::info!(last_log_id = ?f.meta.last_log_id, "loaded state machine snapshot");
                let applied = Applied {
                    last_applied: f.meta.last_log_id,
                    last_membership: f.meta.last_membership.clone(),
                    snapshot_seq: 0,
                    current: Some(f.clone()),
                };
                (f.data, applied)
            }
            None => (BrokerMetadata::default(), Applied::default()),
        };
        let state = Arc::new(BrokerState::open(cq_dir, cq_file_size, log.clone(), data)?);
        Ok(StateMachine {
            state,
            log,
            snapshot_path,
            applied: Arc::new(Mutex::new(applied)),
        })
    }

    /// Re-indexes the keys of messages the last snapshot covers (replay indexes the rest).
    /// Runs once at start-up, in the background; returns how many messages it indexed.
    pub fn rebuild_index(&self) -> usize {
        let Some(upto) = self
            .applied
            .lock()
            .current
            .as_ref()
            .and_then(|f| f.meta.last_log_id)
        else {
            return 0;
        };
        let Some(mut at) = self.log.first_index() else {
            return 0;
        };
        let mut indexed = 0;
        while at <= upto.index {
            let Ok(records) = self.log.read_range(at, upto.index + 1, 4 << 20) else {
                break;
            };
            let Some(last) = records.last().map(|r| r.meta.index) else {
                break;
            };
            for rec in records {
                let base = rec.payload_offset();
                let Ok(items) =
                    codec::record_items(rec.meta.kind, &rec.payload).collect::<Result<Vec<_>, _>>()
                else {
                    continue;
                };
                for item in items {
                    if item.kind != codec::KIND_MESSAGE && item.kind != codec::KIND_BATCH {
                        continue;
                    }
                    let payload = &item.payload;
                    let mut pos = 0usize;
                    while pos < payload.len() {
                        let Ok(view) = crate::message::StoredMessageView::parse(&payload[pos..])
                        else {
                            break;
                        };
                        self.state
                            .index_message(&view, base + (item.offset + pos) as u64);
                        indexed += 1;
                        pos += view.total_size().max(1);
                    }
                }
            }
            at = last + 1;
        }
        indexed
    }

    pub fn broker_state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    pub fn last_applied(&self) -> Option<LogId> {
        self.applied.lock().last_applied
    }

    /// Applies one command whose payload starts at CommitLog offset `offset` (if the entry is
    /// in this node's log).
    fn apply_command(
        &self,
        index: u64,
        cmd: &LogCommand,
        offset: Option<u64>,
    ) -> Result<ApplyResult, StoreError> {
        Ok(match (cmd, offset) {
            (LogCommand::PutMessage(b), Some(off)) => self.state.apply_message(b, off)?,
            (LogCommand::PutBatch(b), Some(off)) => self.state.apply_batch(b, off)?,
            (LogCommand::Raw(_), Some(off)) => ApplyResult::Raw {
                commit_log_offset: off,
            },
            (LogCommand::Meta(m), _) => self.state.apply_meta(m)?,
            (LogCommand::Group(cmds), _) => {
                let offsets = codec::group_offsets(cmds);
                let mut out = Vec::with_capacity(cmds.len());
                for (c, rel) in cmds.iter().zip(offsets) {
                    if matches!(c, LogCommand::Group(_)) {
                        out.push(ApplyResult::Rejected(RejectReason::NestedGroup));
                        continue;
                    }
                    out.push(self.apply_command(index, c, offset.map(|o| o + rel))?);
                }
                ApplyResult::Group(out)
            }
            (_, None) => {
                return Err(StoreError::NoSuchIndex {
                    index,
                    first: self.log.first_index(),
                    last: self.log.last_index(),
                })
            }
        })
    }

    fn apply_one(&self, entry: &Entry) -> Result<ApplyResult, StoreError> {
        let index = entry.log_id.index;
        let payload_offset = self
            .log
            .position(index)
            .map(|p| p + RECORD_HEADER_LEN as u64);
        let result = match &entry.payload {
            EntryPayload::Blank | EntryPayload::Membership(_) => ApplyResult::None,
            EntryPayload::Normal(cmd) => self.apply_command(index, cmd, payload_offset)?,
        };
        if let Some(end) = self.log.record_end(index) {
            self.state.set_next_commit_log_offset(end);
        }
        Ok(result)
    }

    fn snapshot_of(file: &SnapshotFile) -> Result<Snapshot<TypeConfig>, StorageError> {
        let bytes = bincode::serialize(&file.data).map_err(|e| {
            StorageIOError::read_snapshot(Some(file.meta.signature()), AnyError::new(&e))
        })?;
        Ok(Snapshot {
            meta: file.meta.clone(),
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

/// Builds a snapshot from metadata captured when openraft asked for the builder, so applies that
/// run meanwhile cannot tear it.
pub struct SnapshotBuilder {
    sm: StateMachine,
    captured: SnapshotFile,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let sig = Some(self.captured.meta.signature());
        self.sm
            .state
            .flush_queues()
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), AnyError::new(&e)))?;
        write_atomic(&self.sm.snapshot_path, &self.captured)
            .map_err(|e| StorageIOError::write_snapshot(sig, AnyError::new(&e)))?;
        tracing::info!(last_log_id = ?self.captured.meta.last_log_id, "state machine snapshot written");
        let snap = StateMachine::snapshot_of(&self.captured)?;
        self.sm.applied.lock().current = Some(self.captured.clone());
        Ok(snap)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let a = self.applied.lock();
        Ok((a.last_applied, a.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let mut last = None;
        for entry in entries {
            let r = self
                .apply_one(&entry)
                .map_err(|e| StorageIOError::apply(entry.log_id, AnyError::new(&e)))?;
            let mut a = self.applied.lock();
            a.last_applied = Some(entry.log_id);
            if let EntryPayload::Membership(m) = &entry.payload {
                a.last_membership = StoredMembership::new(Some(entry.log_id), m.clone());
            }
            drop(a);
            last = Some(entry.log_id.index);
            out.push(r);
        }
        if let Some(index) = last {
            self.state.notify_applied(index);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let mut a = self.applied.lock();
        a.snapshot_seq += 1;
        let snapshot_id = match a.last_applied {
            Some(l) => format!(
                "{}-{}-{}-{}",
                l.leader_id.term, l.leader_id.node_id, l.index, a.snapshot_seq
            ),
            None => format!("empty-{}", a.snapshot_seq),
        };
        let captured = SnapshotFile {
            meta: SnapshotMeta {
                last_log_id: a.last_applied,
                last_membership: a.last_membership.clone(),
                snapshot_id,
            },
            data: self.state.metadata(),
        };
        drop(a);
        SnapshotBuilder {
            sm: self.clone(),
            captured,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let sig = Some(meta.signature());
        let data: BrokerMetadata = bincode::deserialize(snapshot.get_ref())
            .map_err(|e| StorageIOError::read_snapshot(sig.clone(), AnyError::new(&e)))?;
        // The file records the state as this node holds it. With the leader's queue ranges,
        // a restart before this node's next snapshot looked for queue entries it never had
        // and refused to open its ConsumeQueues.
        let data = data.with_empty_queues();
        let file = SnapshotFile {
            meta: meta.clone(),
            data: data.clone(),
        };
        write_atomic(&self.snapshot_path, &file)
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), AnyError::new(&e)))?;
        self.state
            .replace(data.clone())
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), AnyError::new(&e)))?;
        if let Some(last) = meta.last_log_id {
            // If the log does not reach the snapshot, it restarts right after it, at the same
            // offset as on the leader.
            if self.log.last_index().is_none_or(|l| l < last.index) {
                self.log
                    .reset(last.index + 1, data.next_commit_log_offset)
                    .map_err(|e| StorageIOError::write_snapshot(sig.clone(), AnyError::new(&e)))?;
            }
        }
        let mut a = self.applied.lock();
        a.last_applied = meta.last_log_id;
        a.last_membership = meta.last_membership.clone();
        a.current = Some(file);
        tracing::info!(last_log_id = ?meta.last_log_id, "installed snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let current = self.applied.lock().current.clone();
        match current {
            Some(f) => Ok(Some(StateMachine::snapshot_of(&f)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
