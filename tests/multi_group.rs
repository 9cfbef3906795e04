//! Several Raft groups on the same nodes (multi-Raft): the committed `dledger-3g` layout, three
//! groups on three nodes, each node ONE `ledgermq broker` process hosting its three members.
//! Kill a node (every member in it): sends keep being acknowledged by the other groups, the
//! killed node's group elects a new leader and registers it, and after the restart each node
//! leads its preferred group again; nothing acknowledged is lost. Also: the admin views and
//! `/metrics` show every group.

mod common;
#[path = "dashboard_support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::bin;
use common::layout::Layout;
use ledgermq::client::{
    ClientOptions, Consumer, ConsumerConfig, Message, MqAdmin, Producer, ProducerConfig,
    RaftAdminClient, SendStatus,
};
use ledgermq::protocol::body::ConsumeFromWhere;
use parking_lot::Mutex;
use tokio::sync::watch;

const GROUPS: [&str; 3] = ["RaftNode00", "RaftNode01", "RaftNode02"];
const TOPIC: &str = "MultiGroupTopic";

/// Polls `f` until it returns Some, or panics naming `what` (with the layout's logs).
async fn eventually<F, Fut, R>(l: &Layout, what: &str, within: Duration, mut f: F) -> R
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<R>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(r) = f().await {
            return r;
        }
        if Instant::now() > deadline {
            l.dump_logs();
            panic!("waited {within:?} for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// group → the node (`n0`..) its Raft members agree leads it, asking only running processes.
async fn leaders(l: &Layout, raft: &RaftAdminClient) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for b in l.brokers.values().filter(|b| l.is_running(&b.name)) {
        if let Ok(s) = raft.status(&b.raft_addr).await {
            if s.state == "Leader" {
                out.insert(b.broker_name.clone(), format!("n{}", s.id));
            }
        }
    }
    out
}

/// group → client address registered as its master (brokerId 0).
async fn masters(admin: &MqAdmin) -> BTreeMap<String, String> {
    let Ok(info) = admin.cluster_info().await else {
        return BTreeMap::new();
    };
    info.broker_addr_table
        .iter()
        .filter_map(|(name, bd)| bd.broker_addrs.get(&0).map(|a| (name.clone(), a.clone())))
        .collect()
}

/// Each group led by its preferred node (RaftNode0g by ng) and registered as master there.
async fn spread(l: &Layout, raft: &RaftAdminClient, admin: &MqAdmin) -> Option<()> {
    let want: BTreeMap<String, String> = GROUPS
        .iter()
        .enumerate()
        .map(|(g, name)| (name.to_string(), format!("n{g}")))
        .collect();
    if leaders(l, raft).await != want {
        return None;
    }
    let m = masters(admin).await;
    GROUPS
        .iter()
        .enumerate()
        .all(|(g, name)| m.get(*name) == Some(&l.addr(&format!("broker-n{g}-g{g}"))))
        .then_some(())
}

/// One acknowledged or failed send: when it completed, its sequence number, and the group
/// that stored it.
#[derive(Debug, Clone)]
struct Outcome {
    at: Instant,
    seq: u64,
    broker: Result<String, String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_groups_ride_out_a_node_kill_and_leadership_returns() {
    let mut l = Layout::start("dledger-3g", 41, "");
    assert_eq!(l.procs.len(), 3, "one process per node");
    assert_eq!(l.brokers.len(), 9, "three members per process");
    let raft = RaftAdminClient::new(l.brokers.values().map(|b| b.raft_addr.clone()).collect())
        .with_call_timeout(Duration::from_millis(500));
    let admin = MqAdmin::new(ClientOptions::new(l.namesrv.clone())).expect("admin");

    // A fresh cluster starts with its leaders spread: each group is formed by its preferred
    // node, so no transfer is needed.
    eventually(
        &l,
        "every group led and registered by its preferred node",
        Duration::from_secs(40),
        || spread(&l, &raft, &admin),
    )
    .await;

    // updateTopic -c creates the topic on every group's master.
    let out = Command::new(bin())
        .args([
            "mqadmin",
            "updateTopic",
            "-n",
            &l.namesrv,
            "-c",
            "RaftCluster",
            "-t",
            TOPIC,
        ])
        .args(["-r", "4", "-w", "4"])
        .output()
        .expect("mqadmin updateTopic");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let route = eventually(
        &l,
        "a route of the topic through every group",
        Duration::from_secs(10),
        || async {
            let r = admin.topic_route(TOPIC).await.ok()?;
            let names: BTreeSet<&str> = r
                .queue_datas
                .iter()
                .map(|q| q.broker_name.as_str())
                .collect();
            (names == BTreeSet::from(GROUPS)).then_some(r)
        },
    )
    .await;
    assert!(route.broker_datas.iter().all(|b| b.master_addr().is_some()));

    // A steady stream of sends, one at a time, as an application would send.
    let log: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let (stop_tx, mut stop) = watch::channel(false);
    let producer = Producer::new(
        ClientOptions::new(l.namesrv.clone()),
        ProducerConfig::new("multi_group_producer"),
    )
    .expect("producer");
    let sender = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut seq = 0u64;
            while !*stop.borrow() {
                let msg = Message::new(TOPIC, format!("mg-{seq}"));
                let broker = match producer.send(msg).await {
                    Ok(r) if r.status == SendStatus::SendOk => Ok(r.queue.broker_name.clone()),
                    Ok(r) => Err(format!("status {}", r.status)),
                    Err(e) => Err(e.to_string()),
                };
                log.lock().push(Outcome {
                    at: Instant::now(),
                    seq,
                    broker,
                });
                seq += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    _ = stop.changed() => {}
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Kill node n1: its process hosts RaftNode01's leader and followers of the other two.
    let killed_at = Instant::now();
    l.kill("broker-n1");
    let new_leader = eventually(
        &l,
        "RaftNode01 to elect a leader among n0 and n2",
        Duration::from_secs(15),
        || async { leaders(&l, &raft).await.get("RaftNode01").cloned() },
    )
    .await;
    assert_ne!(new_leader, "n1");
    let elected_after = killed_at.elapsed();
    eventually(
        &l,
        "RaftNode01's new leader registered as master",
        Duration::from_secs(15),
        || async {
            let m = masters(&admin).await;
            (m.get("RaftNode01") != Some(&l.addr("broker-n1-g1")) && m.contains_key("RaftNode01"))
                .then_some(())
        },
    )
    .await;
    // The other groups kept their leaders (a follower each died with n1).
    let now = leaders(&l, &raft).await;
    assert_eq!(
        now.get("RaftNode00").map(String::as_str),
        Some("n0"),
        "{now:?}"
    );
    assert_eq!(
        now.get("RaftNode02").map(String::as_str),
        Some("n2"),
        "{now:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    {
        let log = log.lock();
        let after: Vec<&Outcome> = log.iter().filter(|o| o.at > killed_at).collect();
        let by_group = |g: &str| {
            after
                .iter()
                .filter(|o| o.broker.as_deref() == Ok(g))
                .count()
        };
        // Sends kept succeeding through the groups whose leaders were alive, also while
        // RaftNode01 was electing.
        let during: BTreeSet<&str> = after
            .iter()
            .filter(|o| o.at < killed_at + elected_after)
            .filter_map(|o| o.broker.as_deref().ok())
            .collect();
        assert!(
            by_group("RaftNode00") > 0 && by_group("RaftNode02") > 0,
            "no acknowledged sends through the surviving groups after the kill: {after:?}"
        );
        assert!(
            !during.is_empty() || elected_after < Duration::from_millis(200),
            "no send was acknowledged while RaftNode01 elected ({elected_after:?})"
        );
    }

    // Node n1 comes back: it catches up, and leadership of RaftNode01 returns to it.
    l.start_broker("broker-n1");
    eventually(
        &l,
        "each group led by its preferred node again after the restart",
        Duration::from_secs(45),
        || spread(&l, &raft, &admin),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop_tx.send(true);
    sender.await.expect("sender task");

    let outcomes = log.lock().clone();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.broker.is_err()).collect();
    assert!(
        failed.is_empty(),
        "our producer retries on another group; no send should fail: {failed:?}"
    );
    let acked: BTreeSet<u64> = outcomes
        .iter()
        .filter(|o| o.broker.is_ok())
        .map(|o| o.seq)
        .collect();
    let groups_used: BTreeSet<&str> = outcomes
        .iter()
        .filter_map(|o| o.broker.as_deref().ok())
        .collect();
    assert_eq!(
        groups_used,
        BTreeSet::from(GROUPS),
        "sends went to every group"
    );

    // Everything acknowledged is in the topic, read from offset 0 by a fresh group.
    let mut ccfg = ConsumerConfig::new("multi_group_check").subscribe(TOPIC, "*");
    ccfg.consume_from_where = ConsumeFromWhere::ConsumeFromFirstOffset;
    let (consumer, mut stream) = Consumer::start(ClientOptions::new(l.namesrv.clone()), ccfg)
        .await
        .expect("consumer");
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !acked.is_subset(&seen) {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(m)) => {
                if let Some(seq) = std::str::from_utf8(&m.message.body)
                    .ok()
                    .and_then(|b| b.strip_prefix("mg-"))
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    seen.insert(seq);
                }
            }
            _ => break,
        }
    }
    consumer.shutdown().await;
    let lost: Vec<&u64> = acked.difference(&seen).take(10).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages not read back, e.g. {lost:?}",
        acked.difference(&seen).count()
    );

    // The admin views name every group.
    let info = admin.cluster_info().await.expect("cluster info");
    let names: BTreeSet<&str> = info.broker_addr_table.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(GROUPS));
    for bd in info.broker_addr_table.values() {
        assert_eq!(
            bd.broker_addrs.len(),
            3,
            "{bd:?}: a master and two slaves per group"
        );
    }
    let status = Command::new(bin())
        .args(["mqadmin", "topicStatus", "-n", &l.namesrv, "-t", TOPIC])
        .output()
        .expect("topicStatus");
    let shown = String::from_utf8_lossy(&status.stdout);
    for g in GROUPS {
        assert!(shown.contains(g), "topicStatus lacks {g}:\n{shown}");
    }

    // One /metrics per process, on its first member's metricsPort, every group labelled.
    let ip = l.addr("broker-n0-g0");
    let ip = ip.rsplit_once(':').map(|(ip, _)| ip).expect("ip");
    let r = support::http::get(&format!("{ip}:30913"), "/metrics").await;
    assert_eq!(r.status, 200);
    let text = r.text();
    support::promtext::check(&text).unwrap_or_else(|e| panic!("/metrics: {e}"));
    for g in GROUPS {
        assert!(
            text.contains(&format!("group=\"{g}\"")),
            "/metrics of node n0 has no series of {g}"
        );
    }
}

/// Isolation across groups of one process: node A hosts a member of group X and the only
/// member of group Y (a group of one); X's other members live in two other processes. Once
/// those two are killed, X has no quorum and refuses writes at once, while Y, in the same
/// process as X's stranded member, keeps committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_without_quorum_does_not_stop_another_group_of_its_process() {
    group_without_quorum_leaves_the_other_group_working(43, &[]).await;
}

/// The same with every process on one thread (`--single-thread`, fast-try's choice on a
/// machine with fewer than two CPUs per broker process): the two groups of process A share
/// that thread, and the one without a quorum must still not hold the other up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_without_quorum_does_not_stop_another_group_of_a_single_threaded_process() {
    group_without_quorum_leaves_the_other_group_working(62, &["--single-thread".to_string()]).await;
}

/// Process A hosts a member of group X (three nodes) and group Y (one node); X's other two
/// members die. X refuses writes without its quorum, Y keeps taking them.
async fn group_without_quorum_leaves_the_other_group_working(block: u8, args: &[String]) {
    use bytes::Bytes;
    use ledgermq::raft::LogCommand;

    let block = common::shifted_block(block);
    let dir = tempfile::tempdir().expect("tempdir");
    let ip = |i: u32| format!("127.0.{block}.{}", i + 1);
    let x_peers = (0..3)
        .map(|i| format!("n{i}-{}:40911", ip(i)))
        .collect::<Vec<_>>()
        .join(";");
    let conf = |name: &str, text: String| {
        let path = dir.path().join(format!("{name}.conf"));
        std::fs::write(&path, text).expect("write conf");
        path
    };
    let member = |group: &str, node: u32, port: u16, peers: &str| {
        format!(
            "brokerClusterName=Iso\nbrokerName={group}\nbrokerIP1={ip}\nlistenPort={port}\n\
             storePathRootDir={root}\nenableDLegerCommitLog=true\ndLegerGroup={group}\n\
             dLegerPeers={peers}\ndLegerSelfId=n{node}\nmappedFileSizeCommitLog=1048576\nmaxMessageSize=65536\n\
             raftElectionTimeoutMs=800\nraftHeartbeatIntervalMs=100\n",
            ip = ip(node),
            root = dir.path().join(format!("{group}-n{node}")).display(),
        )
    };
    let y_peer = format!("n0-{}:40921", ip(0));
    let a = vec![
        conf("x-n0", member("GroupX", 0, 30911, &x_peers)),
        conf("y-n0", member("GroupY", 0, 30921, &y_peer)),
    ];
    let b = vec![conf("x-n1", member("GroupX", 1, 30911, &x_peers))];
    let c = vec![conf("x-n2", member("GroupX", 2, 30911, &x_peers))];
    let log = |n: &str| dir.path().join(format!("{n}.log"));
    let mut procs = Procs(vec![
        common::spawn_brokers_with(&a, &log("a"), args),
        common::spawn_brokers_with(&b, &log("b"), args),
        common::spawn_brokers_with(&c, &log("c"), args),
    ]);
    let dump = || {
        for n in ["a", "b", "c"] {
            eprintln!(
                "----- {n} -----\n{}",
                std::fs::read_to_string(log(n)).unwrap_or_default()
            );
        }
    };
    let x = RaftAdminClient::new((0..3).map(|i| format!("{}:40911", ip(i))).collect())
        .with_call_timeout(Duration::from_millis(500));
    let y = RaftAdminClient::new(vec![format!("{}:40921", ip(0))]);
    let raw = |s: &str| LogCommand::Raw(Bytes::from(s.to_string()));
    for (name, client) in [("X", &x), ("Y", &y)] {
        if let Err(e) = client.write(raw("first"), Duration::from_secs(30)).await {
            dump();
            panic!("group {name} does not take writes: {e}");
        }
    }
    // X's other two members die; X's member in process A is left without a quorum.
    for mut p in procs.0.drain(1..) {
        let _ = p.kill();
        let _ = p.wait();
    }
    let x0 = RaftAdminClient::new(vec![format!("{}:40911", ip(0))])
        .with_call_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let refused = x0.write(raw("x-alone"), Duration::from_secs(3)).await;
    assert!(
        refused.is_err(),
        "a group without a quorum acknowledged a write: {refused:?}"
    );
    for i in 0..20 {
        if let Err(e) = y
            .write(raw(&format!("y-{i}")), Duration::from_secs(5))
            .await
        {
            dump();
            panic!("group Y stopped with group X's quorum: {e}");
        }
    }
    let s = y
        .status(&format!("{}:40921", ip(0)))
        .await
        .expect("Y status");
    assert_eq!(s.state, "Leader");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Broker processes killed when the test ends, also when it panics.
struct Procs(Vec<std::process::Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for p in &mut self.0 {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}
