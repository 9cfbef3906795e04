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
use super::node::off_node_thread;
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
        let file: Option<SnapshotFile> = match read_atomic(&snapshot_path) {
            Ok(f) => f,
            Err(e) => match legacy::read_file(&snapshot_path) {
                Some(f) => {
                    tracing::warn!("snapshot in the layout before issue 14: read with an empty schedule and empty transaction and lock tables");
                    Some(f)
                }
                None => return Err(e.into()),
            },
        };
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
                    // A delivery's message follows its header.
                    let skip = match item.kind {
                        codec::KIND_MESSAGE | codec::KIND_BATCH => 0,
                        codec::KIND_DELIVER => super::schedule::DELIVERY_HEADER_LEN,
                        _ => continue,
                    };
                    let payload = &item.payload;
                    let mut pos = skip;
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
            (LogCommand::Deliver(d), Some(off)) => self
                .state
                .apply_delivery(d, off + super::schedule::DELIVERY_HEADER_LEN as u64)?,
            (LogCommand::EndTransaction(b), Some(off)) => {
                self.state.apply_end_transaction(b, off)?
            }
            (LogCommand::Transaction(t), _) => self.state.apply_transaction(t),
            (LogCommand::QueueLock(l), _) => self.state.apply_queue_lock(l),
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
        // The fsyncs (one per ConsumeQueue, then the snapshot file) run on the blocking pool:
        // the node's tasks share one thread (`node/thread.rs`), and a leader whose heartbeats
        // waited for them on a slow disk would be deposed.
        let (state, path, captured) = (
            self.sm.state.clone(),
            self.sm.snapshot_path.clone(),
            self.captured.clone(),
        );
        // The copy handed to the blocking pool comes back as the current snapshot.
        let written = off_node_thread(move || {
            state.flush_queues().map_err(|e| AnyError::new(&e))?;
            write_atomic(&path, &captured).map_err(|e| AnyError::new(&e))?;
            Ok(captured)
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(sig, e))?;
        tracing::info!(last_log_id = ?self.captured.meta.last_log_id, "state machine snapshot written");
        let snap = StateMachine::snapshot_of(&self.captured)?;
        self.sm.applied.lock().current = Some(written);
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
        let data: BrokerMetadata = match bincode::deserialize(snapshot.get_ref()) {
            Ok(d) => d,
            Err(e) => legacy::decode_metadata(snapshot.get_ref())
                .ok_or_else(|| StorageIOError::read_snapshot(sig.clone(), AnyError::new(&e)))?,
        };
        // The file records the state as this node holds it. With the leader's queue ranges,
        // a restart before this node's next snapshot looked for queue entries it never had
        // and refused to open its ConsumeQueues.
        let data = data.with_empty_queues();
        let file = SnapshotFile {
            meta: meta.clone(),
            data,
        };
        // The snapshot file's fsync, removing every ConsumeQueue directory and, when the log
        // does not reach the snapshot, every CommitLog segment: on the blocking pool, so the
        // other tasks of this node's one thread (`node/thread.rs`) keep running meanwhile.
        let (state, log, path, file2) = (
            self.state.clone(),
            self.log.clone(),
            self.snapshot_path.clone(),
            file.clone(),
        );
        let last = meta.last_log_id;
        off_node_thread(move || {
            write_atomic(&path, &file2).map_err(|e| AnyError::new(&e))?;
            let next_offset = file2.data.next_commit_log_offset;
            state.replace(file2.data).map_err(|e| AnyError::new(&e))?;
            if let Some(last) = last {
                // If the log does not reach the snapshot, it restarts right after it, at the
                // same offset as on the leader.
                if log.last_index().is_none_or(|l| l < last.index) {
                    log.reset(last.index + 1, next_offset)
                        .map_err(|e| AnyError::new(&e))?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(sig, e))?;
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

mod legacy;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transaction_tests;
