//! The CommitLog's side of zero-filling under `SYNC_FLUSH`: what to fill next, and the spare
//! segment. `store/zero_ahead.rs` runs the thread and says why zeros are written at all.
//!
//! Each round does the first of these that has work:
//! 1. **The window**: up to `window` bytes after the write position, in the current segment,
//!    topped up in whole batches, because appends land there next.
//! 2. **The rest of the current segment, while the log is idle** (its write position has
//!    stood still for a second): a store that is not busy all the time gets its segment
//!    written before the appends reach it, without the zeros' writeback meeting the flusher's
//!    `fdatasync` of the same file under load.
//! 3. **The spare**: the next segment's file
//!    ([`SPARE_NAME`](crate::store::segment::SPARE_NAME)), created and zero-filled ahead of
//!    the roll that renames it into place (`CommitLog::new_segment`), as RocketMQ's
//!    `AllocateMappedFileService` prepares the next mapped file. The flusher's `fdatasync` is
//!    per file, so it never waits for the spare's pages. While the log is busy the spare gets
//!    as many zeros as the log took, and only while the current segment needs none in place:
//!    a long-running store's spare keeps pace with its appends, and a new store's first
//!    segment, zero-filled in place, does not pay for a spare as well (measured: it did,
//!    BENCHMARKS.md).
//!    A spare that cannot be created or made durable (a disk too full to reserve one more
//!    segment) is dropped and left alone for a while; the window goes on, and rolls create
//!    their segments as they would without it.
//!
//! Locks: a chunk of the current segment is written under the log's read lock after reading
//! the write position, so an append (under the write lock) never meets a zero write; a chunk of
//! the spare is written under the spare's mutex, which a roll takes to adopt it, so no zero
//! lands in the spare after it became a segment. The thread holds `zero_state` for a round and
//! takes `inner` or `spare` inside it, never both at once; a roll takes `inner`, then `spare`.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::Shared;
use crate::store::flush::FlushMode;
use crate::store::segment::Segment;
use crate::store::zero_ahead::{ZeroPlan, ZeroTarget};

const PAGE: u64 = 4096;
/// How long the spare is left alone after it could not be created or made durable (a disk too
/// full to reserve one more segment, an I/O error). The window goes on meanwhile.
const SPARE_RETRY: Duration = Duration::from_secs(10);

/// What the zero-fill thread has done, kept between its rounds.
#[derive(Default)]
pub(super) struct ZeroState {
    /// The segment file last zero-filled in place, and the offset up to which it is
    /// zero-filled and fsynced.
    current: Option<(Weak<File>, u64)>,
    /// The spare's file and how many of its bytes, from its start, are zero-filled and
    /// fsynced; still true of that file once a roll made it a segment.
    spare: Option<(Weak<File>, u64)>,
    /// The write position the previous round saw.
    last_pos: Option<u64>,
    /// Since when the write position has stood still; idle once that is `idle_after` ago.
    still_since: Option<Instant>,
    /// Under `ASYNC_FLUSH`: the segment file last brought into the page cache ahead of the
    /// write position, and up to where.
    warmed: Option<(Weak<File>, u64)>,
    /// Until when the spare is left alone after a failure.
    spare_paused_until: Option<Instant>,
    /// Bytes the log took while its current segment needed no zeros: what a busy log's spare
    /// may be given.
    spare_budget: u64,
}

/// True if `weak` is `file`. A `Weak` keeps its allocation, so the address is never reused for
/// another file while it is held.
fn same(weak: &Weak<File>, file: &Arc<File>) -> bool {
    std::ptr::eq(weak.as_ptr(), Arc::as_ptr(file))
}

impl ZeroState {
    #[cfg(test)]
    pub fn zeroed_upto(&self) -> Option<u64> {
        self.current.as_ref().map(|(_, upto)| *upto)
    }

    pub fn spare_zeroed(&self, file: &Arc<File>) -> Option<u64> {
        self.spare
            .as_ref()
            .filter(|(w, _)| same(w, file))
            .map(|(_, n)| *n)
    }

    /// Where `seg` is known zero-filled and fsynced up to. A segment that was the spare takes
    /// the spare's progress, so a new spare does not make its zeros be written again.
    fn progress(&mut self, seg: &Segment) -> u64 {
        if let Some((w, upto)) = &self.current {
            if same(w, &seg.file) {
                return *upto;
            }
        }
        if let Some(n) = self.spare_zeroed(&seg.file) {
            let upto = seg.start + n;
            self.current = Some((Arc::downgrade(&seg.file), upto));
            return upto;
        }
        seg.start
    }
}

/// Zeros written but not fsynced yet: their file, where they reach, and a descriptor of the
/// thread's own to fsync them with. Linux reports a writeback error once per open file
/// description, so an fsync through the flusher's descriptor could take an error that the
/// flusher must see before it acknowledges anything.
struct Written {
    file: Arc<File>,
    path: PathBuf,
    end: u64,
    own: File,
}

impl Written {
    /// The first chunk's bookkeeping, or the next one's on top of `prev`. Called under the lock
    /// that makes `seg.path` this file's name.
    fn add(prev: Option<Written>, seg: &Segment, end: u64) -> std::io::Result<Written> {
        let own = match prev {
            Some(w) => w.own,
            None => File::open(&seg.path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("open {}: {e}", seg.path.display()))
            })?,
        };
        Ok(Written {
            file: seg.file.clone(),
            path: seg.path.clone(),
            end,
            own,
        })
    }

    fn sync(&self) -> std::io::Result<()> {
        fail::fail_point!("commitlog::zero_fsync", |_| Err(std::io::Error::other(
            "injected failure at commitlog::zero_fsync"
        )));
        self.sync_data()
    }

    fn sync_spare(&self) -> std::io::Result<()> {
        fail::fail_point!("commitlog::spare_fsync", |_| Err(std::io::Error::other(
            "injected failure at commitlog::spare_fsync"
        )));
        self.sync_data()
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.own.sync_data().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("fsync {} after zero-filling it: {e}", self.path.display()),
            )
        })
    }
}

fn io_err(e: crate::store::StoreError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl ZeroTarget for Shared {
    fn zero_ahead(&self, plan: &ZeroPlan) -> std::io::Result<bool> {
        let ZeroPlan {
            window,
            batch,
            chunk,
            idle_after,
        } = *plan;
        if self.fsync_failed.load(Ordering::Acquire) {
            return Ok(false);
        }
        let mut state = self.zero_state.lock();
        if !matches!(self.cfg.flush, FlushMode::Sync) {
            return self.warm_ahead(&mut state, window, batch);
        }
        let (pos, current_full) = {
            let inner = self.inner.read();
            let pos = inner.write_pos;
            let full = inner
                .current_segment(self.cfg.segment_size)
                .is_some_and(|seg| state.progress(seg) >= seg.end());
            (pos, full)
        };
        let moved = state.last_pos.map_or(0, |last| pos.saturating_sub(last));
        if state.last_pos == Some(pos) {
            state.still_since.get_or_insert_with(Instant::now);
        } else {
            state.still_since = None;
        }
        let idle = state
            .still_since
            .is_some_and(|since| since.elapsed() >= idle_after);
        state.last_pos = Some(pos);
        // While busy, the spare gets as many zeros as the log took, and only while the current
        // segment needs none of its own: in a long-running store the spare keeps pace with the
        // appends, and a segment still being zero-filled in place (a new store's first) is not
        // slowed down further by the spare's writes.
        if current_full {
            state.spare_budget = (state.spare_budget + moved).min(4 * batch);
        }
        if self.zero_current(&mut state, window, batch, chunk)? {
            return Ok(true);
        }
        if idle && self.zero_current(&mut state, self.cfg.segment_size, batch, chunk)? {
            return Ok(true);
        }
        if state.spare_paused_until.is_some_and(|t| Instant::now() < t)
            || (!idle && state.spare_budget < batch)
        {
            return Ok(false);
        }
        match self.zero_spare(&mut state, batch, chunk) {
            Ok(wrote) => {
                if state.spare_paused_until.take().is_some() {
                    tracing::info!("preparing the next commit log segment ahead works again");
                }
                if wrote {
                    state.spare_budget = state.spare_budget.saturating_sub(batch);
                } else {
                    state.spare_budget = 0; // the spare is complete
                }
                Ok(wrote && (idle || state.spare_budget >= batch))
            }
            Err(e) if self.fsync_failed.load(Ordering::Acquire) => Err(e),
            Err(e) => {
                // The log works without a spare: a roll creates its segment as before.
                if state.spare_paused_until.is_none() {
                    tracing::warn!(error = %e, "cannot prepare the next commit log segment ahead; rolls create it when needed");
                }
                state.spare_paused_until = Some(Instant::now() + SPARE_RETRY);
                Ok(false)
            }
        }
    }
}

impl Shared {
    /// Under `ASYNC_FLUSH`: asks the kernel to bring the `window` bytes after the write
    /// position into the page cache, `batch` bytes per request (a request reads at most the
    /// device's read-ahead size). The blocks are unwritten, so they read as zeros without any
    /// disk I/O, and the pages stay clean: nothing is written twice. An append then copies
    /// into pages that exist instead of allocating and zeroing them on the appender's thread
    /// (BENCHMARKS.md). The kernel keeps the cache coherent, so no lock is held while it works.
    fn warm_ahead(&self, state: &mut ZeroState, window: u64, batch: u64) -> std::io::Result<bool> {
        let (file, seg_start, start, target) = {
            let inner = self.inner.read();
            let pos = inner.write_pos;
            let Some(seg) = inner.current_segment(self.cfg.segment_size) else {
                return Ok(false);
            };
            let done = match &state.warmed {
                Some((w, upto)) if same(w, &seg.file) => *upto,
                _ => seg.start,
            };
            let start = (pos - pos % PAGE).max(done);
            let target = pos.saturating_add(window).min(seg.end());
            if start >= target || (target - start < batch && target < seg.end()) {
                return Ok(false);
            }
            (seg.file.clone(), seg.start, start, target)
        };
        let mut at = start;
        while at < target {
            let len = (target - at).min(batch);
            // SAFETY: plain syscall on an open descriptor this `Arc` keeps alive.
            let rc = unsafe {
                libc::posix_fadvise(
                    file.as_raw_fd(),
                    (at - seg_start) as libc::off_t,
                    len as libc::off_t,
                    libc::POSIX_FADV_WILLNEED,
                )
            };
            if rc != 0 {
                return Err(std::io::Error::from_raw_os_error(rc));
            }
            at += len;
        }
        state.warmed = Some((Arc::downgrade(&file), target));
        Ok(false)
    }

    /// Zero-fills and fsyncs at most `batch` bytes of the current segment within `window` of
    /// the write position, but only a whole batch unless the window reaches the segment end.
    fn zero_current(
        &self,
        state: &mut ZeroState,
        window: u64,
        batch: u64,
        chunk: u64,
    ) -> std::io::Result<bool> {
        let mut written: Option<Written> = None;
        let mut total = 0;
        while total < batch {
            // Under the read lock no append runs, so the write position read here stays the
            // end of the records until the chunk is written.
            let inner = self.inner.read();
            let pos = inner.write_pos;
            let Some(seg) = inner.current_segment(self.cfg.segment_size) else {
                break;
            };
            let done = match &written {
                Some(w) if Arc::ptr_eq(&w.file, &seg.file) => w.end,
                Some(_) => break, // the log rolled or was reset meanwhile
                None => state.progress(seg),
            };
            let start = pos.next_multiple_of(PAGE).max(done);
            let target = pos.saturating_add(window).min(seg.end());
            if start >= target
                || (written.is_none() && target - start < batch && target < seg.end())
            {
                break;
            }
            let len = (target - start).min(chunk).min(batch - total);
            seg.zero((start - seg.start) as usize, len as usize)
                .map_err(io_err)?;
            total += len;
            written = Some(Written::add(written, seg, start + len)?);
        }
        let Some(w) = written else {
            return Ok(false);
        };
        if let Err(e) = w.sync() {
            // The file holds records: the log must stop claiming durability, as after a
            // failed fsync of its own.
            self.fsync_failed.store(true, Ordering::Release);
            return Err(e);
        }
        state.current = Some((Arc::downgrade(&w.file), w.end));
        Ok(true)
    }

    /// Creates the spare if there is none, then zero-fills and fsyncs at most `batch` more
    /// bytes of it.
    fn zero_spare(&self, state: &mut ZeroState, batch: u64, chunk: u64) -> std::io::Result<bool> {
        let size = self.cfg.segment_size;
        if self.spare.lock().is_none() {
            // Only this thread fills the slot, so it is still empty when the new file goes in.
            let seg = Segment::create_spare(&self.cfg.dir, size).map_err(io_err)?;
            state.spare = Some((Arc::downgrade(&seg.file), 0));
            *self.spare.lock() = Some(seg);
        }
        let mut written: Option<Written> = None;
        let mut total = 0;
        while total < batch {
            let spare = self.spare.lock();
            let Some(seg) = spare.as_ref() else {
                break; // a roll took it
            };
            let done = match &written {
                Some(w) => w.end,
                None => state.spare_zeroed(&seg.file).unwrap_or(0),
            };
            if done >= size {
                break;
            }
            let len = (size - done).min(chunk).min(batch - total);
            seg.zero(done as usize, len as usize).map_err(io_err)?;
            total += len;
            written = Some(Written::add(written, seg, done + len)?);
        }
        let Some(w) = written else {
            return Ok(false);
        };
        if let Err(e) = w.sync_spare() {
            let mut spare = self.spare.lock();
            if spare
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(&s.file, &w.file))
            {
                // Not part of the log yet: drop it, and the next roll creates a file.
                *spare = None;
                let _ = std::fs::remove_file(&w.path);
                state.spare = None;
            } else {
                // A roll made it a segment meanwhile: it may hold records now.
                self.fsync_failed.store(true, Ordering::Release);
            }
            return Err(e);
        }
        state.spare = Some((Arc::downgrade(&w.file), w.end));
        Ok(true)
    }
}
