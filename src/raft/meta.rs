//! The small Raft state kept beside the CommitLog: the vote, the last purged log id and the
//! committed log id, each in its own file under `<storePathRootDir>/raft/`.
//!
//! The vote and the purge point are written with write-temp, fsync, rename, fsync-dir, so a crash
//! leaves the old or the new value, never a mix: the vote must be durable before this node
//! answers a vote request, or it could vote twice in one term. The committed id is only a hint
//! for replaying the state machine after a restart; it is written in place without fsync, and
//! at most every [`COMMITTED_HINT_INTERVAL`]: openraft reports every commit, and one `pwrite`
//! per commit on every node was almost half of all the group's writes to disk (measured with
//! `perf stat -e syscalls:sys_enter_pwrite64` under `bench raft`). A hint that lags only
//! means replaying less at start-up; the rest is applied once the leader says it is committed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{de::DeserializeOwned, Serialize};

use super::types::{LogId, Vote};

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is damaged ({reason}); restore it from a backup or remove this node's store to resync it")]
    Damaged { path: PathBuf, reason: String },
    #[error("injected failure at {0}")]
    Injected(&'static str),
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> MetaError + 'a {
    move |source| MetaError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `value` (bincode, CRC32C-prefixed) to `path` atomically and durably.
pub fn write_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), MetaError> {
    let body = bincode::serialize(value).map_err(|e| MetaError::Damaged {
        path: path.to_path_buf(),
        reason: format!("cannot encode: {e}"),
    })?;
    let mut bytes = Vec::with_capacity(body.len() + 4);
    bytes.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    bytes.extend_from_slice(&body);
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(&bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io("rename into", path))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync dir", dir))?;
    }
    Ok(())
}

/// Reads a value written by [`write_atomic`]; `None` if the file does not exist.
pub fn read_atomic<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, MetaError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", path)(e)),
    };
    let damaged = |reason: String| MetaError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < 4 {
        return Err(damaged("shorter than its checksum".into()));
    }
    let stored = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if stored != crc32c::crc32c(&bytes[4..]) {
        return Err(damaged("checksum mismatch".into()));
    }
    bincode::deserialize(&bytes[4..])
        .map(Some)
        .map_err(|e| damaged(format!("cannot decode: {e}")))
}

/// The committed-id hint is written at most this often (and by [`RaftMeta::persist_committed`]).
pub const COMMITTED_HINT_INTERVAL: Duration = Duration::from_millis(50);

/// The committed id in memory and what the hint file holds.
struct CommittedHint {
    id: Option<LogId>,
    written: Option<LogId>,
    written_at: Instant,
}

pub struct RaftMeta {
    dir: PathBuf,
    vote: Mutex<Option<Vote>>,
    purged: Mutex<Option<LogId>>,
    committed: Mutex<CommittedHint>,
    committed_file: File,
}

impl std::fmt::Debug for RaftMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftMeta").field("dir", &self.dir).finish()
    }
}

impl RaftMeta {
    pub fn open(dir: &Path) -> Result<RaftMeta, MetaError> {
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let vote = read_atomic(&dir.join("vote"))?;
        let purged = read_atomic(&dir.join("purged"))?;
        let committed_path = dir.join("committed");
        let committed_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&committed_path)
            .map_err(io("open", &committed_path))?;
        let committed = read_committed_hint(&committed_file);
        Ok(RaftMeta {
            dir: dir.to_path_buf(),
            vote: Mutex::new(vote),
            purged: Mutex::new(purged),
            committed: Mutex::new(CommittedHint {
                id: committed,
                written: committed,
                written_at: Instant::now(),
            }),
            committed_file,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn vote(&self) -> Option<Vote> {
        *self.vote.lock()
    }

    /// Persists the vote durably before returning.
    pub fn save_vote(&self, vote: &Vote) -> Result<(), MetaError> {
        fail::fail_point!("raft::save_vote", |_| Err(MetaError::Injected(
            "raft::save_vote"
        )));
        write_atomic(&self.dir.join("vote"), vote)?;
        *self.vote.lock() = Some(*vote);
        Ok(())
    }

    pub fn purged(&self) -> Option<LogId> {
        *self.purged.lock()
    }

    pub fn save_purged(&self, log_id: &LogId) -> Result<(), MetaError> {
        write_atomic(&self.dir.join("purged"), log_id)?;
        *self.purged.lock() = Some(*log_id);
        Ok(())
    }

    pub fn committed(&self) -> Option<LogId> {
        self.committed.lock().id
    }

    /// Records the committed id in memory, and in the hint file if the last write is older
    /// than [`COMMITTED_HINT_INTERVAL`] (no fsync: losing it only means replaying less after a
    /// restart, never applying something uncommitted, because the hint is never ahead of what
    /// this node was told is committed).
    pub fn save_committed(&self, log_id: Option<LogId>) -> Result<(), MetaError> {
        let mut c = self.committed.lock();
        c.id = log_id;
        if c.written_at.elapsed() >= COMMITTED_HINT_INTERVAL {
            self.write_committed(&mut c)?;
        }
        Ok(())
    }

    /// Writes the committed id to the hint file if it is newer than what the file holds; run
    /// periodically and at shutdown so the hint catches up once commits stop.
    pub fn persist_committed(&self) -> Result<(), MetaError> {
        let mut c = self.committed.lock();
        if c.written != c.id {
            self.write_committed(&mut c)?;
        }
        Ok(())
    }

    fn write_committed(&self, c: &mut CommittedHint) -> Result<(), MetaError> {
        let mut buf = [0u8; 36];
        if let Some(id) = c.id {
            buf[0] = 1;
            buf[1..9].copy_from_slice(&id.leader_id.term.to_be_bytes());
            buf[9..17].copy_from_slice(&id.leader_id.node_id.to_be_bytes());
            buf[17..25].copy_from_slice(&id.index.to_be_bytes());
        }
        let crc = crc32c::crc32c(&buf[0..25]);
        buf[25..29].copy_from_slice(&crc.to_be_bytes());
        self.committed_file
            .write_all_at(&buf, 0)
            .map_err(io("write", &self.dir.join("committed")))?;
        c.written = c.id;
        c.written_at = Instant::now();
        Ok(())
    }
}

fn read_committed_hint(f: &File) -> Option<LogId> {
    let mut buf = [0u8; 36];
    f.read_exact_at(&mut buf, 0).ok()?;
    let crc = u32::from_be_bytes([buf[25], buf[26], buf[27], buf[28]]);
    if buf[0] != 1 || crc != crc32c::crc32c(&buf[0..25]) {
        return None;
    }
    let u = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&buf[at..at + 8]);
        u64::from_be_bytes(a)
    };
    Some(LogId::new(
        openraft::CommittedLeaderId::new(u(1), u(9)),
        u(17),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_purged_committed_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let m = RaftMeta::open(dir.path()).unwrap();
        assert_eq!(m.vote(), None);
        let vote = Vote::new_committed(4, 2);
        m.save_vote(&vote).unwrap();
        let purged = LogId::new(openraft::CommittedLeaderId::new(2, 1), 77);
        m.save_purged(&purged).unwrap();
        let committed = LogId::new(openraft::CommittedLeaderId::new(4, 2), 100);
        m.save_committed(Some(committed)).unwrap();
        m.persist_committed().unwrap();
        drop(m);
        let m = RaftMeta::open(dir.path()).unwrap();
        assert_eq!(m.vote(), Some(vote));
        assert_eq!(m.purged(), Some(purged));
        assert_eq!(m.committed(), Some(committed));
    }

    #[test]
    fn committed_hint_is_written_at_most_every_interval_and_caught_up_by_persist() {
        let dir = tempfile::tempdir().unwrap();
        let m = RaftMeta::open(dir.path()).unwrap();
        let id = |i| LogId::new(openraft::CommittedLeaderId::new(1, 0), i);
        std::thread::sleep(COMMITTED_HINT_INTERVAL);
        m.save_committed(Some(id(1))).unwrap();
        // Within the interval: memory moves on, the file keeps the last written id.
        m.save_committed(Some(id(2))).unwrap();
        assert_eq!(m.committed(), Some(id(2)));
        let on_disk = || RaftMeta::open(dir.path()).unwrap().committed();
        assert_eq!(on_disk(), Some(id(1)));
        m.persist_committed().unwrap();
        assert_eq!(on_disk(), Some(id(2)));
    }

    #[test]
    fn damaged_vote_is_an_error_not_a_silent_reset() {
        let dir = tempfile::tempdir().unwrap();
        let m = RaftMeta::open(dir.path()).unwrap();
        m.save_vote(&Vote::new(3, 1)).unwrap();
        drop(m);
        let p = dir.path().join("vote");
        let mut b = std::fs::read(&p).unwrap();
        let last = b.len() - 1;
        b[last] ^= 0xFF;
        std::fs::write(&p, b).unwrap();
        assert!(matches!(
            RaftMeta::open(dir.path()),
            Err(MetaError::Damaged { .. })
        ));
    }
}
