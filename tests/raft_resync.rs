//! A new leader finds where each follower's log matches its own by probing from the middle of
//! its log. Each probe carries up to `max_payload_entries` entries, which a follower that is
//! up to date already has; with 4096, a new leader on a long log re-sent about half of it to
//! every follower before its first commit (100-170 ms of failover on a store of 17,000
//! entries, more with a longer log). This test counts what a follower receives after a leader
//! change instead of timing it.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::in_process::{free_addr, node_config};
use ledgermq::raft::{LogCommand, NodeCore, RaftNode, RaftNodeConfig};
use openraft::ServerState;

fn config(dir: &std::path::Path, id: u64, peers: &BTreeMap<u64, String>) -> RaftNodeConfig {
    RaftNodeConfig {
        segment_size: 8 << 20,
        snapshot_logs_since_last: 1_000_000,
        ..node_config(&dir.join(format!("n{id}")), id, peers, "resync-test")
    }
}

async fn leader_among(nodes: &[&RaftNode]) -> Arc<NodeCore> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for n in nodes {
            if n.core().raft().metrics().borrow().state == ServerState::Leader {
                return n.core().clone();
            }
        }
        assert!(Instant::now() < deadline, "no leader within 15 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_does_not_resend_the_log_a_follower_already_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let peers: BTreeMap<u64, String> = (0..3).map(|id| (id, free_addr())).collect();
    let mut nodes = Vec::new();
    for id in 0..3 {
        nodes.push(
            RaftNode::start(config(dir.path(), id, &peers))
                .await
                .expect("start node"),
        );
    }
    let leader = leader_among(&nodes.iter().collect::<Vec<_>>()).await;

    // A few thousand entries, one per write (openraft's own write, not the batcher, so that
    // each write is its own entry).
    let (writers, each) = (32u64, 200u64);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let leader = leader.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                leader
                    .raft()
                    .client_write(LogCommand::Raw(Bytes::from(format!("w{w}-{i}"))))
                    .await
                    .expect("write");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let log_len = leader.raft().metrics().borrow().last_log_index.unwrap_or(0);
    assert!(log_len >= writers * each, "log holds {log_len} entries");

    // Wait until every node holds the whole log, then stop the leader.
    let deadline = Instant::now() + Duration::from_secs(15);
    while nodes
        .iter()
        .any(|n| n.core().raft().metrics().borrow().last_log_index != Some(log_len))
    {
        assert!(Instant::now() < deadline, "followers did not catch up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let old = nodes
        .iter()
        .position(|n| n.core().id() == leader.id())
        .expect("leader is one of the nodes");
    let old_leader = nodes.remove(old);
    let received_before: Vec<u64> = nodes
        .iter()
        .map(|n| n.core().append_stats().entries())
        .collect();
    old_leader.shutdown().await;

    // The new leader's first write commits once the other survivor matches its log.
    let new_leader = leader_among(&nodes.iter().collect::<Vec<_>>()).await;
    new_leader
        .write(LogCommand::Raw(Bytes::from_static(b"after the failover")))
        .await
        .expect("first write on the new leader");
    let follower = nodes
        .iter()
        .position(|n| n.core().id() != new_leader.id())
        .expect("one follower left");
    let resent = nodes[follower].core().append_stats().entries() - received_before[follower];
    assert!(
        resent < log_len / 4,
        "the follower received {resent} entries after the leader change, of a {log_len}-entry \
         log it already held"
    );
    for n in nodes {
        n.shutdown().await;
    }
}
