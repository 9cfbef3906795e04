//! The CommitLog: the Raft log's records in fixed-size segment files.
//!
//! # Invariants
//! - Records are contiguous in index and never span two segments; a segment that cannot hold the
//!   next record ends with a BLANK filler and the record starts the next segment.
//! - Every byte between the last record and the write position of the newest segment is zero, so
//!   recovery can tell where the log ends: a truncation zeroes what it removes, and recovery
//!   zeroes the torn tail it cuts.
//! - Bytes below the checkpoint's flushed offset were fsynced and CRC-verified; recovery checks
//!   the CRC of everything after it. A bad record below it, or one followed by a valid record, is
//!   corruption in the middle of the log: an error, never silently skipped.
//! - A single writer appends (openraft serialises log writes); readers copy bytes out, or take a
//!   shared slice of the mapping ([`CommitLog::read_shared`], committed records only), under a
//!   read lock, so no reader ever sees a half-written or truncated record.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};

mod trim;
mod zero_fill;

use super::checkpoint::Checkpoint;
use super::flush::{FlushCallback, FlushMode, Flusher, SyncTarget};
use super::record::{self, RecordMeta, BLANK_MAGIC, RECORD_HEADER_LEN, RECORD_MAGIC};
use super::segment::{segment_name, Segment, SegmentMap, SPARE_NAME};
use super::zero_ahead::ZeroAhead;
use super::{failpoint, Result, StoreError};

/// Where and how the CommitLog is stored.
#[derive(Debug, Clone)]
pub struct CommitLogConfig {
    /// `storePathCommitLog`.
    pub dir: PathBuf,
    /// `storeCheckpoint`.
    pub checkpoint_path: PathBuf,
    /// `mappedFileSizeCommitLog`; every node of a group must use the same value, because record
    /// positions (and so RocketMQ msgIds) depend on it.
    pub segment_size: u64,
    /// `flushDiskType`.
    pub flush: FlushMode,
}

/// One record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub meta: RecordMeta,
    /// Byte offset of the record's first byte in the CommitLog.
    pub offset: u64,
    pub payload: Bytes,
}

impl StoredRecord {
    /// Byte offset of the payload's first byte in the CommitLog.
    pub fn payload_offset(&self) -> u64 {
        self.offset + RECORD_HEADER_LEN as u64
    }
}

/// A CRC over the raw bytes of a range of records, to compare logs across nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogDigest {
    pub from_index: u64,
    pub upto_index: u64,
    pub start_offset: u64,
    pub end_offset: u64,
    pub crc32c: u32,
}

pub(super) struct Inner {
    pub segments: VecDeque<Segment>,
    /// Start offset of the record with index `first_index + i`.
    pub positions: VecDeque<u64>,
    pub first_index: u64,
    /// The index the next append must carry; `None` only for a brand-new log.
    pub next_index: Option<u64>,
    pub last: Option<RecordMeta>,
    pub write_pos: u64,
    pub append_seq: u64,
}

struct Shared {
    cfg: CommitLogConfig,
    inner: RwLock<Inner>,
    flushed_offset: AtomicU64,
    /// Held by a flush for its whole duration and by truncation, so a flush never claims bytes
    /// that a concurrent truncation replaced.
    flush_lock: Mutex<()>,
    checkpoint: Mutex<Checkpoint>,
    /// Set by the first failed fsync and never cleared: after a failed fsync Linux may drop the
    /// dirty pages, so a later "successful" fsync proves nothing about them. The checkpoint then
    /// stays where it was and recovery re-verifies everything after it.
    fsync_failed: std::sync::atomic::AtomicBool,
    /// What the zero-fill thread (`zero_ahead.rs`) has done so far; only that thread uses it.
    zero_state: Mutex<zero_fill::ZeroState>,
    /// The next segment, prepared and zero-filled by that thread under `SYNC_FLUSH`; a roll
    /// takes it instead of creating a file. Lock order: `inner` before `spare`.
    spare: Mutex<Option<Segment>>,
}

pub struct CommitLog {
    shared: Arc<Shared>,
    flusher: Mutex<Flusher>,
    /// Zero-fills ahead under `SYNC_FLUSH`, brings pages ahead into the page cache under
    /// `ASYNC_FLUSH` (`zero_ahead.rs`); `None` once stopped.
    zero_ahead: Mutex<Option<ZeroAhead>>,
    mode: FlushMode,
}

impl std::fmt::Debug for CommitLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitLog")
            .field("dir", &self.shared.cfg.dir)
            .finish()
    }
}

impl Inner {
    pub fn last_index(&self) -> Option<u64> {
        if self.positions.is_empty() {
            None
        } else {
            Some(self.first_index + self.positions.len() as u64 - 1)
        }
    }

    pub fn segment_idx(&self, offset: u64, seg_size: u64) -> Option<usize> {
        let first = self.segments.front()?;
        if offset < first.start {
            return None;
        }
        let i = ((offset - first.start) / seg_size) as usize;
        (i < self.segments.len()).then_some(i)
    }

    /// The segment holding the write position, if it exists yet.
    pub fn current_segment(&self, seg_size: u64) -> Option<&Segment> {
        self.segment_idx(self.write_pos, seg_size)
            .map(|i| &self.segments[i])
    }

    fn position(&self, index: u64) -> Option<u64> {
        if index < self.first_index {
            return None;
        }
        self.positions
            .get((index - self.first_index) as usize)
            .copied()
    }

    /// Copies the record at `offset` and verifies its CRC.
    fn read_record(&self, offset: u64, seg_size: u64) -> Result<StoredRecord> {
        let si = self
            .segment_idx(offset, seg_size)
            .ok_or(StoreError::Corrupt {
                offset,
                reason: "no segment holds this offset".into(),
            })?;
        let seg = &self.segments[si];
        let rel = (offset - seg.start) as usize;
        if rel + RECORD_HEADER_LEN > seg.size as usize {
            return Err(StoreError::Corrupt {
                offset,
                reason: "record header crosses the segment end".into(),
            });
        }
        let h = record::decode_header(seg.bytes(rel, RECORD_HEADER_LEN));
        let len = h.len as usize;
        if h.magic != RECORD_MAGIC || len < RECORD_HEADER_LEN || rel + len > seg.size as usize {
            return Err(StoreError::Corrupt {
                offset,
                reason: format!("bad record header (magic {:#010x}, length {len})", h.magic),
            });
        }
        let bytes = seg.bytes(rel, len);
        let computed = record::compute_crc(bytes);
        if computed != h.crc {
            return Err(StoreError::CrcMismatch {
                offset,
                index: h.meta.index,
                stored: h.crc,
                computed,
            });
        }
        Ok(StoredRecord {
            meta: h.meta,
            offset,
            payload: Bytes::copy_from_slice(&bytes[RECORD_HEADER_LEN..]),
        })
    }
}

impl SyncTarget for Shared {
    fn sync_all(&self) -> std::io::Result<u64> {
        let _guard = self.flush_lock.lock();
        if self.fsync_failed.load(Ordering::Acquire) {
            return Err(std::io::Error::other(
                "an earlier fsync of the commit log failed; restart the node to re-verify the log",
            ));
        }
        let (files, write_pos, seq) = {
            let inner = self.inner.read();
            let flushed = self.flushed_offset.load(Ordering::Acquire);
            let files: Vec<_> = inner
                .segments
                .iter()
                .filter(|s| s.end() > flushed && s.start < inner.write_pos)
                .map(|s| (s.file.clone(), s.path.clone()))
                .collect();
            (files, inner.write_pos, inner.append_seq)
        };
        if files.is_empty() {
            return Ok(seq);
        }
        let synced = (|| {
            fail::fail_point!("commitlog::fsync", |_| Err(std::io::Error::other(
                "injected failure at commitlog::fsync"
            )));
            for (f, path) in &files {
                f.sync_data().map_err(|e| {
                    std::io::Error::new(e.kind(), format!("fsync {}: {e}", path.display()))
                })?;
            }
            Ok(())
        })();
        if let Err(e) = synced {
            self.fsync_failed.store(true, Ordering::Release);
            return Err(e);
        }
        self.flushed_offset.store(write_pos, Ordering::Release);
        let mut cp = self.checkpoint.lock();
        cp.flushed_offset = write_pos;
        if let Err(e) = cp.store(&self.cfg.checkpoint_path, false) {
            tracing::warn!(error = %e, "cannot write checkpoint; recovery will verify more of the log");
        }
        Ok(seq)
    }
}

impl CommitLog {
    /// Opens (or creates) the CommitLog and recovers it: finds every record, verifies CRCs after
    /// the checkpoint, cuts a torn tail and refuses corruption in the middle.
    pub fn open(cfg: CommitLogConfig) -> Result<Arc<CommitLog>> {
        if cfg.segment_size < 4096 {
            return Err(StoreError::Corrupt {
                offset: 0,
                reason: format!("segment size {} is below 4096 bytes", cfg.segment_size),
            });
        }
        std::fs::create_dir_all(&cfg.dir)
            .map_err(|e| StoreError::io("create commit log dir", &cfg.dir, e))?;
        if let Some(parent) = cfg.checkpoint_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::io("create checkpoint dir", parent, e))?;
        }
        // A spare left by an earlier run: how far it was zero-filled was not recorded.
        let stale_spare = cfg.dir.join(SPARE_NAME);
        match std::fs::remove_file(&stale_spare) {
            Ok(()) => {
                tracing::debug!(file = %stale_spare.display(), "removed an unused spare segment")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %stale_spare.display(), error = %e, "cannot remove an unused spare segment")
            }
        }
        let checkpoint = Checkpoint::load(&cfg.checkpoint_path);
        let inner = super::recovery::recover(&cfg, &checkpoint)?;
        let flushed = checkpoint.flushed_offset.min(inner.write_pos);
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            inner: RwLock::new(inner),
            flushed_offset: AtomicU64::new(flushed),
            flush_lock: Mutex::new(()),
            checkpoint: Mutex::new(Checkpoint {
                flushed_offset: flushed,
                ..checkpoint
            }),
            fsync_failed: std::sync::atomic::AtomicBool::new(false),
            zero_state: Mutex::new(zero_fill::ZeroState::default()),
            spare: Mutex::new(None),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        let flusher = Flusher::start(weak.clone(), cfg.flush)
            .map_err(|e| StoreError::io("start flush thread", &cfg.dir, e))?;
        let zero_ahead = Some(
            ZeroAhead::start(weak)
                .map_err(|e| StoreError::io("start zero-fill thread", &cfg.dir, e))?,
        );
        Ok(Arc::new(CommitLog {
            shared,
            flusher: Mutex::new(flusher),
            zero_ahead: Mutex::new(zero_ahead),
            mode: cfg.flush,
        }))
    }

    pub fn config(&self) -> &CommitLogConfig {
        &self.shared.cfg
    }

    pub fn flush_mode(&self) -> FlushMode {
        self.mode
    }

    /// Appends records in order under one lock. Each record is given as its metadata and the
    /// slices whose concatenation is its payload, so callers never build a contiguous copy.
    /// Returns the append sequence number to pass to [`CommitLog::on_durable`].
    pub fn append(&self, records: &[(RecordMeta, &[&[u8]])]) -> Result<u64> {
        let seg_size = self.shared.cfg.segment_size;
        let mut inner = self.shared.inner.write();
        for (meta, parts) in records {
            failpoint!("commitlog::append");
            // An empty log may start at any index: openraft's storage suite appends below a
            // purge point, and openraft itself only ever appends `next_index` here.
            if let (Some(expected), false) = (inner.next_index, inner.positions.is_empty()) {
                if meta.index != expected {
                    return Err(StoreError::OutOfOrder {
                        expected,
                        got: meta.index,
                    });
                }
            }
            let payload_len: usize = parts.iter().map(|p| p.len()).sum();
            let len = record::record_len(payload_len);
            if len as u64 > seg_size {
                return Err(StoreError::RecordTooLarge {
                    len,
                    segment_size: seg_size,
                });
            }
            let pos = self.room_for(&mut inner, len)?;
            let si = inner
                .segment_idx(pos, seg_size)
                .ok_or(StoreError::Corrupt {
                    offset: pos,
                    reason: "no segment after roll".into(),
                })?;
            let seg = &inner.segments[si];
            let rel = (pos - seg.start) as usize;
            let header = record::header_for(len, meta, parts);
            seg.write_parts_at(rel, &header, parts)?;
            if inner.positions.is_empty() {
                inner.first_index = meta.index;
            }
            inner.positions.push_back(pos);
            inner.write_pos = pos + len as u64;
            inner.last = Some(*meta);
            inner.next_index = Some(meta.index + 1);
            inner.append_seq += 1;
        }
        Ok(inner.append_seq)
    }

    /// Makes sure the record of `len` bytes fits at the write position, writing a BLANK filler
    /// and rolling to a new segment if not. Returns the record's offset.
    fn room_for(&self, inner: &mut Inner, len: usize) -> Result<u64> {
        let seg_size = self.shared.cfg.segment_size;
        let pos = inner.write_pos;
        let seg_start = pos - pos % seg_size;
        let rel = (pos - seg_start) as usize;
        if rel + len <= seg_size as usize {
            if inner.segment_idx(pos, seg_size).is_none() {
                let seg = self.new_segment(seg_start)?;
                inner.segments.push_back(seg);
            }
            return Ok(pos);
        }
        // Start the next segment, then close the current one with a filler: if creating the
        // segment fails, nothing was written past the write position. Recovery may already
        // hold the next segment, empty (a roll whose filler never reached the disk): it is
        // used as it is, not added a second time.
        let next = seg_start + seg_size;
        let seg = match inner.segment_idx(next, seg_size) {
            Some(_) => None,
            None => Some(self.new_segment(next)?),
        };
        if let Some(si) = inner.segment_idx(pos, seg_size) {
            let remaining = seg_size as usize - rel;
            if remaining >= 8 {
                let mut b = [0u8; 8];
                b[0..4].copy_from_slice(&(remaining as u32).to_be_bytes());
                b[4..8].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
                inner.segments[si].write_at(rel, &b)?;
            }
        }
        inner.segments.extend(seg);
        inner.write_pos = next;
        Ok(next)
    }

    /// The segment starting at `start`: the spare if one is prepared, else a new file.
    ///
    /// A file already named for `start` is opened as before, never replaced: recovery keeps an
    /// empty segment found past the write position (a roll whose filler did not reach the
    /// disk), and records appended to it must stay in the file that keeps that name.
    fn new_segment(&self, start: u64) -> Result<Segment> {
        let cfg = &self.shared.cfg;
        let path = cfg.dir.join(segment_name(start));
        let exists = path
            .try_exists()
            .map_err(|e| StoreError::io("look for segment", &path, e))?;
        if !exists {
            // The spare's lock is held until it is renamed, so the zero-fill thread cannot
            // create a new spare at the old name (truncating it) while this one moves.
            let mut spare = self.shared.spare.lock();
            if let Some(seg) = spare.take() {
                return seg.adopt(&cfg.dir, start);
            }
        }
        Segment::create(&cfg.dir, start, cfg.segment_size)
    }

    /// Completes `cb` once everything appended up to `seq` is persisted on this node: after an
    /// fsync under `SYNC_FLUSH`, at once under `ASYNC_FLUSH`.
    pub fn on_durable(&self, seq: u64, cb: FlushCallback) {
        match self.mode {
            FlushMode::Sync => self.flusher.lock().wait(seq, cb),
            FlushMode::Async { .. } => cb(Ok(())),
        }
    }

    /// Fsyncs everything written so far, on the caller's thread.
    pub fn flush(&self) -> Result<()> {
        self.shared
            .sync_all()
            .map(|_| ())
            .map_err(|e| StoreError::io("flush commit log", &self.shared.cfg.dir, e))
    }

    /// True once an fsync of the log has failed; the node should stop acknowledging writes
    /// until it is restarted and recovery has re-verified the log.
    pub fn fsync_failed(&self) -> bool {
        self.shared.fsync_failed.load(Ordering::Acquire)
    }

    /// Offset below which the log is known durable.
    pub fn flushed_offset(&self) -> u64 {
        self.shared.flushed_offset.load(Ordering::Acquire)
    }

    pub fn first_index(&self) -> Option<u64> {
        let inner = self.shared.inner.read();
        (!inner.positions.is_empty()).then_some(inner.first_index)
    }

    pub fn last_index(&self) -> Option<u64> {
        self.shared.inner.read().last_index()
    }

    /// Metadata of the newest record, if any.
    pub fn last_meta(&self) -> Option<RecordMeta> {
        self.shared.inner.read().last
    }

    /// The index the next append must carry, if the log has fixed it.
    pub fn next_index(&self) -> Option<u64> {
        self.shared.inner.read().next_index
    }

    /// Offset of the first retained record (RocketMQ's commit log min offset).
    pub fn min_offset(&self) -> u64 {
        let inner = self.shared.inner.read();
        inner.positions.front().copied().unwrap_or(inner.write_pos)
    }

    /// Offset where the next record will be written (RocketMQ's commit log max offset).
    pub fn max_offset(&self) -> u64 {
        self.shared.inner.read().write_pos
    }

    /// Offset of the record with `index`.
    pub fn position(&self, index: u64) -> Option<u64> {
        self.shared.inner.read().position(index)
    }

    /// Where the record after `index` starts (or will start): the next record's offset, or the
    /// write position if `index` is the last record.
    pub fn record_end(&self, index: u64) -> Option<u64> {
        let inner = self.shared.inner.read();
        inner.position(index)?;
        Some(inner.position(index + 1).unwrap_or(inner.write_pos))
    }

    /// Reads one record, verifying its CRC.
    pub fn read(&self, index: u64) -> Result<Option<StoredRecord>> {
        let inner = self.shared.inner.read();
        match inner.position(index) {
            None => Ok(None),
            Some(pos) => inner
                .read_record(pos, self.shared.cfg.segment_size)
                .map(Some),
        }
    }

    /// Reads records `[start, end)` that are present, stopping early after `max_bytes` of
    /// payload (at least one record is returned if any is present).
    pub fn read_range(&self, start: u64, end: u64, max_bytes: usize) -> Result<Vec<StoredRecord>> {
        let inner = self.shared.inner.read();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let from = start.max(inner.first_index);
        let to = match inner.last_index() {
            Some(last) => end.min(last + 1),
            None => return Ok(out),
        };
        for index in from..to {
            let Some(pos) = inner.position(index) else {
                break;
            };
            let rec = inner.read_record(pos, self.shared.cfg.segment_size)?;
            bytes += rec.payload.len();
            out.push(rec);
            if bytes >= max_bytes {
                break;
            }
        }
        Ok(out)
    }

    /// Copies `len` bytes at `offset` (see [`CommitLog::read_into`]).
    pub fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let mut b = BytesMut::with_capacity(len);
        self.read_into(offset, len, &mut b).map(|()| b.freeze())
    }

    /// Appends a copy of the `len` bytes at `offset` to `out`; the range must lie inside one
    /// segment and inside the retained, written part of the log.
    pub fn read_into(&self, offset: u64, len: usize, out: &mut BytesMut) -> Result<()> {
        let inner = self.shared.inner.read();
        let (seg, rel) = self.locate(&inner, offset, len)?;
        out.extend_from_slice(seg.bytes(rel, len));
        Ok(())
    }

    /// The `len` bytes at `offset` as a slice of the segment's mapping, without copying them
    /// (a pull answer sends them from the page cache to the socket). Same bounds as
    /// [`CommitLog::read_into`]: one segment, retained, below the write position; callers ask
    /// only for committed records (what a ConsumeQueue entry points at), whose bytes never
    /// change. The slice keeps the mapping alive, so it stays readable after retention or a
    /// snapshot reset deletes the segment; until it is dropped, the deleted file's disk space is
    /// not given back.
    pub fn read_shared(&self, offset: u64, len: usize) -> Result<Bytes> {
        let inner = self.shared.inner.read();
        let (seg, rel) = self.locate(&inner, offset, len)?;
        Ok(seg.share(rel, len))
    }

    /// The segment holding `[offset, offset + len)` and the range's start in it, if the range
    /// lies inside one segment and inside the retained, written part of the log.
    fn locate<'a>(
        &self,
        inner: &'a Inner,
        offset: u64,
        len: usize,
    ) -> Result<(&'a Segment, usize)> {
        let seg_size = self.shared.cfg.segment_size;
        let min = inner.positions.front().copied().unwrap_or(inner.write_pos);
        let max = inner.write_pos;
        let out_of_range = || StoreError::OutOfRange {
            offset,
            len,
            min,
            max,
        };
        if offset < min || offset.saturating_add(len as u64) > max {
            return Err(out_of_range());
        }
        let si = inner
            .segment_idx(offset, seg_size)
            .ok_or_else(out_of_range)?;
        let seg = &inner.segments[si];
        let rel = (offset - seg.start) as usize;
        if rel + len > seg.size as usize {
            return Err(out_of_range());
        }
        Ok((seg, rel))
    }

    /// CRC32C over the raw bytes of records `from..=upto`, fillers included. Two nodes whose
    /// digests agree hold byte-identical logs over that range.
    pub fn digest(&self, from: u64, upto: u64) -> Result<LogDigest> {
        let inner = self.shared.inner.read();
        let seg_size = self.shared.cfg.segment_size;
        let no_such = |index| StoreError::NoSuchIndex {
            index,
            first: (!inner.positions.is_empty()).then_some(inner.first_index),
            last: inner.last_index(),
        };
        let start = inner.position(from).ok_or_else(|| no_such(from))?;
        let last_pos = inner.position(upto).ok_or_else(|| no_such(upto))?;
        let last = inner.read_record(last_pos, seg_size)?;
        let end = last_pos + (RECORD_HEADER_LEN + last.payload.len()) as u64;
        let mut crc = 0u32;
        let mut at = start;
        while at < end {
            let si = inner
                .segment_idx(at, seg_size)
                .ok_or_else(|| no_such(from))?;
            let seg = &inner.segments[si];
            let rel = (at - seg.start) as usize;
            let n = (end.min(seg.end()) - at) as usize;
            crc = crc32c::crc32c_append(crc, seg.bytes(rel, n));
            at += n as u64;
        }
        Ok(LogDigest {
            from_index: from,
            upto_index: upto,
            start_offset: start,
            end_offset: end,
            crc32c: crc,
        })
    }

    /// Drops this process's page-table entries for every segment's mapping; the pages stay
    /// cached (`SegmentMap::release` says why). The mappings are taken under the read lock
    /// and released after it, so appends never wait for the `madvise`. Every segment is tried;
    /// the first failure is returned.
    pub fn release_mapped_pages(&self) -> std::io::Result<()> {
        let maps: Vec<SegmentMap> = {
            let inner = self.shared.inner.read();
            inner.segments.iter().map(Segment::mapping).collect()
        };
        let mut first = Ok(());
        for map in &maps {
            if let Err(e) = map.release() {
                first = first.and(Err(e));
            }
        }
        first
    }

    /// Number of segment files, and the bytes they reserve on disk together with the spare
    /// segment prepared for the next roll (`SYNC_FLUSH`), which reserves a segment too. The
    /// two are read one after the other, not under both locks (appends would then wait behind
    /// a zero-fill chunk of the spare), so a roll in between can show one segment less.
    pub fn disk_usage(&self) -> (usize, u64) {
        let n = self.shared.inner.read().segments.len();
        let spare = u64::from(self.shared.spare.lock().is_some());
        (n, (n as u64 + spare) * self.shared.cfg.segment_size)
    }

    /// Paths of the segment files, oldest first (retention looks at their age).
    pub fn segment_files(&self) -> Vec<(PathBuf, u64)> {
        let inner = self.shared.inner.read();
        inner
            .segments
            .iter()
            .map(|s| (s.path.clone(), s.start))
            .collect()
    }

    /// The last index whose record lies entirely below `offset` (for retention by segment).
    pub fn last_index_below(&self, offset: u64) -> Option<u64> {
        let inner = self.shared.inner.read();
        let n = inner.positions.partition_point(|&p| p < offset);
        (n > 0).then(|| inner.first_index + n as u64 - 1)
    }

    /// Stops the zero-fill thread, so a test can drive [`CommitLog::zero_ahead_once`] alone.
    #[cfg(test)]
    pub(crate) fn stop_zero_fill(&self) {
        if let Some(z) = self.zero_ahead.lock().as_mut() {
            z.stop();
        }
    }

    /// One round of the zero-fill thread's work, with the given sizes; a write position that
    /// did not move since the previous round counts as idle at once.
    #[cfg(test)]
    pub(crate) fn zero_ahead_once(
        &self,
        window: u64,
        batch: u64,
        chunk: u64,
    ) -> std::io::Result<bool> {
        use super::zero_ahead::{ZeroPlan, ZeroTarget};
        self.shared.zero_ahead(&ZeroPlan {
            window,
            batch,
            chunk,
            idle_after: std::time::Duration::ZERO,
        })
    }

    /// Where the segment last zero-filled in place is zero-filled and fsynced up to.
    #[cfg(test)]
    pub(crate) fn zeroed_upto(&self) -> Option<u64> {
        self.shared.zero_state.lock().zeroed_upto()
    }

    /// How many bytes of the spare segment are zero-filled and fsynced, if there is a spare.
    #[cfg(test)]
    pub(crate) fn spare_zeroed(&self) -> Option<u64> {
        let file = self.shared.spare.lock().as_ref()?.file.clone();
        Some(
            self.shared
                .zero_state
                .lock()
                .spare_zeroed(&file)
                .unwrap_or(0),
        )
    }

    /// Stops the zero-fill thread, and the flush thread after a final fsync.
    pub fn close(&self) {
        if let Some(z) = self.zero_ahead.lock().as_mut() {
            z.stop();
        }
        self.flusher.lock().stop();
    }
}

impl Drop for CommitLog {
    fn drop(&mut self) {
        self.close();
    }
}
