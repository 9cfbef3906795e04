//! What a running node answers without writing: its Raft view (leader, members, status), the
//! broker's read model, and committed entries for the admin client and the tests.
//!
//! The broker uses these instead of reaching into openraft, the CommitLog or the state
//! machine, so that what it may see (committed data only) is decided here.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::metrics::RaftServerMetrics;
use openraft::ServerState;
use tokio::sync::watch;

use super::node_core::{AppendStats, NodeCore};
use crate::message::StoredMessageView;
use crate::raft::broker_state::BrokerState;
use crate::raft::codec::{self, EntryCodecError};
use crate::raft::rpc::{NodeStatus, ReadEntry};
use crate::raft::types::{LogId, NodeId, PeerNode, Raft};
use crate::store::{CommitLog, LogDigest, StoreError};

/// openraft's server metrics as a watch: it changes only with the vote, role, leader or
/// membership, not with every append and commit as the full metrics do.
pub type MetricsWatch = watch::Receiver<RaftServerMetrics<NodeId, PeerNode>>;

/// Why committed entries could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadCommittedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Codec(#[from] EntryCodecError),
}

/// Why a digest of the CommitLog could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// Only applied (committed) entries are digested, so nodes compare like with like.
    #[error("index {upto} is not applied on n{node} (applied {applied:?})")]
    NotApplied {
        upto: u64,
        node: NodeId,
        applied: Option<u64>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NodeCore {
    /// Every member: id → address, voters and learners (a master/slave group's slaves), from
    /// the effective membership.
    pub fn members(&self) -> Vec<(NodeId, String)> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect()
    }

    /// Current voters: id → address, from the effective membership.
    pub fn voters(&self) -> Vec<(NodeId, String)> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        let membership = m.membership();
        membership
            .voter_ids()
            .map(|id| {
                let addr = membership
                    .get_node(&id)
                    .map(|n| n.addr.clone())
                    .unwrap_or_default();
                (id, addr)
            })
            .collect()
    }

    /// True if this node is the leader and has heard from a quorum within the lease: the
    /// condition for accepting writes and for registering as master.
    pub fn is_leader(&self) -> bool {
        let rx = self.raft.metrics();
        let m = rx.borrow();
        m.state == ServerState::Leader
            && m.running_state.is_ok()
            && (m.membership_config.membership().voter_ids().count() <= 1
                || m.millis_since_quorum_ack
                    .is_some_and(|ms| ms <= self.timing.lease.as_millis() as u64))
    }

    /// The leader this node knows of, if any (it may be this node).
    pub fn leader_id(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// openraft's role for this node (Leader, Follower, Candidate, Learner, Shutdown), without
    /// the lease check of [`Self::is_leader`].
    pub fn server_state(&self) -> ServerState {
        self.raft.metrics().borrow().state
    }

    /// Waits, at most `max`, until this node counts as leader by [`Self::is_leader`] (it has
    /// heard from a quorum within the lease), and returns whether it does; returns false at
    /// once when it is not openraft's leader at all. A new leader's server metrics say
    /// Leader a moment before its full metrics show the quorum's first answer.
    pub async fn wait_lease(&self, max: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + max;
        let mut full = self.raft.metrics();
        loop {
            if self.is_leader() {
                return true;
            }
            // The server metrics are sent first: judge "not leader at all" by them.
            full.borrow_and_update();
            if self.raft.server_metrics().borrow().state != ServerState::Leader {
                return false;
            }
            match tokio::time::timeout_at(deadline, full.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return self.is_leader(),
            }
        }
    }

    /// A watch that wakes on a change of this node's role, leader, vote or membership: for
    /// tasks that re-check [`Self::is_leader`] when the role may have changed (the lease is
    /// not in it: see `broker/register.rs` for how a master keeps track of that).
    ///
    /// Wakes its holder on a change of role or leader. A task that waited on the full
    /// metrics instead woke for every entry, which costs a cross-thread wake per entry now
    /// that the node runs on its own thread (`node/thread.rs`).
    pub fn watch_metrics(&self) -> MetricsWatch {
        self.raft.server_metrics()
    }

    pub fn voter_count(&self) -> usize {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .count()
    }

    pub fn is_voter(&self) -> bool {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .any(|id| id == self.id)
    }

    /// The leader's id and peer address, for a write refused with `NotLeader`.
    pub(super) fn leader_hint(&self) -> Option<(NodeId, String)> {
        let m = self.raft.metrics().borrow().clone();
        if m.running_state.is_err() || m.state == ServerState::Shutdown {
            return None;
        }
        let leader = m.current_leader?;
        let addr = self
            .voters()
            .into_iter()
            .find(|(id, _)| *id == leader)
            .map(|(_, a)| a)?;
        Some((leader, addr))
    }

    pub fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        let replication = m
            .replication
            .as_ref()
            .map(|r| r.iter().map(|(id, l)| (*id, l.map(|l| l.index))).collect())
            .unwrap_or_default();
        NodeStatus {
            id: self.id,
            addr: self.addr.clone(),
            state: format!("{:?}", m.state),
            term: m.current_term,
            leader: m.current_leader,
            first_index: self.log.first_index(),
            last_index: m.last_log_index,
            // Applied entries are committed even when the hint file lags (e.g. after a
            // snapshot install).
            committed: self
                .meta
                .committed()
                .map(|c| c.index)
                .max(m.last_applied.map(|l| l.index)),
            applied: m.last_applied.map(|l| l.index),
            commit_log_min_offset: self.log.min_offset(),
            commit_log_max_offset: self.log.max_offset(),
            replication,
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            leader_changes: self.leader_changes.load(Ordering::Relaxed),
            millis_since_leader_change: self.since_leader_change().map(|t| t.as_millis() as u64),
        }
    }

    /// How long ago this node last saw a new leader (or the same one in a new term).
    pub(in crate::raft) fn since_leader_change(&self) -> Option<std::time::Duration> {
        self.leader_changed_at.lock().map(|t| t.elapsed())
    }

    /// Records that a new leader (or the same one in a new term) was seen.
    pub(super) fn on_leader_change(&self) {
        self.leader_changes.fetch_add(1, Ordering::Relaxed);
        *self.leader_changed_at.lock() = Some(Instant::now());
    }

    /// The broker's read model, kept by the state machine from committed entries only:
    /// topics, consumer offsets, ConsumeQueues (and the CommitLog bytes they point at), the
    /// key index and the wake-ups for long polling.
    pub fn broker_state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    /// The CommitLog offset the next record will be written at (RocketMQ's max physical
    /// offset).
    pub fn commit_log_max_offset(&self) -> u64 {
        self.log.max_offset()
    }

    /// `(segment files, bytes they reserve on disk)` of the CommitLog.
    pub fn commit_log_usage(&self) -> (usize, u64) {
        self.log.disk_usage()
    }

    /// Store time of the oldest message still in the CommitLog (clusterList's `#Hour`).
    pub fn earliest_message_time(&self) -> Option<i64> {
        let first = self.log.first_index()?;
        let last = self.log.last_index()?;
        // Skip the few non-message entries (membership, blank, topics) at the start.
        for rec in self
            .log
            .read_range(first, last.min(first + 64) + 1, 1 << 20)
            .ok()?
        {
            let items = codec::record_items(rec.meta.kind, &rec.payload)
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            for item in items {
                if item.kind == codec::KIND_MESSAGE || item.kind == codec::KIND_BATCH {
                    if let Ok(v) = StoredMessageView::parse(&item.payload) {
                        return Some(v.store_timestamp());
                    }
                }
            }
        }
        None
    }

    /// The last entry the state machine applied.
    pub fn last_applied(&self) -> Option<LogId> {
        self.sm.last_applied()
    }

    /// Committed (applied) entries from `from`, at most `max`; never anything uncommitted.
    pub fn read_committed(
        &self,
        from: u64,
        max: usize,
    ) -> Result<Vec<ReadEntry>, ReadCommittedError> {
        let Some(applied) = self.sm.last_applied().map(|l| l.index) else {
            return Ok(Vec::new());
        };
        if from > applied {
            return Ok(Vec::new());
        }
        let end = applied
            .saturating_add(1)
            .min(from.saturating_add(max as u64));
        let records = self.log.read_range(from, end, 4 << 20)?;
        records
            .into_iter()
            .map(|r| {
                let items = codec::items(r.meta.index, r.meta.kind, &r.payload)?;
                Ok(ReadEntry {
                    log_id: codec::log_id_of(&r.meta),
                    kind: r.meta.kind,
                    payload: r.payload,
                    items,
                })
            })
            .collect()
    }

    /// CRC of this node's CommitLog bytes for indices `from..=upto`, all of them applied.
    pub fn digest(&self, from: u64, upto: u64) -> Result<LogDigest, DigestError> {
        let applied = self.sm.last_applied().map(|l| l.index);
        if applied.is_none_or(|a| upto > a) {
            return Err(DigestError::NotApplied {
                upto,
                node: self.id,
                applied,
            });
        }
        Ok(self.log.digest(from, upto)?)
    }

    /// openraft's handle, for tools and tests that drive or inspect Raft itself (`bench
    /// raft`, the storage and failover tests). The broker uses the named queries above.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The CommitLog itself, for tools and tests that check its bytes (digests, reads by
    /// offset after a restart). The broker reads through [`Self::broker_state`].
    pub fn commit_log(&self) -> &Arc<CommitLog> {
        &self.log
    }

    /// AppendEntries this node received as a follower (`bench raft`).
    pub fn append_stats(&self) -> &AppendStats {
        &self.append_stats
    }
}
