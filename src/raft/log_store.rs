//! openraft's log storage, implemented by the CommitLog itself: an appended entry is written
//! once, as a CommitLog record, and read back from there for replication and for the state
//! machine. There is no second Raft log file.
//!
//! The newest entries are also kept in memory (`EntryCache`, bounded by bytes), as the entries
//! openraft handed in: replication and the state machine read what was just appended, and
//! serving them from memory saves a copy out of the page cache, a CRC pass and a decode per
//! reader. The CommitLog stays the only copy on disk.
//!
//! Durability: `append` returns once the records are in the segments (readable), and
//! reports them persisted through openraft's callback after the group-commit fsync under
//! `SYNC_FLUSH`, or at once under `ASYNC_FLUSH`. The vote is fsynced before `save_vote` returns.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, EntryPayload, OptionalSend, StorageIOError};
use parking_lot::Mutex;

use super::codec;
use super::meta::RaftMeta;
use super::node::off_node_thread;
use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::store::{disk_space, CommitLog};

/// Upper bound of payload bytes returned by one `limited_get_log_entries` call, so that one
/// AppendEntries stays a reasonable frame even with large messages.
const MAX_READ_BYTES: usize = 8 << 20;

/// How many payload bytes of recent entries stay in memory: two full group-commit proposals
/// (`BatchLimits::max_bytes` is 4 MiB), which is what is in flight on the hot path. Anything
/// older is a lagging follower's catch-up, which reads the CommitLog. The cache was 64 MiB;
/// every node then touched 64 MiB of fresh memory before reusing any, which on this VM cost
/// more than the copies it saved (most of the three-node gain in BENCHMARKS.md's third-session
/// section).
const CACHE_BYTES: usize = 8 << 20;

/// The most recent entries, contiguous, ending at the log's last index.
#[derive(Debug, Default)]
struct EntryCache {
    entries: VecDeque<Entry>,
    bytes: usize,
}

/// What an entry costs the cache: its record payload (group item headers included) and a
/// fixed allowance for the entry itself.
fn entry_bytes(e: &Entry) -> usize {
    match &e.payload {
        EntryPayload::Normal(c) => 64 + codec::payload_len(c) as usize,
        _ => 64,
    }
}

impl EntryCache {
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|e| e.log_id.index)
    }

    fn push(&mut self, e: Entry) {
        if self
            .entries
            .back()
            .is_some_and(|b| b.log_id.index + 1 != e.log_id.index)
        {
            self.clear();
        }
        self.bytes += entry_bytes(&e);
        self.entries.push_back(e);
        while self.bytes > CACHE_BYTES {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= entry_bytes(&old),
                None => break,
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Drops entries with index >= `index`.
    fn truncate(&mut self, index: u64) {
        while self.entries.back().is_some_and(|e| e.log_id.index >= index) {
            if let Some(e) = self.entries.pop_back() {
                self.bytes -= entry_bytes(&e);
            }
        }
    }

    /// Drops entries with index <= `index`.
    fn purge(&mut self, index: u64) {
        while self
            .entries
            .front()
            .is_some_and(|e| e.log_id.index <= index)
        {
            if let Some(e) = self.entries.pop_front() {
                self.bytes -= entry_bytes(&e);
            }
        }
    }

    /// Entries `[start, end)` if the cache holds `start`, up to `max_bytes`.
    fn get(&self, start: u64, end: u64, max_bytes: usize) -> Option<Vec<Entry>> {
        let first = self.first_index()?;
        if start < first {
            return None;
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for e in self.entries.range((start - first) as usize..) {
            if e.log_id.index >= end {
                break;
            }
            bytes += entry_bytes(e);
            out.push(e.clone());
            if bytes >= max_bytes {
                break;
            }
        }
        Some(out)
    }
}

/// How often the free space under the CommitLog is looked at while there is plenty.
const SPACE_CHECK_EVERY: Duration = Duration::from_millis(250);
/// How often a node waiting for space looks again.
const SPACE_WAIT_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct LogStore {
    log: Arc<CommitLog>,
    meta: Arc<RaftMeta>,
    cache: Arc<Mutex<EntryCache>>,
    /// When the free space was last found sufficient.
    space_ok_at: Arc<Mutex<Option<Instant>>>,
}

impl LogStore {
    pub fn new(log: Arc<CommitLog>, meta: Arc<RaftMeta>) -> LogStore {
        LogStore {
            log,
            meta,
            cache: Arc::default(),
            space_ok_at: Arc::default(),
        }
    }

    /// Whether the store's file system is too full to append safely: less room than two
    /// segments (a roll preallocates one) plus half the margin at which the broker refuses
    /// sends (`DiskSpace::is_full`), so a leader refuses clients before its log has to wait.
    fn low_on_space(&self) -> Option<crate::store::DiskSpace> {
        let cfg = self.log.config();
        let space = disk_space(&cfg.dir)?;
        let floor = cfg
            .segment_size
            .saturating_mul(2)
            .saturating_add((space.total / 20).min(512 << 20));
        (space.available < floor).then_some(space)
    }

    /// A full disk must not stop this node: an append that could fail with ENOSPC (and turn
    /// into a fatal storage error that ends the Raft core) waits here until space returns.
    /// Meanwhile the node stays a member: a follower just lags (the leader commits with the
    /// others), and a leader that cannot append stops sending heartbeats, so a node with space
    /// takes over. Checked at most every [`SPACE_CHECK_EVERY`] while space is plentiful.
    async fn wait_for_room(&self) {
        if self
            .space_ok_at
            .lock()
            .is_some_and(|t| t.elapsed() < SPACE_CHECK_EVERY)
        {
            return;
        }
        let mut waited = false;
        while let Some(space) = self.low_on_space() {
            if !waited {
                tracing::error!(
                    dir = %self.log.config().dir.display(),
                    available = space.available,
                    used_pct = space.used_pct,
                    "store disk full: this node waits for space before appending more Raft entries (it stays in its group)"
                );
                waited = true;
            }
            tokio::time::sleep(SPACE_WAIT_POLL).await;
        }
        if waited {
            tracing::info!("store disk has space again: appending Raft entries again");
        }
        *self.space_ok_at.lock() = Some(Instant::now());
    }

    pub fn commit_log(&self) -> &Arc<CommitLog> {
        &self.log
    }

    pub fn meta(&self) -> &Arc<RaftMeta> {
        &self.meta
    }

    fn read_entries(
        &self,
        start: u64,
        end: u64,
        max_bytes: usize,
    ) -> Result<Vec<Entry>, StorageError> {
        if start >= end {
            return Ok(Vec::new());
        }
        if let Some(hit) = self.cache.lock().get(start, end, max_bytes) {
            return Ok(hit);
        }
        let records = self
            .log
            .read_range(start, end, max_bytes)
            .map_err(|e| StorageIOError::read_logs(AnyError::new(&e)))?;
        records
            .into_iter()
            .map(|r| {
                codec::decode(r).map_err(|e| StorageIOError::read_logs(AnyError::new(&e)).into())
            })
            .collect()
    }
}

fn range_to_bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (start, end) = range_to_bounds(&range);
        self.read_entries(start, end, usize::MAX)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read_entries(start, end, MAX_READ_BYTES)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = self.meta.purged();
        let last_log_id = match self.log.last_meta() {
            Some(m) => Some(codec::log_id_of(&m)),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.meta
            .save_vote(vote)
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.meta.vote())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.meta
            .save_committed(committed)
            .map_err(|e| StorageIOError::write(AnyError::new(&e)).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        // Never claim more than the log holds (an ASYNC_FLUSH node may lose its tail in a power
        // cut); openraft re-applies up to this id at start-up.
        let committed = self.meta.committed();
        let last = self.log.last_index();
        Ok(committed.filter(|c| last.is_some_and(|l| c.index <= l)))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.wait_for_room().await;
        let mut encoded = Vec::new();
        let mut appended = Vec::new();
        for entry in entries {
            let e =
                codec::encode(&entry).map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
            encoded.push(e);
            appended.push(entry);
        }
        let parts: Vec<Vec<&[u8]>> = encoded
            .iter()
            .map(|(_, p)| p.iter().map(|b| &b[..]).collect())
            .collect();
        let records: Vec<_> = encoded
            .iter()
            .zip(parts.iter())
            .map(|((meta, _), part)| (*meta, &part[..]))
            .collect();
        let seq = match self.log.append(&records) {
            Ok(seq) => {
                let mut cache = self.cache.lock();
                for e in appended {
                    cache.push(e);
                }
                seq
            }
            Err(e) => {
                self.cache.lock().clear();
                tracing::error!(error = %e, "commit log append failed; this node stops accepting entries");
                return Err(StorageIOError::write_logs(AnyError::new(&e)).into());
            }
        };
        self.log
            .on_durable(seq, Box::new(move |r| callback.log_io_completed(r)));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.cache.lock().truncate(log_id.index);
        self.log
            .truncate_from(log_id.index)
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Two fsyncs (the purge point, the checkpoint) and the unlink of whole segments, each
        // a preallocated 1 GiB file whose extents the file system frees one by one: on the
        // blocking pool, because the node's tasks share one thread (`node/thread.rs`) and a
        // leader's heartbeats or a follower's answers must not wait for them.
        let (meta, log) = (self.meta.clone(), self.log.clone());
        let purged = off_node_thread(move || {
            meta.save_purged(&log_id).map_err(|e| AnyError::new(&e))?;
            log.purge_upto(log_id.index).map_err(|e| AnyError::new(&e))
        })
        .await;
        self.cache.lock().purge(log_id.index);
        purged.map_err(|e| StorageIOError::write_logs(e).into())
    }
}
