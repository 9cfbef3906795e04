//! `NodeCore`: the parts of a running node that the peer server, the election driver,
//! retention and the broker share, and the write gate every write passes.
//!
//! Its fields are visible inside `raft/` only. The broker reaches the node through methods:
//! writes here, queries in [`super::queries`], the master/slave role in [`super::roles`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::Fatal;
use openraft::ServerState;
use parking_lot::Mutex;

use super::config::GroupRole;
use crate::raft::batcher::WriteBatcher;
use crate::raft::broker_state::BrokerState;
use crate::raft::election::{ElectionTiming, LeaderContact};
use crate::raft::meta::RaftMeta;
use crate::raft::network::PeerRegistry;
use crate::raft::rpc::{FatalError, WriteError, WriteOk};
use crate::raft::state_machine::StateMachine;
use crate::raft::types::{LogCommand, NodeId, Raft};
use crate::store::CommitLog;

/// The parts of a running node shared by the server, the election driver and the broker.
pub struct NodeCore {
    pub(in crate::raft) id: NodeId,
    pub(in crate::raft) addr: String,
    pub(in crate::raft) raft: Raft,
    pub(in crate::raft) log: Arc<CommitLog>,
    pub(in crate::raft) meta: Arc<RaftMeta>,
    pub(in crate::raft) state: Arc<BrokerState>,
    pub(in crate::raft) sm: StateMachine,
    pub(in crate::raft) contact: LeaderContact,
    pub(in crate::raft) registry: PeerRegistry,
    pub(in crate::raft) timing: ElectionTiming,
    pub(in crate::raft) preferred_leader: Option<NodeId>,
    /// Set while leadership is being handed to the preferred leader: new writes are refused
    /// with a retryable error so the target can catch up.
    pub(in crate::raft) transferring: AtomicBool,
    /// Elections seen (for `/metrics` and the dashboard's Raft page), kept by `watch_role`.
    pub(super) leader_changes: AtomicU64,
    pub(super) leader_changed_at: Mutex<Option<Instant>>,
    pub(in crate::raft) role: GroupRole,
    /// A slave's idea of where its master's HA port is.
    pub(super) master_hint: Mutex<Option<String>>,
    pub(in crate::raft) batcher: WriteBatcher,
    pub(super) write_timeout: Duration,
    /// AppendEntries this node has received as a follower (for `bench raft`).
    pub(in crate::raft) append_stats: AppendStats,
}

/// AppendEntries received, with and without entries, and the entries they carried. openraft 0.9 tells followers about a new
/// commit index with an empty AppendEntries whenever no entries are waiting to go, and each
/// such round costs a follower (and the leader) about as much CPU as one that carries data;
/// `bench raft` reports both counts so that cost can be seen.
#[derive(Debug, Default)]
pub struct AppendStats {
    with_entries: AtomicU64,
    empty: AtomicU64,
    entries: AtomicU64,
}

impl AppendStats {
    /// Counts one AppendEntries carrying `entries` entries.
    pub fn count(&self, entries: usize) {
        let c = if entries == 0 {
            &self.empty
        } else {
            &self.with_entries
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.entries.fetch_add(entries as u64, Ordering::Relaxed);
    }

    /// Entries received in AppendEntries so far, including ones this node already had.
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// `(with entries, empty)` so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.with_entries.load(Ordering::Relaxed),
            self.empty.load(Ordering::Relaxed),
        )
    }
}

impl std::fmt::Debug for NodeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeCore(n{} {})", self.id, self.addr)
    }
}

/// What the write gate decides from: openraft's metrics and this node's own flags, read
/// together.
#[derive(Debug, Clone)]
pub(super) struct GateView {
    /// openraft's core stopped (storage error, panic, shutdown).
    pub stopped: Option<Fatal<NodeId>>,
    pub fsync_failed: bool,
    pub leader: bool,
    pub transferring: bool,
    pub voters: usize,
    pub millis_since_quorum_ack: Option<u64>,
    pub lease_ms: u64,
}

/// Why a write may not be proposed now, or `None` if it may. The order matters: a node that
/// cannot commit at all says so rather than sending clients to a leader (`leader_hint`, asked
/// only for a node that does not lead); a leader refuses while it hands leadership over or
/// while it has not heard from a quorum within the lease, since it may have been deposed.
pub(super) fn refuse(
    v: GateView,
    leader_hint: impl FnOnce() -> Option<(NodeId, String)>,
) -> Option<WriteError> {
    if let Some(f) = v.stopped {
        return Some(WriteError::Fatal(f.into()));
    }
    if v.fsync_failed {
        return Some(WriteError::Fatal(FatalError::FsyncFailed));
    }
    if !v.leader {
        return Some(WriteError::NotLeader {
            leader: leader_hint(),
        });
    }
    if v.transferring {
        return Some(WriteError::Transferring);
    }
    match v.millis_since_quorum_ack {
        Some(ms) if v.voters > 1 && ms > v.lease_ms => Some(WriteError::NoQuorum { millis: ms }),
        _ => None,
    }
}

impl NodeCore {
    /// This node's id in its group (`dLegerSelfId`'s number, or the brokerId).
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's peer (Raft) address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// How this node takes part in its group.
    pub fn role(&self) -> GroupRole {
        self.role
    }

    fn gate_view(&self) -> GateView {
        // Read what the checks need without cloning the metrics (this runs once per write).
        let rx = self.raft.metrics();
        let m = rx.borrow();
        GateView {
            stopped: m.running_state.as_ref().err().cloned(),
            fsync_failed: self.log.fsync_failed(),
            leader: m.state == ServerState::Leader,
            transferring: self.transferring.load(Ordering::SeqCst),
            voters: m.membership_config.membership().voter_ids().count(),
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            lease_ms: self.timing.lease.as_millis() as u64,
        }
    }

    /// Replicates `cmd` and returns once it is committed by a quorum and applied here. Never
    /// returns Ok for an entry that is not committed: a deposed leader's pending writes fail.
    pub async fn write(&self, cmd: LogCommand) -> Result<WriteOk, WriteError> {
        // Counted before the gate is read, so a transfer that closed the gate and then saw
        // the batcher idle cannot be followed by a write that passed the gate (a refused one
        // uncounts itself when its admission drops).
        let admission = self.batcher.admit();
        if let Some(e) = refuse(self.gate_view(), || self.leader_hint()) {
            return Err(e);
        }
        let (log_id, result) = self
            .batcher
            .submit_admitted(admission, cmd, self.write_timeout)
            .await?;
        Ok(WriteOk { log_id, result })
    }

    /// TEST-ONLY (`unsafeAckBeforeCommit`, refused at start-up unless `LEDGERMQ_UNSAFE=1`):
    /// proposes `cmd` straight to openraft (not through the batcher, whose two-proposal window
    /// would stall a partitioned leader) and returns as soon as this leader's own log has grown
    /// past where it stood before the proposal, without waiting for a quorum to commit. It
    /// exists so the Jepsen suite can prove its checker catches lost acknowledged writes: a
    /// leader cut off from its peers still appends locally, so what it answers here is later
    /// truncated by the new leader. The commit outcome is only logged.
    pub async fn write_acked_on_append(&self, cmd: LogCommand) -> Result<(), WriteError> {
        let mut metrics = self.raft.metrics();
        let before = metrics.borrow().last_log_index;
        let committed = self
            .raft
            .client_write_ff(cmd)
            .await
            .map_err(|e| WriteError::Fatal(e.into()))?;
        tokio::spawn(async move {
            if !matches!(committed.await, Ok(Ok(_))) {
                tracing::warn!(
                    "unsafeAckBeforeCommit: an already acknowledged write did not commit"
                );
            }
        });
        let appended = async {
            loop {
                if metrics.borrow_and_update().last_log_index > before {
                    return Ok(());
                }
                if metrics.changed().await.is_err() {
                    return Err(WriteError::Fatal(FatalError::Stopped));
                }
            }
        };
        match tokio::time::timeout(self.write_timeout, appended).await {
            Ok(r) => r,
            Err(_) => Err(WriteError::Timeout {
                millis: self.write_timeout.as_millis() as u64,
            }),
        }
    }
}
