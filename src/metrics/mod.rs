//! Prometheus metrics: the process-wide recorder, the names, and the `/metrics` HTTP listener.
//!
//! ```text
//! names.rs    every metric name and its help text, spelled once
//! http.rs     the /metrics listener (axum): collect scrape-time gauges, then render
//! ```
//!
//! The broker's and the name server's own metrics (what they record per request, and the
//! scrape-time gauges read from their state) live with them, in `broker/metrics.rs` and
//! `namesrv/metrics.rs`, and reach this module through [`Collect`] and [`names`]. This module
//! imports no layer that records into it (only `config` and `remoting`'s code names), so any
//! layer — the store's flush thread included — can record without an import cycle.
//!
//! Counters and histograms are recorded where things happen (`metrics` macros, which are no-ops
//! until [`install`] has run, so tests and benchmarks pay nothing). Gauges that describe state
//! (Raft indexes, disk use, consumer lag) are computed when Prometheus scrapes, from the same
//! status the rest of the broker reads, so no Raft internals are instrumented.
//!
//! What this module must never do: change broker state, or block a request path on a lock it
//! holds (scrape-time work runs in the HTTP handler, not on the request path).

mod http;
pub mod names;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

pub use http::{serve, start_listener, MetricsServerError};

/// Sets scrape-time gauges just before a scrape is rendered.
pub type Collect = Arc<dyn Fn() + Send + Sync>;

/// Latency buckets in seconds: sub-millisecond sends up to long-polling pulls held for 20 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A scrape-time gauge that is not set for this long (its group or topic is gone, nobody
/// scraped) is dropped, so deleted topics and groups do not linger in the output.
const GAUGE_IDLE: Duration = Duration::from_secs(300);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot build the Prometheus recorder: {0}")]
    Build(#[from] BuildError),
}

/// Installs the process-wide Prometheus recorder once and returns its handle; later calls
/// return the same handle. Also starts the upkeep task that folds recorded histogram samples
/// into their buckets, which otherwise pile up when nobody scrapes.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE));
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    // A second caller racing us loses the `set`; the first recorder stays installed.
    if metrics::set_global_recorder(recorder).is_ok() {
        let _ = HANDLE.set(handle.clone());
        names::describe();
        let upkeep = handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    upkeep.run_upkeep();
                }
            });
        }
    }
    Ok(HANDLE.get().cloned().unwrap_or(handle))
}
