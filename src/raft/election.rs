//! Elections: pre-vote, and leadership transfer to `preferredLeaderId`.
//!
//! openraft 0.9 has no pre-vote: a node cut off from the group keeps starting elections, and
//! when it comes back its higher term deposes the healthy leader. So LedgerMQ turns openraft's
//! own election timer off and drives elections here. A follower that has not heard from a leader
//! for a randomised timeout first asks the voters whether they would vote for it; they say yes
//! only if they have not heard from a leader recently either and its log is at least as
//! up-to-date as theirs. Only with a quorum of yeses does it start a real election. A rejoining
//! node never gets that quorum while the leader is healthy, so it never disturbs it.
//!
//! Leadership transfer: a leader that is not the preferred node waits until the preferred node
//! has caught up, pauses new writes, waits for the preferred node to match its last index, and
//! asks it to start an election now (`TimeoutNow`). The old leader grants the vote (its own
//! lease is long expired, and the candidate's log is as long as its own), which is a quorum in a
//! group of three.
//!
//! Hand-off at shutdown: a leader stopped gracefully (SIGTERM, `mqshutdown`) hands leadership to
//! its most caught-up follower the same way before its Raft node stops, so the group has a new
//! leader within a round trip instead of after a follower's election timeout (¾E..1¼E).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use openraft::ServerState;
use parking_lot::Mutex;
use rand::Rng;
use tokio::sync::watch;

use super::codec::log_id_of;
use super::node::NodeCore;
use super::rpc::{PeerRequest, PeerResponse, PreVoteRequest, PreVoteResponse};
use super::types::NodeId;

/// How far (in entries) the preferred leader may trail the leader and still count as ready
/// for a leadership transfer.
const TRANSFER_READY_LAG: u64 = 64;

/// Timing derived from `raftElectionTimeoutMs` (E) and `raftHeartbeatIntervalMs`.
#[derive(Debug, Clone, Copy)]
pub struct ElectionTiming {
    pub heartbeat: Duration,
    /// A follower starts a pre-vote after a random silence in `[timeout_min, timeout_max]`
    /// (¾E..1¼E).
    pub timeout_min: Duration,
    pub timeout_max: Duration,
    /// Hearing from a leader within this (⅝E) makes a node refuse pre-votes and votes.
    pub lease: Duration,
}

impl ElectionTiming {
    pub fn new(heartbeat_ms: u64, election_timeout_ms: u64) -> ElectionTiming {
        let e = election_timeout_ms.max(4 * heartbeat_ms).max(40);
        ElectionTiming {
            heartbeat: Duration::from_millis(heartbeat_ms.max(1)),
            timeout_min: Duration::from_millis(e * 3 / 4),
            timeout_max: Duration::from_millis(e * 5 / 4),
            lease: Duration::from_millis(e * 5 / 8),
        }
    }

    fn random_timeout(&self) -> Duration {
        let min = self.timeout_min.as_millis() as u64;
        let max = self.timeout_max.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(min..=max))
    }
}

/// When this node last heard from a leader it accepted.
#[derive(Debug)]
pub struct LeaderContact {
    last: Mutex<Instant>,
}

impl Default for LeaderContact {
    fn default() -> Self {
        LeaderContact {
            last: Mutex::new(Instant::now()),
        }
    }
}

impl LeaderContact {
    pub fn touch(&self) {
        *self.last.lock() = Instant::now();
    }

    pub fn elapsed(&self) -> Duration {
        self.last.lock().elapsed()
    }
}

/// Answers a pre-vote request without changing any state.
pub fn handle_prevote(core: &NodeCore, req: &PreVoteRequest) -> PreVoteResponse {
    let m = core.raft.metrics().borrow().clone();
    let deny = |reason: String| PreVoteResponse {
        granted: false,
        reason,
    };
    let lease = core.timing.lease;
    if m.state == ServerState::Leader {
        let healthy = core.voter_count() <= 1
            || m.millis_since_quorum_ack
                .is_some_and(|ms| ms < lease.as_millis() as u64);
        if healthy {
            return deny(format!("n{} is a healthy leader", core.id));
        }
    } else if m.current_leader.is_some_and(|l| l != req.candidate) && core.contact.elapsed() < lease
    {
        return deny(format!(
            "heard from leader n{} {} ms ago",
            m.current_leader.unwrap_or_default(),
            core.contact.elapsed().as_millis()
        ));
    }
    let mine = core
        .log
        .last_meta()
        .map(|m| log_id_of(&m))
        .or(core.meta.purged());
    if req.last_log_id < mine {
        return deny(format!(
            "candidate log {:?} is behind mine {:?}",
            req.last_log_id, mine
        ));
    }
    PreVoteResponse {
        granted: true,
        reason: String::new(),
    }
}

/// Starts an election at once if `from` is this node's leader (leadership transfer).
pub async fn handle_timeout_now(core: &NodeCore, from: NodeId) -> bool {
    let leader = core.raft.metrics().borrow().current_leader;
    if leader != Some(from) {
        tracing::info!(
            from,
            ?leader,
            "ignoring TimeoutNow from a node that is not my leader"
        );
        return false;
    }
    tracing::info!(from, "leader asked me to take over; starting an election");
    core.raft.trigger().elect().await.is_ok()
}

/// Runs until `shutdown` turns true.
pub async fn run(core: Arc<NodeCore>, mut shutdown: watch::Receiver<bool>) {
    let tick =
        (core.timing.heartbeat / 2).clamp(Duration::from_millis(10), Duration::from_millis(50));
    let mut deadline = core.timing.random_timeout();
    let mut leader_since: Option<Instant> = None;
    let mut preferred_ready_since: Option<Instant> = None;
    let mut next_transfer_try = Instant::now();
    let mut wait = tick;
    let mut last_elapsed = Duration::ZERO;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        // Wake at the election deadline itself, not at the next tick: with a coarse tick two
        // followers that last heard the leader at the same heartbeat often fire in the same
        // tick and split the vote, which costs a whole extra election timeout.
        // Heard from a leader since the last look: the next timeout counts afresh from that
        // contact. Without this, a node whose pre-votes failed while it was cut off (or just
        // restarted) keeps the longer deadline those failures left, and later takes seconds,
        // not one timeout, to notice its leader died.
        let elapsed = core.contact.elapsed();
        if elapsed < last_elapsed {
            deadline = core.timing.random_timeout();
        }
        last_elapsed = elapsed;
        wait = if core.is_voter() {
            deadline
                .saturating_sub(core.contact.elapsed())
                .clamp(Duration::from_millis(1), tick)
        } else {
            tick
        };
        if *shutdown.borrow() {
            return;
        }
        let m = core.raft.metrics().borrow().clone();
        if let Err(e) = &m.running_state {
            tracing::error!(error = %e, "raft core stopped; this node no longer takes part in elections until it is restarted");
            return;
        }
        if m.state == ServerState::Leader {
            core.contact.touch();
            let since = *leader_since.get_or_insert_with(Instant::now);
            if let Some(pref) = core.preferred_leader {
                if pref != core.id
                    && since.elapsed() > core.timing.lease * 2
                    && Instant::now() >= next_transfer_try
                {
                    // "Caught up" within a few entries: under steady load the preferred node is
                    // nearly always one round behind at any given tick, and requiring an exact
                    // match here kept leadership from ever returning to it. The transfer itself
                    // pauses writes and waits for the exact match.
                    let caught_up = m
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(&pref).cloned().flatten())
                        .is_some_and(|matched| {
                            m.last_log_index.unwrap_or(0).saturating_sub(matched.index)
                                <= TRANSFER_READY_LAG
                        });
                    if caught_up {
                        let ready = *preferred_ready_since.get_or_insert_with(Instant::now);
                        if ready.elapsed() >= Duration::from_secs(2) {
                            if !transfer_leadership(&core, pref, "preferred leader caught up").await
                            {
                                next_transfer_try = Instant::now() + Duration::from_secs(10);
                            }
                            preferred_ready_since = None;
                        }
                    } else {
                        preferred_ready_since = None;
                    }
                }
            }
            continue;
        }
        leader_since = None;
        preferred_ready_since = None;
        if !core.is_voter() || core.contact.elapsed() < deadline {
            continue;
        }
        let asked = Instant::now();
        if prevote(&core, m.current_term).await && !leader_appeared(&core, m.current_term, asked) {
            tracing::info!(
                term = m.current_term + 1,
                "pre-vote won; starting an election"
            );
            if let Err(e) = core.raft.trigger().elect().await {
                tracing::warn!(error = %e, "cannot start election");
                return;
            }
        }
        // Next attempt after another random timeout, counted from now.
        deadline = core.contact.elapsed() + core.timing.random_timeout();
    }
}

/// True if, while our pre-vote was out, a leader made contact or the term moved on. A grant
/// is only a promise at the moment it was given: a peer that granted and then won its own
/// election a moment later would be deposed by the election our stale grant starts (seen
/// when a paused node makes every pre-vote wait out its timeout).
fn leader_appeared(core: &NodeCore, term: u64, asked: Instant) -> bool {
    let m = core.raft.metrics().borrow().clone();
    m.current_term != term || core.contact.elapsed() < asked.elapsed()
}

/// Asks every other voter; true as soon as a quorum (this node included) would vote for us,
/// without waiting for a peer that does not answer (paused or cut off).
async fn prevote(core: &Arc<NodeCore>, term: u64) -> bool {
    let last_log_id = core
        .log
        .last_meta()
        .map(|m| log_id_of(&m))
        .or(core.meta.purged());
    let req = PreVoteRequest {
        candidate: core.id,
        next_term: term + 1,
        last_log_id,
    };
    let voters = core.voters();
    let quorum = voters.len() / 2 + 1;
    let mut granted = 1usize;
    let timeout = (core.timing.heartbeat * 3).max(Duration::from_millis(100));
    let calls = voters
        .into_iter()
        .filter(|(id, _)| *id != core.id)
        .map(|(id, addr)| {
            let client = core.registry.get(id, &addr);
            let req = PeerRequest::PreVote(req.clone());
            async move { (id, client.call(req, timeout).await) }
        });
    let mut reasons = Vec::new();
    let mut pending: futures::stream::FuturesUnordered<_> = calls.collect();
    while let Some((id, r)) = pending.next().await {
        match r {
            Ok(PeerResponse::PreVote(v)) if v.granted => {
                granted += 1;
                if granted >= quorum {
                    break;
                }
            }
            Ok(PeerResponse::PreVote(v)) => reasons.push(format!("n{id}: {}", v.reason)),
            Ok(_) => reasons.push(format!("n{id}: unexpected answer")),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    if granted < quorum {
        tracing::debug!(granted, quorum, ?reasons, "pre-vote lost");
    }
    granted >= quorum
}

/// Before a graceful stop: if this node leads its group, hands leadership to the voter whose
/// log matches most of its own. Returns the new leader's id if leadership moved. Bounded by
/// [`transfer_leadership`]'s waits (a second for the target to catch up, two election
/// timeouts for it to win), so a stop never hangs on an unreachable group.
pub async fn hand_off(core: &Arc<NodeCore>) -> Option<NodeId> {
    let m = core.raft.metrics().borrow().clone();
    if m.state != ServerState::Leader || core.transferring.load(Ordering::SeqCst) {
        return None;
    }
    let target = m
        .replication
        .as_ref()?
        .iter()
        .filter(|(id, _)| **id != core.id)
        .filter_map(|(id, matched)| matched.as_ref().map(|l| (l.index, *id)))
        .max()?
        .1;
    if !core.voters().iter().any(|(id, _)| *id == target) {
        return None;
    }
    transfer_leadership(core, target, "stopping")
        .await
        .then_some(target)
}

/// Hands leadership to `target`; `why` names the reason in the logs. Returns true if it moved.
async fn transfer_leadership(core: &Arc<NodeCore>, target: NodeId, why: &str) -> bool {
    let Some(addr) = core
        .voters()
        .into_iter()
        .find(|(id, _)| *id == target)
        .map(|(_, a)| a)
    else {
        return false;
    };
    // The old leader's vote is what elects the target (the other followers' leases hold),
    // and openraft refuses any vote within the lease of its own vote's last change, which for
    // a leader is its election: a leader elected moments ago waits that out first, before
    // pausing writes. (A stop right after an election used to leave the group to a
    // follower's timeout and a second election.)
    let settle = core.timing.lease + Duration::from_millis(20);
    if let Some(since) = core.since_leader_change() {
        if since < settle {
            tokio::time::sleep(settle - since).await;
        }
    }
    tracing::info!(target, why, "transferring leadership");
    core.transferring.store(true, Ordering::SeqCst);
    let moved = async {
        // Let in-flight writes replicate so the target's log is as long as ours: nothing
        // queued or proposed in the batcher (a proposal sent to openraft but not yet appended
        // is not in `last_log_index` yet, and would make our log longer than the target's,
        // so we would refuse it our vote), and the target matching. `transferring` is set
        // and writers count themselves before reading it (`NodeCore::write`), both SeqCst,
        // so once the batcher is seen idle no write that passed the gate is still to come;
        // the log is read after that, so it holds every one of them.
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let idle = core.batcher.is_idle();
            let m = core.raft.metrics().borrow().clone();
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&target).cloned().flatten())
                .map(|l| l.index);
            if idle && matched.is_some() && matched == m.last_log_index {
                break;
            }
            if Instant::now() > deadline {
                tracing::info!(target, why, "the target did not catch up; no transfer");
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let term = core.raft.metrics().borrow().current_term;
        let client = core.registry.get(target, &addr);
        match client
            .call(
                PeerRequest::TimeoutNow {
                    from: core.id,
                    term,
                },
                Duration::from_millis(500),
            )
            .await
        {
            Ok(PeerResponse::TimeoutNow(true)) => {}
            other => {
                tracing::info!(target, why, ?other, "the target declined TimeoutNow");
                return false;
            }
        }
        // Done once another node leads, not as soon as this one steps down: it steps down on
        // the target's vote request, before its vote has reached the target, and a node
        // that is stopping must stay up until then or the target's election fails.
        let deadline = Instant::now() + core.timing.timeout_max * 2;
        let mut stepped_down = false;
        while Instant::now() < deadline {
            let (state, leader) = {
                let m = core.raft.metrics();
                let m = m.borrow();
                (m.state, m.current_leader)
            };
            stepped_down = state != ServerState::Leader;
            if stepped_down && leader.is_some_and(|l| l != core.id) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if stepped_down {
            // Counts as moved (this node no longer leads), but say what was seen.
            tracing::warn!(
                target,
                why,
                "stepped down for a transfer; no other node leads yet"
            );
        }
        stepped_down
    }
    .await;
    core.transferring.store(false, Ordering::SeqCst);
    if moved && core.leader_id().is_some_and(|l| l != core.id) {
        tracing::info!(target, why, "leadership transferred");
    }
    moved
}
