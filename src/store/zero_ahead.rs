//! Preparing the CommitLog ahead of its write position: zero-filled under `SYNC_FLUSH`, brought
//! into the page cache under `ASYNC_FLUSH`.
//!
//! Why: a segment's space is reserved with `fallocate`, which on ext4 and XFS leaves its blocks
//! *unwritten*: they read as zeros, but the first write into each block has to convert it in the
//! file system's metadata, so every `fdatasync` that covers new records also commits a journal
//! transaction — and a machine's nodes share that journal. A block already written with zeros
//! is a plain overwrite, which `fdatasync` writes without a journal commit (fio's analogous
//! figures on this machine, appending to a new file against overwriting a written one: 210
//! against 110 µs per 4 KiB `fdatasync`; BENCHMARKS.md, "The disk's fdatasync limit"). A
//! three-node SYNC_FLUSH group sent 18 % more messages per second at 64 in flight (median) with
//! this thread, and 14–40 % more when whole segments were zeroed before use (BENCHMARKS.md,
//! "Zero-filled ahead under SYNC_FLUSH"). RocketMQ's `warmMappedFileEnable` writes a new mapped
//! file's pages for the same reason. On a copy-on-write file system (btrfs) an overwrite is a
//! new allocation anyway, and the zeros are written for nothing.
//!
//! A thread of the CommitLog's own keeps up to [`WINDOW`] bytes after the write position, within
//! the current segment, written with zeros and fsynced, a [`BATCH`] per fsync; while the log is
//! idle it fills the rest of the current segment, and it prepares the *next* segment as a spare
//! file that the next roll renames into place, so that in a long-running store appends meet
//! only blocks written before (what to fill next, and the locks: `commit_log/zero_fill.rs`;
//! the spare reserves one more segment of disk). The batches are
//! small on purpose: the flusher's `fdatasync` of the same file waits for every page of the
//! file under writeback, zeros included, so a 4 MiB batch held acknowledged sends for its whole
//! writeback (p99 10–17 ms against 4–6 ms) where 256 KiB batches cost no p99 (BENCHMARKS.md).
//! The writes are buffered, so the zeroed pages stay in the page cache and an append into them
//! needs no read from disk. Each [`CHUNK`] is written under the log's read lock after reading
//! the write position, and appends write under its write lock, so a zero write never lands on
//! a record.
//!
//! Under `ASYNC_FLUSH` no send waits for an fsync, so the thread writes nothing: it asks the
//! kernel to read the [`WINDOW`] after the write position into the page cache (unwritten
//! blocks read as zeros without disk I/O), so that an append copies into pages that exist
//! instead of allocating and zeroing each new page on the appender's thread: the leader's
//! `pwritev` fell from 15 % to 4.5 % of its CPU, for 2.5 % spent here (BENCHMARKS.md). Under
//! `SYNC_FLUSH` the zeros it writes leave the pages cached anyway. A failed zero
//! write pauses the zero-filling (the log works as before without it) and it tries again later.
//! The thread fsyncs through a descriptor of its own, because Linux reports a writeback error
//! once per open file description and the flusher's must see every one; a failed fsync here
//! also counts as a failed fsync of the log (a failed fsync of the spare, which holds no
//! records yet, only discards the spare).

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// How far ahead of the write position the current segment is kept zero-filled.
pub(crate) const WINDOW: u64 = 8 << 20;
/// Zeros written (and then fsynced once) per round: the window is topped up once this much of it
/// has been used.
pub(crate) const BATCH: u64 = 256 << 10;
/// Zeros written under one hold of the log's read lock (an append waits at most for this).
pub(crate) const CHUNK: u64 = 64 << 10;
/// How long the write position must stand still before the log counts as idle, so that the
/// thread fills beyond the window: a pause between bursts shorter than this is not worth the
/// zeros' writeback meeting the next burst's fsyncs (measured, BENCHMARKS.md).
pub(crate) const IDLE_AFTER: Duration = Duration::from_secs(1);
/// How often the thread looks at the write position.
const POLL: Duration = Duration::from_millis(10);
/// How long it waits after a failure before it tries again.
const RETRY: Duration = Duration::from_secs(10);

/// How much the thread writes, and when: the constants above (tests use smaller ones).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ZeroPlan {
    pub window: u64,
    pub batch: u64,
    pub chunk: u64,
    pub idle_after: Duration,
}

const PLAN: ZeroPlan = ZeroPlan {
    window: WINDOW,
    batch: BATCH,
    chunk: CHUNK,
    idle_after: IDLE_AFTER,
};

/// What the zero-fill thread needs from the CommitLog.
pub(crate) trait ZeroTarget: Send + Sync + 'static {
    /// Zero-fills and fsyncs the next part of the window (or of the rest of the segment, or
    /// of the spare), at most `plan.batch` bytes in `plan.chunk`-sized writes; true if there
    /// may be more to do at once.
    fn zero_ahead(&self, plan: &ZeroPlan) -> std::io::Result<bool>;
}

struct Stop {
    stop: Mutex<bool>,
    cond: Condvar,
}

/// The running thread; stopped by [`ZeroAhead::stop`] or when dropped.
pub(crate) struct ZeroAhead {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl ZeroAhead {
    pub fn start<T: ZeroTarget>(target: Weak<T>) -> std::io::Result<ZeroAhead> {
        let stop = Arc::new(Stop {
            stop: Mutex::new(false),
            cond: Condvar::new(),
        });
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("commitlog-zero".into())
            .spawn(move || run(&s, target))?;
        Ok(ZeroAhead {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(&mut self) {
        *self.stop.stop.lock() = true;
        self.stop.cond.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ZeroAhead {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<T: ZeroTarget>(stop: &Stop, target: Weak<T>) {
    let mut failing = false;
    loop {
        {
            let mut stopped = stop.stop.lock();
            if !*stopped {
                stop.cond
                    .wait_for(&mut stopped, if failing { RETRY } else { POLL });
            }
            if *stopped {
                return;
            }
        }
        loop {
            let Some(t) = target.upgrade() else { return };
            match t.zero_ahead(&PLAN) {
                Ok(more) => {
                    if failing {
                        tracing::info!("preparing the commit log ahead of its writes resumed");
                        failing = false;
                    }
                    if !more || *stop.stop.lock() {
                        break;
                    }
                }
                Err(e) => {
                    // A full file system without fallocate, an I/O error: the log works without
                    // zero-filling (its fsyncs cost more), so try again later. A failed fsync
                    // has also stopped the log claiming durability (see the module comment).
                    if !failing {
                        tracing::warn!(error = %e, "preparing the commit log ahead of its writes failed; appends (and fsyncs under SYNC_FLUSH) cost more until it works again");
                        failing = true;
                    }
                    break;
                }
            }
        }
    }
}
