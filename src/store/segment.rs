//! One CommitLog segment: a fixed-size file named by the 20-digit byte offset of its first byte
//! (RocketMQ's naming), mapped into memory.
//!
//! Space is reserved with `fallocate` when the segment is created, so that a full disk is an
//! error at roll time, not half-way through an append. Records are written with `pwritev` and
//! read through a read-only shared mapping of the same file (Linux keeps one page cache for
//! both). Writing through the mapping instead costs a page fault per new page that zero-fills
//! (and reads ahead) the page first, and makes every writeback write-protect the mapping again,
//! which measured at about a third of the CPU of a three-node benchmark.
//!
//! The mapping is owned by a [`Bytes`], so a reader can take a slice of it that outlives the
//! segment ([`Segment::share`]): a pull answer references each message in the page cache instead
//! of copying it. The mapping is unmapped when the segment and the last such slice are gone.
//! A slice stays valid after the segment is deleted, because segments are only ever removed by
//! unlinking their file (retention, truncation, a snapshot reset), never shortened: the
//! unlinked file's pages live as long as a mapping of them does. Its bytes never change either,
//! as long as it covers committed records only: committed records are never rewritten, and a
//! file created later at the same path is a new file.

use std::fs::{File, OpenOptions};
use std::io::IoSlice;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{Advice, Mmap};

use super::{failpoint, Result, StoreError};

/// Most buffers one `pwritev` takes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

pub(crate) struct Segment {
    pub start: u64,
    pub size: u64,
    pub path: PathBuf,
    pub file: Arc<File>,
    /// The whole file, mapped read-only; the `Bytes` owns the mapping.
    map: Bytes,
}

/// The file name of the segment starting at `start`.
pub(crate) fn segment_name(start: u64) -> String {
    format!("{start:020}")
}

/// The file a segment is prepared in before the log needs it (`SYNC_FLUSH` only, see
/// `zero_ahead.rs`). Not a segment name, so recovery ignores it; a log being opened deletes it,
/// because how much of it was zero-filled was not recorded.
pub(crate) const SPARE_NAME: &str = "next-segment.spare";

/// Parses a segment file name back to its start offset; other files are not segments.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

/// Reserves `size` bytes for `file` (`fallocate`, or a sparse length where the filesystem has
/// no fallocate), so a full disk shows up here rather than in the middle of a write.
pub(crate) fn reserve(file: &File, path: &Path, size: u64) -> Result<()> {
    // SAFETY: plain syscall on a valid, open file descriptor.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size as libc::off_t) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EOPNOTSUPP) {
        // Filesystems without fallocate (tmpfs on old kernels): a sparse file still works.
        return file
            .set_len(size)
            .map_err(|e| StoreError::io("extend segment", path, e));
    }
    Err(StoreError::io("reserve space for segment", path, err))
}

/// fsyncs the directory `dir`, so the entries created in it survive a power cut.
fn sync_dir(dir: &Path) -> Result<()> {
    failpoint!("commitlog::sync_dir");
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync commit log directory", dir, e))
}

/// Opens (creating it if need be) the file at `path` and reserves `size` bytes for it; a file
/// whose space cannot be reserved is removed again.
fn create_reserved(path: &Path, size: u64, truncate: bool) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
        .map_err(|e| StoreError::io("create segment", path, e))?;
    if let Err(e) = reserve(&file, path, size) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    if file.metadata().map(|m| m.len()).unwrap_or(0) < size {
        file.set_len(size)
            .map_err(|e| StoreError::io("extend segment", path, e))?;
    }
    Ok(file)
}

impl Segment {
    /// Creates a new, zero-filled segment.
    pub fn create(dir: &Path, start: u64, size: u64) -> Result<Segment> {
        failpoint!("commitlog::roll");
        let path = dir.join(segment_name(start));
        let file = create_reserved(&path, size, false)?;
        // Make the new directory entry durable: records acknowledged under SYNC_FLUSH in a
        // segment whose name a power cut lost would be lost with it. A segment that cannot be
        // made durable is not used (the append that needed it fails instead).
        if let Err(e) = sync_dir(dir) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Self::map(path, file, start, size)
    }

    /// Creates the spare segment file ([`SPARE_NAME`]), reserved and mapped like a segment but
    /// not named as one: its `start` means nothing until [`Segment::adopt`] gives it one. Only
    /// zeros are ever written to it, so it can become any segment.
    pub fn create_spare(dir: &Path, size: u64) -> Result<Segment> {
        failpoint!("commitlog::spare_create");
        let path = dir.join(SPARE_NAME);
        let file = create_reserved(&path, size, true)?;
        Self::map(path, file, 0, size)
    }

    /// Makes the spare the segment starting at `start`: renames its file to the segment's name
    /// and fsyncs the directory, as [`Segment::create`] does for a new file. Its mapping and
    /// descriptor stay, so the zeros already written and fsynced into it are what the log
    /// writes over.
    pub fn adopt(mut self, dir: &Path, start: u64) -> Result<Segment> {
        failpoint!("commitlog::roll");
        let path = dir.join(segment_name(start));
        std::fs::rename(&self.path, &path)
            .map_err(|e| StoreError::io("name spare segment", &path, e))?;
        if let Err(e) = sync_dir(dir) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        self.start = start;
        self.path = path;
        Ok(self)
    }

    /// Opens an existing segment; a file shorter than `size` (a crash during creation) is
    /// extended.
    pub fn open(path: PathBuf, start: u64, size: u64) -> Result<Segment> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("open segment", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("stat segment", &path, e))?
            .len();
        if len > size {
            return Err(StoreError::Corrupt {
                offset: start,
                reason: format!(
                    "segment {} is {len} bytes but mappedFileSizeCommitLog is {size}; the setting must not change for an existing store",
                    path.display()
                ),
            });
        }
        if len < size {
            reserve(&file, &path, size)?;
        }
        Self::map(path, file, start, size)
    }

    fn map(path: PathBuf, file: File, start: u64, size: u64) -> Result<Segment> {
        // SAFETY: the file is owned by this process's store directory; no other process writes
        // it, this process never shortens it (segments are only unlinked, so no page of the
        // mapping can vanish under a reader or a shared slice), and every access through the
        // map is bounds-checked against `size`.
        let map =
            unsafe { Mmap::map(&file) }.map_err(|e| StoreError::io("map segment", &path, e))?;
        // Sequential: the log is read front to back (recovery, consumers). The kernel then
        // ignores this mapping's accessed bits, so unmapping a page read through it does not
        // move the page on the LRU lists: cheaper for `SegmentMap::release`, and for a process that
        // dies, which unmaps everything before its sockets close (BENCHMARKS.md). A cold
        // recovery's faults also read ahead as for a sequential file. Advice only: a kernel
        // that refuses it leaves the mapping as it was.
        if let Err(e) = map.advise(Advice::Sequential) {
            tracing::debug!(path = %path.display(), error = %e, "madvise(SEQUENTIAL) refused");
        }
        let map = Bytes::from_owner(map);
        Ok(Segment {
            start,
            size,
            path,
            file: Arc::new(file),
            map,
        })
    }

    pub fn end(&self) -> u64 {
        self.start + self.size
    }

    /// Bytes `[rel, rel + len)` of the segment. Callers check bounds against `size`.
    pub fn bytes(&self, rel: usize, len: usize) -> &[u8] {
        &self.map[rel..rel + len]
    }

    /// Bytes `[rel, rel + len)` of the segment as a slice of the mapping that keeps it mapped
    /// (no copy); see the module comment for why it stays valid. Callers check bounds against
    /// `size`, and hand out only committed records.
    pub fn share(&self, rel: usize, len: usize) -> Bytes {
        self.map.slice(rel..rel + len)
    }

    /// A handle on the whole mapping that keeps it mapped, to release its pages without a
    /// lock on the log ([`SegmentMap::release`]).
    pub fn mapping(&self) -> SegmentMap {
        SegmentMap(self.map.clone())
    }

    /// Writes `data` at `rel` (a `pwrite`); readers see it through the mapping at once.
    pub fn write_at(&self, rel: usize, data: &[u8]) -> Result<()> {
        debug_assert!(rel + data.len() <= self.size as usize);
        self.file
            .write_all_at(data, rel as u64)
            .map_err(|e| StoreError::io("write segment", &self.path, e))
    }

    /// Writes `head` and then `parts` back to back at `rel` with `pwritev`, so a record's
    /// payload goes from the caller's buffers into the page cache without an intermediate copy.
    pub fn write_parts_at(&self, rel: usize, head: &[u8], parts: &[&[u8]]) -> Result<()> {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(parts.len() + 1);
        slices.push(IoSlice::new(head));
        slices.extend(
            parts
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| IoSlice::new(p)),
        );
        debug_assert!(
            rel + head.len() + parts.iter().map(|p| p.len()).sum::<usize>() <= self.size as usize
        );
        let mut remaining = &mut slices[..];
        let mut at = rel as u64;
        while !remaining.is_empty() {
            let n = remaining.len().min(IOV_MAX);
            // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix, and the first `n`
            // slices borrow live buffers for the duration of the call.
            let rc = unsafe {
                libc::pwritev(
                    self.file.as_raw_fd(),
                    remaining.as_ptr() as *const libc::iovec,
                    n as libc::c_int,
                    at as libc::off_t,
                )
            };
            if rc < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(StoreError::io("write segment", &self.path, err));
            }
            if rc == 0 {
                return Err(StoreError::io(
                    "write segment",
                    &self.path,
                    std::io::ErrorKind::WriteZero.into(),
                ));
            }
            at += rc as u64;
            IoSlice::advance_slices(&mut remaining, rc as usize);
        }
        Ok(())
    }

    /// Zeroes `[rel, rel + len)`.
    pub fn zero(&self, rel: usize, len: usize) -> Result<()> {
        const CHUNK: usize = 64 * 1024;
        let zeros = [0u8; CHUNK];
        let mut at = rel;
        let end = rel + len;
        while at < end {
            let n = (end - at).min(CHUNK);
            self.write_at(at, &zeros[..n])?;
            at += n;
        }
        Ok(())
    }

    /// Zeroes from `rel` until the first 4 KiB block that is already all zeros, or the end.
    /// Used to erase a cut tail without touching a whole gigabyte of untouched pages.
    pub fn zero_tail(&self, rel: usize) -> Result<()> {
        const BLOCK: usize = 4096;
        let size = self.size as usize;
        let mut at = rel;
        while at < size {
            let block_end = ((at / BLOCK) + 1) * BLOCK;
            let end = block_end.min(size);
            let was_zero = self.map[at..end].iter().all(|&b| b == 0);
            if was_zero && at.is_multiple_of(BLOCK) {
                break;
            }
            if !was_zero {
                self.zero(at, end - at)?;
            }
            at = end;
        }
        Ok(())
    }
}

/// Bytes of a mapping released per `madvise` call (a multiple of the page size).
const RELEASE_STEP: usize = 64 << 20;

/// A whole segment mapping (read-only, shared, page aligned: only [`Segment::mapping`] makes
/// one), kept mapped while held.
pub(crate) struct SegmentMap(Bytes);

impl SegmentMap {
    /// Drops this process's page-table entries for the mapping (`madvise(DONTNEED)`); the
    /// pages stay in the page cache and the next read through the mapping maps them again,
    /// with the same bytes.
    ///
    /// Why: every page read through the mapping (recovery, the state machine's rebuild, pull
    /// answers) stays mapped, and a process that dies — kill -9 included — unmaps all of them
    /// before the kernel closes its sockets. Until then, requests that clients write into
    /// those connections sit unanswered until the clients' own timeouts (3 s in RocketMQ's),
    /// where a closed connection makes them go to another broker at once. Released regularly,
    /// the mapped set stays what was read since the last release.
    pub fn release(&self) -> std::io::Result<()> {
        let map = &self.0;
        if map.is_empty() {
            return Ok(());
        }
        // In steps, because each call holds the process's mmap lock for as long as it zaps
        // (tens of ms per GiB after a recovery read a whole segment), and a roll maps its new
        // segment under the log's write lock.
        for from in (0..map.len()).step_by(RELEASE_STEP) {
            let len = RELEASE_STEP.min(map.len() - from);
            // SAFETY: `map` is a whole read-only shared file mapping made by `Segment::map`
            // (page aligned, `map.len()` bytes; `SegmentMap` is only made from a segment's own
            // `Bytes`, never a slice), kept mapped by the `Bytes` we hold, and `from` is a
            // multiple of RELEASE_STEP (so page aligned) inside it; the kernel rounds the last
            // step's length up to a page. MADV_DONTNEED on a shared file mapping only removes
            // page-table entries: a later access faults the same page in from the page cache
            // (or the file, which is never shortened), so the bytes any reader or slice sees
            // never change.
            let rc = unsafe {
                libc::madvise(
                    map.as_ptr().add(from) as *mut libc::c_void,
                    len,
                    libc::MADV_DONTNEED,
                )
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_cannot_be_synced_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        match sync_dir(&gone) {
            Err(StoreError::Io { op, path, .. }) => {
                assert_eq!(op, "fsync commit log directory");
                assert_eq!(path, gone);
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert!(sync_dir(dir.path()).is_ok());
    }

    #[test]
    fn a_failed_pwritev_is_an_io_error_naming_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let seg = Segment::create(dir.path(), 0, 4096).unwrap();
        // The same file opened read-only: the kernel refuses the write (EBADF).
        let read_only = File::open(&seg.path).unwrap();
        let seg = Segment::map(seg.path.clone(), read_only, 0, 4096).unwrap();
        let parts: [&[u8]; 2] = [b"ab", b"cd"];
        match seg.write_parts_at(0, b"head", &parts) {
            Err(StoreError::Io { op, path, source }) => {
                assert_eq!(op, "write segment");
                assert_eq!(path, seg.path);
                assert_eq!(source.raw_os_error(), Some(libc::EBADF));
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }
}
