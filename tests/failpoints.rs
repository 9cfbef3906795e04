//! Fault injection at each CommitLog and Raft-metadata I/O step (`--features failpoints`).
//!
//! Every scenario arms one named failpoint of `src/store/` or `src/raft/meta.rs` with `return`
//! (an injected I/O error) and checks what a Raft log store owes its clients when the disk fails:
//! 1. the write that hit the failure is never acknowledged;
//! 2. the failure is reported, naming the failpoint: in the write's error, in openraft's
//!    `running_state`, or as the CommitLog call's `StoreError::Injected`;
//! 3. once the failpoint is removed and the node restarts on the same directories, the log is
//!    consistent: every acknowledged entry is there with its log id and payload, the bytes up to
//!    the last acknowledged entry are unchanged (same digest), indices are contiguous, a
//!    CRC-verified digest of the whole log succeeds, and new writes are acknowledged.
//!
//! The `fail` registry is process-global, so the scenarios run one after another inside one
//! `#[test]`, under one `FailScenario`. Run with
//! `cargo test --features failpoints --test failpoints`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::in_process::{free_addr, node_config};
use ledgermq::raft::codec::KIND_RAW;
use ledgermq::raft::rpc::ReadEntry;
use ledgermq::raft::types::LogId;
use ledgermq::raft::{LogCommand, RaftNode, RaftNodeConfig, WriteError, WriteOk};
use ledgermq::store::{CommitLog, CommitLogConfig, FlushMode, LogDigest, RecordMeta, StoreError};
use openraft::ServerState;
use tempfile::TempDir;

/// Longest a single-node group may take to elect itself after a start.
const ELECT_WITHIN: Duration = Duration::from_secs(5);
/// Outer bound on one write; the node's own `write_timeout` is shorter.
const WRITE_WITHIN: Duration = Duration::from_secs(5);
/// Longest a shutdown may take before the node is dropped instead.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(10);

const ASYNC: FlushMode = FlushMode::Async {
    interval: Duration::from_millis(200),
};

#[test]
fn failpoints() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let scenario = fail::FailScenario::setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        timed("commitlog::append", append_fails()).await;
        timed("commitlog::fsync", fsync_fails()).await;
        timed("commitlog::roll", roll_fails("commitlog::roll")).await;
        timed("commitlog::sync_dir", roll_fails("commitlog::sync_dir")).await;
        timed("commitlog::truncate", async { truncate_fails() }).await;
        timed("raft::save_vote", save_vote_fails()).await;
        timed("one group of several", one_group_of_several_fails()).await;
        timed("commitlog::zero_fsync", zero_fill_fsync_fails()).await;
        timed("commitlog::spare_create", spare_cannot_be_created()).await;
    });
    scenario.teardown();
}

async fn timed(name: &str, scenario: impl std::future::Future<Output = ()>) {
    let started = Instant::now();
    scenario.await;
    eprintln!(
        "failpoint {name}: ok in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// 1. An append that fails is not acknowledged, stops the node, and loses nothing acknowledged.
async fn append_fails() {
    const FP: &str = "commitlog::append";
    let mut group = Group::new(ASYNC, 1 << 20);
    let node = group.start_leader("append: first start").await;
    let mut acked = Vec::new();
    write_acked(&node, &mut acked, "append-before", 20, 256).await;
    let before = digest_of(&node, &acked, "append: before the failure");

    arm(FP);
    let failed = payload("append-failed", 0, 256);
    let result = write(&node, failed.clone()).await;
    assert_not_acked_and_reported(&node, FP, result).await;
    fail::remove(FP);

    let node = group.restart(node, "append: restart").await;
    assert_consistent(&node, &mut acked, before, "append: after restart").await;
    report_survivor(&node, FP, &failed);
    group.stop(node).await;
}

/// A process hosting members of several Raft groups (multi-Raft): one group's storage error
/// stops that group's Raft core only. The other group, on the same runtime, keeps
/// acknowledging writes, also while the failed one is down, and the failed one's writes are
/// refused at once rather than hanging.
async fn one_group_of_several_fails() {
    const FP: &str = "commitlog::append";
    let mut a = Group::new(ASYNC, 1 << 20);
    let mut b = Group::new(ASYNC, 1 << 20);
    let node_a = a.start_leader("groups: A").await;
    let node_b = b.start_leader("groups: B").await;
    let mut acked_b = Vec::new();
    write_acked(&node_b, &mut acked_b, "b-before", 10, 256).await;

    // Exactly one append fails: A's.
    fail::cfg(FP, "1*return").unwrap_or_else(|e| panic!("arming {FP}: {e}"));
    let result = write(&node_a, payload("a-failed", 0, 256)).await;
    assert_not_acked_and_reported(&node_a, FP, result).await;
    fail::remove(FP);

    // B keeps committing, many writes at once, while A's core is stopped.
    let writes = (0..50).map(|i| write(&node_b, payload("b-after", i, 256)));
    for r in futures::future::join_all(writes).await {
        assert!(r.is_ok(), "group B must keep acknowledging: {r:?}");
    }
    // A refuses at once (its core is stopped), it does not hang.
    let started = Instant::now();
    let again = write(&node_a, payload("a-again", 0, 256)).await;
    assert!(matches!(again, Err(WriteError::Fatal(_))), "{again:?}");
    assert!(started.elapsed() < WRITE_WITHIN, "{:?}", started.elapsed());
    assert_eq!(
        node_b.core().raft().metrics().borrow().state,
        ServerState::Leader
    );
    b.stop(node_b).await;
    a.stop(node_a).await;
}

/// 2. Under SYNC_FLUSH a failed fsync is not acknowledged; the entry may survive the restart
///    (its bytes reached the page cache) but nothing acknowledged may be missing.
async fn fsync_fails() {
    const FP: &str = "commitlog::fsync";
    let mut group = Group::new(FlushMode::Sync, 1 << 20);
    let node = group.start_leader("fsync: first start").await;
    let mut acked = Vec::new();
    write_acked(&node, &mut acked, "fsync-before", 20, 256).await;
    let before = digest_of(&node, &acked, "fsync: before the failure");

    arm(FP);
    let failed = payload("fsync-failed", 0, 256);
    let result = write(&node, failed.clone()).await;
    assert_not_acked_and_reported(&node, FP, result).await;
    fail::remove(FP);

    let node = group.restart(node, "fsync: restart").await;
    assert_consistent(&node, &mut acked, before, "fsync: after restart").await;
    report_survivor(&node, FP, &failed);
    group.stop(node).await;
}

/// 2b. Under SYNC_FLUSH the zero-fill thread fsyncs segments too (`store/zero_ahead.rs`).
///    A failed fsync of the spare segment (no records in it yet) only drops the spare: the
///    node keeps acknowledging and the rolls create their segments. Linux reports a writeback
///    error to one fsync of a file, which may be that thread's, so its failed fsync of a
///    segment in use must stop the node acknowledging writes just as the flusher's does;
///    every write acknowledged before it survives the restart.
async fn zero_fill_fsync_fails() {
    const FP: &str = "commitlog::zero_fsync";
    const SPARE_FP: &str = "commitlog::spare_fsync";
    let mut group = Group::new(FlushMode::Sync, 1 << 20);
    let node = group.start_leader("zero fsync: first start").await;
    let mut acked = Vec::new();
    write_acked(&node, &mut acked, "zero-before", 20, 256).await;
    let before = digest_of(&node, &acked, "zero fsync: before the failure");

    // The idle node has prepared the next segment.
    let spare = spare_path(&node);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !spare.exists() {
        assert!(
            Instant::now() < deadline,
            "no spare segment at {}",
            spare.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    arm(SPARE_FP);
    // Every failure of the spare comes after this, so its retry pause lasts until at least
    // 10 s (zero_fill's SPARE_RETRY) from here.
    let armed_at = Instant::now();
    // 16 KiB entries across three segment rolls: a spare that cannot be made durable is
    // dropped (the one being prepared, or the next), and the rolls create their files.
    for i in 0..200 {
        let p = payload("spare-failing", i, 16 << 10);
        match write(&node, p.clone()).await {
            Ok(ok) => acked.push((ok.log_id, p)),
            Err(e) => panic!("{SPARE_FP}: write {i} refused: {e}"),
        }
        if i % 8 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let log = node.core().commit_log();
    assert!(
        !log.fsync_failed(),
        "{SPARE_FP}: a failed spare stopped the log"
    );
    assert!(
        !spare.exists(),
        "{SPARE_FP}: the spare that could not be made durable is still there"
    );
    // Idle with the failure armed: by now the thread has tried a spare (during the writes, or
    // idle, within about a second, as it did above), and it failed and was dropped.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !spare.exists(),
        "{SPARE_FP}: a spare was made durable with its fsync failing"
    );
    // With the failure gone, the spare is still left alone (zero_fill's SPARE_RETRY, 10 s):
    // a spare appearing now would mean no attempt failed, or a failed one is retried at once
    // (an idle log that may make one does so within a few rounds of 10 ms). Checked only
    // while the pause is certain to last, however early the failure came.
    fail::remove(SPARE_FP);
    let until =
        (Instant::now() + Duration::from_secs(2)).min(armed_at + Duration::from_millis(9500));
    if until < Instant::now() + Duration::from_millis(300) {
        eprintln!("{SPARE_FP}: the writes took too long to check the retry pause afterwards");
    }
    while Instant::now() < until {
        assert!(
            !spare.exists(),
            "{SPARE_FP}: a spare was prepared right after one failed (did the failpoint fire?)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    arm(SPARE_FP);

    // The segments in use now were created without a spare, so the thread zero-fills them in
    // place, and that fsync fails next.
    arm(FP);
    // 16 KiB entries until one is refused: past the segment's end at the latest, the thread
    // zero-fills the next segment and its fsync fails.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    let refused = loop {
        let p = payload("zero-during", n, 16 << 10);
        match write(&node, p.clone()).await {
            Ok(ok) => acked.push((ok.log_id, p)),
            Err(e) => break e,
        }
        n += 1;
        assert!(
            Instant::now() < deadline,
            "{FP}: {n} writes acknowledged with the zero-fill thread's fsync failing"
        );
        if n % 8 == 0 {
            // The thread looks at the write position every 10 ms.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert!(
        node.core().commit_log().fsync_failed(),
        "{FP}: a write was refused ({refused}) but the log does not count the failed fsync"
    );
    if let Ok(ok) = write(&node, payload("zero-after", 0, 64)).await {
        panic!(
            "{FP}: a write after the failure was acknowledged at {}",
            ok.log_id
        );
    }
    fail::remove(FP);
    fail::remove(SPARE_FP);

    let node = group.restart(node, "zero fsync: restart").await;
    assert_consistent(&node, &mut acked, before, "zero fsync: after restart").await;
    group.stop(node).await;
}

/// 2c. Under SYNC_FLUSH a spare segment that cannot be created (`commitlog::spare_create`,
///    standing for a disk too full to reserve one more segment) is only left out: the node
///    keeps acknowledging, its rolls create their segments as they would without a spare, and
///    everything acknowledged survives a restart. Nothing is refused, so point 1 of the
///    module's list has nothing to check here.
async fn spare_cannot_be_created() {
    const FP: &str = "commitlog::spare_create";
    let mut group = Group::new(FlushMode::Sync, 1 << 20);
    arm(FP);
    let node = group.start_leader("spare create: first start").await;
    let mut acked = Vec::new();
    write_acked(&node, &mut acked, "spare-create-before", 20, 256).await;
    let before = digest_of(&node, &acked, "spare create: before the rolls");
    let spare = spare_path(&node);
    // Idle long enough for the thread to fill the current segment and try a spare (an idle
    // node has one about a second after its last write; `zero_fill_fsync_fails` waits for it).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        !spare.exists(),
        "{FP}: a spare exists although it cannot be created"
    );
    let segments = group.segment_files();
    // 16 KiB entries: 2.3 MiB, past two rolls of 1 MiB segments.
    write_acked(&node, &mut acked, "spare-create", 150, 16 << 10).await;
    assert!(
        group.segment_files() >= segments + 2,
        "{FP}: {} segment files after two rolls, {segments} before",
        group.segment_files()
    );
    assert!(
        !node.core().commit_log().fsync_failed(),
        "{FP}: a spare that could not be created stopped the log"
    );
    assert!(!spare.exists(), "{FP}: a spare file was left behind");
    fail::remove(FP);

    let node = group.restart(node, "spare create: restart").await;
    assert_consistent(&node, &mut acked, before, "spare create: after restart").await;
    group.stop(node).await;
}

/// 3. When a new segment cannot be created (`commitlog::roll`) or its directory entry cannot be
///    made durable (`commitlog::sync_dir`), the write that needed it is not acknowledged and no
///    segment file is left; the writes that still fitted in the current segment are
///    acknowledged, and all of them survive the restart, after which the log rolls normally.
async fn roll_fails(fp: &'static str) {
    const SEGMENT: u64 = 64 << 10;
    const LEN: usize = 1000;
    let mut group = Group::new(FlushMode::Sync, SEGMENT);
    let node = group.start_leader("roll: first start").await;
    let mut acked = Vec::new();
    write_acked(&node, &mut acked, "roll-before", 20, LEN).await;
    let before = digest_of(&node, &acked, "roll: before the failure");
    assert_eq!(
        group.segment_files(),
        1,
        "roll: 20 KiB of entries should still fit in the first 64 KiB segment"
    );

    arm(fp);
    // 64 KiB holds about 63 records of 1 KiB: the segment fills up well before 100 writes.
    let mut fitted = 0;
    let mut failed = None;
    for i in 0..100 {
        let p = payload("roll-armed", i, LEN);
        match write(&node, p.clone()).await {
            Ok(ok) => {
                acked.push((ok.log_id, p));
                fitted += 1;
            }
            Err(e) => {
                failed = Some((p, Err(e)));
                break;
            }
        }
    }
    let Some((failed, result)) = failed else {
        panic!("roll: 100 writes of {LEN} bytes were all acknowledged with {fp} armed; the log never needed a new segment or the failpoint is not on the roll path");
    };
    assert!(
        fitted > 0,
        "roll: the first write after arming {fp} failed although it fit in the current segment"
    );
    assert_not_acked_and_reported(&node, fp, result).await;
    assert_eq!(
        group.segment_files(),
        1,
        "roll: a segment file was created although {fp} failed"
    );
    fail::remove(fp);

    let node = group.restart(node, "roll: restart").await;
    assert_consistent(&node, &mut acked, before, "roll: after restart").await;
    report_survivor(&node, fp, &failed);
    // The log must now roll past the segment whose roll failed.
    write_acked(&node, &mut acked, "roll-after", 80, LEN).await;
    assert!(
        group.segment_files() >= 2,
        "roll: {} segment file(s) after writing 80 KiB more into 64 KiB segments",
        group.segment_files()
    );
    let node = group.restart(node, "roll: second restart").await;
    assert_consistent(&node, &mut acked, before, "roll: after rolling").await;
    group.stop(node).await;
}

/// 4. A truncation that fails leaves the log exactly as it was, in memory and after a reopen; the
///    same truncation succeeds once the failpoint is gone.
fn truncate_fails() {
    const FP: &str = "commitlog::truncate";
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = CommitLogConfig {
        dir: dir.path().join("commitlog"),
        checkpoint_path: dir.path().join("checkpoint"),
        // Small segments, so the truncated range spans several of them.
        segment_size: 4096,
        flush: ASYNC,
    };
    let open = || CommitLog::open(cfg.clone()).expect("truncate: open the commit log");
    let log = open();
    for index in 0..40 {
        let p = payload("truncate", index as usize, 300);
        log.append(&[(record_meta(1, index), &[&p[..]])])
            .unwrap_or_else(|e| panic!("truncate: append {index}: {e}"));
    }
    let snapshot = |log: &CommitLog, when: &str| {
        let last = log
            .last_index()
            .unwrap_or_else(|| panic!("truncate: the log is empty {when}"));
        let digest = log
            .digest(0, last)
            .unwrap_or_else(|e| panic!("truncate: digest {when}: {e}"));
        (last, log.last_meta(), log.max_offset(), digest)
    };
    let before = snapshot(&log, "before the failure");
    assert_eq!(before.0, 39, "truncate: 40 appends should end at index 39");
    assert!(
        log.segment_files().len() > 2,
        "truncate: expected the 40 records to span several 4 KiB segments"
    );

    arm(FP);
    match log.truncate_from(10) {
        Err(StoreError::Injected(name)) => assert_eq!(
            name, FP,
            "truncate: the injected error names the wrong failpoint"
        ),
        Err(e) => panic!("truncate: expected StoreError::Injected({FP:?}), got {e}"),
        Ok(()) => panic!("truncate: truncate_from returned Ok with {FP} armed"),
    }
    assert_eq!(
        snapshot(&log, "after the failed truncation"),
        before,
        "truncate: a failed truncate_from changed the log (last index, last meta, max offset, digest)"
    );
    for index in 0..40 {
        let rec = log
            .read(index)
            .unwrap_or_else(|e| panic!("truncate: read {index} after the failure: {e}"));
        let rec = rec.unwrap_or_else(|| panic!("truncate: record {index} vanished"));
        assert!(
            rec.payload == payload("truncate", index as usize, 300),
            "truncate: payload of record {index} changed after the failed truncation"
        );
    }
    fail::remove(FP);

    drop(log);
    let log = open();
    assert_eq!(
        snapshot(&log, "after reopening"),
        before,
        "truncate: reopening after a failed truncation changed the log"
    );
    let prefix = log
        .digest(0, 9)
        .unwrap_or_else(|e| panic!("truncate: digest of the prefix: {e}"));
    log.truncate_from(10)
        .unwrap_or_else(|e| panic!("truncate: truncate_from(10) without the failpoint: {e}"));
    assert_eq!(
        log.last_index(),
        Some(9),
        "truncate: wrong end after truncation"
    );
    for index in 10..15 {
        let p = payload("truncate-after", index as usize, 300);
        log.append(&[(record_meta(2, index), &[&p[..]])])
            .unwrap_or_else(|e| panic!("truncate: append {index} after truncation: {e}"));
    }
    drop(log);
    let log = open();
    assert_eq!(
        log.last_index(),
        Some(14),
        "truncate: wrong end after reopening"
    );
    assert_eq!(
        log.digest(0, 9).ok(),
        Some(prefix),
        "truncate: the kept prefix changed"
    );
    log.digest(0, 14)
        .unwrap_or_else(|e| panic!("truncate: digest of the whole log after reopening: {e}"));
    for index in 10..15 {
        let rec = log.read(index).ok().flatten();
        assert!(
            rec.is_some_and(
                |r| r.meta.term == 2 && r.payload == payload("truncate-after", index as usize, 300)
            ),
            "truncate: record {index} written after the truncation is not readable intact"
        );
    }
}

/// 5. A node that cannot persist its vote never becomes leader: neither through the election
///    `initialize` starts on a fresh group nor through the election driver after a restart.
///    Once the vote can be saved it elects itself and acknowledges writes.
///
///    A node that was already leader does not vote again after a restart: openraft restores it
///    as leader of its committed term, so the failpoint cannot bite there.
async fn save_vote_fails() {
    const FP: &str = "raft::save_vote";
    const REFUSE_FOR: Duration = Duration::from_millis(2500);
    let mut group = Group::new(FlushMode::Sync, 1 << 20);

    arm(FP);
    // Today `start` returns a node whose Raft core has already stopped; refusing to start is
    // as good, provided the error says why.
    match RaftNode::start(group.config()).await {
        Ok(node) => {
            assert_never_leader(&node, REFUSE_FOR, "save_vote: fresh group").await;
            let result = write(&node, payload("vote-failed", 0, 64)).await;
            assert_not_acked_and_reported(&node, FP, result).await;
            group.stop(node).await;
        }
        Err(e) => assert!(
            e.to_string().contains(FP),
            "save_vote: the fresh group refused to start without naming {FP}: {e}"
        ),
    }

    // Still armed: the restarted node holds the group's first entry but no vote, so the
    // election driver (pre-vote, then a real election) is what fails now.
    let node = group.start("save_vote: restart, still armed").await;
    assert_never_leader(&node, REFUSE_FOR, "save_vote: restart, still armed").await;
    let result = write(&node, payload("vote-failed", 1, 64)).await;
    assert_not_acked_and_reported(&node, FP, result).await;
    fail::remove(FP);

    let node = group.restart_leader(node, "save_vote: restart").await;
    let mut acked = Vec::new();
    write_acked(&node, &mut acked, "vote-first", 10, 64).await;
    let before = digest_of(&node, &acked, "save_vote: after the first election");
    let node = group.restart(node, "save_vote: second restart").await;
    assert_consistent(&node, &mut acked, before, "save_vote: after restart").await;
    group.stop(node).await;
}

// ---------------------------------------------------------------------------------------------
// A single-node group and its checks.

/// One single-node Raft group on its own directories; every restart reuses them.
struct Group {
    dir: TempDir,
    addr: String,
    flush: FlushMode,
    segment_size: u64,
}

impl Group {
    fn new(flush: FlushMode, segment_size: u64) -> Group {
        Group {
            dir: tempfile::tempdir().expect("tempdir"),
            addr: free_addr(),
            flush,
            segment_size,
        }
    }

    fn config(&self) -> RaftNodeConfig {
        // Settings these scenarios do not care about come from the broker defaults, with
        // retention kept from deleting segments while a scenario counts them.
        let peers = BTreeMap::from([(0, self.addr.clone())]);
        RaftNodeConfig {
            segment_size: self.segment_size,
            consume_queue_file_size: 6_000_000,
            flush: self.flush,
            snapshot_logs_since_last: 1_000_000,
            preferred_leader: None,
            write_timeout: Duration::from_secs(3),
            ..node_config(self.dir.path(), 0, &peers, "failpoints")
        }
    }

    async fn start(&self, label: &str) -> RaftNode {
        RaftNode::start(self.config())
            .await
            .unwrap_or_else(|e| panic!("{label}: RaftNode::start failed: {e}"))
    }

    async fn start_leader(&self, label: &str) -> RaftNode {
        let node = self.start(label).await;
        wait_leader(&node, label).await;
        node
    }

    /// Stops `node` (or drops it if its shutdown hangs) and starts it again on the same
    /// directories. The failpoint must already be removed.
    async fn restart(&mut self, node: RaftNode, label: &str) -> RaftNode {
        self.stop(node).await;
        self.start(label).await
    }

    async fn restart_leader(&mut self, node: RaftNode, label: &str) -> RaftNode {
        let node = self.restart(node, label).await;
        wait_leader(&node, label).await;
        node
    }

    async fn stop(&mut self, node: RaftNode) {
        if tokio::time::timeout(SHUTDOWN_WITHIN, node.shutdown())
            .await
            .is_err()
        {
            // The hung node still holds its peer port: the next start takes another one.
            eprintln!(
                "WARNING: shutdown of the node at {} hung for {SHUTDOWN_WITHIN:?}; dropped it",
                self.addr
            );
            self.addr = free_addr();
        }
    }

    fn segment_files(&self) -> usize {
        count_segments(&self.dir.path().join("commitlog"))
    }
}

/// The spare segment's file (`store::segment::SPARE_NAME`) in the node's CommitLog directory.
fn spare_path(node: &RaftNode) -> PathBuf {
    node.core()
        .commit_log()
        .config()
        .dir
        .join("next-segment.spare")
}

/// Segment files are named by their 20-digit start offset.
fn count_segments(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit())
                })
                .count()
        })
        .unwrap_or(0)
}

fn arm(failpoint: &str) {
    fail::cfg(failpoint, "return")
        .unwrap_or_else(|e| panic!("cannot arm failpoint {failpoint}: {e}"));
}

/// A payload that names its writer, so a misplaced entry is recognisable in a failure message.
fn payload(tag: &str, n: usize, len: usize) -> Bytes {
    let mut v = format!("{tag}-{n}-").into_bytes();
    let fill = (0..len.saturating_sub(v.len())).map(|i| (i * 7 + n * 13) as u8);
    v.extend(fill);
    Bytes::from(v)
}

fn record_meta(term: u64, index: u64) -> RecordMeta {
    RecordMeta {
        term,
        leader: 0,
        index,
        kind: KIND_RAW,
    }
}

async fn wait_leader(node: &RaftNode, label: &str) {
    let deadline = Instant::now() + ELECT_WITHIN;
    loop {
        let m = node.core().raft().metrics().borrow().clone();
        if m.state == ServerState::Leader {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{label}: no leader within {ELECT_WITHIN:?} (state {:?}, term {}, running {:?})",
                m.state, m.current_term, m.running_state
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn assert_never_leader(node: &RaftNode, period: Duration, label: &str) {
    let until = Instant::now() + period;
    while Instant::now() < until {
        let state = node.core().raft().metrics().borrow().state;
        assert_ne!(
            state,
            ServerState::Leader,
            "{label}: became leader although its vote could not be saved"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn write(node: &RaftNode, p: Bytes) -> Result<WriteOk, WriteError> {
    tokio::time::timeout(WRITE_WITHIN, node.core().write(LogCommand::Raw(p)))
        .await
        .unwrap_or(Err(WriteError::Timeout {
            millis: WRITE_WITHIN.as_millis() as u64,
        }))
}

/// Writes `count` entries that must all be acknowledged, recording them in `acked`.
async fn write_acked(
    node: &RaftNode,
    acked: &mut Vec<(LogId, Bytes)>,
    tag: &str,
    count: usize,
    len: usize,
) {
    for n in 0..count {
        let p = payload(tag, n, len);
        match write(node, p.clone()).await {
            Ok(ok) => acked.push((ok.log_id, p)),
            Err(e) => panic!("{tag}: write {n} not acknowledged: {e}"),
        }
    }
}

/// Digest of the log from its first entry up to the last acknowledged one.
fn digest_of(node: &RaftNode, acked: &[(LogId, Bytes)], label: &str) -> LogDigest {
    let first = node
        .core()
        .commit_log()
        .first_index()
        .unwrap_or_else(|| panic!("{label}: the log is empty"));
    let last = acked
        .last()
        .map(|(id, _)| id.index)
        .unwrap_or_else(|| panic!("{label}: nothing acknowledged yet"));
    node.core()
        .digest(first, last)
        .unwrap_or_else(|e| panic!("{label}: digest({first}, {last}): {e}"))
}

/// The write made with `failpoint` armed must not be Ok, a second write must not be Ok either,
/// and the failure must be reported under the failpoint's name by the write's error or by
/// openraft's running state (openraft stops on a storage error).
async fn assert_not_acked_and_reported(
    node: &RaftNode,
    failpoint: &str,
    result: Result<WriteOk, WriteError>,
) {
    let err = match result {
        Ok(ok) => panic!(
            "{failpoint}: a write was acknowledged at {} although the failpoint was armed",
            ok.log_id
        ),
        Err(e) => e,
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let stopped = loop {
        let running = node.core().raft().metrics().borrow().running_state.clone();
        if let Err(fatal) = running {
            break Some(fatal.to_string());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let report = format!("write error: {err}; running state: {stopped:?}");
    assert!(
        report.contains(failpoint),
        "{failpoint}: the failure is not reported under the failpoint's name: {report}"
    );
    if let Ok(ok) = write(node, payload("after-failure", 0, 64)).await {
        panic!(
            "{failpoint}: a write after the failure was acknowledged at {} (still armed)",
            ok.log_id
        );
    }
}

/// The restarted node holds every acknowledged entry unchanged, the bytes up to the last of them
/// are identical to `before`, its committed log is contiguous and CRC-clean, and it acknowledges
/// new writes (which join `acked`).
async fn assert_consistent(
    node: &RaftNode,
    acked: &mut Vec<(LogId, Bytes)>,
    before: LogDigest,
    label: &str,
) {
    wait_leader(node, label).await;
    let core = node.core();
    // A new leader commits and applies what it recovered with its first entry of the new term.
    let deadline = Instant::now() + ELECT_WITHIN;
    let status = loop {
        let s = core.status();
        if s.applied.is_some() && s.applied == s.last_index {
            break s;
        }
        if Instant::now() > deadline {
            panic!("{label}: the recovered log is not applied: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first = status
        .first_index
        .unwrap_or_else(|| panic!("{label}: the log is empty after restart: {status:?}"));
    let last = status.applied.unwrap_or_default();

    let entries = read_all(node, first, label);
    assert_eq!(
        entries.keys().next_back().copied(),
        Some(last),
        "{label}: read_committed ends before the applied index {last}"
    );
    for (log_id, p) in acked.iter() {
        let e = entries
            .get(&log_id.index)
            .unwrap_or_else(|| panic!("{label}: acknowledged entry {log_id} is missing"));
        assert_eq!(
            e.log_id, *log_id,
            "{label}: acknowledged entry at index {} has another log id",
            log_id.index
        );
        assert_eq!(e.kind, KIND_RAW, "{label}: entry {log_id} changed kind");
        assert!(
            e.payload == *p,
            "{label}: payload of acknowledged entry {log_id} differs ({} bytes read, {} written)",
            e.payload.len(),
            p.len()
        );
    }
    let again = core
        .digest(before.from_index, before.upto_index)
        .unwrap_or_else(|e| panic!("{label}: digest of the acknowledged prefix: {e}"));
    assert_eq!(
        again, before,
        "{label}: the bytes up to the last acknowledged entry changed across the failure"
    );
    core.digest(first, last)
        .unwrap_or_else(|e| panic!("{label}: CRC-verified digest({first}, {last}): {e}"));

    let known = acked.len();
    write_acked(node, acked, &format!("{label} new"), 5, 128).await;
    let end = acked.last().map(|(id, _)| id.index).unwrap_or_default();
    let fresh = read_all(node, first, label);
    for (log_id, p) in &acked[known..] {
        assert!(
            fresh.get(&log_id.index).is_some_and(|e| e.payload == *p),
            "{label}: new entry {log_id} is not readable after its acknowledgement"
        );
    }
    core.digest(first, end)
        .unwrap_or_else(|e| panic!("{label}: digest({first}, {end}) after new writes: {e}"));
}

/// Says whether the write that failed survived the restart. Both outcomes are correct: it was
/// never acknowledged, so the client must treat it as unknown.
fn report_survivor(node: &RaftNode, failpoint: &str, failed: &Bytes) {
    let first = node.core().commit_log().first_index().unwrap_or_default();
    let survived = read_all(node, first, failpoint)
        .values()
        .any(|e| e.payload == *failed);
    eprintln!(
        "failpoint {failpoint}: the failed write is {} after the restart",
        if survived { "committed" } else { "absent" }
    );
}

/// Every committed entry from `first`, checking that indices are contiguous.
fn read_all(node: &RaftNode, first: u64, label: &str) -> BTreeMap<u64, ReadEntry> {
    let mut entries = BTreeMap::new();
    let mut next = first;
    loop {
        let batch = node
            .core()
            .read_committed(next, 256)
            .unwrap_or_else(|e| panic!("{label}: read_committed({next}): {e}"));
        if batch.is_empty() {
            return entries;
        }
        for e in batch {
            assert_eq!(
                e.log_id.index, next,
                "{label}: committed indices are not contiguous"
            );
            next += 1;
            entries.insert(e.log_id.index, e);
        }
    }
}
