//! A running Raft node: the CommitLog, the state machine, openraft, the peer server and the
//! election driver, started together from a broker's configuration and stopped together.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use openraft::{ChangeMembers, ServerState, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::batcher::{BatchLimits, WriteBatcher};
use super::broker_state::BrokerState;
use super::codec;
use super::election::{self, ElectionTiming, LeaderContact};
use super::log_store::LogStore;
use super::meta::RaftMeta;
use super::network::{Network, PeerRegistry};
use super::retention::{self, RetentionPolicy};
use super::rpc::{NodeStatus, PeerRequest, PeerResponse, ReadEntry, WriteError, WriteOk};
use super::server;
use super::state_machine::StateMachine;
use super::types::{LogCommand, NodeId, PeerNode, Raft};
use crate::config::{BrokerConfig, BrokerRole, FlushDiskType};
use crate::store::{CommitLog, CommitLogConfig, FlushMode, LogDigest};

/// How a node takes part in its group. One replication engine serves RocketMQ's DLedger mode and
/// its fixed master/slave modes; only who may vote and who forms the group differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRole {
    /// DLedger: one of the voters in `peers`; elections decide who leads.
    Voter,
    /// A RocketMQ master (`ASYNC_MASTER`/`SYNC_MASTER`): the only voter, so it commits alone and
    /// never fails over; slaves that ask are added as learners.
    Master,
    /// A RocketMQ slave: a learner that asks its master to replicate to it and never leads.
    Slave,
}

/// Everything a Raft node needs, independent of how it was configured.
#[derive(Debug, Clone)]
pub struct RaftNodeConfig {
    pub node_id: NodeId,
    /// Voters of the group, this node included: id → peer address.
    pub peers: BTreeMap<NodeId, String>,
    pub group: String,
    pub commit_log_dir: PathBuf,
    pub checkpoint_path: PathBuf,
    pub raft_dir: PathBuf,
    pub consume_queue_dir: PathBuf,
    pub abort_file: PathBuf,
    pub segment_size: u64,
    pub consume_queue_file_size: u64,
    pub flush: FlushMode,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_logs_since_last: u64,
    pub preferred_leader: Option<NodeId>,
    /// How long a write may wait for its commit before the caller gets `Timeout`.
    pub write_timeout: Duration,
    pub retention: RetentionPolicy,
    /// Group commit: how writes are gathered into entries.
    pub batch: BatchLimits,
    pub role: GroupRole,
    /// A slave's master HA (Raft) address when configured (`haMasterAddress`); otherwise the
    /// broker learns it from the name server and calls [`NodeCore::set_master_hint`].
    pub master_hint: Option<String>,
}

impl RaftNodeConfig {
    /// The Raft part of a validated `broker.conf`.
    pub fn from_broker_config(c: &BrokerConfig) -> RaftNodeConfig {
        let peers = c
            .raft_peers()
            .into_iter()
            .map(|p| (p.node_id, p.addr))
            .collect();
        let preferred_leader = c
            .preferred_leader_id
            .as_deref()
            .and_then(|id| c.d_leger_peers.iter().find(|p| p.id == id))
            .map(|p| p.node_id);
        let role = match (c.enable_d_leger_commit_log, c.broker_role) {
            (true, _) => GroupRole::Voter,
            (false, BrokerRole::Slave) => GroupRole::Slave,
            (false, BrokerRole::AsyncMaster | BrokerRole::SyncMaster) => GroupRole::Master,
        };
        RaftNodeConfig {
            role,
            master_hint: c.ha_master_address.clone(),
            node_id: c.self_node_id(),
            peers,
            group: c.d_leger_group.clone(),
            commit_log_dir: c.store_path_commit_log.clone(),
            checkpoint_path: c.store_checkpoint.clone(),
            raft_dir: c.store_path_root_dir.join("raft"),
            consume_queue_dir: c.store_path_consume_queue.clone(),
            abort_file: c.abort_file.clone(),
            segment_size: c.mapped_file_size_commit_log,
            consume_queue_file_size: c.mapped_file_size_consume_queue,
            flush: match c.flush_disk_type {
                FlushDiskType::SyncFlush => FlushMode::Sync,
                FlushDiskType::AsyncFlush => FlushMode::Async {
                    interval: Duration::from_millis(c.flush_interval_commit_log),
                },
            },
            heartbeat_ms: c.raft_heartbeat_interval_ms,
            election_timeout_ms: c.raft_election_timeout_ms,
            snapshot_logs_since_last: c.raft_snapshot_logs_since_last,
            preferred_leader,
            write_timeout: Duration::from_secs(3),
            batch: BatchLimits::default(),
            retention: RetentionPolicy {
                reserved: Duration::from_secs(c.file_reserved_time.saturating_mul(3600)),
                delete_hours: c.delete_when.clone(),
                max_used_ratio: c.disk_max_used_space_ratio,
                interval: Duration::from_millis(c.clean_resource_interval),
            },
        }
    }

    pub fn self_addr(&self) -> Option<&str> {
        self.peers.get(&self.node_id).map(String::as_str)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("node n{0} is not among the configured peers")]
    NotAPeer(NodeId),
    #[error("cannot listen on {addr} (the Raft port from dLegerPeers): {source}; is another node using it?")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("commit log: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("raft metadata: {0}")]
    Meta(#[from] super::meta::MetaError),
    #[error("state machine: {0}")]
    StateMachine(#[from] super::state_machine::StateMachineError),
    #[error("raft config: {0}")]
    RaftConfig(#[from] openraft::ConfigError),
    #[error("raft: {0}")]
    Raft(String),
}

/// The parts of a running node shared by the server, the election driver and the broker.
pub struct NodeCore {
    pub id: NodeId,
    pub addr: String,
    pub raft: Raft,
    pub log: Arc<CommitLog>,
    pub meta: Arc<RaftMeta>,
    pub state: Arc<BrokerState>,
    pub sm: StateMachine,
    pub contact: LeaderContact,
    pub registry: PeerRegistry,
    pub timing: ElectionTiming,
    pub preferred_leader: Option<NodeId>,
    /// Set while leadership is being handed to the preferred leader: new writes are refused
    /// with a retryable error so the target can catch up.
    pub transferring: AtomicBool,
    /// Elections seen (for `/metrics` and the dashboard's Raft page), kept by `watch_role`.
    pub leader_changes: AtomicU64,
    leader_changed_at: parking_lot::Mutex<Option<std::time::Instant>>,
    pub role: GroupRole,
    /// A slave's idea of where its master's HA port is.
    master_hint: parking_lot::Mutex<Option<String>>,
    batcher: WriteBatcher,
    write_timeout: Duration,
    /// AppendEntries this node has received as a follower (for `bench raft`).
    pub append_stats: AppendStats,
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

/// Why a SYNC_MASTER could not confirm that a slave holds a message (which is stored and
/// committed on the master either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaveWait {
    /// No slave has answered recently (RocketMQ's SLAVE_NOT_AVAILABLE).
    NotAvailable,
    /// A slave is connected but did not confirm in time (FLUSH_SLAVE_TIMEOUT).
    Timeout,
}

impl std::fmt::Debug for NodeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeCore(n{} {})", self.id, self.addr)
    }
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

    fn leader_hint(&self) -> Option<(NodeId, String)> {
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

    /// Replicates `cmd` and returns once it is committed by a quorum and applied here. Never
    /// returns Ok for an entry that is not committed: a deposed leader's pending writes fail.
    pub async fn write(&self, cmd: LogCommand) -> Result<WriteOk, WriteError> {
        // Read what the checks need without cloning the metrics (this runs once per write).
        let (fatal, is_leader, quorum_ack_ms, voters) = {
            let rx = self.raft.metrics();
            let m = rx.borrow();
            (
                m.running_state.as_ref().err().map(|f| f.to_string()),
                m.state == ServerState::Leader,
                m.millis_since_quorum_ack,
                m.membership_config.membership().voter_ids().count(),
            )
        };
        // A core stopped by a storage error must not send clients around in circles.
        if let Some(f) = fatal {
            return Err(WriteError::Fatal(f));
        }
        if self.log.fsync_failed() {
            return Err(WriteError::Fatal(
                "an fsync of the commit log failed; restart this node so recovery re-verifies its log".into(),
            ));
        }
        if !is_leader {
            return Err(WriteError::NotLeader {
                leader: self.leader_hint(),
            });
        }
        if self.transferring.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(WriteError::Transferring);
        }
        if voters > 1 {
            if let Some(ms) = quorum_ack_ms {
                if ms > self.timing.lease.as_millis() as u64 {
                    return Err(WriteError::NoQuorum { millis: ms });
                }
            }
        }
        let (log_id, result) = self.batcher.submit(cmd, self.write_timeout).await?;
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
            .map_err(|e| WriteError::Fatal(e.to_string()))?;
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
                    return Err(WriteError::Fatal("raft stopped".into()));
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
    pub async fn admit_learner(&self, id: NodeId, addr: String) -> Result<(), String> {
        if self.role != GroupRole::Master {
            return Err(format!(
                "n{} at {} is not a master (brokerRole); slaves replicate from a master",
                self.id, self.addr
            ));
        }
        if !self.is_leader() {
            return Err(format!("master n{} is still starting up", self.id));
        }
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let membership = membership.membership();
        if membership.voter_ids().any(|v| v == id) {
            return Err(format!(
                "brokerId {id} is this group's master; a slave needs its own brokerId > 0"
            ));
        }
        let change = match membership.get_node(&id) {
            Some(n) if n.addr == addr => return Ok(()),
            // A slave that moved: replacing a learner's address cannot split a vote.
            Some(_) => ChangeMembers::SetNodes([(id, PeerNode { addr: addr.clone() })].into()),
            None => ChangeMembers::AddNodes([(id, PeerNode { addr: addr.clone() })].into()),
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(|e| format!("cannot add slave n{id} at {addr}: {e}"))?;
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
            millis_since_leader_change: self
                .leader_changed_at
                .lock()
                .map(|t| t.elapsed().as_millis() as u64),
        }
    }

    /// Records that a new leader (or the same one in a new term) was seen.
    fn on_leader_change(&self) {
        self.leader_changes.fetch_add(1, Ordering::Relaxed);
        *self.leader_changed_at.lock() = Some(std::time::Instant::now());
    }

    /// Committed (applied) entries from `from`, at most `max`; never anything uncommitted.
    pub fn read_committed(&self, from: u64, max: usize) -> Result<Vec<ReadEntry>, String> {
        let Some(applied) = self.sm.last_applied().map(|l| l.index) else {
            return Ok(Vec::new());
        };
        if from > applied {
            return Ok(Vec::new());
        }
        let end = applied
            .saturating_add(1)
            .min(from.saturating_add(max as u64));
        let records = self
            .log
            .read_range(from, end, 4 << 20)
            .map_err(|e| e.to_string())?;
        records
            .into_iter()
            .map(|r| {
                let items = codec::items(r.meta.index, r.meta.kind, &r.payload)
                    .map_err(|e| e.to_string())?;
                Ok(ReadEntry {
                    log_id: codec::log_id_of(&r.meta),
                    kind: r.meta.kind,
                    payload: r.payload,
                    items,
                })
            })
            .collect()
    }

    pub fn digest(&self, from: u64, upto: u64) -> Result<LogDigest, String> {
        let applied = self.sm.last_applied().map(|l| l.index);
        if applied.is_none_or(|a| upto > a) {
            return Err(format!(
                "index {upto} is not applied on n{} (applied {applied:?})",
                self.id
            ));
        }
        self.log.digest(from, upto).map_err(|e| e.to_string())
    }
}

/// A started node. Dropping it does not stop it; call [`RaftNode::shutdown`].
/// Brings the committed-id hint file up to date once commits pause; while they flow,
/// `save_committed` itself writes it every [`super::meta::COMMITTED_HINT_INTERVAL`].
async fn persist_committed_hint(core: Arc<NodeCore>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(super::meta::COMMITTED_HINT_INTERVAL * 2) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = core.meta.persist_committed() {
            tracing::warn!(error = %e, "writing the committed-id hint");
        }
    }
}

pub struct RaftNode {
    core: Arc<NodeCore>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    abort_file: PathBuf,
}

impl RaftNode {
    /// Opens the store (recovering it), binds the peer port, starts openraft, the peer server
    /// and the election driver, and forms the group on first start.
    pub async fn start(cfg: RaftNodeConfig) -> Result<RaftNode, NodeError> {
        let addr = cfg
            .self_addr()
            .ok_or(NodeError::NotAPeer(cfg.node_id))?
            .to_string();
        if cfg.abort_file.exists() {
            tracing::warn!(file = %cfg.abort_file.display(), "the previous run did not shut down cleanly; recovering the commit log");
        }
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| NodeError::Bind {
                addr: addr.clone(),
                source,
            })?;
        if let Some(parent) = cfg.abort_file.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&cfg.abort_file, b"");

        let log = CommitLog::open(CommitLogConfig {
            dir: cfg.commit_log_dir.clone(),
            checkpoint_path: cfg.checkpoint_path.clone(),
            segment_size: cfg.segment_size,
            flush: cfg.flush,
        })?;
        let meta = Arc::new(RaftMeta::open(&cfg.raft_dir)?);
        let sm = StateMachine::open(
            &cfg.raft_dir,
            &cfg.consume_queue_dir,
            cfg.consume_queue_file_size,
            log.clone(),
        )?;
        let state = sm.broker_state().clone();
        let log_store = LogStore::new(log.clone(), meta.clone());
        let timing = ElectionTiming::new(cfg.heartbeat_ms, cfg.election_timeout_ms);
        let lease_ms = timing.lease.as_millis() as u64;
        let raft_config = openraft::Config {
            cluster_name: cfg.group.clone(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: (lease_ms * 4 / 5).max(cfg.heartbeat_ms + 1),
            election_timeout_max: lease_ms.max(cfg.heartbeat_ms + 2),
            install_snapshot_timeout: 10_000,
            // Also the size of each probe a new leader sends while it looks for a follower's
            // last matching entry (a binary search from the middle of its log). With 4096,
            // every probe re-sent up to 4096 entries the follower already had, and a new
            // leader's first commit on a store of 17,000 entries waited 100-170 ms for that
            // (growing with the log). 64 keeps catch-up of a lagging follower as fast (one
            // AppendEntries is capped at 8 MiB anyway) and bounds a probe.
            max_payload_entries: 64,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_logs_since_last),
            // Retention, not snapshots, decides when CommitLog segments go.
            max_in_snapshot_log_to_keep: u64::MAX,
            replication_lag_threshold: cfg.snapshot_logs_since_last.saturating_mul(2),
            enable_elect: false,
            ..Default::default()
        }
        .validate()?;
        // Connect to peers from our own address when it is a specific IP.
        let local_ip = addr
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified());
        let network = Network {
            registry: PeerRegistry::with_local_ip(local_ip),
        };
        let registry = network.registry.clone();
        let raft = Raft::new(
            cfg.node_id,
            Arc::new(raft_config),
            network,
            log_store,
            sm.clone(),
        )
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;

        let core = Arc::new(NodeCore {
            id: cfg.node_id,
            addr: addr.clone(),
            raft: raft.clone(),
            log,
            meta,
            state,
            sm,
            contact: LeaderContact::default(),
            registry,
            timing,
            preferred_leader: cfg.preferred_leader,
            transferring: AtomicBool::new(false),
            leader_changes: AtomicU64::new(0),
            leader_changed_at: parking_lot::Mutex::new(None),
            role: cfg.role,
            master_hint: parking_lot::Mutex::new(cfg.master_hint.clone()),
            batcher: WriteBatcher::start(raft.clone(), cfg.batch),
            write_timeout: cfg.write_timeout,
            append_stats: AppendStats::default(),
        });

        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;
        let members: BTreeMap<NodeId, PeerNode> = cfg
            .peers
            .iter()
            .map(|(id, a)| (*id, PeerNode { addr: a.clone() }))
            .collect();
        // Forming a group starts an election at once on the node that does it. If every node
        // did so together, a later candidate of the same term with a higher id would depose the
        // first winner, so one node forms the group and the others only step in, one after
        // another, if they have not heard from anyone by then (that node may be down) and a
        // quorum of voters says it is new too (`pristine_quorum`). The first is the preferred
        // leader when there is one (so the groups of a multi-Raft cluster start with their
        // leaders already spread, not all on n0 waiting for transfers), else the lowest id.
        let rank = formation_order(&cfg.peers, cfg.preferred_leader)
            .iter()
            .position(|id| *id == cfg.node_id)
            .unwrap_or(0) as u32;
        let mut form_later = None;
        // A slave never forms a group: it waits for its master to add it.
        if !initialized && cfg.role != GroupRole::Slave {
            if rank == 0 {
                form_group(&raft, members).await?;
            } else {
                form_later = Some((timing.timeout_max * 2 * rank, members));
            }
        }

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(server::serve(listener, core.clone(), shutdown_rx.clone())),
            tokio::spawn(election::run(core.clone(), shutdown_rx.clone())),
            tokio::spawn(retention::run(
                core.clone(),
                cfg.retention.clone(),
                shutdown_rx.clone(),
            )),
            tokio::spawn(watch_role(core.clone(), shutdown_rx.clone())),
            tokio::spawn(persist_committed_hint(core.clone(), shutdown_rx.clone())),
        ];
        let mut tasks = tasks;
        {
            let sm = core.sm.clone();
            tasks.push(tokio::spawn(async move {
                if let Ok(n) = tokio::task::spawn_blocking(move || sm.rebuild_index()).await {
                    if n > 0 {
                        tracing::info!(
                            messages = n,
                            "message key index rebuilt from the retained log"
                        );
                    }
                }
            }));
        }
        if cfg.role == GroupRole::Slave {
            tasks.push(tokio::spawn(join_master(core.clone(), shutdown_rx.clone())));
        }
        if let Some((delay, members)) = form_later {
            let core = core.clone();
            let retry = timing.timeout_max;
            let mut shutdown = shutdown_rx;
            tasks.push(tokio::spawn(async move {
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
            }));
        }
        tracing::info!(node = cfg.node_id, %addr, group = %cfg.group, "raft node started");
        Ok(RaftNode {
            core,
            shutdown_tx,
            tasks,
            abort_file: cfg.abort_file,
        })
    }

    pub fn core(&self) -> &Arc<NodeCore> {
        &self.core
    }

    /// Stops serving, stops openraft, fsyncs the CommitLog and marks the shutdown clean.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        if let Err(e) = self.core.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        for t in self.tasks {
            let _ = t.await;
        }
        if let Err(e) = self.core.meta.persist_committed() {
            tracing::warn!(error = %e, "writing the committed-id hint at shutdown");
        }
        self.core.log.close();
        if let Err(e) = self.core.log.flush() {
            tracing::warn!(error = %e, "final commit log flush failed");
        }
        let _ = std::fs::remove_file(&self.abort_file);
        tracing::info!(node = self.core.id, "raft node stopped");
    }
}

/// True if a quorum of the voters (this node included) answers that it has never been part of
/// a group: only then may a node other than the first form it. A node that was cut off at its
/// first start would otherwise form a second group of its own and, on rejoining, disturb the
/// leader the others elected meanwhile. A voter that does not answer counts against forming,
/// and one that already holds a log means the group exists and its leader will reach us.
async fn pristine_quorum(core: &NodeCore, members: &BTreeMap<NodeId, PeerNode>) -> bool {
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

/// The order in which a new group's voters try to form it: the preferred leader (if it is a
/// voter), then the others by id. Every member computes the same order from the same config.
fn formation_order(peers: &BTreeMap<NodeId, String>, preferred: Option<NodeId>) -> Vec<NodeId> {
    let first = preferred.filter(|p| peers.contains_key(p));
    first
        .into_iter()
        .chain(peers.keys().copied().filter(|id| Some(*id) != first))
        .collect()
}

/// Initializes a pristine node with the configured voters; "already formed" is not an error.
async fn form_group(raft: &Raft, members: BTreeMap<NodeId, PeerNode>) -> Result<(), NodeError> {
    tracing::info!(?members, "empty store: forming the Raft group");
    match raft.initialize(members).await {
        Ok(()) => Ok(()),
        Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
            tracing::info!(error = %e, "group already formed");
            Ok(())
        }
        Err(e) => {
            let _ = raft.shutdown().await;
            Err(NodeError::Raft(format!("forming the group failed: {e}")))
        }
    }
}

/// Slave: until a master replicates to it, asks the master (once a second) to add it as a
/// learner. Once attached it only checks; a master that lost its store (or a slave that moved)
/// is re-joined the same way.
async fn join_master(core: Arc<NodeCore>, mut shutdown: watch::Receiver<bool>) {
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

/// Logs every change of role, leader or term, so a failover can be read from the log alone,
/// and counts elections: a known leader in a term not seen with a leader before.
///
/// It watches openraft's server metrics, which change only with the vote, role, leader or
/// membership; the full metrics change with every append and commit, and waking this task
/// for each of those was a task switch per entry on every node.
async fn watch_role(core: Arc<NodeCore>, mut shutdown: watch::Receiver<bool>) {
    let mut metrics = core.raft.server_metrics();
    let mut last = (ServerState::Learner, None, 0u64);
    let mut last_leader: Option<(u64, NodeId)> = None;
    loop {
        {
            let m = metrics.borrow_and_update();
            let term = m.vote.leader_id().term;
            let now = (m.state, m.current_leader, term);
            if now != last {
                tracing::info!(node = core.id, state = ?m.state, leader = ?m.current_leader, term, "raft role changed");
                last = now;
            }
            if let Some(leader) = m.current_leader {
                if last_leader != Some((term, leader)) {
                    last_leader = Some((term, leader));
                    core.on_leader_change();
                }
            }
        }
        tokio::select! {
            r = metrics.changed() => if r.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preferred_leader_forms_a_new_group_first() {
        let peers: BTreeMap<NodeId, String> =
            [(0, "a".into()), (1, "b".into()), (2, "c".into())].into();
        assert_eq!(formation_order(&peers, None), vec![0, 1, 2]);
        assert_eq!(formation_order(&peers, Some(2)), vec![2, 0, 1]);
        assert_eq!(formation_order(&peers, Some(1)), vec![1, 0, 2]);
        assert_eq!(
            formation_order(&peers, Some(7)),
            vec![0, 1, 2],
            "not a voter"
        );
    }
}
