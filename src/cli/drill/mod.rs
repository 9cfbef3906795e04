//! `ledgermq drill`: RocketMQ's failover drill, measured. Against a running cluster (as
//! `fast-try` starts it) a producer sends at a steady rate and a consumer group reads; each
//! round kills a leader's *node* with SIGKILL (or `--node nX`, or pauses it with `--pause`, or stops
//! it gracefully with SIGTERM with `--graceful`):
//! the process, so with several Raft groups per process (multi-Raft) every group member in it.
//! Round r faults the node leading group (r − 1) mod groups, so the rounds visit every group's
//! leader. It measures, per group that lost its leader, the election and registration of a new
//! one, the RTO (kill → first acknowledged send) and the catch-up (kill → the consumer has
//! everything acknowledged before the kill and has resumed), then restarts the node, waits for
//! every group to be whole and, where groups have a `preferredLeaderId`, for leadership to
//! return. At the end every acknowledged message must be in the topic (read
//! from offset 0 by a fresh group) and must have reached the consumer: a loss exits non-zero.
//! `--majority` instead stops two of three nodes: sends must fail, none may be acknowledged,
//! and the group must recover when they return.

mod ledger;
mod nodes;
mod traffic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use tokio::sync::watch;

use super::cluster::{is_whole, leaders_home, NodeSpec, NodeView, Observer};
use super::say;
use crate::client::{ClientOptions, MqAdmin};
use ledger::Ledger;
use nodes::{Process, Processes};
use traffic::TrafficConfig;

#[derive(Args, Debug)]
pub struct DrillArgs {
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    namesrv: String,
    /// The cluster's broker config files.
    #[arg(
        short = 'c',
        long = "conf",
        num_args = 1..,
        default_values = [
            "cluster-conf/dledger/broker-n0.conf",
            "cluster-conf/dledger/broker-n1.conf",
            "cluster-conf/dledger/broker-n2.conf",
        ]
    )]
    confs: Vec<PathBuf>,
    /// Where fast-try keeps pid files and logs.
    #[arg(long, env = "LEDGERMQ_RUN_DIR", default_value = "/tmp/ledgermq")]
    run_dir: PathBuf,
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Fault the process hosting this member (config file stem like `broker-n1`, or `n1`)
    /// instead of a leader's.
    #[arg(long)]
    node: Option<String>,
    /// SIGSTOP the node instead of killing it; SIGCONT at the end of the round.
    #[arg(long)]
    pause: bool,
    /// SIGTERM the node (a graceful stop, as `mqshutdown broker`) instead of killing it.
    #[arg(long, conflicts_with = "pause")]
    graceful: bool,
    /// Stop two of three nodes (the leader and one follower) instead; see the module docs.
    #[arg(long, conflicts_with_all = ["node", "pause", "graceful"])]
    majority: bool,
    /// Sends per second.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    #[arg(long, default_value = "DrillTopic")]
    topic: String,
    /// Traffic before each fault, seconds.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// How long the majority stays down with `--majority`, seconds.
    #[arg(long, default_value_t = 5)]
    outage: u64,
}

/// One round's measurements.
struct Round {
    /// The faulted process (pid file name).
    target: String,
    old_leader: String,
    new_leader: String,
    /// Kill → another node leads (Raft status); the slowest of the groups that lost their
    /// leader.
    elected: Option<Duration>,
    /// Kill → another node is registered as master (BID 0) at the name server; the slowest.
    registered: Option<Duration>,
    rto: Option<Duration>,
    catch_up: Option<Duration>,
    /// Restart → every group is led by its preferred node again (`None`: no preference set).
    returned: Option<Duration>,
}

/// Longest wait for any one step before the round counts as failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(args: DrillArgs) -> anyhow::Result<()> {
    let specs = NodeSpec::load_all(&args.confs)?;
    let admin = MqAdmin::new(ClientOptions::new(args.namesrv.clone()))?;
    let obs = Observer::new(&specs, Some(admin));
    let mut procs = Processes::new(&args.run_dir);
    wait_whole(&specs, &obs).await.context(
        "the cluster is not whole before the drill; is it running (scripts/fast-try.sh start)?",
    )?;
    let run_id = format!("{:x}", crate::time::now_ms());
    let tcfg = TrafficConfig {
        namesrv: args.namesrv.clone(),
        topic: args.topic.clone(),
        run_id: run_id.clone(),
        rate: args.rate,
        retry_timeout: if args.majority {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(15)
        },
    };
    let ledger = Arc::new(Ledger::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (consumer, stream) = traffic::start_consumer(&tcfg, &format!("drill_{run_id}")).await?;
    let deliveries = traffic::record_deliveries(run_id.clone(), stream, ledger.clone());
    let producer = traffic::start_producer(&tcfg, ledger.clone(), stop_rx)?;
    say(format!(
        "drill {run_id}: {} msgs/s to {} through {}; {} node(s); run dir {}",
        args.rate,
        args.topic,
        args.namesrv,
        specs.len(),
        args.run_dir.display()
    ));

    let outcome = {
        let drill = async {
            if args.majority {
                majority(&args, &specs, &obs, &mut procs, &ledger).await
            } else {
                rounds(&args, &specs, &obs, &mut procs, &ledger).await
            }
        };
        tokio::select! {
            r = drill => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    };
    if outcome.is_err() {
        // Interrupted or failed mid-round: give the cluster back whole before reporting.
        if let Err(e) = procs.heal_all() {
            say(format!("could not heal every faulted node: {e:#}"));
        }
    }

    say("draining: stopping the producer and waiting for the consumer".to_string());
    let _ = stop_tx.send(true);
    let _ = producer.await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ledger.all_received() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.shutdown().await;
    let _ = deliveries.await;
    traffic::final_read(&tcfg, &ledger, Duration::from_secs(60)).await?;
    let totals = ledger.totals();
    // The loss verdict stands even for an interrupted drill: what was acknowledged so far
    // must all be there.
    report(outcome.as_deref().unwrap_or_default(), &totals);
    if !totals.lost.is_empty() || !totals.undelivered.is_empty() {
        bail!(
            "{} acknowledged message(s) lost, {} never delivered to the consumer",
            totals.lost.len(),
            totals.undelivered.len()
        );
    }
    let rounds = outcome?;
    if !args.majority && rounds.iter().any(|r| r.rto.is_none()) {
        bail!("a round did not recover within {STEP_TIMEOUT:?}");
    }
    Ok(())
}

async fn wait_whole(specs: &[NodeSpec], obs: &Observer) -> anyhow::Result<Vec<NodeView>> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let views = obs.observe(specs).await;
        if is_whole(&views, true) {
            return Ok(views);
        }
        if Instant::now() > deadline {
            for line in super::cluster::table(&views) {
                say(line);
            }
            bail!("the group is not whole after {STEP_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn leader_of(views: &[NodeView]) -> Option<&NodeView> {
    views.iter().find(|v| v.is_leader())
}

fn node_label(v: &NodeView) -> String {
    format!("{} (n{})", v.spec.name, v.spec.node_id)
}

/// "RaftNode00 n0, RaftNode01 n1" for the groups' leaders among `views`.
fn leader_list(views: &[NodeView]) -> String {
    let l = super::cluster::leaders(views);
    if l.is_empty() {
        return "-".into();
    }
    l.iter()
        .map(|(g, n)| format!("{g} n{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The member whose process round `round` faults: `--node`, else the leader of group
/// (round − 1) mod groups.
fn round_target<'a>(
    args: &DrillArgs,
    views: &'a [NodeView],
    round: u32,
) -> anyhow::Result<&'a NodeView> {
    if let Some(n) = &args.node {
        return views
            .iter()
            .find(|v| v.spec.name == *n || format!("n{}", v.spec.node_id) == *n)
            .with_context(|| format!("--node {n} is not among the config files"));
    }
    let groups: std::collections::BTreeSet<&str> =
        views.iter().map(|v| v.spec.broker_name.as_str()).collect();
    let groups: Vec<&str> = groups.into_iter().collect();
    let g = groups
        .get((round as usize - 1) % groups.len().max(1))
        .context("no broker group in the config files")?;
    views
        .iter()
        .find(|v| v.is_leader() && v.spec.broker_name == *g)
        .or_else(|| leader_of(views))
        .context("no leader to fault")
}

async fn rounds(
    args: &DrillArgs,
    specs: &[NodeSpec],
    obs: &Observer,
    procs: &mut Processes,
    ledger: &Arc<Ledger>,
) -> anyhow::Result<Vec<Round>> {
    let mut out = Vec::new();
    for round in 1..=args.rounds {
        wait_whole(specs, obs).await?;
        tokio::time::sleep(Duration::from_secs(args.warmup)).await;
        let views = obs.observe(specs).await;
        let old_leader = leader_list(&views);
        let member = round_target(args, &views, round)?.spec.clone();
        let target = procs.find(&member)?;
        // The groups whose leader this fault takes away.
        let lost: Vec<String> = views
            .iter()
            .filter(|v| v.is_leader() && target.hosts(&v.spec))
            .map(|v| v.spec.broker_name.clone())
            .collect();
        let t0 = Instant::now();
        if args.pause {
            procs.pause(&target)?;
        } else if args.graceful {
            procs.stop(&target)?;
        } else {
            procs.kill(&target)?;
        }
        // Watched side by side: each time is when its own condition first held.
        let (takeovers, rto, catch_up) = tokio::join!(
            watch_takeover(specs, obs, &target, &lost, t0),
            wait_for(|| ledger.first_ack_after(t0).map(|a| a - t0)),
            wait_for(|| ledger.caught_up_with(t0).then(|| t0.elapsed())),
        );
        let after = obs.observe(specs).await;
        let new_leader = leader_list(&after);
        if args.pause {
            procs.resume(&target)?;
        } else {
            procs.restart(&target)?;
        }
        let back = Instant::now();
        let returned = if specs.iter().any(|s| s.preferred_leader.is_some()) {
            wait_until(specs, obs, leaders_home)
                .await
                .map(|_| back.elapsed())
        } else {
            None
        };
        let slowest = |f: fn(&Takeover) -> Option<Duration>| -> Option<Duration> {
            takeovers
                .iter()
                .map(f)
                .try_fold(Duration::ZERO, |m, d| d.map(|d| m.max(d)))
                .filter(|_| !takeovers.is_empty())
        };
        let r = Round {
            target: format!("{} ({} member(s))", target.name, target.confs.len()),
            old_leader,
            new_leader,
            elected: slowest(|t| t.elected),
            registered: slowest(|t| t.registered),
            rto,
            catch_up,
            returned,
        };
        let t = ledger.totals();
        let per_group: Vec<String> = takeovers
            .iter()
            .map(|t| {
                format!(
                    "{} elected {} registered {}",
                    t.group,
                    secs(t.elected),
                    secs(t.registered)
                )
            })
            .collect();
        say(format!(
            "round {round}/{}: {} {}: leaders {} -> {}; {}; RTO {}; catch-up {}; {}sent {} ok {} failed {}",
            args.rounds,
            if args.pause {
                "paused"
            } else if args.graceful {
                "stopped"
            } else {
                "killed"
            },
            r.target,
            r.old_leader,
            r.new_leader,
            if per_group.is_empty() { "no leader lost".to_string() } else { per_group.join(", ") },
            secs(r.rto),
            secs(r.catch_up),
            r.returned
                .map(|d| format!("leadership back {:.3} s after the restart; ", d.as_secs_f64()))
                .unwrap_or_default(),
            t.sent,
            t.acked,
            t.failed
        ));
        out.push(r);
    }
    wait_whole(specs, obs).await?;
    Ok(out)
}

/// One group's takeover after a fault on its leader's node.
struct Takeover {
    group: String,
    /// Fault → a member outside the faulted process leads.
    elected: Option<Duration>,
    /// Fault → that member is registered as master (BID 0).
    registered: Option<Duration>,
}

/// Watches the takeover of each group in `lost` after a fault on `target`: when a member
/// outside the faulted process leads it, and when the name server has it as master. Splits
/// the RTO into election, registration and client time.
async fn watch_takeover(
    specs: &[NodeSpec],
    obs: &Observer,
    target: &Process,
    lost: &[String],
    t0: Instant,
) -> Vec<Takeover> {
    let mut out: Vec<Takeover> = lost
        .iter()
        .map(|g| Takeover {
            group: g.clone(),
            elected: None,
            registered: None,
        })
        .collect();
    let deadline = t0 + STEP_TIMEOUT;
    // The target is down or paused: asking it would only add its timeout to every poll.
    let others: Vec<NodeSpec> = specs.iter().filter(|s| !target.hosts(s)).cloned().collect();
    while out.iter().any(|t| t.registered.is_none()) && Instant::now() < deadline {
        let views = obs.observe(&others).await;
        for t in out.iter_mut() {
            let new = views
                .iter()
                .find(|v| v.is_leader() && v.spec.broker_name == t.group);
            if let Some(v) = new {
                t.elected.get_or_insert_with(|| t0.elapsed());
                if v.registered_id == Some(0) && t.registered.is_none() {
                    t.registered = Some(t0.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out
}

/// Polls the cluster every 50 ms until `cond` holds, for at most [`STEP_TIMEOUT`].
async fn wait_until(
    specs: &[NodeSpec],
    obs: &Observer,
    cond: fn(&[NodeView]) -> bool,
) -> Option<()> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while Instant::now() < deadline {
        if cond(&obs.observe(specs).await) {
            return Some(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Stops the leader and one follower for `--outage` seconds: no send may be acknowledged
/// meanwhile; then restarts them and measures the recovery.
async fn majority(
    args: &DrillArgs,
    specs: &[NodeSpec],
    obs: &Observer,
    procs: &mut Processes,
    ledger: &Arc<Ledger>,
) -> anyhow::Result<Vec<Round>> {
    let views = wait_whole(specs, obs).await?;
    if views.len() < 3 {
        bail!("--majority needs a group of three nodes");
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let views = obs.observe(specs).await;
    let leader = leader_of(&views).context("no leader")?.spec.clone();
    let follower = views
        .iter()
        .find(|v| v.spec.name != leader.name && v.spec.broker_name == leader.broker_name)
        .context("no follower of the leader's group")?
        .spec
        .clone();
    let (leader, follower) = (procs.find(&leader)?, procs.find(&follower)?);
    if leader.name == follower.name {
        bail!("--majority needs the group's members in different processes");
    }
    let t0 = Instant::now();
    procs.kill(&leader)?;
    procs.kill(&follower)?;
    say(format!(
        "majority: killed {} (leader) and {}; keeping them down {} s",
        leader.name, follower.name, args.outage
    ));
    tokio::time::sleep(Duration::from_secs(args.outage)).await;
    let down_until = Instant::now();
    // Answers to sends committed just before the kill may arrive in the first moments.
    let acked_while_down = ledger.acks_between(t0 + Duration::from_secs(1), down_until);
    let views = obs.observe(specs).await;
    let leaders: Vec<String> = views
        .iter()
        .filter(|v| v.is_leader())
        .map(node_label)
        .collect();
    say(format!(
        "majority: while down, {acked_while_down} send(s) acknowledged, leaders {leaders:?}; \
         sends failed with: {:?}",
        ledger.failures_since(t0, 3)
    ));
    procs.restart(&leader)?;
    procs.restart(&follower)?;
    let recovered = wait_for(|| ledger.first_ack_after(down_until).map(|a| a - down_until)).await;
    wait_whole(specs, obs).await?;
    say(format!(
        "majority: recovered {} after the restart",
        secs(recovered)
    ));
    if acked_while_down > 0 || !leaders.is_empty() {
        bail!("a group without a quorum acknowledged sends or kept a leader");
    }
    if recovered.is_none() {
        bail!("no send was acknowledged within {STEP_TIMEOUT:?} of the restart");
    }
    Ok(Vec::new())
}

/// Polls `f` every 5 ms until it yields, for at most [`STEP_TIMEOUT`].
async fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(
        || format!("> {} s", STEP_TIMEOUT.as_secs()),
        |d| format!("{:.3} s", d.as_secs_f64()),
    )
}

/// The value at quantile `q` (nearest rank) of `sorted`.
fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn report(rounds: &[Round], t: &ledger::Totals) {
    if !rounds.is_empty() {
        say(format!(
            "{:<6} {:<24} {:<18} {:<18} {:>9} {:>11} {:>9} {:>10}",
            "#Round",
            "#Target",
            "#OldLeader",
            "#NewLeader",
            "#Elected",
            "#Registered",
            "#RTO",
            "#CatchUp"
        ));
        for (i, r) in rounds.iter().enumerate() {
            say(format!(
                "{:<6} {:<24} {:<18} {:<18} {:>9} {:>11} {:>9} {:>10}",
                i + 1,
                r.target,
                r.old_leader,
                r.new_leader,
                secs(r.elected),
                secs(r.registered),
                secs(r.rto),
                secs(r.catch_up)
            ));
        }
        for (name, values) in [
            (
                "elected",
                rounds.iter().map(|r| r.elected).collect::<Vec<_>>(),
            ),
            ("registered", rounds.iter().map(|r| r.registered).collect()),
            ("RTO", rounds.iter().map(|r| r.rto).collect()),
            ("catch-up", rounds.iter().map(|r| r.catch_up).collect()),
            (
                "leadership back after the restart",
                rounds.iter().map(|r| r.returned).collect(),
            ),
        ] {
            if name.starts_with("leadership") && values.iter().all(Option::is_none) {
                continue;
            }
            let mut v: Vec<Duration> = values.iter().flatten().copied().collect();
            v.sort();
            say(format!(
                "{name}: p50 {} p99 {} max {} ({} of {} rounds recovered)",
                secs(quantile(&v, 0.5)),
                secs(quantile(&v, 0.99)),
                secs(v.last().copied()),
                v.len(),
                rounds.len()
            ));
        }
    }
    say(format!(
        "sent {} acknowledged {} failed {} pending {}; consumed {} distinct ({} redelivered); \
         duplicates in the log {}; failed-but-stored {}; lost {}; undelivered {}",
        t.sent,
        t.acked,
        t.failed,
        t.pending,
        t.received,
        t.redelivered,
        t.duplicated.len(),
        t.failed_but_stored,
        t.lost.len(),
        t.undelivered.len()
    ));
    if !t.lost.is_empty() {
        say(format!(
            "LOST (acknowledged, not in the topic): e.g. seq {:?}",
            &t.lost[..t.lost.len().min(10)]
        ));
    }
    if !t.undelivered.is_empty() {
        say(format!(
            "UNDELIVERED (in the topic, never consumed): e.g. seq {:?}",
            &t.undelivered[..t.undelivered.len().min(10)]
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let ms = |v: u64| Duration::from_millis(v);
        let v: Vec<Duration> = (1..=20).map(|i| ms(i * 100)).collect();
        assert_eq!(quantile(&v, 0.5), Some(ms(1000)));
        assert_eq!(quantile(&v, 0.99), Some(ms(2000)));
        assert_eq!(quantile(&[ms(7)], 0.99), Some(ms(7)));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
