//! CommitLog behaviour: reopen, torn tails, corruption, truncation, purge, reset, flushing.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;

use super::segment::{segment_name, SPARE_NAME};
use super::*;

const SEG: u64 = 4096;

fn cfg(dir: &Path, flush: FlushMode) -> CommitLogConfig {
    CommitLogConfig {
        dir: dir.join("commitlog"),
        checkpoint_path: dir.join("checkpoint"),
        segment_size: SEG,
        flush,
    }
}

fn async_cfg(dir: &Path) -> CommitLogConfig {
    cfg(
        dir,
        FlushMode::Async {
            interval: Duration::from_secs(3600),
        },
    )
}

fn meta(term: u64, index: u64) -> RecordMeta {
    RecordMeta {
        term,
        leader: 1,
        index,
        kind: 2,
    }
}

fn payload(index: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (index as usize * 31 + i) as u8).collect()
}

fn append_n(log: &CommitLog, term: u64, from: u64, to: u64, len: usize) {
    for i in from..to {
        let p = payload(i, len);
        log.append(&[(meta(term, i), &[&p[..]])]).unwrap();
    }
}

fn segment_paths(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn append_read_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.last_index(), None);
    append_n(&log, 1, 0, 50, 100);
    let r = log.read(7).unwrap().unwrap();
    assert_eq!(r.meta, meta(1, 7));
    assert_eq!(&r.payload[..], &payload(7, 100)[..]);
    assert!(log.read(50).unwrap().is_none());
    drop(log);
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.first_index(), Some(0));
    assert_eq!(log.last_index(), Some(49));
    assert_eq!(log.last_meta(), Some(meta(1, 49)));
    for i in 0..50 {
        assert_eq!(
            &log.read(i).unwrap().unwrap().payload[..],
            &payload(i, 100)[..]
        );
    }
    append_n(&log, 2, 50, 51, 10);
    assert_eq!(log.next_index(), Some(51));
}

#[test]
fn record_of_more_parts_than_one_pwritev_takes_is_written_whole() {
    // 2,500 parts (a third of them empty) need three `pwritev` calls of at most 1,024 buffers.
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    let parts: Vec<Vec<u8>> = (0..2500u32)
        .map(|i| (0..i % 3).map(|j| (i * 7 + j) as u8).collect())
        .collect();
    let slices: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
    log.append(&[(meta(1, 0), &slices[..])]).unwrap();
    append_n(&log, 1, 1, 2, 10);
    let whole: Vec<u8> = parts.concat();
    assert_eq!(&log.read(0).unwrap().unwrap().payload[..], &whole[..]);
    drop(log);
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.last_index(), Some(1), "both records survive recovery");
    assert_eq!(&log.read(0).unwrap().unwrap().payload[..], &whole[..]);
    assert_eq!(
        &log.read(1).unwrap().unwrap().payload[..],
        &payload(1, 10)[..]
    );
}

#[test]
fn records_roll_across_segments_and_read_at_works() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    append_n(&log, 1, 0, 100, 300);
    assert!(
        segment_paths(dir.path()).len() >= 8,
        "records span many 4 KiB segments"
    );
    for i in 0..100 {
        let pos = log.position(i).unwrap();
        assert_eq!(
            pos / SEG,
            (pos + RECORD_HEADER_LEN as u64 + 299) / SEG,
            "never spans a segment"
        );
        let raw = log.read_at(pos + RECORD_HEADER_LEN as u64, 300).unwrap();
        assert_eq!(&raw[..], &payload(i, 300)[..]);
    }
    assert!(log.read_at(log.max_offset(), 1).is_err());
    drop(log);
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.last_index(), Some(99));
}

#[test]
fn out_of_order_and_oversize_appends_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    append_n(&log, 1, 5, 6, 10);
    let p = payload(0, 10);
    assert!(matches!(
        log.append(&[(meta(1, 5), &[&p[..]])]),
        Err(StoreError::OutOfOrder {
            expected: 6,
            got: 5
        })
    ));
    assert!(matches!(
        log.append(&[(meta(1, 7), &[&p[..]])]),
        Err(StoreError::OutOfOrder {
            expected: 6,
            got: 7
        })
    ));
    let big = vec![0u8; SEG as usize];
    assert!(matches!(
        log.append(&[(meta(1, 6), &[&big[..]])]),
        Err(StoreError::RecordTooLarge { .. })
    ));
    assert_eq!(log.last_index(), Some(5));
}

#[test]
fn torn_tail_is_cut_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    append_n(&log, 1, 0, 10, 200);
    let last_pos = log.position(9).unwrap();
    // A crash: no clean close, so no final fsync and no checkpoint covering record 9.
    std::mem::forget(log);
    // Simulate a crash in the middle of writing record 9: its second half never arrived.
    let seg = segment_paths(dir.path())
        .into_iter()
        .find(|p| {
            let start: u64 = p.file_name().unwrap().to_str().unwrap().parse().unwrap();
            start <= last_pos && last_pos < start + SEG
        })
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let start: u64 = seg.file_name().unwrap().to_str().unwrap().parse().unwrap();
    let rel = (last_pos - start) as usize;
    for b in &mut bytes[rel + 100..rel + 237] {
        *b = 0;
    }
    std::fs::write(&seg, &bytes).unwrap();

    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.last_index(), Some(8), "the torn record is cut");
    assert_eq!(log.max_offset(), last_pos);
    append_n(&log, 1, 9, 12, 50);
    drop(log);
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.last_index(), Some(11));
    assert_eq!(
        &log.read(10).unwrap().unwrap().payload[..],
        &payload(10, 50)[..]
    );
}

fn corrupt_record(dir: &Path, log_pos: u64) {
    for seg in segment_paths(dir) {
        let start: u64 = seg.file_name().unwrap().to_str().unwrap().parse().unwrap();
        if start <= log_pos && log_pos < start + SEG {
            let mut bytes = std::fs::read(&seg).unwrap();
            bytes[(log_pos - start) as usize + RECORD_HEADER_LEN + 3] ^= 0x5A;
            std::fs::write(&seg, &bytes).unwrap();
            return;
        }
    }
    panic!("no segment holds {log_pos}");
}

#[test]
fn crc_mismatch_in_the_middle_is_an_error_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    append_n(&log, 1, 0, 10, 100);
    log.flush().unwrap();
    let pos = log.position(4).unwrap();
    drop(log);
    corrupt_record(dir.path(), pos);

    // Below the checkpoint recovery trusts the headers, but reading the record fails loudly.
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.last_index(), Some(9));
    assert!(matches!(
        log.read(4),
        Err(StoreError::CrcMismatch { index: 4, .. })
    ));
    assert!(log.read_range(0, 10, usize::MAX).is_err());
    drop(log);

    // Without the checkpoint recovery verifies every CRC and refuses to cut valid records.
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    match CommitLog::open(async_cfg(dir.path())) {
        Err(StoreError::Corrupt { offset, reason }) => {
            assert_eq!(offset, pos);
            assert!(reason.contains("valid record follows"), "{reason}");
        }
        other => panic!("expected corruption error, got {other:?}"),
    }
}

#[test]
fn truncate_suffix_then_append_never_resurrects_old_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    append_n(&log, 1, 0, 40, 100);
    log.flush().unwrap();
    log.truncate_from(20).unwrap();
    assert_eq!(log.last_index(), Some(19));
    assert_eq!(log.last_meta(), Some(meta(1, 19)));
    assert!(log.read(20).unwrap().is_none());
    // Same-size records in a newer term: old record 21 would sit exactly after the new 20.
    append_n(&log, 2, 20, 21, 100);
    drop(log);
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.last_index(), Some(20), "records 21..40 stay gone");
    assert_eq!(log.last_meta(), Some(meta(2, 20)));
    assert!(
        log.truncate_from(50).is_ok(),
        "truncating past the end is a no-op"
    );
    log.truncate_from(0).unwrap();
    assert_eq!(log.last_index(), None);
    assert_eq!(log.next_index(), Some(0));
}

#[test]
fn purge_across_segment_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    append_n(&log, 1, 0, 100, 300);
    let before = segment_paths(dir.path()).len();
    let pos60 = log.position(60).unwrap();
    log.purge_upto(59).unwrap();
    assert_eq!(log.first_index(), Some(60));
    assert!(log.read(59).unwrap().is_none());
    assert_eq!(
        &log.read(60).unwrap().unwrap().payload[..],
        &payload(60, 300)[..]
    );
    let after = segment_paths(dir.path()).len();
    assert!(
        after < before,
        "whole segments below record 60 are deleted ({before} -> {after})"
    );
    let first_seg: u64 = segment_paths(dir.path())[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        first_seg,
        pos60 - pos60 % SEG,
        "the segment holding record 60 is kept"
    );
    assert!(
        log.read_at(first_seg, 8).is_err() || first_seg == pos60,
        "purged bytes are not served"
    );
    drop(log);
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.first_index(), Some(60));
    assert_eq!(log.last_index(), Some(99));
    // Purge everything: the log is empty and continues at the next index.
    log.purge_upto(99).unwrap();
    assert_eq!(log.last_index(), None);
    assert_eq!(log.next_index(), Some(100));
    append_n(&log, 1, 100, 102, 10);
    drop(log);
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.first_index(), Some(100));
    assert_eq!(log.last_index(), Some(101));
}

#[test]
fn reset_places_next_record_at_the_given_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    append_n(&log, 1, 0, 5, 100);
    let offset = 3 * SEG + 1234;
    log.reset(500, offset).unwrap();
    assert_eq!(log.last_index(), None);
    append_n(&log, 3, 500, 503, 100);
    assert_eq!(log.position(500), Some(offset));
    drop(log);
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    assert_eq!(log.first_index(), Some(500));
    assert_eq!(log.last_index(), Some(502));
    assert_eq!(log.position(500), Some(offset));
}

#[test]
fn sync_flush_completes_callbacks_after_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(cfg(dir.path(), FlushMode::Sync)).unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..200u64 {
        let p = payload(i, 64);
        let seq = log.append(&[(meta(1, i), &[&p[..]])]).unwrap();
        let tx = tx.clone();
        log.on_durable(seq, Box::new(move |r| tx.send((i, r.is_ok())).unwrap()));
    }
    let mut got = Vec::new();
    for _ in 0..200 {
        got.push(rx.recv_timeout(Duration::from_secs(10)).unwrap());
    }
    assert!(got.iter().all(|(_, ok)| *ok));
    let order: Vec<u64> = got.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        order,
        (0..200).collect::<Vec<_>>(),
        "callbacks complete in append order"
    );
    assert_eq!(log.flushed_offset(), log.max_offset());
    assert_eq!(
        Checkpoint::load(&dir.path().join("checkpoint")).flushed_offset,
        log.max_offset()
    );
}

#[test]
fn identical_appends_give_identical_digests() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let la = CommitLog::open(async_cfg(a.path())).unwrap();
    let lb = CommitLog::open(async_cfg(b.path())).unwrap();
    append_n(&la, 1, 0, 60, 250);
    append_n(&lb, 1, 0, 60, 250);
    assert_eq!(la.digest(0, 59).unwrap(), lb.digest(0, 59).unwrap());
    let c = tempfile::tempdir().unwrap();
    let other = CommitLog::open(async_cfg(c.path())).unwrap();
    append_n(&other, 2, 0, 60, 250);
    assert_ne!(
        la.digest(0, 59).unwrap().crc32c,
        other.digest(0, 59).unwrap().crc32c
    );
}

/// A shared read is the same bytes as a copied one, within the same bounds, and stays valid
/// (and unchanged) after its segment is purged and deleted, after the log is reset to follow a
/// snapshot, and after a new segment file takes the deleted one's name; the deleted file's
/// mapping goes when the last slice does.
#[test]
fn shared_reads_outlive_their_deleted_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(async_cfg(dir.path())).unwrap();
    append_n(&log, 1, 0, 40, 300);
    let offsets: Vec<u64> = (0..40)
        .map(|i| log.position(i).unwrap() + RECORD_HEADER_LEN as u64)
        .collect();
    let at = |i: u64| offsets[i as usize];
    let shared: Vec<Bytes> = (0..40)
        .map(|i| log.read_shared(at(i), 300).unwrap())
        .collect();
    for (i, s) in shared.iter().enumerate() {
        assert_eq!(s, &log.read_at(at(i as u64), 300).unwrap());
        assert_eq!(&s[..], &payload(i as u64, 300)[..]);
    }
    // The same bounds as a copied read: nothing at or past the write position, nothing across
    // a segment's end, nothing below the first retained record.
    assert!(log.read_shared(log.max_offset(), 1).is_err());
    assert!(log.read_shared(at(39), 301).is_err());
    let seg_end = (at(0) / SEG + 1) * SEG;
    assert!(log.read_shared(seg_end - 4, 8).is_err());
    let before = segment_paths(dir.path()).len();
    log.purge_upto(29).unwrap();
    assert!(
        log.read_shared(at(0), 300).is_err(),
        "purged bytes are not served"
    );
    assert!(
        segment_paths(dir.path()).len() < before,
        "the purged segments were deleted"
    );
    let first_kept = log.position(30).unwrap();
    log.reset(100, first_kept - first_kept % SEG).unwrap();
    assert!(
        segment_paths(dir.path()).is_empty(),
        "reset deleted every segment"
    );
    // New records land at the old offsets, in new files with the old names.
    append_n(&log, 2, 100, 140, 300);
    for (i, s) in shared.iter().enumerate() {
        assert_eq!(&s[..], &payload(i as u64, 300)[..], "record {i}");
    }
}

/// `Rss` (in kB) and `VmFlags` of this process's mapping of `path` (`/proc/self/smaps`).
fn mapping_of(path: &Path) -> Option<(u64, String)> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut lines = smaps.lines();
    while let Some(line) = lines.next() {
        if !line.ends_with(name) {
            continue;
        }
        let (mut rss, mut flags) = (None, None);
        for l in lines.by_ref() {
            if let Some(v) = l.strip_prefix("Rss:") {
                rss = v.trim().trim_end_matches("kB").trim().parse().ok();
            } else if let Some(v) = l.strip_prefix("VmFlags:") {
                flags = Some(v.trim().to_string());
                break;
            }
        }
        return Some((rss?, flags?));
    }
    None
}

/// Segments are mapped for sequential reads (so unmapping them does not walk the LRU), and
/// `release_mapped_pages` unmaps every page read through them without changing what a read or
/// an earlier shared slice sees.
#[test]
fn released_mapped_pages_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = async_cfg(dir.path());
    c.segment_size = 1 << 20;
    let log = CommitLog::open(c).unwrap();
    append_n(&log, 1, 0, 200, 4000);
    // /proc names the file by its resolved path (a temp dir may be reached through a link).
    let seg = std::fs::canonicalize(&segment_paths(dir.path())[0]).unwrap();
    let shared: Vec<Bytes> = (0..200)
        .map(|i| {
            let at = log.position(i).unwrap() + RECORD_HEADER_LEN as u64;
            log.read_shared(at, 4000).unwrap()
        })
        .collect();
    let sum: u64 = shared
        .iter()
        .map(|s| s.iter().map(|&b| b as u64).sum::<u64>())
        .sum();
    assert!(sum > 0);
    let (rss, flags) = mapping_of(&seg).expect("the segment is mapped");
    assert!(
        flags.split_whitespace().any(|f| f == "sr"),
        "not mapped for sequential reads: {flags}"
    );
    assert!(
        rss >= 400,
        "{rss} kB mapped after reading 800 kB through the mapping"
    );

    log.release_mapped_pages().unwrap();
    let (rss, _) = mapping_of(&seg).unwrap();
    assert_eq!(rss, 0, "{rss} kB still mapped after the release");
    for (i, s) in shared.iter().enumerate() {
        assert_eq!(&s[..], &payload(i as u64, 4000)[..], "record {i}");
    }
    assert_payloads(&log, &(0..200).collect::<Vec<_>>(), 4000);
}

/// A mapping larger than one release step is released whole: pages read in the first step,
/// in a middle one and in the last, partial one are all unmapped.
#[test]
fn a_mapping_larger_than_one_release_step_is_released_whole() {
    let dir = tempfile::tempdir().unwrap();
    let size = 130 << 20;
    let seg = super::segment::Segment::create(dir.path(), 0, size).unwrap();
    let path = std::fs::canonicalize(&seg.path).unwrap();
    let mut sum = 0u64;
    for at in [0usize, 64 << 20, 100 << 20, (129 << 20) + 4096] {
        sum += seg
            .bytes(at, 8192)
            .iter()
            .map(|&b| u64::from(b))
            .sum::<u64>();
    }
    assert_eq!(sum, 0, "a new segment reads as zeros");
    let (rss, _) = mapping_of(&path).expect("the segment is mapped");
    assert!(rss >= 16, "{rss} kB mapped after reading four places");
    seg.mapping().release().unwrap();
    let (rss, _) = mapping_of(&path).unwrap();
    assert_eq!(rss, 0, "{rss} kB still mapped after the release");
}

/// Records `indexes` read back hold the payloads `append_n` wrote with `len`.
fn assert_payloads(log: &CommitLog, indexes: &[u64], len: usize) {
    for &i in indexes {
        let r = log.read(i).unwrap().unwrap();
        assert_eq!(&r.payload[..], &payload(i, len)[..], "record {i}");
    }
}

fn sync_cfg_1m(dir: &Path) -> CommitLogConfig {
    CommitLogConfig {
        segment_size: 1 << 20,
        ..cfg(dir, FlushMode::Sync)
    }
}

/// A SYNC_FLUSH log of 1 MiB segments whose zero-fill thread is stopped (the test drives its
/// rounds), holding one 1000-byte record.
fn sync_log_driven_by_hand(dir: &Path) -> std::sync::Arc<CommitLog> {
    let log = CommitLog::open(sync_cfg_1m(dir)).unwrap();
    log.stop_zero_fill();
    append_n(&log, 1, 0, 1, 1000);
    log
}

#[test]
fn zero_fill_tops_up_the_window_first_then_fills_the_segment_and_a_spare_while_idle() {
    const K: u64 = 1024;
    const SEG: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let log = sync_log_driven_by_hand(dir.path());
    let pos = log.max_offset();
    assert!(pos < 4096);
    // A window of 256 KiB in batches of 64 KiB: three whole batches from the first page
    // boundary after the write position come first.
    for _ in 0..3 {
        assert!(log.zero_ahead_once(256 * K, 64 * K, 16 * K).unwrap());
    }
    assert_eq!(log.zeroed_upto(), Some(4096 + 3 * 64 * K));
    assert_eq!(
        log.spare_zeroed(),
        None,
        "no spare before the window is full"
    );
    assert_eq!(log.disk_usage(), (1, SEG));
    // The log stays idle: the rest of the segment, then a spare segment, a batch per round.
    let mut rounds = 0;
    while log.zero_ahead_once(256 * K, 64 * K, 16 * K).unwrap() {
        rounds += 1;
    }
    assert_eq!(log.zeroed_upto(), Some(SEG));
    assert_eq!(log.spare_zeroed(), Some(SEG));
    assert_eq!(
        rounds,
        (SEG - 4096 - 3 * 64 * K).div_ceil(64 * K) + SEG / (64 * K)
    );
    let spare = dir.path().join("commitlog").join(SPARE_NAME);
    assert_eq!(std::fs::metadata(&spare).unwrap().len(), SEG);
    assert!(std::fs::read(&spare).unwrap().iter().all(|&b| b == 0));
    assert_eq!(
        log.disk_usage(),
        (1, 2 * SEG),
        "the spare's reservation is counted"
    );
    // A busy log (the write position moved since the last round) gets no more than the window.
    append_n(&log, 1, 1, 9, 1000);
    assert!(!log.zero_ahead_once(256 * K, 64 * K, 16 * K).unwrap());
    // The records are intact, before and after a reopen, which removes the spare (how far a
    // spare was filled is not recorded).
    assert_payloads(&log, &[0, 5, 8], 1000);
    let end = log.max_offset();
    drop(log);
    let log = CommitLog::open(sync_cfg_1m(dir.path())).unwrap();
    log.stop_zero_fill();
    assert!(!spare.exists());
    assert_eq!(log.last_index(), Some(8));
    assert_eq!(log.max_offset(), end);
}

#[test]
fn a_roll_takes_the_spare_with_its_zeros_and_a_busy_log_fills_the_next_at_its_append_rate() {
    use std::os::unix::fs::MetadataExt;
    const K: u64 = 1024;
    const SEG: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let log = sync_log_driven_by_hand(dir.path());
    while log.zero_ahead_once(256 * K, 64 * K, 16 * K).unwrap() {}
    let spare = dir.path().join("commitlog").join(SPARE_NAME);
    let spare_inode = std::fs::metadata(&spare).unwrap().ino();
    // Past the first segment's end: the roll renames the spare into place.
    append_n(&log, 1, 1, 1100, 1000);
    assert!(log.max_offset() > SEG);
    assert!(!spare.exists());
    assert_eq!(log.spare_zeroed(), None);
    let second = dir.path().join("commitlog").join(segment_name(SEG));
    assert_eq!(std::fs::metadata(&second).unwrap().ino(), spare_inode);
    // Its zeros count: the window needs no writes there. The log is busy, so a new spare gets
    // as many zeros as the log took since the last round, at most four batches.
    assert!(log.zero_ahead_once(256 * K, 64 * K, 16 * K).unwrap());
    assert_eq!(log.zeroed_upto(), Some(2 * SEG));
    assert_eq!(log.spare_zeroed(), Some(64 * K));
    // Rounds that each follow a small append (so the log is never idle) use up the rest.
    let next = |log: &CommitLog| log.last_index().unwrap() + 1;
    let busy_round = |log: &CommitLog| {
        append_n(log, 1, next(log), next(log) + 1, 100);
        log.zero_ahead_once(256 * K, 64 * K, 16 * K).unwrap()
    };
    while busy_round(&log) {}
    assert_eq!(log.spare_zeroed(), Some(4 * 64 * K));
    // Less than a batch appended since: nothing more; a batch's worth in all: one batch.
    append_n(&log, 1, next(&log), next(&log) + 40, 1000);
    assert!(!busy_round(&log));
    assert_eq!(log.spare_zeroed(), Some(4 * 64 * K));
    append_n(&log, 1, next(&log), next(&log) + 40, 1000);
    assert!(!busy_round(&log));
    assert_eq!(log.spare_zeroed(), Some(5 * 64 * K));
    assert_payloads(&log, &[0, 500, 1099], 1000);
    let last = log.last_index();
    drop(log);
    let log = CommitLog::open(sync_cfg_1m(dir.path())).unwrap();
    assert_eq!(log.last_index(), last);
    assert_payloads(&log, &[1099], 1000);
}

/// How many of the pages of `path` in `[from, to)` are in the page cache (`mincore` on a
/// mapping of its own), or `None` on a file system that keeps everything in memory anyway.
fn cached_pages(path: &Path, from: u64, to: u64) -> Option<usize> {
    use std::os::unix::io::AsRawFd;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let file = std::fs::File::open(path).unwrap();
    // SAFETY: statfs into a zeroed struct of the right type, on an open descriptor.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) }, 0);
    if fs.f_type as i64 == TMPFS_MAGIC {
        return None;
    }
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let pages = ((to - from) / 4096) as usize;
    let mut vec = vec![0u8; pages];
    // SAFETY: the range lies inside the mapping, which lives until the end of this function,
    // and `vec` has one byte per page of it.
    let rc = unsafe {
        libc::mincore(
            map.as_ptr().add(from as usize) as *mut libc::c_void,
            to as usize - from as usize,
            vec.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    Some(vec.iter().filter(|&&b| b & 1 == 1).count())
}

#[test]
fn an_asynchronous_log_brings_the_pages_after_its_write_position_into_the_cache() {
    const K: u64 = 1024;
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(CommitLogConfig {
        segment_size: 1 << 20,
        ..async_cfg(dir.path())
    })
    .unwrap();
    log.stop_zero_fill();
    append_n(&log, 1, 0, 1, 1000);
    let seg = dir.path().join("commitlog").join(segment_name(0));
    if let Some(before) = cached_pages(&seg, 256 * K, 512 * K) {
        assert_eq!(before, 0, "nothing cached there before");
        assert!(!log.zero_ahead_once(512 * K, 64 * K, 16 * K).unwrap());
        assert_eq!(cached_pages(&seg, 256 * K, 512 * K), Some(64));
        // Not a byte was written: the file reads as zeros after the record, and no spare.
        let bytes = std::fs::read(&seg).unwrap();
        assert!(bytes[log.max_offset() as usize..].iter().all(|&b| b == 0));
    }
    assert_eq!(log.spare_zeroed(), None);
    assert!(!dir.path().join("commitlog").join(SPARE_NAME).exists());
}

/// Recovery keeps an empty segment found past the write position (a roll whose BLANK filler
/// never reached the disk). The roll that reaches it must append to that file, not rename the
/// spare over it: records written to the replaced, unlinked file would vanish at the next
/// restart.
#[test]
fn a_roll_onto_a_segment_file_that_already_exists_keeps_its_records() {
    const K: u64 = 1024;
    const SEG: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    {
        let log = sync_log_driven_by_hand(dir.path());
        append_n(&log, 1, 1, 900, 1000);
        assert!(log.max_offset() < SEG);
    }
    // The next segment's file exists, empty, as a roll before a crash would have left it.
    let next = dir.path().join("commitlog").join(segment_name(SEG));
    let f = std::fs::File::create(&next).unwrap();
    f.set_len(SEG).unwrap();
    drop(f);
    let log = CommitLog::open(sync_cfg_1m(dir.path())).unwrap();
    log.stop_zero_fill();
    // A spare is prepared (the log is idle), then the log rolls onto the existing file.
    while log.zero_ahead_once(256 * K, 64 * K, 16 * K).unwrap() {}
    assert_eq!(log.spare_zeroed(), Some(SEG));
    append_n(&log, 1, 900, 1200, 1000);
    assert!(log.max_offset() > SEG);
    assert_eq!(log.spare_zeroed(), Some(SEG), "the spare was not used");
    // Past the next roll too: the recovered segment was used once, not listed twice.
    append_n(&log, 1, 1200, 2300, 1000);
    assert!(log.max_offset() > 2 * SEG);
    assert_eq!(log.segment_files().len(), 3);
    drop(log);
    let log = CommitLog::open(sync_cfg_1m(dir.path())).unwrap();
    assert_eq!(log.last_index(), Some(2299));
    assert_payloads(&log, &[0, 899, 900, 1199, 1200, 2299], 1000);
}

#[test]
fn an_asynchronous_log_prepares_no_spare() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(CommitLogConfig {
        segment_size: 1 << 20,
        ..async_cfg(dir.path())
    })
    .unwrap();
    log.stop_zero_fill();
    append_n(&log, 1, 0, 1200, 1000);
    // Idle rounds (the write position stays put): under SYNC_FLUSH these would fill the
    // segment and then create and fill a spare.
    for _ in 0..40 {
        log.zero_ahead_once(256 * 1024, 64 * 1024, 16 * 1024)
            .unwrap();
    }
    assert_eq!(log.spare_zeroed(), None);
    assert!(!dir.path().join("commitlog").join(SPARE_NAME).exists());
}

/// Reads `path` once through the page cache and once with `O_DIRECT`, and compares.
fn assert_disk_matches_page_cache(path: &Path) {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    const BLOCK: usize = 64 * 1024;
    let cached = std::fs::read(path).unwrap();
    let direct = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => f,
        // A file system without direct I/O (tmpfs before Linux 6.6): nothing to compare.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return,
        Err(e) => panic!("open {} with O_DIRECT: {e}", path.display()),
    };
    let mut storage = vec![0u8; BLOCK + 4096];
    let skew = storage.as_ptr().align_offset(4096);
    let buf = &mut storage[skew..skew + BLOCK];
    for (i, want) in cached.chunks(BLOCK).enumerate() {
        direct
            .read_exact_at(&mut buf[..want.len()], (i * BLOCK) as u64)
            .unwrap();
        assert!(
            buf[..want.len()] == *want,
            "{}: bytes {}..{} on disk differ from the page cache",
            path.display(),
            i * BLOCK,
            i * BLOCK + want.len()
        );
    }
}

#[test]
fn zero_fill_running_beside_appends_never_overwrites_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(sync_cfg_1m(dir.path())).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The log's own thread runs too; this one works in small steps to interleave more often.
    let zeroer = {
        let log = log.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                log.zero_ahead_once(64 * 1024, 8 * 1024, 4096).unwrap();
            }
        })
    };
    // About 8 segments of records of varied sizes, so the log rolls while zero-filling.
    let len = |i: u64| 200 + (i as usize * 37) % 1800;
    for i in 0..8000u64 {
        let p = payload(i, len(i));
        log.append(&[(meta(1, i), &[&p[..]])]).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    zeroer.join().unwrap();
    // A buffered zero write on a record shows in the CRC checks below. A direct (O_DIRECT)
    // one would leave the record in the page cache, where reads still find it, and zeros on
    // disk: the disk's bytes must be the cache's.
    log.flush().unwrap();
    for path in segment_paths(dir.path()) {
        assert_disk_matches_page_cache(&path);
    }
    let check = |log: &CommitLog| {
        for i in 0..8000u64 {
            let r = log.read(i).unwrap().unwrap();
            assert_eq!(&r.payload[..], &payload(i, len(i))[..], "record {i}");
        }
    };
    check(&log);
    drop(log);
    let log = CommitLog::open(sync_cfg_1m(dir.path())).unwrap();
    assert_eq!(log.last_index(), Some(7999));
    check(&log);
}
