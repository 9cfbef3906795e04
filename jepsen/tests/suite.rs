//! The suite against real clusters: the smoke scenario must come back valid, and the same
//! kind of leader partition against the broker's test-only `unsafeAckBeforeCommit` must come
//! back invalid with lost writes — proof that the checker can fail.
//!
//! Both need root (network namespaces) and about a minute each, so they are `#[ignore]`d;
//! `scripts/test.sh` runs them with `--ignored` after building the `ledgermq` binary.
//!
//! The suite also fails closed: a missing tool stops it before it starts, and a fault whose
//! commands fail ends the run UNKNOWN with a non-zero exit (the last two tests).

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
    assert!(out.results.unapplied.is_empty(), "{}", out.summary);
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
        out.results.unapplied.is_empty(),
        "the partition must really have happened:\n{}",
        out.summary
    );
    assert!(
        out.results.anomaly_counts.lost > 0,
        "the checker must report lost writes:\n{}",
        out.summary
    );
}

/// A directory to put first on `PATH`: `ip` and `tc` linked to the real ones, and `iptables`
/// either absent or a wrapper that refuses to add rules (so every partition fails mid-run).
fn tool_dir(iptables: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for tool in ["ip", "tc"] {
        let real = which(tool).unwrap_or_else(|| panic!("{tool} is not installed"));
        std::os::unix::fs::symlink(real, dir.path().join(tool)).expect("symlink");
    }
    if let Some(script) = iptables {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join("iptables");
        std::fs::write(&p, script).expect("write wrapper");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    dir
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// `jepsen test` with only `dir` on `PATH`; returns (exit code, stdout + stderr).
fn jepsen_with_path(dir: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jepsen"))
        .arg("test")
        .args(extra)
        .env("PATH", dir)
        .output()
        .expect("run jepsen");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Without `iptables` no partition can be applied and no heal can flush: the suite refuses to
/// start, names the missing tool and exits non-zero, before creating anything.
#[test]
fn a_missing_tool_is_refused_before_the_run_starts() {
    let dir = tool_dir(None);
    let (code, text) = jepsen_with_path(
        dir.path(),
        &["--nemesis", "partition-leader", "--time-limit", "5"],
    );
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("`iptables`"),
        "names the missing tool: {text}"
    );
    assert!(!text.contains("VALID"), "{text}");
}

/// `iptables` is there (the tool check passes) but every rule it is asked to add fails, as
/// when a namespace vanished or the kernel lacks the table: the run must end UNKNOWN with a
/// non-zero exit and name the fault that was not applied — never VALID.
#[test]
#[ignore = "needs root and about 30 s; scripts/test.sh runs it"]
fn a_fault_that_cannot_be_applied_ends_unknown() {
    let real = which("iptables").expect("iptables is installed (apt-get install -y iptables)");
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" -A \"*) echo \"iptables: refusing to add a rule (test wrapper)\" >&2; exit 4;; esac\nexec {} \"$@\"\n",
        real.display()
    );
    let dir = tool_dir(Some(&script));
    let bin = ledgermq();
    let (code, text) = jepsen_with_path(
        dir.path(),
        &[
            "--nemesis",
            "partition-leader",
            "--time-limit",
            "4",
            "--fault-duration",
            "2",
            "--fault-gap",
            "2",
            "--recovery",
            "2",
            "--rate",
            "50",
            "--seed",
            "15",
            "--out",
            "/var/tmp/ledgermq-jepsen/tests",
            "--ledgermq",
            bin.to_str().expect("utf-8 path"),
        ],
    );
    println!("{text}");
    // An unknown run keeps its store for inspection; this one's is of no interest.
    if let Some(dir) = text.lines().find_map(|l| l.strip_prefix("run dir   ")) {
        let _ = std::fs::remove_dir_all(PathBuf::from(dir.trim()).join("store"));
    }
    assert_eq!(code, Some(3), "UNKNOWN exits 3: {text}");
    assert!(text.contains("— UNKNOWN ===="), "{text}");
    assert!(
        text.contains("fault partition-leader could not be applied"),
        "names the fault: {text}"
    );
    assert!(
        text.contains("refusing to add a rule"),
        "gives the reason: {text}"
    );
}
