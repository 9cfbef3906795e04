//! The broker state derived from committed entries: topic config, consumer offsets, queue
//! offsets and the ConsumeQueues. Every node applies the same entries in the same order and so
//! reaches the same state; followers therefore serve pulls of committed data.
//!
//! It must never see an uncommitted entry: only the state machine's `apply` mutates it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

use super::schedule::{Delivery, ScheduleState};
use super::types::{ApplyResult, MetaCommand, PutPosition, RejectReason};
use crate::message::StoredMessageView;
use crate::protocol::topic::TopicConfig;
use crate::protocol::topic_names::valid_topic_name;
use crate::store::{CommitLog, ConsumeQueue, CqEntry, KeyIndex, StoreError};

pub mod queue_locks;
pub mod transactions;
use queue_locks::QueueLockTable;
use transactions::TransactionTable;

/// Keys kept in the in-memory message index.
const INDEX_MAX_ENTRIES: usize = 5_000_000;

/// The readable range of one queue: `[min, next)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRange {
    pub min: u64,
    pub next: u64,
}

/// The metadata a snapshot carries: small, and never the messages themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerMetadata {
    pub topics: BTreeMap<String, TopicConfig>,
    /// `topic@group` → queue id → committed consumer offset (RocketMQ's consumerOffset.json).
    pub consumer_offsets: BTreeMap<String, BTreeMap<u32, u64>>,
    pub queues: BTreeMap<(String, u32), QueueRange>,
    /// CommitLog offset just past the last applied record; a follower that installs this
    /// snapshot places its next record here, so offsets (and msgIds) agree across nodes.
    pub next_commit_log_offset: u64,
    /// Delayed messages not yet delivered (`raft/schedule.rs`).
    pub schedule: ScheduleState,
    /// Unresolved transactional half messages and resolution counts ([`transactions`]).
    pub transactions: TransactionTable,
    /// Orderly consumers' queue locks ([`queue_locks`]).
    pub queue_locks: QueueLockTable,
}

impl BrokerMetadata {
    /// This metadata as a node holds it after installing it as a snapshot: the messages before
    /// the snapshot are not in that node's ConsumeQueues, so every queue is empty at its next
    /// offset.
    pub fn with_empty_queues(mut self) -> BrokerMetadata {
        for range in self.queues.values_mut() {
            range.min = range.next;
        }
        self
    }
}

type QueueKey = (String, u32);

pub struct BrokerState {
    cq_dir: PathBuf,
    cq_file_size: u64,
    commit_log: Arc<CommitLog>,
    meta: RwLock<BrokerMetadata>,
    queues: RwLock<HashMap<QueueKey, Arc<ConsumeQueue>>>,
    /// Bumped after every applied batch so long-polling pulls can wake up.
    applied_tx: watch::Sender<u64>,
    /// One wake-up per queue, so a held pull wakes only when its own queue grows.
    queue_notify: RwLock<HashMap<QueueKey, Arc<Notify>>>,
    /// KEYS and UNIQ_KEY → CommitLog offset.
    index: KeyIndex,
}

impl std::fmt::Debug for BrokerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerState")
            .field("cq_dir", &self.cq_dir)
            .finish()
    }
}

fn queue_dir(root: &Path, topic: &str, queue_id: u32) -> PathBuf {
    root.join(topic).join(queue_id.to_string())
}

impl BrokerState {
    /// Loads `meta` (from the last snapshot, or empty) and cuts the ConsumeQueues on disk back to
    /// it; queues it does not know are removed and will be rebuilt by replay.
    pub fn open(
        cq_dir: &Path,
        cq_file_size: u64,
        commit_log: Arc<CommitLog>,
        meta: BrokerMetadata,
    ) -> Result<BrokerState, StoreError> {
        std::fs::create_dir_all(cq_dir)
            .map_err(|e| StoreError::io("create consume queue root", cq_dir, e))?;
        let mut queues = HashMap::new();
        for ((topic, qid), range) in &meta.queues {
            let cq = ConsumeQueue::open(
                &queue_dir(cq_dir, topic, *qid),
                cq_file_size,
                range.min,
                range.next,
            )?;
            queues.insert((topic.clone(), *qid), Arc::new(cq));
        }
        remove_unknown_queue_dirs(cq_dir, &meta)?;
        let (applied_tx, _) = watch::channel(0);
        Ok(BrokerState {
            cq_dir: cq_dir.to_path_buf(),
            cq_file_size,
            commit_log,
            meta: RwLock::new(meta),
            queues: RwLock::new(queues),
            applied_tx,
            queue_notify: RwLock::new(HashMap::new()),
            index: KeyIndex::new(INDEX_MAX_ENTRIES),
        })
    }

    pub fn commit_log(&self) -> &Arc<CommitLog> {
        &self.commit_log
    }

    /// A copy of the metadata, for a snapshot or an admin view.
    pub fn metadata(&self) -> BrokerMetadata {
        self.meta.read().clone()
    }

    pub fn topic(&self, name: &str) -> Option<TopicConfig> {
        self.meta.read().topics.get(name).cloned()
    }

    pub fn topics(&self) -> Vec<TopicConfig> {
        self.meta.read().topics.values().cloned().collect()
    }

    pub fn consumer_offset(&self, group: &str, topic: &str, queue_id: u32) -> Option<u64> {
        let key = format!("{topic}@{group}");
        self.meta
            .read()
            .consumer_offsets
            .get(&key)?
            .get(&queue_id)
            .copied()
    }

    pub fn consume_queue(&self, topic: &str, queue_id: u32) -> Option<Arc<ConsumeQueue>> {
        self.queues
            .read()
            .get(&(topic.to_string(), queue_id))
            .cloned()
    }

    /// The notifier that fires whenever a message is appended to (topic, queue).
    pub fn queue_notify(&self, topic: &str, queue_id: u32) -> Arc<Notify> {
        let key = (topic.to_string(), queue_id);
        if let Some(n) = self.queue_notify.read().get(&key) {
            return n.clone();
        }
        self.queue_notify.write().entry(key).or_default().clone()
    }

    /// The message index by key.
    pub fn index(&self) -> &KeyIndex {
        &self.index
    }

    /// Indexes the keys of a stored message found at `offset` (also used by the start-up scan).
    pub fn index_message(&self, view: &StoredMessageView<'_>, offset: u64) {
        if let Some(keys) = view.keys() {
            for k in keys.split(' ').filter(|k| !k.is_empty()) {
                self.index.put(k, offset);
            }
        }
        if let Some(u) = view.uniq_key() {
            self.index.put(u, offset);
        }
    }

    /// Watch the applied-entry counter; it changes after every applied batch.
    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.applied_tx.subscribe()
    }

    pub(crate) fn notify_applied(&self, index: u64) {
        self.applied_tx.send_replace(index);
    }

    fn queue_for(&self, topic: &str, queue_id: u32) -> Result<Arc<ConsumeQueue>, StoreError> {
        if let Some(q) = self.consume_queue(topic, queue_id) {
            return Ok(q);
        }
        let key = (topic.to_string(), queue_id);
        let mut queues = self.queues.write();
        if let Some(q) = queues.get(&key) {
            return Ok(q.clone());
        }
        let cq = Arc::new(ConsumeQueue::open(
            &queue_dir(&self.cq_dir, topic, queue_id),
            self.cq_file_size,
            0,
            0,
        )?);
        queues.insert(key.clone(), cq.clone());
        self.meta.write().queues.insert(key, QueueRange::default());
        Ok(cq)
    }

    /// Indexes one committed message whose store-format bytes start at `offset` in the
    /// CommitLog.
    pub fn apply_message(&self, bytes: &[u8], offset: u64) -> Result<ApplyResult, StoreError> {
        let view = match StoredMessageView::parse(bytes) {
            Ok(v) => v,
            Err(e) => return Ok(ApplyResult::Rejected(RejectReason::MalformedMessage(e))),
        };
        if let Some(reason) = unindexable(&view) {
            return Ok(ApplyResult::Rejected(reason));
        }
        let pos = self.index_one(&view, offset)?;
        Ok(ApplyResult::Put(pos))
    }

    /// Indexes the messages of one batch entry, consecutive in the CommitLog from `offset`.
    pub fn apply_batch(&self, bytes: &[u8], offset: u64) -> Result<ApplyResult, StoreError> {
        let views = match parse_back_to_back(bytes) {
            Ok(v) => v,
            Err(reason) => return Ok(ApplyResult::Rejected(reason)),
        };
        let mut out = Vec::with_capacity(views.len());
        for (v, rel) in views {
            out.push(self.index_one(&v, offset + rel as u64)?);
        }
        Ok(ApplyResult::Batch(out))
    }

    fn index_one(
        &self,
        view: &StoredMessageView<'_>,
        offset: u64,
    ) -> Result<PutPosition, StoreError> {
        let queue_id = view.queue_id() as u32;
        let cq = self.queue_for(view.topic(), queue_id)?;
        let queue_offset = cq.max_offset();
        let size = view.total_size() as u32;
        cq.append(
            queue_offset,
            CqEntry {
                commit_log_offset: offset as i64,
                size: size as i32,
                tags_code: view.tags_code(),
            },
        )?;
        let key = (view.topic().to_string(), queue_id);
        {
            let mut meta = self.meta.write();
            if let Some(r) = meta.queues.get_mut(&key) {
                r.next = queue_offset + 1;
            }
            meta.schedule.on_put(view, queue_offset, offset, size);
            Self::note_indexed(&mut meta.transactions, view, queue_offset, offset);
        }
        self.index_message(view, offset);
        if let Some(n) = self.queue_notify.read().get(&key) {
            n.notify_waiters();
        }
        Ok(PutPosition {
            queue_offset,
            commit_log_offset: offset,
            size,
        })
    }

    /// Stores a due scheduled message (its bytes at `message_offset`) and retires its slot, in
    /// one step; a slot that is no longer pending means another delivery of it was applied
    /// first, and this one is ignored ([`ApplyResult::None`]) on every node alike.
    pub fn apply_delivery(
        &self,
        d: &Delivery,
        message_offset: u64,
    ) -> Result<ApplyResult, StoreError> {
        if self.meta.write().schedule.take(&d.slot).is_none() {
            return Ok(ApplyResult::None);
        }
        self.apply_message(&d.message, message_offset)
    }

    /// Reads the schedule (pending delayed messages) under the metadata lock.
    pub fn with_schedule<T>(&self, f: impl FnOnce(&ScheduleState) -> T) -> T {
        f(&self.meta.read().schedule)
    }

    pub fn apply_meta(&self, cmd: &MetaCommand) -> Result<ApplyResult, StoreError> {
        match cmd {
            MetaCommand::UpdateTopic(tc) => {
                if !valid_topic_name(&tc.topic_name) {
                    return Ok(ApplyResult::Rejected(RejectReason::InvalidTopicName(
                        tc.topic_name.clone(),
                    )));
                }
                self.meta
                    .write()
                    .topics
                    .insert(tc.topic_name.clone(), tc.clone());
            }
            MetaCommand::DeleteTopic(name) => {
                if !valid_topic_name(name) {
                    return Ok(ApplyResult::Rejected(RejectReason::InvalidTopicName(
                        name.clone(),
                    )));
                }
                let removed: Vec<(QueueKey, Arc<ConsumeQueue>)> = {
                    let mut queues = self.queues.write();
                    let keys: Vec<QueueKey> =
                        queues.keys().filter(|(t, _)| t == name).cloned().collect();
                    keys.into_iter()
                        .filter_map(|k| queues.remove(&k).map(|q| (k, q)))
                        .collect()
                };
                {
                    let mut meta = self.meta.write();
                    meta.topics.remove(name);
                    meta.queues.retain(|(t, _), _| t != name);
                    let suffix = format!("{name}@");
                    meta.consumer_offsets.retain(|k, _| !k.starts_with(&suffix));
                }
                for (_, q) in removed {
                    if let Ok(q) = Arc::try_unwrap(q) {
                        q.destroy()?;
                    }
                }
                let dir = self.cq_dir.join(name);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)
                        .map_err(|e| StoreError::io("remove topic queues", &dir, e))?;
                }
            }
            MetaCommand::CommitOffset {
                group,
                topic,
                queue_id,
                offset,
            } => {
                let key = format!("{topic}@{group}");
                self.meta
                    .write()
                    .consumer_offsets
                    .entry(key)
                    .or_default()
                    .insert(*queue_id, *offset);
            }
        }
        Ok(ApplyResult::None)
    }

    pub(crate) fn set_next_commit_log_offset(&self, offset: u64) {
        self.meta.write().next_commit_log_offset = offset;
    }

    /// Drops queue entries whose messages retention removed from the CommitLog (below
    /// `min_commit_log_offset`), and records each queue's new min offset.
    pub fn purge_queues_below(&self, min_commit_log_offset: u64) -> Result<(), StoreError> {
        let queues: Vec<(QueueKey, Arc<ConsumeQueue>)> = self
            .queues
            .read()
            .iter()
            .map(|(k, q)| (k.clone(), q.clone()))
            .collect();
        for (key, q) in queues {
            let min = q.purge_below(min_commit_log_offset as i64)?;
            if let Some(r) = self.meta.write().queues.get_mut(&key) {
                r.min = min;
            }
        }
        Ok(())
    }

    /// Fsyncs every ConsumeQueue; a snapshot is written only after this, so that the queues on
    /// disk always hold at least what the snapshot vouches for.
    pub fn flush_queues(&self) -> Result<(), StoreError> {
        let queues: Vec<Arc<ConsumeQueue>> = self.queues.read().values().cloned().collect();
        for q in queues {
            q.flush()?;
        }
        Ok(())
    }

    /// Replaces everything with a snapshot's metadata: the old queues are removed and each
    /// queue restarts, empty, at the snapshot's next offset.
    pub fn replace(&self, meta: BrokerMetadata) -> Result<(), StoreError> {
        let meta = meta.with_empty_queues();
        let old: Vec<Arc<ConsumeQueue>> = self.queues.write().drain().map(|(_, q)| q).collect();
        drop(old);
        if self.cq_dir.exists() {
            std::fs::remove_dir_all(&self.cq_dir)
                .map_err(|e| StoreError::io("clear consume queues", &self.cq_dir, e))?;
        }
        std::fs::create_dir_all(&self.cq_dir)
            .map_err(|e| StoreError::io("create consume queue root", &self.cq_dir, e))?;
        let mut queues = HashMap::new();
        for ((topic, qid), range) in &meta.queues {
            let cq = ConsumeQueue::open(
                &queue_dir(&self.cq_dir, topic, *qid),
                self.cq_file_size,
                range.next,
                range.next,
            )?;
            queues.insert((topic.clone(), *qid), Arc::new(cq));
        }
        *self.queues.write() = queues;
        *self.meta.write() = meta;
        Ok(())
    }
}

/// Why a well-formed stored message cannot be indexed, if it cannot. The broker checks the same
/// before proposing; this is the state machine's own guard, because topic names become
/// directory names.
/// The store-format messages of an entry that carries several back to back (a batch, a
/// transaction's op record and real message), each with its offset in `bytes`; refused as a
/// whole if one is malformed or cannot be indexed, so nothing of it is applied.
fn parse_back_to_back(bytes: &[u8]) -> Result<Vec<(StoredMessageView<'_>, usize)>, RejectReason> {
    let mut at = 0usize;
    let mut views = Vec::new();
    while at < bytes.len() {
        let v = StoredMessageView::parse(&bytes[at..])
            .map_err(|error| RejectReason::MalformedInBatch { at, error })?;
        if let Some(reason) = unindexable(&v) {
            return Err(RejectReason::InBatch {
                at,
                reason: Box::new(reason),
            });
        }
        let n = v.total_size();
        views.push((v, at));
        at += n;
    }
    Ok(views)
}

fn unindexable(view: &StoredMessageView<'_>) -> Option<RejectReason> {
    if view.total_size() == 0 {
        return Some(RejectReason::EmptyMessage);
    }
    if view.queue_id() < 0 {
        return Some(RejectReason::NegativeQueueId(view.queue_id()));
    }
    if !valid_topic_name(view.topic()) {
        return Some(RejectReason::InvalidTopicName(view.topic().to_string()));
    }
    None
}

fn remove_unknown_queue_dirs(root: &Path, meta: &BrokerMetadata) -> Result<(), StoreError> {
    let Ok(topics) = std::fs::read_dir(root) else {
        return Ok(());
    };
    for t in topics.flatten() {
        let tname = t.file_name().to_string_lossy().to_string();
        let Ok(qs) = std::fs::read_dir(t.path()) else {
            continue;
        };
        for q in qs.flatten() {
            let known = q
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
                .is_some_and(|qid| meta.queues.contains_key(&(tname.clone(), qid)));
            if !known {
                let p = q.path();
                std::fs::remove_dir_all(&p)
                    .map_err(|e| StoreError::io("remove unknown consume queue", &p, e))?;
            }
        }
    }
    Ok(())
}
