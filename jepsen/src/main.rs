//! `jepsen`: the command line of LedgerMQ's fault-injection suite (`anyhow` lives only here).
//!
//! ```text
//! jepsen test --nemesis partition-leader,kill --time-limit 60 --rate 200
//! jepsen test --scenario smoke
//! jepsen scenarios
//! jepsen check /var/tmp/ledgermq-jepsen/latest
//! jepsen sweep
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use jepsen::nemesis::{schedule, Fault, Timing};
use jepsen::runner::{self, RunConfig};
use jepsen::workload::WorkloadConfig;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[derive(Parser)]
#[command(
    name = "jepsen",
    about = "Jepsen-style partition tests for LedgerMQ (needs root)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one test: build the network, run the cluster under faults, check, report.
    Test(Box<TestArgs>),
    /// List the named scenarios.
    Scenarios,
    /// Check a recorded history again (a run directory or a history.jsonl).
    Check {
        path: PathBuf,
        /// Also write the timeline page for it to this file (the run's own page is left as
        /// it was).
        #[arg(long)]
        timeline: Option<PathBuf>,
    },
    /// Remove the namespaces and processes of crashed earlier runs.
    Sweep,
}

#[derive(Args, Clone)]
struct TestArgs {
    /// A named schedule (see `jepsen scenarios`); flags below override its workload settings.
    #[arg(long)]
    scenario: Option<String>,
    /// Faults to schedule, comma-separated (`mixed` = all), when no scenario is given.
    #[arg(long, default_value = "partition-leader,kill")]
    nemesis: String,
    /// Length of the fault phase, seconds (without a scenario).
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Fault length range, seconds, `MIN-MAX` (without a scenario).
    #[arg(long, default_value = "5-20")]
    fault_duration: String,
    /// Healthy gap before each fault, seconds, `MIN-MAX` (without a scenario).
    #[arg(long, default_value = "5-20")]
    fault_gap: String,
    /// Sends per second, all producers together.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    #[arg(long, default_value_t = 5)]
    producers: usize,
    /// Fraction of sends (0-1) that ask for a scheduled delivery: delay level 1 (1 s) or 2
    /// (5 s), or a delivery time 0.2-3 s ahead. The checker then also reports a delayed
    /// message read before its due time (`early`); a lost one is `lost` as any other.
    #[arg(long, default_value_t = 0.0)]
    delay_mix: f64,
    #[arg(long, default_value_t = 3)]
    consumers: usize,
    /// Queues of the test topic (in each group).
    #[arg(long, default_value_t = 8)]
    queues: u32,
    /// Raft groups on the three nodes (multi-Raft: one process per node hosts a member of
    /// each; group g prefers node g mod 3 as its leader). Faults that name "the leader" pick
    /// a random group's leader; kill faults take every member of the node.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    groups: u32,
    /// Client timeout of one send or pull, ms.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Seconds of load after the final heal.
    #[arg(long, default_value_t = 10)]
    recovery: u64,
    /// Fixes the schedule and the workload's random choices (default: random, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run directories go under this one.
    #[arg(long, default_value = "/var/tmp/ledgermq-jepsen")]
    out: PathBuf,
    /// The ledgermq binary (default: beside this one, built first when run through cargo).
    #[arg(long)]
    ledgermq: Option<PathBuf>,
    /// Run the brokers with the TEST-ONLY unsafeAckBeforeCommit=true (expect lost writes).
    #[arg(long)]
    unsafe_ack_before_commit: bool,
    /// What a passing run must say: `valid` (default) or `invalid` (the unsafe self-test).
    #[arg(long)]
    expect: Option<String>,
}

fn range(s: &str) -> anyhow::Result<(Duration, Duration)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u64 = a
        .trim()
        .parse()
        .with_context(|| format!("bad range {s:?}"))?;
    let b: u64 = b
        .trim()
        .parse()
        .with_context(|| format!("bad range {s:?}"))?;
    if b < a {
        bail!("bad range {s:?}: the maximum is below the minimum");
    }
    Ok((Duration::from_secs(a), Duration::from_secs(b)))
}

/// The ledgermq binary: the flag, `LEDGERMQ_BIN`, or the one beside this executable — built
/// first with the same profile when we were started by `cargo run` (cargo sets `CARGO`).
fn ledgermq_bin(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit.or_else(|| std::env::var_os("LEDGERMQ_BIN").map(PathBuf::from)) {
        return Ok(p);
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let dir = exe.parent().context("executable without a directory")?;
    let bin = dir.join("ledgermq");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let target = dir
            .parent()
            .context("executable outside a target directory")?;
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--quiet", "--bin", "ledgermq", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(target);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        println!(
            "[  prep ] building the broker: cargo build --bin ledgermq ({})",
            dir.display()
        );
        let status = cmd.status().context("cannot run cargo to build ledgermq")?;
        if !status.success() {
            bail!("building ledgermq failed");
        }
    }
    Ok(bin)
}

fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let seed = args
        .seed
        .unwrap_or_else(|| u64::from(rand::random::<u32>()));
    let mut rng = StdRng::seed_from_u64(seed);
    let (name, steps, unsafe_ack, expect_valid, mut replay) = match &args.scenario {
        Some(n) => {
            let Some(s) = jepsen::scenario::find(n) else {
                bail!("unknown scenario {n:?}; `jepsen scenarios` lists them");
            };
            let replay = format!("cargo run -p jepsen --release -- test --scenario {n}");
            (
                s.name.to_string(),
                s.steps(&mut rng),
                s.unsafe_ack,
                s.expect_valid,
                replay,
            )
        }
        None => {
            let faults = Fault::parse_list(&args.nemesis).map_err(anyhow::Error::msg)?;
            let timing = Timing {
                duration: range(&args.fault_duration)?,
                gap: range(&args.fault_gap)?,
            };
            let steps = schedule(
                &faults,
                Duration::from_secs(args.time_limit),
                &timing,
                &mut rng,
            );
            let replay = format!(
                "cargo run -p jepsen --release -- test --nemesis {} --time-limit {} --fault-duration {} --fault-gap {}",
                args.nemesis, args.time_limit, args.fault_duration, args.fault_gap
            );
            (String::from("custom"), steps, false, true, replay)
        }
    };
    let unsafe_ack = unsafe_ack || args.unsafe_ack_before_commit;
    if args.unsafe_ack_before_commit {
        replay.push_str(" --unsafe-ack-before-commit");
    }
    replay.push_str(&format!(
        " --rate {} --producers {} --consumers {} --queues {} --groups {} --timeout-ms {} --recovery {} --seed {seed}",
        args.rate, args.producers, args.consumers, args.queues, args.groups, args.timeout_ms, args.recovery
    ));
    if args.delay_mix > 0.0 {
        replay.push_str(&format!(" --delay-mix {}", args.delay_mix));
    }
    let expect_valid = match args.expect.as_deref() {
        None => expect_valid && !unsafe_ack,
        Some("valid") => true,
        Some("invalid") => false,
        Some(other) => bail!("--expect takes valid or invalid, not {other:?}"),
    };
    let plan: Vec<String> = steps
        .iter()
        .map(|s| {
            format!(
                "+{}s {} {}s",
                s.gap.as_secs(),
                s.fault,
                s.duration.as_secs()
            )
        })
        .collect();
    println!("[  prep ] {name} seed {seed}: {}", plan.join(", "));
    let cfg = RunConfig {
        name,
        steps,
        seed,
        workload: WorkloadConfig {
            topic: "jepsen".into(),
            queues: args.queues,
            groups: (0..args.groups as usize)
                .map(jepsen::cluster::group_name)
                .collect(),
            producers: args.producers,
            consumers: args.consumers,
            rate: args.rate,
            timeout: Duration::from_millis(args.timeout_ms),
            delay_mix: args.delay_mix.clamp(0.0, 1.0),
        },
        recovery: Duration::from_secs(args.recovery),
        unsafe_ack,
        out_root: args.out.clone(),
        ledgermq: PathBuf::new(),
        replay,
    };
    jepsen::topology::require_tools()?;
    jepsen::topology::require_root()?;
    let cfg = RunConfig {
        ledgermq: ledgermq_bin(args.ledgermq.clone())?,
        ..cfg
    };
    let outcome = runner::run(&cfg)?;
    println!();
    print!("{}", outcome.summary);
    if outcome.results.verdict() == jepsen::checker::Verdict::Unknown {
        println!(
            "UNKNOWN: {} scheduled fault(s) could not be applied or healed, so this run proves nothing",
            outcome.results.unapplied.len()
        );
        return Ok(ExitCode::from(3));
    }
    if outcome.results.valid == expect_valid {
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "expected {}, got {}",
            if expect_valid { "valid" } else { "invalid" },
            if outcome.results.valid {
                "valid"
            } else {
                "invalid"
            }
        );
        Ok(ExitCode::from(1))
    }
}

fn check(path: &Path, timeline: Option<&Path>) -> anyhow::Result<ExitCode> {
    let file = if path.is_dir() {
        path.join("history.jsonl")
    } else {
        path.to_path_buf()
    };
    let ops = jepsen::history::read_history(&file)?;
    let results = jepsen::checker::check(&ops);
    let dir = file.parent().unwrap_or(Path::new("."));
    let info = jepsen::report::RunInfo {
        name: "recheck",
        seed: 0,
        dir,
        replay: "(recheck of a recorded history)",
    };
    print!("{}", jepsen::report::summary(&info, &results));
    if let Some(out) = timeline {
        let page = jepsen::report::timeline::render(&info, &results, &ops);
        std::fs::write(out, page).with_context(|| format!("writing {}", out.display()))?;
        println!("timeline  {}", out.display());
    }
    Ok(if results.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ledgermq=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Test(args) => test(*args),
        Cmd::Scenarios => {
            for s in jepsen::scenario::all() {
                println!("{:<17} {}", s.name, s.about);
            }
            println!("\nrun one: cargo run -p jepsen --release -- test --scenario NAME");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check { path, timeline } => check(&path, timeline.as_deref()),
        Cmd::Sweep => jepsen::topology::sweep()
            .map_err(Into::into)
            .map(|removed| {
                println!(
                    "removed {} namespace(s) {}",
                    removed.len(),
                    removed.join(" ")
                );
                ExitCode::SUCCESS
            }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("jepsen: {e:#}");
            ExitCode::from(2)
        }
    }
}
