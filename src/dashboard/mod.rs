//! The built-in web dashboard (`ledgermq dashboard`): pages for the cockpit, the cluster, the
//! Raft groups, topics, consumer groups and messages, over a small JSON API.
//!
//! ```text
//! mod.rs         start-up: bind, the samplers, the HTTP server, graceful shutdown
//! auth.rs        open (loopback) or login mode, sessions, CSRF, the users file
//! error.rs       ApiError: one readable sentence per failure, as JSON
//! pages.rs       the HTML pages and embedded assets (nothing fetched at run time)
//! raft_watch.rs  polls every Raft member's status once a second; leader-change events
//! traffic.rs     cluster TPS history and top topics for the cockpit
//! api/           the JSON endpoints, one file per page
//! ```
//!
//! The dashboard talks to the cluster only as a client: the RocketMQ protocol through
//! [`MqAdmin`] and each node's peer port through [`RaftAdminClient`](crate::client::RaftAdminClient),
//! both read-only except for the explicit admin actions (create/delete topic, reset offset,
//! send a test message). What it must never do: connect to an address the cluster did not
//! name (a msgId's host is used only if it is a known node), or change anything on a GET.

pub mod api;
pub mod auth;
mod error;
mod pages;
pub mod raft_watch;
pub mod traffic;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::{ClientOptions, MqAdmin, Producer, ProducerConfig};
pub use auth::{hash_password, Auth, AuthError, Users};
pub use error::{ApiError, ApiResult};
use raft_watch::RaftWatch;
use traffic::Traffic;

/// The producer group of test messages sent from the Messages page.
pub const PRODUCER_GROUP: &str = "LEDGERMQ_DASHBOARD_PRODUCER";

/// How the dashboard was asked to run.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// Name servers, `host:port` separated by `;`.
    pub namesrv_addr: String,
    pub listen: SocketAddr,
    /// Users file; required unless `listen` is a loopback address.
    pub users_file: Option<PathBuf>,
}

/// What the dashboard needs to talk to a cluster with ACL on (its own configuration: the CLI's
/// `--accessKey/--secretKey` and `--raftPeerSecret`, or their environment variables).
#[derive(Debug, Clone, Default)]
pub struct DashboardAcl {
    pub credentials: Option<crate::acl::SessionCredentials>,
    pub peer_secret: Option<crate::config::PeerSecret>,
}

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("--listen {0} is not a loopback address, so the dashboard needs a login: give --users FILE (name = argon2 hash [admin] per line; make hashes with `ledgermq dashboard --hash-password`)")]
    LoginRequired(SocketAddr),
    #[error(transparent)]
    Users(#[from] AuthError),
    #[error("cannot listen on {addr}: {source}; is another dashboard running? choose another with --listen")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
}

/// What every handler shares.
pub struct App {
    pub admin: Arc<MqAdmin>,
    pub producer: Producer,
    pub raft: Arc<RaftWatch>,
    pub traffic: Arc<Traffic>,
    pub auth: Arc<Auth>,
}

/// A running dashboard. Dropping it does not stop it; call [`Dashboard::shutdown`].
pub struct Dashboard {
    addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Dashboard {
    /// Checks the access rules, binds, starts the samplers and serves.
    pub async fn start(cfg: DashboardConfig) -> Result<Dashboard, DashboardError> {
        Dashboard::start_with_acl(cfg, DashboardAcl::default()).await
    }

    /// [`Self::start`] against brokers with `aclEnable=true`: every request to the name
    /// servers and brokers is signed with `acl.credentials`, and the Raft page proves
    /// `acl.peer_secret` to the peer ports.
    pub async fn start_with_acl(
        cfg: DashboardConfig,
        acl: DashboardAcl,
    ) -> Result<Dashboard, DashboardError> {
        let auth = match &cfg.users_file {
            Some(path) => Auth::login(Users::load(path)?),
            None if cfg.listen.ip().is_loopback() => Auth::open(),
            None => return Err(DashboardError::LoginRequired(cfg.listen)),
        };
        let listener =
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|source| DashboardError::Bind {
                    addr: cfg.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DashboardError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let admin = Arc::new(MqAdmin::new(
            ClientOptions::new(cfg.namesrv_addr.clone()).with_credentials(acl.credentials),
        )?);
        let producer =
            Producer::with_client(admin.client().clone(), ProducerConfig::new(PRODUCER_GROUP));
        let app = Arc::new(App {
            raft: RaftWatch::with_peer_secret(admin.clone(), acl.peer_secret),
            traffic: Traffic::new(admin.clone()),
            admin,
            producer,
            auth: Arc::new(auth),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(app.raft.clone().run(shutdown_rx.clone())),
            tokio::spawn(app.traffic.clone().run(shutdown_rx.clone())),
            tokio::spawn(serve(listener, router(app.clone()), shutdown_rx)),
        ];
        tracing::info!(url = %format!("http://{addr}"), namesrv = %cfg.namesrv_addr, login = app.auth.login_required(), "LedgerMQ dashboard started");
        Ok(Dashboard {
            addr,
            shutdown_tx,
            tasks,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish, stops the samplers.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Every route: the pages, the assets and the API, behind the access check.
pub fn router(app: Arc<App>) -> Router {
    pages::routes()
        .merge(api::routes())
        .with_state(app.clone())
        .layer(axum::middleware::from_fn_with_state(
            app.auth.clone(),
            auth::guard,
        ))
}

async fn serve(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    // Also stops if the sender is gone (its owner is shutting down).
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "dashboard server stopped");
    }
}
