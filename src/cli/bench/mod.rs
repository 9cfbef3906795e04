//! `ledgermq bench raft`: starts a Raft group in this process, writes raw entries of a fixed size
//! through the leader with a fixed number in flight, and prints throughput and latency
//! percentiles. The last line is the parseable summary:
//! `raft-bench nodes=3 size=1024 inflight=64 flush=async msgs_per_s=... p50_ms=... p99_ms=...`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use openraft::ServerState;

use crate::raft::batcher::BatchLimits;
use crate::raft::retention::RetentionPolicy;
use crate::raft::{GroupRole, LogCommand, NodeCore, RaftNode, RaftNodeConfig};
use crate::store::FlushMode;

mod floor;
mod mq;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    cmd: BenchCmd,
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// Replication throughput and commit latency of a Raft group started in-process.
    Raft(RaftBench),
    /// Send throughput and latency through the RocketMQ protocol, against a running cluster.
    Produce(mq::ProduceBench),
    /// Pull throughput, reading every queue of a topic from its start.
    Consume(mq::ConsumeBench),
    /// A trivial endpoint that answers every send at once (to show the client is no bottleneck).
    Endpoint(mq::EndpointBench),
    /// The kernel's share alone: page-cache writes on every node and TCP to the followers, no
    /// Raft (what `bench raft` cannot beat on the same cores).
    Floor(floor::FloorBench),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Flush {
    Sync,
    Async,
}

#[derive(Args, Debug)]
struct RaftBench {
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Entry payload size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Writes in flight at once.
    #[arg(long, default_value_t = 64)]
    inflight: usize,
    /// Measured writes (after the warm-up).
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    #[arg(long, value_enum, default_value_t = Flush::Async)]
    flush: Flush,
    /// Unmeasured writes first.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// CommitLog segment size in MiB.
    #[arg(long, default_value_t = 1024)]
    segment_mb: u64,
    /// Group-commit proposals in flight at once.
    #[arg(long, default_value_t = BatchLimits::default().max_outstanding)]
    outstanding: usize,
    /// Where the nodes' stores go (removed afterwards).
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

impl BenchArgs {
    /// True for the protocol benchmarks, which run best on a single-threaded runtime.
    pub fn single_threaded(&self) -> bool {
        matches!(
            self.cmd,
            BenchCmd::Produce(_) | BenchCmd::Consume(_) | BenchCmd::Endpoint(_)
        )
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.cmd {
        BenchCmd::Raft(b) => raft_bench(b).await,
        BenchCmd::Produce(b) => mq::produce(b).await,
        BenchCmd::Consume(b) => mq::consume(b).await,
        BenchCmd::Endpoint(b) => mq::endpoint(b).await,
        BenchCmd::Floor(b) => floor::floor(b).await,
    }
}

async fn raft_bench(b: RaftBench) -> anyhow::Result<()> {
    if b.nodes == 0 || b.inflight == 0 {
        bail!("--nodes and --inflight must be at least 1");
    }
    let root = b.dir.join(format!("ledgermq-bench-{}", std::process::id()));
    let mut peers = BTreeMap::new();
    for id in 0..b.nodes {
        peers.insert(id, format!("127.0.0.1:{}", free_port()?));
    }
    let flush = match b.flush {
        Flush::Sync => FlushMode::Sync,
        Flush::Async => FlushMode::Async {
            interval: Duration::from_millis(500),
        },
    };
    let mut nodes = Vec::new();
    for id in 0..b.nodes {
        let dir = root.join(format!("n{id}"));
        let cfg = RaftNodeConfig {
            role: GroupRole::Voter,
            master_hint: None,
            peer_secret: None,
            node_id: id,
            peers: peers.clone(),
            group: "bench".into(),
            commit_log_dir: dir.join("commitlog"),
            checkpoint_path: dir.join("checkpoint"),
            raft_dir: dir.join("raft"),
            consume_queue_dir: dir.join("consumequeue"),
            abort_file: dir.join("abort"),
            segment_size: b.segment_mb << 20,
            consume_queue_file_size: 6_000_000,
            flush,
            heartbeat_ms: 100,
            election_timeout_ms: 800,
            snapshot_logs_since_last: 1_000_000,
            preferred_leader: None,
            write_timeout: Duration::from_secs(10),
            batch: BatchLimits {
                max_outstanding: b.outstanding,
                ..BatchLimits::default()
            },
            retention: RetentionPolicy {
                reserved: Duration::from_secs(72 * 3600),
                delete_hours: vec![4],
                max_used_ratio: 95,
                interval: Duration::from_secs(3600),
            },
        };
        nodes.push(
            RaftNode::start(cfg)
                .await
                .with_context(|| format!("starting node n{id}"))?,
        );
    }
    let result = measure(&b, &nodes).await;
    for n in nodes {
        n.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&root);
    result
}

async fn wait_for_leader(nodes: &[RaftNode]) -> anyhow::Result<Arc<NodeCore>> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        for n in nodes {
            if n.core().server_state() == ServerState::Leader {
                return Ok(n.core().clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("no leader elected within 15 s")
}

async fn measure(b: &RaftBench, nodes: &[RaftNode]) -> anyhow::Result<()> {
    let leader = wait_for_leader(nodes).await?;
    eprintln!(
        "leader n{} elected; warming up with {} writes",
        leader.id(),
        b.warmup
    );
    let payload = Bytes::from(vec![b'x'; b.size]);
    run_writes(&leader, &payload, b.warmup, b.inflight, false).await?;
    eprintln!(
        "measuring {} writes of {} bytes, {} in flight",
        b.count, b.size, b.inflight
    );
    let before = GroupCounters::read(&leader, nodes);
    let started = Instant::now();
    let hist = run_writes(&leader, &payload, b.count, b.inflight, true).await?;
    let secs = started.elapsed().as_secs_f64();
    let after = GroupCounters::read(&leader, nodes);
    let entries = after.last_index.saturating_sub(before.last_index).max(1);
    let cpu_secs = after.cpu_secs - before.cpu_secs;
    // Where the CPU goes: per entry, each follower costs one or two replication rounds
    // (see `AppendStats`), so writes per entry and rounds per entry explain most of the
    // difference between group sizes.
    eprintln!(
        "raft-bench detail: entries={entries} writes_per_entry={:.1} append_rpcs={} empty_append_rpcs={} cpu_pct={:.0} cpu_us_per_msg={:.2}",
        b.count as f64 / entries as f64,
        after.appends.0 - before.appends.0,
        after.appends.1 - before.appends.1,
        100.0 * cpu_secs / secs,
        1e6 * cpu_secs / b.count as f64,
    );
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    super::say(format_args!(
        "raft-bench nodes={} size={} inflight={} flush={} msgs_per_s={:.0} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        b.nodes,
        b.size,
        b.inflight,
        match b.flush {
            Flush::Sync => "sync",
            Flush::Async => "async",
        },
        b.count as f64 / secs,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        hist.max() as f64 / 1000.0
    ));
    Ok(())
}

/// Counters read before and after the measured writes.
struct GroupCounters {
    last_index: u64,
    /// AppendEntries received by all nodes: (with entries, empty).
    appends: (u64, u64),
    /// CPU time of this whole process (every node and the load), user + system.
    cpu_secs: f64,
}

impl GroupCounters {
    fn read(leader: &NodeCore, nodes: &[RaftNode]) -> GroupCounters {
        let appends = nodes.iter().fold((0, 0), |acc, n| {
            let (e, h) = n.core().append_stats().get();
            (acc.0 + e, acc.1 + h)
        });
        GroupCounters {
            last_index: leader.raft().metrics().borrow().last_log_index.unwrap_or(0),
            appends,
            cpu_secs: process_cpu_secs(),
        }
    }
}

/// User plus system CPU time of this process so far (0 if the kernel will not say).
fn process_cpu_secs() -> f64 {
    // SAFETY: `getrusage` only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Waits for every load task, stops the progress reporter, and merges the tasks' latency
/// histograms; the last task error, if any, is the result instead.
async fn merge_histograms(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Histogram<u64>>>>,
    reporter: Option<tokio::task::JoinHandle<()>>,
    what: &'static str,
) -> anyhow::Result<Histogram<u64>> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut failure = None;
    for t in tasks {
        match t.await.context(what)? {
            Ok(h) => hist.add(h)?,
            Err(e) => failure = Some(e),
        }
    }
    if let Some(r) = reporter {
        r.abort();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(hist),
    }
}

/// Prints `label: done/total, rate, elapsed` every second until aborted, so a long run shows
/// whether throughput is steady or collapsing.
fn spawn_progress(
    label: &'static str,
    done: Arc<AtomicU64>,
    total: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let d = done.load(Ordering::Relaxed);
            eprintln!(
                "{label}: {d}/{total}, {} msgs/s, {:.0}s",
                d - last,
                start.elapsed().as_secs_f64()
            );
            last = d;
        }
    })
}

/// Writes `count` entries with `inflight` writers; returns latencies in microseconds.
async fn run_writes(
    leader: &Arc<NodeCore>,
    payload: &Bytes,
    count: u64,
    inflight: usize,
    progress: bool,
) -> anyhow::Result<Histogram<u64>> {
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let reporter = progress.then(|| spawn_progress("written", done.clone(), count));
    let mut tasks = Vec::new();
    for _ in 0..inflight {
        let leader = leader.clone();
        let payload = payload.clone();
        let next = next.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let t = Instant::now();
                leader
                    .write(LogCommand::Raw(payload.clone()))
                    .await
                    .map_err(|e| anyhow::anyhow!("write failed: {e}"))?;
                h.saturating_record(t.elapsed().as_micros() as u64);
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(h)
        }));
    }
    merge_histograms(tasks, reporter, "writer task").await
}
