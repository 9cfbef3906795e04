//! ConsumeQueue: the per-(topic, queue) index into the CommitLog, RocketMQ's 20-byte entries.
//!
//! Entry layout (big-endian): CommitLog offset of the message (i64), its size (i32), the tags
//! hash code (i64). Queue offset N is entry N; the files are named by the byte offset of their
//! first entry (N × 20) zero-padded to 20 digits, and hold `file_size / 20` entries each.
//!
//! The queue is derived state: the Raft state machine appends an entry when a message commits,
//! and on restart the queue is cut back to the last snapshot and rebuilt by replaying the log.
//! It must never hold an entry for an uncommitted message.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::MmapMut;
use parking_lot::RwLock;

use super::segment::{parse_segment_name, segment_name};
use super::{Result, StoreError};

pub const CQ_ENTRY_SIZE: usize = 20;

/// One ConsumeQueue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqEntry {
    pub commit_log_offset: i64,
    pub size: i32,
    pub tags_code: i64,
}

impl CqEntry {
    fn encode(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
    }

    fn decode(b: &[u8]) -> CqEntry {
        let mut o = [0u8; 8];
        o.copy_from_slice(&b[0..8]);
        let mut s = [0u8; 4];
        s.copy_from_slice(&b[8..12]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[12..20]);
        CqEntry {
            commit_log_offset: i64::from_be_bytes(o),
            size: i32::from_be_bytes(s),
            tags_code: i64::from_be_bytes(t),
        }
    }
}

struct CqFile {
    /// Queue offset of the file's first entry.
    first: u64,
    path: PathBuf,
    file: File,
    map: MmapMut,
}

struct Inner {
    files: VecDeque<CqFile>,
    min_offset: u64,
    max_offset: u64,
    dirty: bool,
}

/// One queue's index. Internally locked: one writer (the state machine), many readers (pulls).
pub struct ConsumeQueue {
    dir: PathBuf,
    entries_per_file: u64,
    inner: RwLock<Inner>,
}

impl std::fmt::Debug for ConsumeQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumeQueue")
            .field("dir", &self.dir)
            .finish()
    }
}

fn cq_err(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::ConsumeQueue {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl ConsumeQueue {
    /// Opens the queue in `dir` and cuts it to exactly the entries `[min_offset, next_offset)`
    /// that the state machine's snapshot vouches for; replay re-adds the rest.
    pub fn open(dir: &Path, file_size: u64, min_offset: u64, next_offset: u64) -> Result<Self> {
        let entries_per_file = file_size / CQ_ENTRY_SIZE as u64;
        if entries_per_file == 0 || !file_size.is_multiple_of(CQ_ENTRY_SIZE as u64) {
            return Err(cq_err(
                dir,
                format!("file size {file_size} is not a positive multiple of 20"),
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::io("create consume queue dir", dir, e))?;
        let mut names = Vec::new();
        let rd =
            std::fs::read_dir(dir).map_err(|e| StoreError::io("list consume queue dir", dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| StoreError::io("list consume queue dir", dir, e))?;
            if let Some(start) = entry.file_name().to_str().and_then(parse_segment_name) {
                names.push((start, entry.path()));
            }
        }
        names.sort();
        let cq = ConsumeQueue {
            dir: dir.to_path_buf(),
            entries_per_file,
            inner: RwLock::new(Inner {
                files: VecDeque::new(),
                min_offset,
                max_offset: min_offset,
                dirty: false,
            }),
        };
        {
            let mut inner = cq.inner.write();
            for (byte_start, path) in names {
                let first = byte_start / CQ_ENTRY_SIZE as u64;
                let last_excl = first + entries_per_file;
                if last_excl <= min_offset
                    || first >= next_offset
                    || !first.is_multiple_of(entries_per_file)
                {
                    std::fs::remove_file(&path)
                        .map_err(|e| StoreError::io("remove stale consume queue file", &path, e))?;
                    continue;
                }
                inner.files.push_back(cq.map_file(first, path, false)?);
            }
            // Make sure the files cover [min_offset, next_offset) without holes.
            let mut expect = min_offset - min_offset % entries_per_file;
            for f in &inner.files {
                if f.first != expect {
                    return Err(cq_err(
                        dir,
                        format!("file for queue offset {expect} is missing"),
                    ));
                }
                expect += entries_per_file;
            }
            if next_offset > min_offset && expect < next_offset {
                return Err(cq_err(
                    dir,
                    format!("entries {expect}..{next_offset} are missing"),
                ));
            }
            inner.max_offset = next_offset.max(min_offset);
            // Zero anything past next_offset in the last file.
            let max = inner.max_offset;
            if let Some(f) = inner.files.back_mut() {
                let rel = ((max - f.first) as usize) * CQ_ENTRY_SIZE;
                if rel < f.map.len() {
                    f.map[rel..].fill(0);
                }
            }
        }
        Ok(cq)
    }

    fn map_file(&self, first: u64, path: PathBuf, create: bool) -> Result<CqFile> {
        let size = self.entries_per_file * CQ_ENTRY_SIZE as u64;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io("open consume queue file", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("stat consume queue file", &path, e))?
            .len();
        if len != size {
            file.set_len(size)
                .map_err(|e| StoreError::io("size consume queue file", &path, e))?;
        }
        // SAFETY: the file belongs to this store and is only accessed through this map, with
        // bounds checked against `size`.
        let map = unsafe { MmapMut::map_mut(&file) }
            .map_err(|e| StoreError::io("map consume queue file", &path, e))?;
        Ok(CqFile {
            first,
            path,
            file,
            map,
        })
    }

    /// Smallest queue offset still readable.
    pub fn min_offset(&self) -> u64 {
        self.inner.read().min_offset
    }

    /// The queue offset the next message will get (RocketMQ's max offset).
    pub fn max_offset(&self) -> u64 {
        self.inner.read().max_offset
    }

    /// Adds the entry for queue offset `offset`, which must be the current max offset.
    pub fn append(&self, offset: u64, entry: CqEntry) -> Result<()> {
        let mut inner = self.inner.write();
        if offset != inner.max_offset {
            return Err(cq_err(
                &self.dir,
                format!(
                    "append at offset {offset} but the queue ends at {}",
                    inner.max_offset
                ),
            ));
        }
        let file_first = offset - offset % self.entries_per_file;
        if inner.files.back().is_none_or(|f| f.first != file_first) {
            let path = self
                .dir
                .join(segment_name(file_first * CQ_ENTRY_SIZE as u64));
            let f = self.map_file(file_first, path, true)?;
            inner.files.push_back(f);
        }
        if let Some(f) = inner.files.back_mut() {
            let rel = ((offset - f.first) as usize) * CQ_ENTRY_SIZE;
            entry.encode(&mut f.map[rel..rel + CQ_ENTRY_SIZE]);
        }
        inner.max_offset = offset + 1;
        inner.dirty = true;
        Ok(())
    }

    /// Reads up to `max` entries starting at queue offset `offset`.
    pub fn read(&self, offset: u64, max: usize) -> Vec<(u64, CqEntry)> {
        let inner = self.inner.read();
        let mut out = Vec::new();
        if inner.files.is_empty() {
            return out;
        }
        let mut at = offset.max(inner.min_offset);
        while at < inner.max_offset && out.len() < max {
            let Some(front) = inner.files.front() else {
                break;
            };
            let fi = ((at - front.first) / self.entries_per_file) as usize;
            let Some(f) = inner.files.get(fi) else {
                break;
            };
            let rel = ((at - f.first) as usize) * CQ_ENTRY_SIZE;
            out.push((at, CqEntry::decode(&f.map[rel..rel + CQ_ENTRY_SIZE])));
            at += 1;
        }
        out
    }

    /// The entry at queue offset `offset`, if it is readable.
    pub fn get(&self, offset: u64) -> Option<CqEntry> {
        self.read(offset, 1)
            .into_iter()
            .find(|(o, _)| *o == offset)
            .map(|(_, e)| e)
    }

    /// Drops every entry whose message lies below `min_commit_offset` (the CommitLog purged it)
    /// and deletes files that hold only such entries. Returns the new min offset.
    pub fn purge_below(&self, min_commit_offset: i64) -> Result<u64> {
        let mut inner = self.inner.write();
        // Binary search the first entry still backed by the CommitLog.
        let (mut lo, mut hi) = (inner.min_offset, inner.max_offset);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = {
                let Some(front) = inner.files.front() else {
                    break;
                };
                let fi = ((mid - front.first) / self.entries_per_file) as usize;
                let Some(f) = inner.files.get(fi) else { break };
                let rel = ((mid - f.first) as usize) * CQ_ENTRY_SIZE;
                CqEntry::decode(&f.map[rel..rel + CQ_ENTRY_SIZE])
            };
            if e.commit_log_offset < min_commit_offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        inner.min_offset = lo;
        while inner.files.len() > 1
            && inner
                .files
                .front()
                .is_some_and(|f| f.first + self.entries_per_file <= lo)
        {
            if let Some(f) = inner.files.pop_front() {
                let path = f.path.clone();
                drop(f);
                std::fs::remove_file(&path)
                    .map_err(|e| StoreError::io("remove consume queue file", &path, e))?;
            }
        }
        Ok(lo)
    }

    /// Fsyncs the files written since the last flush.
    ///
    /// The flag is cleared *before* the fsyncs and the lock is not held during them: a snapshot
    /// flushes from the blocking pool while the state machine keeps appending, and an append
    /// that landed after an fsync but before a later clearing would have been marked durable
    /// without being fsynced (and an append waiting on the lock would have waited for the disk).
    /// Anything appended meanwhile sets the flag again for the next flush.
    pub fn flush(&self) -> Result<()> {
        let files: Vec<(PathBuf, File)> = {
            let mut inner = self.inner.write();
            if !inner.dirty {
                return Ok(());
            }
            let mut files = Vec::with_capacity(inner.files.len());
            for f in &inner.files {
                let file = f
                    .file
                    .try_clone()
                    .map_err(|e| StoreError::io("duplicate consume queue file", &f.path, e))?;
                files.push((f.path.clone(), file));
            }
            inner.dirty = false;
            files
        };
        for (path, file) in &files {
            if let Err(e) = file.sync_data() {
                self.inner.write().dirty = true;
                return Err(StoreError::io("fsync consume queue file", path, e));
            }
        }
        Ok(())
    }

    /// Removes the queue's files and directory (topic deleted, or a snapshot replaced them).
    pub fn destroy(self) -> Result<()> {
        let dir = self.dir.clone();
        drop(self);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("remove consume queue dir", &dir, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(i: i64) -> CqEntry {
        CqEntry {
            commit_log_offset: i * 100,
            size: 100,
            tags_code: i,
        }
    }

    /// A flush clears the flag before it fsyncs, and an append made during or after it sets it
    /// again, so the next flush syncs that append instead of skipping a queue it thinks clean.
    #[test]
    fn an_append_after_a_flush_is_flushed_by_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path(), 20 * 4, 0, 0).unwrap();
        q.append(0, e(0)).unwrap();
        assert!(q.inner.read().dirty);
        q.flush().unwrap();
        assert!(!q.inner.read().dirty, "flushed");
        q.append(1, e(1)).unwrap();
        assert!(q.inner.read().dirty, "the next flush must sync entry 1");
        q.flush().unwrap();
        assert!(!q.inner.read().dirty);
    }

    #[test]
    fn append_read_reopen_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path(), 20 * 4, 0, 0).unwrap();
        for i in 0..10 {
            q.append(i, e(i as i64)).unwrap();
        }
        assert!(q.append(12, e(12)).is_err(), "a gap is refused");
        assert_eq!(q.max_offset(), 10);
        let got = q.read(3, 5);
        assert_eq!(got.len(), 5);
        assert_eq!(got[0], (3, e(3)));
        assert_eq!(got[4], (7, e(7)));
        q.flush().unwrap();
        drop(q);
        // Reopen cut back to 7 entries: entries 7.. are gone and the next append is 7.
        let q = ConsumeQueue::open(dir.path(), 20 * 4, 0, 7).unwrap();
        assert_eq!(q.max_offset(), 7);
        assert_eq!(q.get(6), Some(e(6)));
        assert_eq!(q.get(7), None);
        q.append(7, e(70)).unwrap();
        assert_eq!(q.get(7), Some(e(70)));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn purge_below_moves_min_and_deletes_files() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path(), 20 * 4, 0, 0).unwrap();
        for i in 0..10 {
            q.append(i, e(i as i64)).unwrap();
        }
        assert_eq!(q.purge_below(550).unwrap(), 6);
        assert_eq!(q.min_offset(), 6);
        assert_eq!(q.read(0, 2)[0].0, 6);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        drop(q);
        let q = ConsumeQueue::open(dir.path(), 20 * 4, 6, 10).unwrap();
        assert_eq!(q.get(9), Some(e(9)));
    }

    #[test]
    fn queue_can_start_at_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path(), 20 * 4, 1001, 1001).unwrap();
        q.append(1001, e(1)).unwrap();
        assert_eq!(q.read(0, 10), vec![(1001, e(1))]);
        assert!(
            ConsumeQueue::open(dir.path(), 20 * 4, 0, 1002).is_err(),
            "missing entries are reported"
        );
    }
}
