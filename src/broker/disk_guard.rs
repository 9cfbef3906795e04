//! Whether the broker's store disk is too full to take sends, read fresh enough to refuse a
//! send *before* the Raft log has to wait for space.
//!
//! Why both: the broker refuses sends at RocketMQ's measure (90 % used, or less than two
//! segments plus a tenth of the disk free), and the Raft log store waits before an append when
//! the room is smaller still (`raft/log_store.rs`, `wait_for_room`), checking at most every
//! 250 ms. A leader whose log waits stops its heartbeats and loses leadership, as designed for a
//! disk that filled under it; but a send that the broker let through only because its reading
//! was seconds old should have been refused instead. So the send path re-reads the file system
//! whenever its reading is older than [`RECHECK`] — far fresher than the log's — and the
//! housekeeping task reads it every few seconds for the log lines and metrics.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::store::disk_space;

/// How old the send path lets its reading get (one `statvfs` per this, at most).
pub const RECHECK: Duration = Duration::from_millis(10);

/// The "disk full" flag and when it was last read from the file system.
pub struct DiskGuard {
    full: AtomicBool,
    base: Instant,
    /// When the file system was last read, in ms since `base`, plus one (0: never).
    read_at: AtomicU64,
}

impl Default for DiskGuard {
    fn default() -> Self {
        DiskGuard {
            full: AtomicBool::new(false),
            base: Instant::now(),
            read_at: AtomicU64::new(0),
        }
    }
}

impl DiskGuard {
    /// The last reading.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// The reading, first refreshed from the file system holding `dir` if it is older than
    /// `max_age` (one caller refreshes; the others use the reading it replaces).
    pub fn is_full_fresh(&self, dir: &Path, segment_size: u64, max_age: Duration) -> bool {
        if self.due(max_age) {
            self.read(dir, segment_size);
        }
        self.is_full()
    }

    /// True, for exactly one caller, once the reading is older than `max_age`.
    fn due(&self, max_age: Duration) -> bool {
        let now = self.base.elapsed().as_millis() as u64 + 1;
        let last = self.read_at.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= max_age.as_millis() as u64)
            && self
                .read_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Reads the file system holding `dir` now (full by RocketMQ's measure, or too little room
    /// left to create the next segment: see `DiskSpace::is_full`), logs a change, and returns
    /// the new reading.
    pub fn read(&self, dir: &Path, segment_size: u64) -> bool {
        let space = disk_space(dir);
        let used = space.map(|s| s.used_pct).unwrap_or(0);
        let full = space.is_some_and(|s| s.is_full(super::DISK_WARNING_LEVEL_PCT, segment_size));
        let was = self.full.swap(full, Ordering::Relaxed);
        if full != was {
            if full {
                tracing::error!(
                    used_pct = used,
                    limit = super::DISK_WARNING_LEVEL_PCT,
                    "disk almost full: refusing sends until space is freed"
                );
            } else {
                tracing::info!(
                    used_pct = used,
                    "disk space back under the limit: accepting sends again"
                );
            }
        }
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_due_once_per_max_age_and_for_one_caller() {
        let g = DiskGuard::default();
        let age = Duration::from_millis(30);
        assert!(g.due(age), "the first reading is due");
        assert!(!g.due(age), "and then not again at once");
        std::thread::sleep(Duration::from_millis(40));
        assert!(g.due(age));
        assert!(!g.due(age));
    }

    #[test]
    fn a_stale_reading_is_replaced_and_a_fresh_one_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let roomy = !disk_space(dir.path())
            .expect("statvfs")
            .is_full(super::super::DISK_WARNING_LEVEL_PCT, 4096);
        let g = DiskGuard::default();
        // A reading of "full" taken just now is what the send path sees: no re-read.
        g.full.store(true, Ordering::Relaxed);
        assert!(g.due(Duration::ZERO));
        assert!(g.is_full_fresh(dir.path(), 4096, Duration::from_secs(3600)));
        // Once it is older than the allowed age it is read again from the file system (on
        // this test's disk, which has room unless the machine's is nearly full).
        if roomy {
            assert!(!g.is_full_fresh(dir.path(), 4096, Duration::ZERO));
            assert!(!g.is_full());
        }
    }
}
