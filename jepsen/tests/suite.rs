//! The suite against real clusters: the smoke scenario must come back valid, and the same
//! kind of leader partition against the broker's test-only `unsafeAckBeforeCommit` must come
//! back invalid with lost writes — proof that the checker can fail.
//!
//! Both need root (network namespaces) and about a minute each, so they are `#[ignore]`d;
//! `scripts/test.sh` runs them with `--ignored` after building the `ledgermq` binary.

use std::path::PathBuf;
use std::time::Duration;

use jepsen::runner::{run, RunConfig};
use jepsen::scenario;
use jepsen::workload::WorkloadConfig;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// `LEDGERMQ_BIN`, else the `ledgermq` binary of this target directory's profile.
fn ledgermq() -> PathBuf {
    if let Some(p) = std::env::var_os("LEDGERMQ_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/suite-<hash> → target/<profile>/ledgermq
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("ledgermq"))
        .expect("test executable inside a target directory");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --bin ledgermq` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

fn config(name: &str, seed: u64) -> RunConfig {
    let s = scenario::find(name).expect("scenario exists");
    let steps = s.steps(&mut StdRng::seed_from_u64(seed));
    RunConfig {
        name: s.name.to_string(),
        steps,
        seed,
        workload: WorkloadConfig {
            topic: "jepsen".into(),
            queues: 8,
            groups: vec![jepsen::cluster::group_name(0)],
            producers: 5,
            consumers: 3,
            rate: 200.0,
            timeout: Duration::from_secs(5),
            delay_mix: 0.0,
        },
        recovery: Duration::from_secs(10),
        unsafe_ack: s.unsafe_ack,
        out_root: PathBuf::from("/var/tmp/ledgermq-jepsen/tests"),
        ledgermq: ledgermq(),
        replay: format!("cargo run -p jepsen --release -- test --scenario {name} --seed {seed}"),
    }
}

#[test]
#[ignore = "needs root and about a minute; scripts/test.sh runs it"]
fn smoke_scenario_is_valid() {
    let out =
        run(&config("smoke", 1)).unwrap_or_else(|e| panic!("the smoke run could not run: {e}"));
    println!("{}", out.summary);
    assert!(out.results.valid, "smoke must be valid:\n{}", out.summary);
    let s = &out.results.stats;
    assert_eq!(s.faults.len(), 2, "both faults ran");
    assert!(s.sends.ok > 1000, "the cluster took load: {}", out.summary);
    assert_eq!(s.unrecovered_heals, 0, "writes resumed after every heal");
}

#[test]
#[ignore = "needs root and about a minute; scripts/test.sh runs it"]
fn unsafe_ack_before_commit_loses_acknowledged_writes() {
    let out = run(&config("unsafe-ack", 2))
        .unwrap_or_else(|e| panic!("the unsafe run could not run: {e}"));
    println!("{}", out.summary);
    assert!(
        !out.results.valid,
        "the unsafe broker must be caught:\n{}",
        out.summary
    );
    assert!(
        out.results.anomaly_counts.lost > 0,
        "the checker must report lost writes:\n{}",
        out.summary
    );
}
