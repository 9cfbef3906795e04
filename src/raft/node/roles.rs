//! Forming the group on first start, and RocketMQ's fixed master/slave roles on the same
//! machinery.
//!
//! Formation: openraft starts an election at once on the node that initializes a group. If
//! every node did so together, a later candidate of the same term with a higher id would
//! depose the first winner, so the lowest id forms the group and the others only step in, one
//! after another, if they have not heard from anyone by then (that node may be down) and a
//! quorum of voters says it is new too ([`pristine_quorum`]).
//!
//! Master/slave: the master is its group's only voter; a slave never forms a group, it asks
//! its master (once a second, [`join_master`]) to add it as a learner ([`NodeCore::admit_learner`]),
//! and a SYNC_MASTER waits for a slave to hold each message ([`NodeCore::wait_slave`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::ChangeMembers;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::GroupRole;
use super::node_core::NodeCore;
use super::NodeError;
use crate::raft::rpc::{PeerRequest, PeerResponse};
use crate::raft::types::{NodeId, PeerNode, Raft};

/// Why a SYNC_MASTER could not confirm that a slave holds a message (which is stored and
/// committed on the master either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaveWait {
    /// No slave has answered recently (RocketMQ's SLAVE_NOT_AVAILABLE).
    NotAvailable,
    /// A slave is connected but did not confirm in time (FLUSH_SLAVE_TIMEOUT).
    Timeout,
}

/// Why a master did not take a slave. The slave logs it and asks again a second later; on the
/// peer wire it travels as its text (`PeerResponse::JoinLearner`).
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// This node is a DLedger voter or a slave itself.
    #[error("n{id} at {addr} is not a master (brokerRole); slaves replicate from a master")]
    NotAMaster { id: NodeId, addr: String },
    #[error("master n{0} is still starting up")]
    Starting(NodeId),
    /// Two brokers configured with the same brokerId.
    #[error("brokerId {0} is this group's master; a slave needs its own brokerId > 0")]
    MasterId(NodeId),
    #[error("cannot add slave n{id} at {addr}: {source}")]
    Membership {
        id: NodeId,
        addr: String,
        #[source]
        source: Box<RaftError<NodeId, ClientWriteError<NodeId, PeerNode>>>,
    },
}

impl NodeCore {
    /// SYNC_MASTER: waits until a slave (learner) holds the entry at `index`. A slave counts as
    /// available if it accepted an AppendEntries (heartbeats included) within two election
    /// timeouts, so a dead slave costs no wait, as in RocketMQ.
    pub async fn wait_slave(&self, index: u64, timeout: Duration) -> Result<(), SlaveWait> {
        let mut rx = self.raft.metrics();
        let window = self.timing.timeout_max * 2;
        let learners: Vec<NodeId> = rx
            .borrow()
            .membership_config
            .membership()
            .learner_ids()
            .collect();
        if !learners
            .iter()
            .any(|id| self.registry.acked_within(*id, window))
        {
            return Err(SlaveWait::NotAvailable);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let held = rx
                .borrow_and_update()
                .replication
                .as_ref()
                .is_some_and(|r| {
                    learners.iter().any(|id| {
                        r.get(id)
                            .cloned()
                            .flatten()
                            .is_some_and(|l| l.index >= index)
                    })
                });
            if held {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(SlaveWait::NotAvailable),
                Err(_) => return Err(SlaveWait::Timeout),
            }
        }
    }

    /// Master: makes the slave `id` at `addr` a learner of this group (idempotent). Refuses an
    /// id that is a voter, which would mean two brokers configured with the same brokerId.
    pub async fn admit_learner(&self, id: NodeId, addr: String) -> Result<(), AdmitError> {
        if self.role != GroupRole::Master {
            return Err(AdmitError::NotAMaster {
                id: self.id,
                addr: self.addr.clone(),
            });
        }
        if !self.is_leader() {
            return Err(AdmitError::Starting(self.id));
        }
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let membership = membership.membership();
        if membership.voter_ids().any(|v| v == id) {
            return Err(AdmitError::MasterId(id));
        }
        let change = match membership.get_node(&id) {
            Some(n) if n.addr == addr => return Ok(()),
            // A slave that moved: replacing a learner's address cannot split a vote.
            Some(_) => ChangeMembers::SetNodes([(id, PeerNode { addr: addr.clone() })].into()),
            None => ChangeMembers::AddNodes([(id, PeerNode { addr: addr.clone() })].into()),
        };
        if let Err(source) = self.raft.change_membership(change, false).await {
            return Err(AdmitError::Membership {
                id,
                addr,
                source: Box::new(source),
            });
        }
        tracing::info!(slave = id, %addr, "slave joined; replicating to it");
        Ok(())
    }

    /// Slave: where the master's HA port is (from the name server or `haMasterAddress`).
    pub fn set_master_hint(&self, addr: &str) {
        let mut hint = self.master_hint.lock();
        if hint.as_deref() != Some(addr) {
            tracing::info!(master = addr, "master HA address");
            *hint = Some(addr.to_string());
        }
    }

    pub fn master_hint(&self) -> Option<String> {
        self.master_hint.lock().clone()
    }
}

/// How long this node waits before it may form its group itself: `None` if it never does (a
/// slave), zero for the first in [`formation_order`], then one step of two election timeouts
/// per rank.
pub(super) fn formation_delay(
    role: GroupRole,
    node_id: NodeId,
    peers: &BTreeMap<NodeId, String>,
    preferred: Option<NodeId>,
    timeout_max: Duration,
) -> Option<Duration> {
    if role == GroupRole::Slave {
        return None;
    }
    let rank = formation_order(peers, preferred)
        .iter()
        .position(|id| *id == node_id)
        .unwrap_or(0) as u32;
    Some(timeout_max * 2 * rank)
}

/// The order in which a new group's voters try to form it: the preferred leader (if it is a
/// voter), then the others by id. Every member computes the same order from the same config.
/// Forming on the preferred node means the groups of a multi-Raft cluster start with their
/// leaders already spread, instead of all on the lowest id waiting for transfers.
pub(super) fn formation_order(
    peers: &BTreeMap<NodeId, String>,
    preferred: Option<NodeId>,
) -> Vec<NodeId> {
    let first = preferred.filter(|p| peers.contains_key(p));
    first
        .into_iter()
        .chain(peers.keys().copied().filter(|id| Some(*id) != first))
        .collect()
}

/// The configured voters as openraft members.
pub(super) fn members_of(peers: &BTreeMap<NodeId, String>) -> BTreeMap<NodeId, PeerNode> {
    peers
        .iter()
        .map(|(id, a)| (*id, PeerNode { addr: a.clone() }))
        .collect()
}

/// True if a quorum of the voters (this node included) answers that it has never been part of
/// a group: only then may a node other than the first form it. A node that was cut off at its
/// first start would otherwise form a second group of its own and, on rejoining, disturb the
/// leader the others elected meanwhile. A voter that does not answer counts against forming,
/// and one that already holds a log means the group exists and its leader will reach us.
pub(super) async fn pristine_quorum(core: &NodeCore, members: &BTreeMap<NodeId, PeerNode>) -> bool {
    let quorum = members.len() / 2 + 1;
    let timeout = (core.timing.heartbeat * 3).max(Duration::from_millis(100));
    let mut pristine = 1usize;
    for (id, node) in members.iter().filter(|(id, _)| **id != core.id) {
        let client = core.registry.get(*id, &node.addr);
        match client.call(PeerRequest::Status, timeout).await {
            Ok(PeerResponse::Status(s)) if s.last_index.is_none() && s.leader.is_none() => {
                pristine += 1;
            }
            Ok(PeerResponse::Status(s)) => {
                tracing::info!(peer = id, leader = ?s.leader, "the group already exists; waiting to hear from its leader");
                return false;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(peer = id, error = %e, "no status from a peer"),
        }
    }
    if pristine < quorum {
        tracing::info!(
            pristine,
            quorum,
            "not forming the group: too few voters answer that they are new"
        );
    }
    pristine >= quorum
}

/// Initializes a pristine node with the configured voters; "already formed" is not an error.
pub(super) async fn form_group(
    raft: &Raft,
    members: BTreeMap<NodeId, PeerNode>,
) -> Result<(), NodeError> {
    tracing::info!(?members, "empty store: forming the Raft group");
    match raft.initialize(members).await {
        Ok(()) => Ok(()),
        Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
            tracing::info!(error = %e, "group already formed");
            Ok(())
        }
        Err(e) => {
            let _ = raft.shutdown().await;
            Err(NodeError::FormGroup(Box::new(e)))
        }
    }
}

/// A node other than the first: after `delay`, and then every `retry`, forms the group if it
/// is still not initialized and a quorum of voters is as new as it is.
pub(super) fn spawn_form_later(
    core: Arc<NodeCore>,
    members: BTreeMap<NodeId, PeerNode>,
    delay: Duration,
    retry: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            if !matches!(core.raft.is_initialized().await, Ok(false)) {
                return;
            }
            if pristine_quorum(&core, &members).await {
                if let Err(e) = form_group(&core.raft, members).await {
                    tracing::error!(error = %e, "forming the Raft group failed");
                }
                return;
            }
            wait = retry;
        }
    })
}

/// Slave: until a master replicates to it, asks the master (once a second) to add it as a
/// learner. Once attached it only checks; a master that lost its store (or a slave that moved)
/// is re-joined the same way.
pub(super) async fn join_master(core: Arc<NodeCore>, mut shutdown: watch::Receiver<bool>) {
    let mut warned_no_master = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let attached = core.contact.elapsed() < core.timing.timeout_max * 2
            && core.raft.metrics().borrow().current_leader.is_some();
        if attached {
            continue;
        }
        let Some(master) = core.master_hint() else {
            if !warned_no_master {
                tracing::info!(
                    "slave waiting to learn its master's HA address from the name server"
                );
                warned_no_master = true;
            }
            continue;
        };
        let req = PeerRequest::JoinLearner {
            id: core.id,
            addr: core.addr.clone(),
        };
        // The master's node id is 0 (brokerId 0).
        match core
            .registry
            .get(0, &master)
            .call(req, Duration::from_secs(3))
            .await
        {
            Ok(PeerResponse::JoinLearner(Ok(()))) => {
                tracing::debug!(%master, "asked the master to replicate to this slave")
            }
            Ok(PeerResponse::JoinLearner(Err(e))) => {
                tracing::warn!(%master, error = %e, "master refused this slave")
            }
            Ok(other) => tracing::warn!(%master, ?other, "unexpected answer to JoinLearner"),
            Err(e) => tracing::debug!(%master, error = %e, "master not reachable"),
        }
    }
}
