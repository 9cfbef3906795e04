//! The write gate, decided alone ([`refuse`]) and on real nodes, and group formation's timing.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use openraft::error::Fatal;

use super::node_core::{refuse, GateView};
use super::roles::{formation_delay, formation_order};
use super::GroupRole;
use crate::raft::rpc::{FatalError, WriteError};
use crate::raft::test_support::{single_leader, voters, wait_until};
use crate::raft::types::{ApplyResult, LogCommand};

/// A leader of three that heard from its quorum 10 ms ago, with a 500 ms lease.
fn healthy() -> GateView {
    GateView {
        stopped: None,
        fsync_failed: false,
        leader: true,
        transferring: false,
        voters: 3,
        millis_since_quorum_ack: Some(10),
        lease_ms: 500,
    }
}

fn hint() -> Option<(u64, String)> {
    Some((2, "127.0.0.1:40913".into()))
}

#[test]
fn a_healthy_leader_may_write() {
    assert_eq!(refuse(healthy(), hint), None);
    // A group of one has no quorum to hear from.
    let alone = GateView {
        voters: 1,
        millis_since_quorum_ack: Some(60_000),
        ..healthy()
    };
    assert_eq!(refuse(alone, hint), None);
    // A leader not yet told of any ack is not refused by the lease either.
    let fresh = GateView {
        millis_since_quorum_ack: None,
        ..healthy()
    };
    assert_eq!(refuse(fresh, hint), None);
}

#[test]
fn a_follower_names_the_leader_it_knows() {
    let follower = GateView {
        leader: false,
        ..healthy()
    };
    assert_eq!(
        refuse(follower.clone(), hint),
        Some(WriteError::NotLeader { leader: hint() })
    );
    assert_eq!(
        refuse(follower, || None),
        Some(WriteError::NotLeader { leader: None })
    );
}

#[test]
fn a_leader_refuses_while_transferring_or_without_a_quorum_in_its_lease() {
    let transferring = GateView {
        transferring: true,
        ..healthy()
    };
    assert_eq!(refuse(transferring, hint), Some(WriteError::Transferring));
    let cut_off = GateView {
        millis_since_quorum_ack: Some(501),
        ..healthy()
    };
    assert_eq!(
        refuse(cut_off, hint),
        Some(WriteError::NoQuorum { millis: 501 })
    );
    let at_the_lease = GateView {
        millis_since_quorum_ack: Some(500),
        ..healthy()
    };
    assert_eq!(refuse(at_the_lease, hint), None);
}

#[test]
fn a_node_that_cannot_commit_says_so_before_anything_else() {
    // Even as a follower: sending clients to a leader would not help them.
    let stopped = GateView {
        stopped: Some(Fatal::Panicked),
        leader: false,
        transferring: true,
        ..healthy()
    };
    assert_eq!(
        refuse(stopped, hint),
        Some(WriteError::Fatal(FatalError::Raft(Box::new(
            Fatal::Panicked
        ))))
    );
    let fsync = GateView {
        fsync_failed: true,
        leader: false,
        ..healthy()
    };
    let refused = refuse(fsync, hint);
    assert_eq!(refused, Some(WriteError::Fatal(FatalError::FsyncFailed)));
    assert!(!refused.is_some_and(|e| e.is_retryable()));
}

#[test]
fn the_first_voter_forms_the_group_at_once_and_the_others_later_in_turn() {
    let peers: BTreeMap<u64, String> = (0..3).map(|i| (i, format!("n{i}"))).collect();
    let step = Duration::from_millis(300);
    let delays: Vec<_> = (0..3)
        .map(|id| formation_delay(GroupRole::Voter, id, &peers, None, step))
        .collect();
    assert_eq!(
        delays,
        vec![Some(Duration::ZERO), Some(step * 2), Some(step * 4)]
    );
    // With a preferred leader, it forms the group (multi-Raft clusters start spread).
    let delays: Vec<_> = (0..3)
        .map(|id| formation_delay(GroupRole::Voter, id, &peers, Some(2), step))
        .collect();
    assert_eq!(
        delays,
        vec![Some(step * 2), Some(step * 4), Some(Duration::ZERO)]
    );
    assert_eq!(formation_order(&peers, Some(1)), vec![1, 0, 2]);
    assert_eq!(
        formation_order(&peers, Some(7)),
        vec![0, 1, 2],
        "not a voter"
    );
    assert_eq!(
        formation_delay(
            GroupRole::Master,
            0,
            &BTreeMap::from([(0, "m".into())]),
            None,
            step
        ),
        Some(Duration::ZERO)
    );
    assert_eq!(
        formation_delay(
            GroupRole::Slave,
            1,
            &BTreeMap::from([(1, "s".into())]),
            None,
            step
        ),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_on_a_real_group() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, leader) = voters(dir.path(), 3).await;
    let write = |i: usize| {
        let core = nodes[i].core().clone();
        async move {
            core.write(LogCommand::Raw(Bytes::from_static(b"gate")))
                .await
        }
    };
    let ok = write(leader).await.expect("the leader writes");
    assert!(matches!(ok.result, ApplyResult::Raw { .. }));

    // A follower sends the client to the leader, by id and peer address.
    let follower = (leader + 1) % 3;
    let leader_core = nodes[leader].core().clone();
    wait_until("the follower knows the leader", || {
        nodes[follower].core().leader_id() == Some(leader_core.id())
    })
    .await;
    assert_eq!(
        write(follower).await,
        Err(WriteError::NotLeader {
            leader: Some((leader_core.id(), leader_core.addr().to_string())),
        })
    );

    // A leader handing over leadership refuses, retryably.
    leader_core.transferring.store(true, Ordering::SeqCst);
    let refused = write(leader).await;
    assert_eq!(refused, Err(WriteError::Transferring));
    assert!(refused.is_err_and(|e| e.is_retryable()));
    leader_core.transferring.store(false, Ordering::SeqCst);

    // Cut off from both followers, the leader stops acknowledging once its lease runs out.
    let mut nodes = nodes;
    let leader_node = nodes.remove(leader);
    for n in nodes {
        n.shutdown().await;
    }
    wait_until("the lease runs out", || !leader_core.is_leader()).await;
    match write_on(&leader_core).await {
        Err(WriteError::NoQuorum { millis }) => {
            assert!(millis > leader_core.timing.lease.as_millis() as u64)
        }
        other => panic!("{other:?}"),
    }
    leader_node.shutdown().await;
}

async fn write_on(core: &super::NodeCore) -> Result<crate::raft::WriteOk, WriteError> {
    core.write(LogCommand::Raw(Bytes::from_static(b"gate")))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_answers_fatal_not_not_leader() {
    let dir = tempfile::tempdir().unwrap();
    let node = single_leader(dir.path()).await;
    let core = node.core().clone();
    write_on(&core).await.expect("writes while running");
    core.raft().shutdown().await.expect("raft stops");
    match write_on(&core).await {
        Err(WriteError::Fatal(FatalError::Raft(f))) => assert_eq!(*f, Fatal::Stopped),
        other => panic!("{other:?}"),
    }
    node.shutdown().await;
}

/// A node started on its own thread commits writes submitted from the caller's runtime, says
/// it holds the lease, and stops with its thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_its_own_thread_commits_and_stops() {
    use crate::raft::test_support::{free_addr, node_config};
    let dir = tempfile::tempdir().unwrap();
    let peers = BTreeMap::from([(0, free_addr())]);
    let node =
        super::RaftNode::start_on_own_thread(node_config(dir.path(), 0, &peers, GroupRole::Voter))
            .await
            .expect("start on its own thread");
    assert!(node.core().wait_lease(Duration::from_secs(10)).await);
    write_on(node.core()).await.expect("committed");
    tokio::time::timeout(Duration::from_secs(10), node.shutdown())
        .await
        .expect("the node and its thread stop");
}

/// A node that cannot start on its thread (its peer port is taken) reports why, and the
/// caller is not left waiting; a node that is not leader does not wait for a lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_start_on_its_thread_says_why() {
    use crate::raft::test_support::{free_addr, node_config};
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let peers = BTreeMap::from([(0, addr)]);
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        super::RaftNode::start_on_own_thread(node_config(dir.path(), 0, &peers, GroupRole::Voter)),
    )
    .await
    .expect("start returns");
    assert!(
        matches!(r, Err(super::NodeError::Bind { .. })),
        "{:?}",
        r.err()
    );

    // A slave no master has added never leads: no wait.
    let peers = BTreeMap::from([(1, free_addr())]);
    let slave = super::RaftNode::start(node_config(
        &dir.path().join("slave"),
        1,
        &peers,
        GroupRole::Slave,
    ))
    .await
    .expect("start");
    let started = std::time::Instant::now();
    assert!(!slave.core().wait_lease(Duration::from_secs(5)).await);
    assert!(started.elapsed() < Duration::from_secs(1));
    slave.shutdown().await;
}

/// Work handed off the node's thread runs elsewhere, and its error or panic comes back as an
/// error (a storage error for openraft), never as a hung or crashed node thread.
#[tokio::test(flavor = "current_thread")]
async fn off_node_thread_runs_elsewhere_and_returns_errors_and_panics() {
    let here = std::thread::current().id();
    let there = super::off_node_thread(move || Ok(std::thread::current().id()))
        .await
        .expect("ran");
    assert_ne!(there, here, "the work ran on the blocking pool");
    let failed = super::off_node_thread(|| -> Result<(), openraft::AnyError> {
        Err(openraft::AnyError::error("disk full"))
    })
    .await;
    assert!(failed.is_err_and(|e| e.to_string().contains("disk full")));
    let panicked =
        super::off_node_thread(|| -> Result<(), openraft::AnyError> { panic!("boom") }).await;
    assert!(
        panicked.is_err(),
        "a panic in the work is an error, not a panic here"
    );
}
