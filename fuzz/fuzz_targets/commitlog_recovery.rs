//! CommitLog recovery on start-up: a store directory whose checkpoint and first two segments
//! hold arbitrary bytes (torn tails, flipped bits, records claiming any length, kind or index).
//! Recovery must either refuse with an error or come up with records it can read back and
//! decode; never panic, never read outside its segments.
#![no_main]
use ledgermq::store::{CommitLog, CommitLogConfig, FlushMode};
use libfuzzer_sys::fuzz_target;

const SEGMENT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let dir = ledgermq_fuzz::scratch_dir("commitlog");
    let log_dir = dir.join("commitlog");
    let checkpoint_path = dir.join("checkpoint");
    let _ = std::fs::create_dir_all(&log_dir);
    // First byte: bit 0 writes a checkpoint from the next 32 bytes.
    let (flags, rest) = data.split_first().unwrap_or((&0, &[]));
    let rest = if flags & 1 == 1 && rest.len() >= 32 {
        let _ = std::fs::write(&checkpoint_path, &rest[..32]);
        &rest[32..]
    } else {
        rest
    };
    for (i, seg) in rest.chunks(SEGMENT).take(2).enumerate() {
        let name = format!("{:020}", i * SEGMENT);
        let _ = std::fs::write(log_dir.join(name), seg);
    }
    let cfg = CommitLogConfig {
        dir: log_dir,
        checkpoint_path,
        segment_size: SEGMENT as u64,
        flush: FlushMode::Sync,
    };
    if let Ok(log) = CommitLog::open(cfg) {
        if let (Some(first), Some(last)) = (log.first_index(), log.last_index()) {
            assert!(first <= last);
            for index in first..=last.min(first + 64) {
                if let Ok(Some(rec)) = log.read(index) {
                    let _ = ledgermq::raft::codec::decode(rec);
                }
            }
            let _ = log.digest(first, last);
        }
        log.close();
    }
    let _ = std::fs::remove_dir_all(&dir);
});
