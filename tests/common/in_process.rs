//! Helpers for tests that start `RaftNode`s inside the test process.

use std::collections::BTreeMap;
use std::path::Path;

use ledgermq::config::BrokerConfig;
use ledgermq::raft::{GroupRole, RaftNodeConfig};

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = l.local_addr().expect("local address").port();
    format!("127.0.0.1:{port}")
}

/// Voter `id` of `peers` in group `group`, its store under `dir`, with fast elections (50 ms
/// heartbeat, 300 ms timeout) and no retention by time or a nearly full disk.
pub fn node_config(
    dir: &Path,
    id: u64,
    peers: &BTreeMap<u64, String>,
    group: &str,
) -> RaftNodeConfig {
    let broker = BrokerConfig {
        delete_when: Vec::new(),
        disk_max_used_space_ratio: 95,
        ..BrokerConfig::default()
    };
    RaftNodeConfig {
        role: GroupRole::Voter,
        master_hint: None,
        node_id: id,
        peers: peers.clone(),
        group: group.into(),
        commit_log_dir: dir.join("commitlog"),
        checkpoint_path: dir.join("checkpoint"),
        raft_dir: dir.join("raft"),
        consume_queue_dir: dir.join("consumequeue"),
        abort_file: dir.join("abort"),
        heartbeat_ms: 50,
        election_timeout_ms: 300,
        ..RaftNodeConfig::from_broker_config(&broker)
    }
}
