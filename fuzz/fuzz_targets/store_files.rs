//! The small files beside the CommitLog that a restart reads: the Raft vote, the purge point,
//! the committed hint, the state machine's snapshot (topics, offsets, queues) and the
//! CommitLog checkpoint. The first byte picks the file; its top bit puts a correct CRC32C in
//! front, so decoding behind the checksum is reached too. Opening must fail with an error
//! naming the damaged file, or succeed; never panic.
#![no_main]
use ledgermq::raft::meta::RaftMeta;
use ledgermq::raft::state_machine::StateMachine;
use ledgermq::store::{Checkpoint, CommitLog, CommitLogConfig, FlushMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let dir = ledgermq_fuzz::scratch_dir("store-files");
    let raft_dir = dir.join("raft");
    let _ = std::fs::create_dir_all(&raft_dir);
    let content = if which & 0x80 != 0 {
        ledgermq_fuzz::with_crc(bytes)
    } else {
        bytes.to_vec()
    };
    let name = match (which & 0x7f) % 5 {
        0 => "raft/vote",
        1 => "raft/purged",
        2 => "raft/committed",
        3 => "raft/snapshot",
        _ => "checkpoint",
    };
    let _ = std::fs::write(dir.join(name), &content);
    let _ = Checkpoint::load(&dir.join("checkpoint"));
    let _ = RaftMeta::open(&raft_dir);
    if name == "raft/snapshot" {
        let cfg = CommitLogConfig {
            dir: dir.join("commitlog"),
            checkpoint_path: dir.join("checkpoint"),
            segment_size: 4096,
            flush: FlushMode::Sync,
        };
        if let Ok(log) = CommitLog::open(cfg) {
            let _ = StateMachine::open(&raft_dir, &dir.join("consumequeue"), 4000, log.clone());
            log.close();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
});
