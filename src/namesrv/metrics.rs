//! The name server's metrics: requests by code, and the size of its route table at scrape time.
//! Next to their owner, like the broker's, so `metrics/` imports neither.

use std::sync::Arc;

use metrics::{counter, gauge};

use super::NamesrvState;
use crate::metrics::names::*;
use crate::metrics::Collect;

/// Records one answered request.
pub fn on_request(request: i32, response: i32) {
    counter!(NAMESRV_REQUESTS, "request" => request_label(request), "code" => response_label(response))
        .increment(1);
}

/// The scrape-time gauges of a name server.
pub fn collector(state: Arc<NamesrvState>) -> Collect {
    Arc::new(move || {
        gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "role" => "namesrv").set(1.0);
        let (brokers, topics) = {
            let routes = state.routes.lock();
            let info = routes.cluster_info();
            let brokers: usize = info
                .broker_addr_table
                .values()
                .map(|bd| bd.broker_addrs.len())
                .sum();
            (brokers, routes.topics().len())
        };
        gauge!(NAMESRV_BROKERS).set(brokers as f64);
        gauge!(NAMESRV_TOPICS).set(topics as f64);
    })
}
