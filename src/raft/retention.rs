//! CommitLog retention, RocketMQ's way: segments older than `fileReservedTime` hours are
//! deleted at the `deleteWhen` hours, or at once when the disk is fuller than
//! `diskMaxUsedSpaceRatio`. Retention — not snapshots — decides when log entries go.
//!
//! Deleting is a Raft purge: the state machine's snapshot must already cover the entries (a
//! snapshot is taken first if needed), openraft purges the log through the log store, and the
//! ConsumeQueues then drop entries that point below the CommitLog's new start. A follower that
//! is behind the purge point later receives the snapshot instead of the purged entries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::node::{off_node_thread, NodeCore};
use crate::store::disk_used_pct;
use crate::time::local_time;

/// When segments may be deleted.
#[derive(Debug, Clone)]
pub struct RetentionPolicy {
    /// `fileReservedTime`.
    pub reserved: Duration,
    /// `deleteWhen`: local hours at which expired segments are deleted.
    pub delete_hours: Vec<u8>,
    /// `diskMaxUsedSpaceRatio`: above this disk usage, expired segments go at any hour, and the
    /// oldest goes even if it has not expired.
    pub max_used_ratio: u8,
    /// `cleanResourceInterval`.
    pub interval: Duration,
}

/// One segment as retention sees it.
#[derive(Debug, Clone)]
pub struct SegmentInfo {
    pub path: PathBuf,
    pub start: u64,
    pub modified: SystemTime,
}

/// The CommitLog offset below which segments may be deleted now, if any. The newest segment is
/// never deleted: it is where the log is written.
pub fn purge_below(
    segments: &[SegmentInfo],
    now: SystemTime,
    hour: u8,
    disk_used_pct: u8,
    p: &RetentionPolicy,
) -> Option<u64> {
    let disk_full = disk_used_pct >= p.max_used_ratio;
    if !disk_full && !p.delete_hours.contains(&hour) {
        return None;
    }
    let deletable = segments.len().saturating_sub(1);
    let mut n = segments[..deletable]
        .iter()
        .take_while(|s| s.modified + p.reserved <= now)
        .count();
    if disk_full && n == 0 && deletable > 0 {
        n = 1;
    }
    (n > 0).then(|| segments[n].start)
}

/// The local hour of `now` (`deleteWhen` is in local hours); the UTC hour if the C library
/// cannot tell.
fn local_hour(now: SystemTime) -> u8 {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs)
        .ok()
        .and_then(local_time)
        .map_or(((secs / 3600) % 24) as u8, |t| t.hour)
}

/// Runs one retention pass; returns the index purged up to, if anything was purged.
pub async fn run_once(core: &NodeCore, p: &RetentionPolicy) -> Option<u64> {
    let dir = core.log.config().dir.clone();
    let segments: Vec<SegmentInfo> = core
        .log
        .segment_files()
        .into_iter()
        .filter_map(|(path, start)| {
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
            Some(SegmentInfo {
                path,
                start,
                modified,
            })
        })
        .collect();
    let now = SystemTime::now();
    let used = disk_used_pct(&dir).unwrap_or(0);
    let offset = purge_below(&segments, now, local_hour(now), used, p)?;
    let applied = core.sm.last_applied()?.index;
    let upto = core.log.last_index_below(offset)?.min(applied);
    if core.log.first_index().is_some_and(|f| upto < f) {
        return None;
    }
    // The snapshot must cover what goes.
    let covered = |core: &NodeCore| {
        core.raft
            .metrics()
            .borrow()
            .snapshot
            .is_some_and(|s| s.index >= upto)
    };
    if !covered(core) {
        if core.raft.trigger().snapshot().await.is_err() {
            return None;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !covered(core) {
            if tokio::time::Instant::now() > deadline {
                tracing::warn!(upto, "snapshot for retention did not complete; will retry");
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tracing::info!(
        upto,
        offset,
        disk_used_pct = used,
        "retention: purging expired commit log segments"
    );
    if core.raft.trigger().purge_log(upto).await.is_err() {
        return None;
    }
    // openraft purges asynchronously; wait for it, then trim the queues.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while core.log.first_index().is_some_and(|f| f <= upto)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Unlinking index and ConsumeQueue files: on the blocking pool, off the node's one thread.
    let (state, min_offset) = (core.state.clone(), core.log.min_offset());
    let trimmed = off_node_thread(move || {
        state.index().purge_below(min_offset);
        state
            .purge_queues_below(min_offset)
            .map_err(|e| openraft::AnyError::new(&e))
    })
    .await;
    if let Err(e) = trimmed {
        tracing::warn!(error = %e, "retention: trimming consume queues failed");
    }
    Some(upto)
}

/// Runs retention every `interval` until shutdown.
pub async fn run(core: Arc<NodeCore>, p: RetentionPolicy, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(p.interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        run_once(&core, &p).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(ages_h: &[u64], now: SystemTime) -> Vec<SegmentInfo> {
        ages_h
            .iter()
            .enumerate()
            .map(|(i, h)| SegmentInfo {
                path: PathBuf::from(format!("{i}")),
                start: i as u64 * 1000,
                modified: now - Duration::from_secs(h * 3600),
            })
            .collect()
    }

    fn policy() -> RetentionPolicy {
        RetentionPolicy {
            reserved: Duration::from_secs(72 * 3600),
            delete_hours: vec![4],
            max_used_ratio: 75,
            interval: Duration::from_secs(10),
        }
    }

    #[test]
    fn expired_segments_go_only_at_delete_hours() {
        let now = SystemTime::now();
        let s = segs(&[100, 90, 80, 10, 0], now);
        assert_eq!(
            purge_below(&s, now, 3, 50, &policy()),
            None,
            "not a deleteWhen hour"
        );
        assert_eq!(
            purge_below(&s, now, 4, 50, &policy()),
            Some(3000),
            "the three expired ones"
        );
    }

    #[test]
    fn newest_segment_is_never_deleted() {
        let now = SystemTime::now();
        let s = segs(&[100, 100], now);
        assert_eq!(purge_below(&s, now, 4, 50, &policy()), Some(1000));
        let s = segs(&[100], now);
        assert_eq!(purge_below(&s, now, 4, 99, &policy()), None);
    }

    #[test]
    fn a_full_disk_deletes_at_any_hour_and_the_oldest_even_unexpired() {
        let now = SystemTime::now();
        let s = segs(&[100, 1, 0], now);
        assert_eq!(purge_below(&s, now, 13, 80, &policy()), Some(1000));
        let s = segs(&[2, 1, 0], now);
        assert_eq!(purge_below(&s, now, 13, 80, &policy()), Some(1000));
        assert_eq!(purge_below(&s, now, 13, 50, &policy()), None);
    }
}
