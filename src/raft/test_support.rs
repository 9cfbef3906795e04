//! Test-only: real Raft nodes inside the unit-test process, on loopback ports and temporary
//! directories, with fast elections.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::node::{GroupRole, RaftNode, RaftNodeConfig};
use super::types::NodeId;
use crate::config::BrokerConfig;

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = l.local_addr().expect("local address").port();
    format!("127.0.0.1:{port}")
}

/// Node `id` of `peers` with the given role, its store under `dir/n{id}`, 50 ms heartbeats,
/// a 300 ms election timeout, and no retention by time or disk use.
pub fn node_config(
    dir: &Path,
    id: NodeId,
    peers: &BTreeMap<NodeId, String>,
    role: GroupRole,
) -> RaftNodeConfig {
    let dir = dir.join(format!("n{id}"));
    let broker = BrokerConfig {
        delete_when: Vec::new(),
        disk_max_used_space_ratio: 95,
        ..BrokerConfig::default()
    };
    RaftNodeConfig {
        role,
        master_hint: None,
        node_id: id,
        peers: peers.clone(),
        group: "unit-test".into(),
        commit_log_dir: dir.join("commitlog"),
        checkpoint_path: dir.join("checkpoint"),
        raft_dir: dir.join("raft"),
        consume_queue_dir: dir.join("consumequeue"),
        abort_file: dir.join("abort"),
        segment_size: 1 << 20,
        consume_queue_file_size: 20 * 1000,
        heartbeat_ms: 50,
        election_timeout_ms: 300,
        ..RaftNodeConfig::from_broker_config(&broker)
    }
}

/// Waits (at most 15 s) until `done` holds.
pub async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A group of one that has elected itself and heard from its quorum (itself).
pub async fn single_leader(dir: &Path) -> RaftNode {
    let peers = BTreeMap::from([(0, free_addr())]);
    let node = RaftNode::start(node_config(dir, 0, &peers, GroupRole::Voter))
        .await
        .expect("start a single node");
    wait_until("the single node leads", || node.core().is_leader()).await;
    node
}

/// A started group of `n` voters and the index of its leader among them.
pub async fn voters(dir: &Path, n: u64) -> (Vec<RaftNode>, usize) {
    let peers: BTreeMap<NodeId, String> = (0..n).map(|id| (id, free_addr())).collect();
    let mut nodes = Vec::new();
    for id in 0..n {
        nodes.push(
            RaftNode::start(node_config(dir, id, &peers, GroupRole::Voter))
                .await
                .expect("start a voter"),
        );
    }
    wait_until("a voter leads", || {
        nodes.iter().any(|n| n.core().is_leader())
    })
    .await;
    let leader = nodes
        .iter()
        .position(|n| n.core().is_leader())
        .expect("a leader");
    (nodes, leader)
}
