//! The `/metrics` HTTP listener: one route, `GET /metrics`, in Prometheus' text format.
//!
//! Served by axum rather than the exporter's own listener so that binding, errors and graceful
//! shutdown follow the rest of the process, and so that scrape-time gauges are collected
//! right before each render.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Collect;
use crate::config::MetricsListen;

/// The Prometheus text format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum MetricsServerError {
    #[error("cannot listen on {addr} for /metrics (metricsPort): {source}; set metricsPort to a free port, or 0 to switch /metrics off")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Recorder(#[from] super::MetricsError),
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    collect: Collect,
}

/// Serves `/metrics` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    collect: Collect,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(Scrape { handle, collect });
    // Also stops if the sender is gone (its owner is shutting down).
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(error = %e, "/metrics listener stopped");
    }
}

async fn metrics(State(s): State<Scrape>) -> impl IntoResponse {
    (s.collect)();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.handle.render())
}

/// Installs the recorder and starts `/metrics` on `ip:listen.port`. A derived port that is
/// taken only costs `/metrics` (warned about); a port written in the config must bind. `None`
/// when there is nothing to serve.
pub async fn start_listener(
    ip: std::net::IpAddr,
    listen: Option<MetricsListen>,
    collect: Collect,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<JoinHandle<()>>, MetricsServerError> {
    let Some(listen) = listen else {
        tracing::info!("metricsPort=0: no /metrics listener");
        return Ok(None);
    };
    let handle = super::install()?;
    let addr = SocketAddr::new(ip, listen.port);
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(source) if !listen.explicit => {
            tracing::warn!(%addr, error = %source, "cannot listen for /metrics on the default port (listenPort + 2); running without /metrics (set metricsPort to choose a port)");
            return Ok(None);
        }
        Err(source) => return Err(MetricsServerError::Bind { addr, source }),
    };
    tracing::info!(url = %format!("http://{addr}/metrics"), "serving Prometheus metrics");
    Ok(Some(tokio::spawn(serve(
        listener, handle, collect, shutdown,
    ))))
}
