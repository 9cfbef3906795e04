//! Shrinking the CommitLog: a Raft conflict truncates a suffix (its bytes zeroed, so recovery
//! can never take them for live records), retention purges a prefix (whole segments deleted,
//! the purge point in the checkpoint), and a snapshot install resets the log to empty at the
//! leader's next offset (so record offsets, and msgIds, stay identical across nodes).

use std::sync::atomic::Ordering;

use super::CommitLog;
use crate::store::{failpoint, Result, StoreError};

impl CommitLog {
    /// Removes records `index..` (a Raft conflict). Their bytes are zeroed so that recovery can
    /// never mistake them for live records.
    pub fn truncate_from(&self, index: u64) -> Result<()> {
        failpoint!("commitlog::truncate");
        let _flush_guard = self.shared.flush_lock.lock();
        let seg_size = self.shared.cfg.segment_size;
        let mut inner = self.shared.inner.write();
        let Some(last) = inner.last_index() else {
            return Ok(());
        };
        if index > last {
            return Ok(());
        }
        if index < inner.first_index {
            return Err(StoreError::NoSuchIndex {
                index,
                first: Some(inner.first_index),
                last: Some(last),
            });
        }
        let new_pos = inner.positions[(index - inner.first_index) as usize];
        let old_pos = inner.write_pos;
        // Drop whole segments that lie beyond the new end, zero the rest of the removed range.
        while inner
            .segments
            .back()
            .is_some_and(|s| s.start > new_pos && inner.segments.len() > 1)
        {
            if let Some(seg) = inner.segments.pop_back() {
                let path = seg.path.clone();
                drop(seg);
                std::fs::remove_file(&path)
                    .map_err(|e| StoreError::io("remove truncated segment", &path, e))?;
            }
        }
        if let Some(si) = inner.segment_idx(new_pos, seg_size) {
            let seg = &inner.segments[si];
            let rel = (new_pos - seg.start) as usize;
            let end = (old_pos.min(seg.end()) - seg.start) as usize;
            if end > rel {
                seg.zero(rel, end - rel)?;
            }
        }
        let keep = (index - inner.first_index) as usize;
        inner.positions.truncate(keep);
        inner.write_pos = new_pos;
        inner.next_index = Some(index);
        inner.last = match inner.positions.back().copied() {
            Some(p) => Some(inner.read_record(p, seg_size)?.meta),
            None => None,
        };
        if self.shared.flushed_offset.load(Ordering::Acquire) > new_pos {
            self.shared.flushed_offset.store(new_pos, Ordering::Release);
            let mut cp = self.shared.checkpoint.lock();
            cp.flushed_offset = new_pos;
            cp.store(&self.shared.cfg.checkpoint_path, false)?;
        }
        tracing::info!(
            from_index = index,
            offset = new_pos,
            bytes = old_pos - new_pos,
            "truncated commit log suffix"
        );
        Ok(())
    }

    /// Removes records `..=index` from the log (retention). Whole segments below the new first
    /// record are deleted; the purge point is recorded in the checkpoint.
    pub fn purge_upto(&self, index: u64) -> Result<()> {
        // Serialized with `reset` and `truncate_from` (and the flusher): openraft may purge
        // while a snapshot install resets the log, both now on the blocking pool, and a purge
        // that read the write position before a reset but stored its checkpoint after it would
        // leave recovery scanning from the old offset.
        let _flush_guard = self.shared.flush_lock.lock();
        let seg_size = self.shared.cfg.segment_size;
        let mut removed = Vec::new();
        let first_index;
        let start_offset;
        {
            let mut inner = self.shared.inner.write();
            if let Some(expected) = inner.next_index {
                if index + 1 > expected {
                    // Purging past the end: the log restarts empty at index + 1.
                    inner.next_index = Some(index + 1);
                }
            } else {
                inner.next_index = Some(index + 1);
            }
            let drop_n = match inner.last_index() {
                None => 0,
                Some(_) if index < inner.first_index => 0,
                Some(last) => (index.min(last) - inner.first_index + 1) as usize,
            };
            inner.positions.drain(..drop_n);
            if inner.positions.is_empty() {
                inner.first_index = inner.next_index.unwrap_or(index + 1);
                inner.last = None;
            } else {
                inner.first_index = inner.first_index.max(index + 1);
            }
            first_index = inner.first_index;
            let min_keep = inner.positions.front().copied().unwrap_or(inner.write_pos);
            start_offset = min_keep;
            let keep_from = min_keep - min_keep % seg_size;
            while inner.segments.front().is_some_and(|s| s.start < keep_from) {
                if let Some(seg) = inner.segments.pop_front() {
                    removed.push(seg.path.clone());
                }
            }
        }
        {
            let mut cp = self.shared.checkpoint.lock();
            cp.first_index = Some(first_index);
            cp.start_offset = start_offset;
            cp.store(&self.shared.cfg.checkpoint_path, true)?;
        }
        for path in &removed {
            std::fs::remove_file(path)
                .map_err(|e| StoreError::io("remove purged segment", path, e))?;
            tracing::info!(segment = %path.display(), "deleted purged commit log segment");
        }
        Ok(())
    }

    /// Empties the log and places the next record, `next_index`, at byte `offset`. Used when a
    /// snapshot replaces this node's log, so record offsets stay identical to the leader's.
    pub fn reset(&self, next_index: u64, offset: u64) -> Result<()> {
        let _flush_guard = self.shared.flush_lock.lock();
        let mut removed = Vec::new();
        {
            let mut inner = self.shared.inner.write();
            while let Some(seg) = inner.segments.pop_front() {
                removed.push(seg.path.clone());
            }
            inner.positions.clear();
            inner.first_index = next_index;
            inner.next_index = Some(next_index);
            inner.last = None;
            inner.write_pos = offset;
        }
        for path in &removed {
            std::fs::remove_file(path)
                .map_err(|e| StoreError::io("remove replaced segment", path, e))?;
        }
        self.shared.flushed_offset.store(offset, Ordering::Release);
        let mut cp = self.shared.checkpoint.lock();
        cp.first_index = Some(next_index);
        cp.flushed_offset = offset;
        cp.start_offset = offset;
        cp.store(&self.shared.cfg.checkpoint_path, true)?;
        tracing::info!(next_index, offset, "commit log reset to follow a snapshot");
        Ok(())
    }
}
