//! Starting and stopping a node: [`RaftNode::start`] in named steps (bind the peer port, open
//! the store, build openraft's config, start openraft, form the group, spawn the node's
//! tasks), the background tasks that only a running node has, and [`RaftNode::shutdown`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use openraft::{ServerState, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::config::RaftNodeConfig;
use super::node_core::{AppendStats, NodeCore};
use super::roles;
use super::thread::{off_node_thread, NodeThread};
use super::NodeError;
use crate::raft::batcher::WriteBatcher;
use crate::raft::election::{self, ElectionTiming, LeaderContact};
use crate::raft::log_store::LogStore;
use crate::raft::meta::{self, RaftMeta};
use crate::raft::network::{Network, PeerRegistry};
use crate::raft::state_machine::StateMachine;
use crate::raft::types::{NodeId, PeerNode, Raft};
use crate::raft::{retention, server};
use crate::store::{CommitLog, CommitLogConfig};

/// A started node. Dropping it does not stop it; call [`RaftNode::shutdown`].
pub struct RaftNode {
    core: Arc<NodeCore>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    abort_file: PathBuf,
    /// The node's own thread when started with [`RaftNode::start_on_own_thread`].
    thread: Option<NodeThread>,
}

/// The node's storage, recovered: the CommitLog (which is the Raft log), the vote and
/// committed-id files, and the state machine loaded from its snapshot.
struct Store {
    log: Arc<CommitLog>,
    meta: Arc<RaftMeta>,
    sm: StateMachine,
}

/// A node other than the first waits before it may form the group.
struct FormLater {
    delay: Duration,
    members: BTreeMap<NodeId, PeerNode>,
}

impl RaftNode {
    /// Opens the store (recovering it), binds the peer port, starts openraft, the peer server
    /// and the election driver, and forms the group on first start.
    pub async fn start(cfg: RaftNodeConfig) -> Result<RaftNode, NodeError> {
        RaftNode::start_serving(cfg, Handle::current()).await
    }

    /// [`RaftNode::start`], with the write batcher on `clients`, the runtime of the tasks
    /// that call [`NodeCore::write`].
    async fn start_serving(cfg: RaftNodeConfig, clients: Handle) -> Result<RaftNode, NodeError> {
        let (addr, listener) = bind_peer_port(&cfg).await?;
        let store = open_store(&cfg)?;
        let timing = ElectionTiming::new(cfg.heartbeat_ms, cfg.election_timeout_ms);
        let raft_config = openraft_config(&cfg, &timing)?;
        let core = start_raft(&cfg, addr, raft_config, store, timing, clients).await?;
        let form_later = form_group(&core, &cfg).await?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tasks = spawn_tasks(&core, &cfg, listener, form_later, shutdown_rx);
        tracing::info!(node = cfg.node_id, addr = %core.addr, group = %cfg.group, "raft node started");
        Ok(RaftNode {
            core,
            shutdown_tx,
            tasks,
            abort_file: cfg.abort_file,
            thread: None,
        })
    }

    /// [`RaftNode::start`] on a thread of the node's own (see [`NodeThread`] for why): every
    /// task the node spawns runs there, while its caller's runtime keeps serving clients.
    /// The thread stops with [`RaftNode::shutdown`].
    pub async fn start_on_own_thread(cfg: RaftNodeConfig) -> Result<RaftNode, NodeError> {
        let name = format!("raft-{}", cfg.group);
        let (thread, handle) = NodeThread::spawn(name).map_err(NodeError::Thread)?;
        // The write batcher stays on the caller's runtime, beside the request tasks that
        // submit to it and wait for its answers: on the node's thread, every submit and every
        // answer would be a wake across threads, where here it is one per proposal.
        let clients = Handle::current();
        let started = handle
            .spawn(RaftNode::start_serving(cfg, clients).in_current_span())
            .await;
        match started {
            Ok(Ok(mut node)) => {
                node.thread = Some(thread);
                Ok(node)
            }
            Ok(Err(e)) => {
                thread.stop().await;
                Err(e)
            }
            Err(join) => {
                thread.stop().await;
                Err(NodeError::Thread(std::io::Error::other(format!(
                    "starting the node on its thread failed: {join}"
                ))))
            }
        }
    }

    pub fn core(&self) -> &Arc<NodeCore> {
        &self.core
    }

    /// If this node leads its group, hands leadership to its most caught-up follower (see
    /// [`crate::raft::election::hand_off`]) and returns that follower's id.
    pub async fn hand_off(&self) -> Option<NodeId> {
        let to = crate::raft::election::hand_off(&self.core).await?;
        tracing::info!(
            node = self.core.id,
            to,
            "handed leadership off before stopping"
        );
        Some(to)
    }

    /// Hands leadership off if this node still leads, stops serving, stops openraft, fsyncs
    /// the CommitLog and marks the shutdown clean.
    pub async fn shutdown(self) {
        self.hand_off().await;
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
        if let Some(thread) = self.thread {
            thread.stop().await;
        }
        tracing::info!(node = self.core.id, "raft node stopped");
    }
}

/// Binds this node's peer port and marks the run as not yet cleanly stopped (the abort file,
/// removed by [`RaftNode::shutdown`]); warns if the previous run did not remove it.
async fn bind_peer_port(cfg: &RaftNodeConfig) -> Result<(String, TcpListener), NodeError> {
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
    Ok((addr, listener))
}

/// Opens (and recovers) the CommitLog, the Raft metadata and the state machine.
fn open_store(cfg: &RaftNodeConfig) -> Result<Store, NodeError> {
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
    Ok(Store { log, meta, sm })
}

/// openraft's configuration for this node. Elections are driven by `raft/election.rs`
/// (pre-vote, lease), so openraft's own election timer is off.
fn openraft_config(
    cfg: &RaftNodeConfig,
    timing: &ElectionTiming,
) -> Result<openraft::Config, NodeError> {
    let lease_ms = timing.lease.as_millis() as u64;
    Ok(openraft::Config {
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
    .validate()?)
}

/// Starts openraft on the store and builds the node's shared core around it.
async fn start_raft(
    cfg: &RaftNodeConfig,
    addr: String,
    raft_config: openraft::Config,
    store: Store,
    timing: ElectionTiming,
    clients: Handle,
) -> Result<Arc<NodeCore>, NodeError> {
    let Store { log, meta, sm } = store;
    let state = sm.broker_state().clone();
    let log_store = LogStore::new(log.clone(), meta.clone());
    // Connect to peers from our own address when it is a specific IP.
    let local_ip = addr
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified());
    let network = Network {
        registry: PeerRegistry::with_local_ip(local_ip).with_secret(cfg.peer_secret.clone()),
    };
    let registry = network.registry.clone();
    let raft = Raft::new(
        cfg.node_id,
        Arc::new(raft_config),
        network,
        log_store,
        sm.clone(),
    )
    .await?;
    Ok(Arc::new(NodeCore {
        id: cfg.node_id,
        addr,
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
        batcher: WriteBatcher::start_on(&clients, raft, cfg.batch),
        write_timeout: cfg.write_timeout,
        append_stats: AppendStats::default(),
    }))
}

/// On a pristine store: the first voter (the preferred leader, else the lowest id) forms the
/// group now; the others are told when they may (see [`roles`]). A slave never forms one.
async fn form_group(core: &NodeCore, cfg: &RaftNodeConfig) -> Result<Option<FormLater>, NodeError> {
    if core.raft.is_initialized().await? {
        return Ok(None);
    }
    let members = roles::members_of(&cfg.peers);
    let delay = roles::formation_delay(
        cfg.role,
        cfg.node_id,
        &cfg.peers,
        cfg.preferred_leader,
        core.timing.timeout_max,
    );
    match delay {
        None => Ok(None),
        Some(delay) if delay.is_zero() => {
            roles::form_group(&core.raft, members).await?;
            Ok(None)
        }
        Some(delay) => Ok(Some(FormLater { delay, members })),
    }
}

/// The node's tasks: the peer server, the election driver, retention, the role watcher, the
/// committed-id hint, the release of mapped CommitLog pages, the key-index rebuild, and (by
/// role) joining a master or forming the group later.
fn spawn_tasks(
    core: &Arc<NodeCore>,
    cfg: &RaftNodeConfig,
    listener: TcpListener,
    form_later: Option<FormLater>,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(server::serve(
            listener,
            core.clone(),
            cfg.peer_secret.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(election::run(core.clone(), shutdown.clone())),
        tokio::spawn(retention::run(
            core.clone(),
            cfg.retention.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(watch_role(core.clone(), shutdown.clone())),
        tokio::spawn(persist_committed_hint(core.clone(), shutdown.clone())),
        tokio::spawn(release_mapped_pages(core.clone(), shutdown.clone())),
        tokio::spawn(rebuild_index(core.sm.clone())),
    ];
    if cfg.role == super::GroupRole::Slave {
        tasks.push(tokio::spawn(roles::join_master(
            core.clone(),
            shutdown.clone(),
        )));
    }
    if let Some(FormLater { delay, members }) = form_later {
        tasks.push(roles::spawn_form_later(
            core.clone(),
            members,
            delay,
            core.timing.timeout_max,
            shutdown,
        ));
    }
    tasks
}

/// Re-indexes the keys of messages the last snapshot covers, off the async threads.
async fn rebuild_index(sm: StateMachine) {
    if let Ok(n) = tokio::task::spawn_blocking(move || sm.rebuild_index()).await {
        if n > 0 {
            tracing::info!(
                messages = n,
                "message key index rebuilt from the retained log"
            );
        }
    }
}

/// Brings the committed-id hint file up to date once commits pause; while they flow,
/// `save_committed` itself writes it every [`meta::COMMITTED_HINT_INTERVAL`].
async fn persist_committed_hint(core: Arc<NodeCore>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(meta::COMMITTED_HINT_INTERVAL * 2) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = core.meta.persist_committed() {
            tracing::warn!(error = %e, "writing the committed-id hint");
        }
    }
}

/// How often the CommitLog's mapped pages are released.
const RELEASE_MAPPED_EVERY: Duration = Duration::from_secs(1);

/// Releases the page-table entries of the CommitLog's mapping every second (its pages stay
/// cached; `store::segment::SegmentMap::release` says why), so that a process killed with kill -9
/// closes its client connections in a few milliseconds however much of its log it read since
/// it started. Off the node thread: the cost is the pages read since the last round.
async fn release_mapped_pages(core: Arc<NodeCore>, mut shutdown: watch::Receiver<bool>) {
    let mut warned = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RELEASE_MAPPED_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        let log = core.log.clone();
        let released = off_node_thread(move || {
            log.release_mapped_pages()
                .map_err(|e| openraft::AnyError::new(&e))
        })
        .await;
        match released {
            Ok(()) => warned = false,
            // Once per run of failures: a kernel that refuses it keeps refusing.
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(error = %e, "cannot release the CommitLog's mapped pages; a kill of this node will close its connections later");
            }
            Err(e) => tracing::debug!(error = %e, "releasing the CommitLog's mapped pages"),
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
