//! One test run, start to finish: sweep leftovers, build the network, start the cluster, run
//! the workload while the nemesis follows its schedule, heal everything, let the cluster
//! recover under load, stop the load, wait for the nodes to converge, drain every queue on
//! every node, check the history and write the report. Teardown happens on every path out:
//! errors, panics (the topology and cluster are drop guards) and Ctrl-C/SIGTERM (the run's
//! future is dropped, then the guards run).
//!
//! The whole run lives on one thread with a single-threaded runtime: that thread enters the
//! clients' namespace, so every client socket is opened there, and it is the parent of every
//! broker process, so `PR_SET_PDEATHSIG` ties their lives to it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledgermq::client::{ClientOptions, MqAdmin};
use ledgermq::protocol::topic::TopicConfig;
use ledgermq::protocol::topic_names::AUTO_CREATE_TOPIC_KEY;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::checker::{self, Results};
use crate::cluster::{Cluster, ClusterError, ClusterOptions};
use crate::history::{Func, HistoryError, Op, OpType, Recorder};
use crate::nemesis::apply::{netem_available, Nemesis};
use crate::nemesis::Step;
use crate::report::{self, ReportError, RunInfo};
use crate::topology::{self, netns, Topology, TopologyError};
use crate::workload::{self, drain, WorkloadConfig};

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub name: String,
    pub steps: Vec<Step>,
    pub seed: u64,
    pub workload: WorkloadConfig,
    /// Load keeps running this long after the final heal (recovery is measured in it).
    pub recovery: Duration,
    pub unsafe_ack: bool,
    /// Run directories are created under this one.
    pub out_root: PathBuf,
    /// The `ledgermq` binary the nodes run.
    pub ledgermq: PathBuf,
    /// The command that replays this schedule (printed in the summary).
    pub replay: String,
}

/// A finished run.
pub struct RunOutcome {
    pub dir: PathBuf,
    pub results: Results,
    pub summary: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{0}")]
    Setup(String),
    #[error("interrupted; everything was torn down (partial history in {0})")]
    Interrupted(String),
}

/// How long the cluster may take to elect a leader, register it and create the topic.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long the nodes may take to agree again after the final heal.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

fn say(rec: Option<&Recorder>, msg: &str) {
    match rec {
        Some(r) => println!("[{:>6.1}s] {msg}", r.elapsed().as_secs_f64()),
        None => println!("[  prep ] {msg}"),
    }
}

fn run_dir(root: &Path, name: &str, run_id: &str) -> Result<PathBuf, RunError> {
    let stamp = ledgermq::time::now_ms() / 1000;
    let dir = root.join(format!("{stamp}-{name}-{run_id}"));
    std::fs::create_dir_all(&dir)
        .map_err(|e| RunError::Setup(format!("{}: {e}", dir.display())))?;
    let latest = root.join("latest");
    let _ = std::fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(&dir, &latest);
    Ok(dir)
}

/// Runs one test and writes its report. Errors mean the test could not run; an invalid
/// history is a normal outcome (`results.valid == false`).
pub fn run(cfg: &RunConfig) -> Result<RunOutcome, RunError> {
    topology::require_tools()?;
    topology::require_root()?;
    if !cfg.ledgermq.is_file() {
        return Err(RunError::Setup(format!(
            "no ledgermq binary at {}; build it with `cargo build --release --bin ledgermq` or pass --ledgermq",
            cfg.ledgermq.display()
        )));
    }
    let removed = topology::sweep()?;
    if !removed.is_empty() {
        say(
            None,
            &format!("removed leftovers of a crashed run: {}", removed.join(" ")),
        );
    }
    let run_id = topology::new_run_id();
    let dir = run_dir(&cfg.out_root, &cfg.name, &run_id)?;
    say(None, &format!("run {} in {}", run_id, dir.display()));
    let mut topo = Topology::create(&run_id, 3)?;
    let addrs: Vec<String> = topo
        .hosts
        .iter()
        .map(|h| format!("{} {}", h.name, h.ip))
        .collect();
    say(
        None,
        &format!("network up and verified: {}", addrs.join(", ")),
    );
    let rec = Recorder::to_file(&dir.join("history.jsonl"))?;
    let client_ns = topo
        .host("c")
        .map(|h| h.netns.clone())
        .ok_or_else(|| RunError::Setup("no client host".into()))?;
    let driven = {
        let _inside = netns::Entered::enter(&client_ns)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RunError::Setup(format!("tokio runtime: {e}")))?;
        let history_path = dir.join("history.jsonl").display().to_string();
        rt.block_on(async {
            tokio::select! {
                r = drive(cfg, &topo, &dir, rec.clone()) => r,
                _ = interrupted() => Err(RunError::Interrupted(history_path)),
            }
        })
    };
    topo.teardown();
    if let Err(e) = rec.flush() {
        tracing::warn!(error = %e, "history file incomplete");
    }
    driven?;
    let ops = rec.ops();
    let results = checker::check(&ops);
    let info = RunInfo {
        name: &cfg.name,
        seed: cfg.seed,
        dir: &dir,
        replay: &cfg.replay,
    };
    let summary = report::write_all(&info, &results, &ops)?;
    if results.valid {
        // The stores are only worth their space when something went wrong.
        let _ = std::fs::remove_dir_all(dir.join("store"));
    }
    Ok(RunOutcome {
        dir,
        results,
        summary,
    })
}

async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn drive(
    cfg: &RunConfig,
    topo: &Topology,
    dir: &Path,
    rec: Recorder,
) -> Result<(), RunError> {
    let opts = ClusterOptions {
        unsafe_ack_before_commit: cfg.unsafe_ack,
        groups: cfg.workload.groups.len().max(1),
    };
    let mut cluster = Cluster::new(topo, &cfg.ledgermq, dir, &opts)?;
    cluster.start_all()?;
    let namesrv = cluster.namesrv_addr();
    say(
        Some(&rec),
        &format!(
            "started name server {namesrv} and nodes n0 n1 n2 hosting {} group(s){}",
            cluster.groups,
            if cfg.unsafe_ack {
                " (UNSAFE: unsafeAckBeforeCommit=true)"
            } else {
                ""
            }
        ),
    );
    let leader = match wait_ready(&cluster, &namesrv, &cfg.workload).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}", cluster.log_tails(15));
            return Err(e);
        }
    };
    say(
        Some(&rec),
        &format!(
            "cluster ready: leaders {leader}, topic {} with {} queues in each group",
            cfg.workload.topic, cfg.workload.queues
        ),
    );
    let client = topo
        .host("c")
        .ok_or_else(|| RunError::Setup("no client host".into()))?;
    let netem = netem_available(&client.netns, &client.ifname).await;
    if !netem
        && cfg
            .steps
            .iter()
            .any(|s| s.fault == crate::nemesis::Fault::Netem)
    {
        say(Some(&rec), "this kernel has no netem qdisc: the netem fault uses iptables loss and a tbf throttle instead");
    }
    let nodes: Vec<(String, String)> = (0..cluster.nodes.len())
        .map(|i| (cluster.nodes[i].name.clone(), cluster.broker_addr(i, 0)))
        .collect();
    let members: Vec<(String, Vec<String>)> = (0..cluster.nodes.len())
        .map(|i| {
            let addrs = (0..cluster.groups)
                .map(|g| cluster.broker_addr(i, g))
                .collect();
            (cluster.nodes[i].name.clone(), addrs)
        })
        .collect();
    let running = workload::start(
        cfg.workload.clone(),
        rec.clone(),
        namesrv.clone(),
        nodes,
        cfg.seed,
    );
    let active = Arc::new(Mutex::new(String::from("none")));
    let progress = tokio::spawn(progress_loop(rec.clone(), active.clone()));
    let mut nemesis = Nemesis::new(
        StdRng::seed_from_u64(cfg.seed ^ 0x6e65_6d65_7369_7300),
        netem,
    );

    for step in &cfg.steps {
        tokio::time::sleep(step.gap).await;
        let name = step.fault.name();
        rec.record(Op::new(OpType::Invoke, Func::Fault, "nemesis").value(name));
        match nemesis.start(step.fault, &mut cluster).await {
            Ok((undo, desc)) => {
                rec.record(
                    Op::new(OpType::Ok, Func::Fault, "nemesis")
                        .value(name)
                        .error(&desc),
                );
                say(Some(&rec), &format!("fault {name}: {desc}"));
                *active.lock() = format!("{name} ({desc})");
                tokio::time::sleep(step.duration).await;
                rec.record(Op::new(OpType::Invoke, Func::Heal, "nemesis").value(name));
                let healed = nemesis.heal(undo, &mut cluster).await;
                let healed = match healed {
                    Ok(what) => Op::new(OpType::Ok, Func::Heal, "nemesis")
                        .value(name)
                        .error(what),
                    Err(e) => {
                        let _ = nemesis.heal_all(&mut cluster).await;
                        Op::new(OpType::Info, Func::Heal, "nemesis")
                            .value(name)
                            .error(e)
                    }
                };
                say(
                    Some(&rec),
                    &format!("heal {name}: {}", healed.error.as_deref().unwrap_or("")),
                );
                rec.record(healed);
                *active.lock() = "none".into();
            }
            // Fail closed: the history records the fault as not applied, and the checker
            // turns that into an UNKNOWN verdict (non-zero exit) whatever else happens.
            Err(e) => {
                say(
                    Some(&rec),
                    &format!("fault {name} could NOT be applied (the run will end UNKNOWN): {e}"),
                );
                rec.record(
                    Op::new(OpType::Info, Func::Fault, "nemesis")
                        .value(name)
                        .error(&e),
                );
                rec.record(Op::new(OpType::Invoke, Func::Heal, "nemesis").value(name));
                let healed = match nemesis.heal_all(&mut cluster).await {
                    Ok(()) => Op::new(OpType::Ok, Func::Heal, "nemesis").value(name),
                    Err(e) => Op::new(OpType::Info, Func::Heal, "nemesis")
                        .value(name)
                        .error(e),
                };
                rec.record(healed);
            }
        }
    }

    rec.record(Op::new(OpType::Invoke, Func::Heal, "nemesis").value("all"));
    let healed = nemesis.heal_all(&mut cluster).await;
    let mut op = Op::new(
        if healed.is_ok() {
            OpType::Ok
        } else {
            OpType::Info
        },
        Func::Heal,
        "nemesis",
    )
    .value("all");
    if let Err(e) = healed {
        op = op.error(e);
    }
    rec.record(op);
    say(
        Some(&rec),
        &format!(
            "final heal done; load continues {} s for recovery",
            cfg.recovery.as_secs()
        ),
    );
    tokio::time::sleep(cfg.recovery).await;
    let w = running.stop().await;
    progress.abort();
    if w.cfg.delay_mix > 0.0 {
        // The last delayed sends come due up to 5 s after the load stops (delay level 2);
        // the drain must find them, or they would count as lost.
        say(
            Some(&rec),
            "waiting 7 s for the last delayed messages to come due",
        );
        tokio::time::sleep(Duration::from_secs(7)).await;
    }
    say(
        Some(&rec),
        "load stopped; waiting for the nodes to converge",
    );

    rec.record(Op::new(OpType::Invoke, Func::Converge, "nemesis"));
    let started = Instant::now();
    let mut converged = false;
    while started.elapsed() < CONVERGE_WITHIN {
        if cluster.converged().await {
            converged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = format!("{:.1} s", started.elapsed().as_secs_f64());
    if converged {
        rec.record(Op::new(OpType::Ok, Func::Converge, "nemesis").error(&took));
        say(
            Some(&rec),
            &format!("converged in {took}; draining every queue on every node"),
        );
    } else {
        rec.record(
            Op::new(OpType::Info, Func::Converge, "nemesis")
                .error(format!("not converged after {took}")),
        );
        say(
            Some(&rec),
            &format!("NOT converged after {took}; draining anyway"),
        );
    }
    drain::drain(&w, &members).await;
    say(Some(&rec), "drain done");
    cluster.shutdown();
    Ok(())
}

/// Elects and registers every group's leader and creates the topic on each; returns the
/// leaders' names (`RaftNode00 n0, ...`).
async fn wait_ready(
    cluster: &Cluster,
    namesrv: &str,
    w: &WorkloadConfig,
) -> Result<String, RunError> {
    let admin = MqAdmin::new(ClientOptions::new(namesrv.to_string()))
        .map_err(|e| RunError::Setup(e.to_string()))?;
    let deadline = Instant::now() + READY_WITHIN;
    let mut last = String::from("no leader yet");
    let mut created: std::collections::BTreeMap<String, String> = Default::default();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let route = match admin.client().fetch_route(AUTO_CREATE_TOPIC_KEY).await {
            Ok(route) => route,
            Err(e) => {
                last = format!("no group routable yet: {e}");
                continue;
            }
        };
        for group in &w.groups {
            if created.contains_key(group) {
                continue;
            }
            let Some(master) = route
                .broker_datas
                .iter()
                .filter(|b| &b.broker_name == group)
                .find_map(|b| b.master_addr().map(str::to_string))
            else {
                last = format!("group {group} has no master registered yet");
                continue;
            };
            match admin
                .create_topic(&master, &TopicConfig::new(w.topic.clone(), w.queues))
                .await
            {
                Ok(()) => {
                    let who = cluster.node_of(&master).unwrap_or(master);
                    created.insert(group.clone(), who);
                }
                Err(e) => last = format!("creating topic {} on {group}: {e}", w.topic),
            }
        }
        if created.len() < w.groups.len() {
            continue;
        }
        match admin.client().fetch_route(&w.topic).await {
            Ok(route)
                if w.groups.iter().all(|g| {
                    route
                        .broker_datas
                        .iter()
                        .any(|b| &b.broker_name == g && b.master_addr().is_some())
                }) =>
            {
                let leaders: Vec<String> =
                    created.iter().map(|(g, n)| format!("{g} {n}")).collect();
                return Ok(leaders.join(", "));
            }
            Ok(_) => last = format!("topic {} has no master in every group yet", w.topic),
            Err(e) => last = format!("route of {}: {e}", w.topic),
        }
    }
    Err(ClusterError::NotReady(last).into())
}

/// A progress line every few seconds: outcome counts so far and the active fault.
async fn progress_loop(rec: Recorder, active: Arc<Mutex<String>>) {
    let (mut ok, mut fail, mut info, mut polls, mut seen) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let (mut last_ok, mut last_t) = (0usize, 0.0f64);
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        rec.with_ops(|ops| {
            for op in &ops[seen.min(ops.len())..] {
                match (op.f, op.kind) {
                    (Func::Send, OpType::Ok) => ok += 1,
                    (Func::Send, OpType::Fail) => fail += 1,
                    (Func::Send, OpType::Info) => info += 1,
                    (Func::Poll, OpType::Ok) => polls += 1,
                    _ => {}
                }
            }
            seen = ops.len();
        });
        let t = rec.elapsed().as_secs_f64();
        let rate = (ok - last_ok) as f64 / (t - last_t).max(0.001);
        (last_ok, last_t) = (ok, t);
        let fault = active.lock().clone();
        say(
            Some(&rec),
            &format!("sends ok {ok} fail {fail} info {info} ({rate:.0} ok/s) | polls {polls} | fault: {fault}"),
        );
    }
}
