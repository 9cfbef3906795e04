//! The name server: route tables and the request processors that serve them. It never talks to
//! other name servers; every broker registers with each of them.

#[cfg(test)]
mod acl_tests;
pub mod metrics;
pub mod processor;
pub mod route;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use processor::{NamesrvHandler, NamesrvState};

use crate::acl::PlainAccessValidator;

/// A broker that has not registered for this long is dropped (RocketMQ: 120 s).
pub const BROKER_EXPIRY: Duration = Duration::from_secs(120);

/// Serves the name server on `listener` until `shutdown` turns true; expires silent brokers
/// every 10 s.
pub async fn run(listener: TcpListener, shutdown: watch::Receiver<bool>) {
    serve(listener, Arc::new(NamesrvState::default()), shutdown).await
}

/// [`run`] with state the caller also reads (the `/metrics` collector).
pub async fn serve(
    listener: TcpListener,
    state: Arc<NamesrvState>,
    shutdown: watch::Receiver<bool>,
) {
    serve_with_acl(listener, state, None, shutdown).await
}

/// [`serve`] with `aclEnable=true`: the requests that change the tables
/// ([`processor::ADMIN_CODES`]) need a signed admin account of `acl`.
pub async fn serve_with_acl(
    listener: TcpListener,
    state: Arc<NamesrvState>,
    acl: Option<Arc<PlainAccessValidator>>,
    shutdown: watch::Receiver<bool>,
) {
    let scanner = {
        let state = state.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    _ = shutdown.changed() => return,
                }
                state
                    .routes
                    .lock()
                    .scan_not_active(Instant::now(), BROKER_EXPIRY);
            }
        })
    };
    let handler = Arc::new(NamesrvHandler { state, acl });
    crate::remoting::serve(
        listener,
        handler,
        crate::remoting::ServerConfig::default(),
        shutdown,
    )
    .await;
    scanner.abort();
}
