//! How full the file system under the store is: what retention (`diskMaxUsedSpaceRatio`), the
//! broker's disk-full refusal of sends, `brokerStatus` and `/metrics` all read.

use std::path::Path;

/// Space on the filesystem holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Percent in use, as RocketMQ computes it: (total − free) / total, where free includes
    /// blocks reserved for root.
    pub used_pct: u8,
    /// Bytes this process can still write.
    pub available: u64,
    /// The file system's size in bytes.
    pub total: u64,
}

impl DiskSpace {
    /// Whether sends must be refused: full by RocketMQ's measure (`used_pct >= limit_pct`), or
    /// less room left than two CommitLog segments (the next roll would fail with ENOSPC) plus a
    /// margin for the ConsumeQueue and meta files of a tenth of the file system, at most 1 GiB.
    /// The margin scales so a small store (a test's tmpfs) is not full from the start.
    pub fn is_full(&self, limit_pct: u8, segment_size: u64) -> bool {
        let margin = (self.total / 10).min(1 << 30);
        let floor = segment_size.saturating_mul(2).saturating_add(margin);
        self.used_pct >= limit_pct || self.available < floor
    }
}

/// The space on the file system holding `path`, or `None` if `statvfs` fails (no such path)
/// or reports an empty file system.
pub fn disk_space(path: &Path) -> Option<DiskSpace> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we own from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 || st.f_blocks == 0 {
        return None;
    }
    let used = st.f_blocks.saturating_sub(st.f_bfree) as f64;
    Some(DiskSpace {
        used_pct: ((used / st.f_blocks as f64) * 100.0).round().min(100.0) as u8,
        available: (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
        total: (st.f_blocks as u64).saturating_mul(st.f_frsize as u64),
    })
}

/// Percentage of the filesystem holding `path` that is in use (RocketMQ's formula).
pub fn disk_used_pct(path: &Path) -> Option<u8> {
    disk_space(path).map(|d| d.used_pct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_is_a_percentage() {
        let pct = disk_used_pct(Path::new("/")).expect("statvfs /");
        assert!(pct <= 100);
    }

    #[test]
    fn full_means_the_ratio_or_too_little_room_for_two_segments_and_a_margin() {
        let gib = 1u64 << 30;
        let d = |used_pct, available, total| DiskSpace {
            used_pct,
            available,
            total,
        };
        // A large disk: the margin is capped at 1 GiB.
        assert!(!d(50, 100 * gib, 200 * gib).is_full(90, gib));
        assert!(d(90, 100 * gib, 1000 * gib).is_full(90, gib));
        assert!(d(80, 2 * gib + gib / 2, 200 * gib).is_full(90, gib));
        assert!(!d(80, 3 * gib + 1, 200 * gib).is_full(90, gib));
        // A 64 MiB test file system with 1 MiB segments: full below 2 + 6.4 MiB.
        let mib = 1u64 << 20;
        assert!(!d(50, 32 * mib, 64 * mib).is_full(90, mib));
        assert!(d(85, 8 * mib, 64 * mib).is_full(90, mib));
    }

    #[test]
    fn a_missing_path_has_no_disk() {
        assert_eq!(disk_space(Path::new("/no/such/ledgermq/path")), None);
        assert_eq!(disk_space(Path::new("a\0b")), None);
    }
}
