//! The broker: RocketMQ request processors on top of the Raft node. Writes go through Raft
//! (SEND_OK only after quorum commit); reads come from committed data on any node; the Raft
//! leader registers as master with the name servers, the other nodes as slaves.

pub mod clients;
pub mod context;
pub mod disk_guard;
pub mod host;
pub mod message_store;
pub mod metrics;
pub mod offsets;
pub mod processor;
pub mod register;
pub mod schedule;
pub mod stats;
pub mod topics;
pub mod transaction;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::acl::PlainAccessValidator;
use crate::config::BrokerConfig;
use crate::raft::{NodeError, RaftNode, RaftNodeConfig};
use crate::remoting::{ClientConfig, RemotingClient, ServerConfig};
use context::BrokerContext;
pub use host::{BrokerHost, ThreadLayout};
use processor::BrokerHandler;

/// Disk usage at which sends are refused (RocketMQ's `diskSpaceWarningLevelRatio`, 0.90).
/// Below it retention frees space (`diskMaxUsedSpaceRatio`).
pub const DISK_WARNING_LEVEL_PCT: u8 = 90;

/// RocketMQ clients commit offsets every 5 s; the broker replicates them as often.
const OFFSET_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("brokerIP1={ip} with listenPort={port} is not an IP address and port: {reason}")]
    BadAddress {
        ip: String,
        port: u16,
        reason: String,
    },
    #[error("cannot listen on {addr} (listenPort): {source}; is another broker using it?")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Raft(#[from] NodeError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsServerError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("no member of this process started")]
    NothingStarted,
    #[error("aclEnable=true but the ACL file cannot be used: {0}")]
    Acl(#[from] crate::acl::AclConfigError),
}

impl BrokerError {
    /// True for an operator's mistake that must stop the whole process at start-up (an
    /// address, a port in use, a config the members cannot share); false for a member whose
    /// own store could not be opened, which the other members of the process outlive.
    pub fn is_setup(&self) -> bool {
        match self {
            BrokerError::Raft(e) => matches!(e, NodeError::Bind { .. } | NodeError::NotAPeer(_)),
            _ => true,
        }
    }
}

pub struct Broker {
    bc: Arc<BrokerContext>,
    node: RaftNode,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Broker {
    /// Starts one member: the Raft node, the client port, registration and housekeeping. Its
    /// tasks run in the caller's tracing span (the host gives each member a `group` span).
    pub async fn start_member(
        cfg: BrokerConfig,
        threads: ThreadLayout,
    ) -> Result<Broker, BrokerError> {
        let store_host: SocketAddr = format!("{}:{}", cfg.broker_ip1, cfg.listen_port)
            .parse()
            .map_err(|e: std::net::AddrParseError| BrokerError::BadAddress {
                ip: cfg.broker_ip1.clone(),
                port: cfg.listen_port,
                reason: e.to_string(),
            })?;
        // Listen on the address the broker registers (brokerIP1), which is the one clients
        // are given; several brokers can then share a host on distinct loopback addresses.
        // The port is bound now (a port in use is reported before the store is opened) but
        // only listens once the Raft node runs: a restarting broker that accepted connections
        // while it recovered its store would leave clients' requests waiting for their whole
        // timeout, where a refused connection sends them to another broker at once.
        let bind = store_host.to_string();
        let bind_err = |source| BrokerError::Bind {
            addr: bind.clone(),
            source,
        };
        let socket = match store_host {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(bind_err)?;
        socket.set_reuseaddr(true).map_err(bind_err)?;
        socket.bind(store_host).map_err(bind_err)?;
        // With aclEnable=true a broker that cannot read its ACL must not start open.
        let acl = match cfg.acl.acl_enable {
            true => Some(Arc::new(PlainAccessValidator::load(&cfg.acl.acl_file)?)),
            false => None,
        };
        let node_cfg = RaftNodeConfig::from_broker_config(&cfg);
        let node = match threads {
            ThreadLayout::RaftThreadPerMember => RaftNode::start_on_own_thread(node_cfg).await?,
            ThreadLayout::OneThread => RaftNode::start(node_cfg).await?,
        };
        let listener = match socket.listen(1024) {
            Ok(l) => l,
            Err(e) => {
                node.shutdown().await;
                return Err(bind_err(e));
            }
        };
        let bc = Arc::new(BrokerContext::new(cfg, node.core().clone(), store_host));
        // Registrations are signed when the name servers check ACL (namesrvAccessKey).
        let rpc_hook = bc.cfg.acl.namesrv_account.as_ref().map(|a| {
            Arc::new(crate::acl::SessionCredentials::new(
                a.access_key.clone(),
                a.secret_key.clone(),
            )) as Arc<dyn crate::remoting::RpcHook>
        });
        let (client, _inbound) = RemotingClient::new(ClientConfig {
            rpc_hook,
            ..ClientConfig::default()
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let handler = Arc::new(BrokerHandler {
            bc: bc.clone(),
            acl: acl.clone(),
        });
        let mut tasks = vec![
            tokio::spawn(
                crate::remoting::serve(
                    listener,
                    handler,
                    ServerConfig::default(),
                    shutdown_rx.clone(),
                )
                .in_current_span(),
            ),
            tokio::spawn(register::run(bc.clone(), client, shutdown_rx.clone()).in_current_span()),
            tokio::spawn(
                bc.offsets
                    .clone()
                    .run(OFFSET_FLUSH_INTERVAL, shutdown_rx.clone())
                    .in_current_span(),
            ),
            tokio::spawn(schedule::run(bc.clone(), shutdown_rx.clone()).in_current_span()),
            tokio::spawn(
                transaction::check::run(bc.clone(), shutdown_rx.clone()).in_current_span(),
            ),
            tokio::spawn(housekeeping(bc.clone(), shutdown_rx.clone()).in_current_span()),
        ];
        if let Some(acl) = acl {
            tracing::info!(file = %acl.path().display(), accounts = acl.table().accounts.len(),
                "aclEnable=true: every request is checked against the ACL file");
            let reload = crate::acl::watcher::RELOAD_INTERVAL;
            tasks.push(tokio::spawn(
                crate::acl::watcher::run(acl, reload, shutdown_rx).in_current_span(),
            ));
        }
        tracing::info!(
            broker = %bc.cfg.broker_name,
            cluster = %bc.cfg.broker_cluster_name,
            addr = %bc.broker_addr,
            raft = %bc.core.addr(),
            "The broker boot success"
        );
        Ok(Broker {
            bc,
            node,
            shutdown_tx,
            tasks,
        })
    }

    pub fn context(&self) -> &Arc<BrokerContext> {
        &self.bc
    }

    /// Stops serving clients, unregisters from the name servers, replicates the last consumer
    /// offsets, then stops the Raft node.
    pub async fn shutdown(self) {
        // Held long-polling pulls answer now rather than hold the stop for their timeout.
        self.bc.begin_stopping();
        // While this node can still write them: the consumer offsets, then leadership, handed
        // to a follower before the clients lose this port, so the group is not leaderless for
        // an election timeout (a no-op on a follower).
        self.bc.offsets.flush().await;
        self.node.hand_off().await;
        let _ = self.shutdown_tx.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.node.shutdown().await;
    }
}

/// Once a second: TPS samples; every 10 s: expire silent clients; every 5 s: read the disk.
async fn housekeeping(bc: Arc<BrokerContext>, mut shutdown: watch::Receiver<bool>) {
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        ticks += 1;
        let now = Instant::now();
        bc.stats.sample(now);
        if ticks.is_multiple_of(10) {
            for group in bc.clients.scan_expired(now) {
                bc.clients.notify_ids_changed(&group);
            }
        }
        if ticks % 5 == 1 {
            // For the log line and the metrics; the send path reads it fresher (`disk_guard`).
            bc.disk.read(
                &bc.cfg.store_path_commit_log,
                bc.cfg.mapped_file_size_commit_log,
            );
        }
    }
}
