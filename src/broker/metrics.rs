//! The broker's metrics: what its dispatch records per request, and the gauges computed from
//! its Raft node, store and consumer offsets when Prometheus scrapes. A process may host one
//! member of several Raft groups, so every series carries `group` (the member's `dLegerGroup`);
//! a consumer group is `consumer_group`.
//!
//! They live with the broker, not in `metrics/`, because they read the broker's own state:
//! `metrics/` (the recorder, the names, the listener) stays a leaf that any layer may record
//! into without an import cycle.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Histogram};
use parking_lot::RwLock;

use super::context::BrokerContext;
use crate::metrics::names::*;
use crate::metrics::Collect;
use crate::remoting::request_code as rc;

/// Records one answered request. Latency histograms are kept for sends and pulls only: they
/// are what an operator alerts on, and every other code would multiply the output by 15
/// buckets for little use.
pub fn on_request(
    group: &str,
    request: i32,
    response: i32,
    received: usize,
    sent: usize,
    elapsed: Duration,
) {
    // Handles are cached only once the recorder is installed: one taken before is a no-op.
    // Keyed by group first, so a lookup borrows the group's name instead of building a key.
    let cached = REQUEST_HANDLES
        .read()
        .get(group)
        .and_then(|codes| codes.get(&(request, response)).cloned());
    let h = match cached {
        Some(h) => h,
        None => {
            let h = request_handles(group, request, response);
            if crate::metrics::installed() {
                REQUEST_HANDLES
                    .write()
                    .entry(group.to_string())
                    .or_default()
                    .insert((request, response), h.clone());
            }
            h
        }
    };
    h.requests.increment(1);
    h.received.increment(received as u64);
    h.sent.increment(sent as u64);
    if let Some(d) = &h.duration {
        d.record(elapsed.as_secs_f64());
    }
}

/// The handles one kind of answered request updates, looked up once. Going through the
/// registry on every request (hashing the name and labels, cloning label strings) was 6 % of
/// a leader's CPU under `bench produce`.
#[derive(Clone)]
struct RequestHandles {
    requests: Counter,
    received: Counter,
    sent: Counter,
    duration: Option<Histogram>,
}

type PutHandles = (Counter, Counter);
/// Cached handles of one process: group → key → handles.
type ByGroup<K, V> = RwLock<HashMap<String, HashMap<K, V>>>;

/// group → (request code, response code) → handles.
static REQUEST_HANDLES: LazyLock<ByGroup<(i32, i32), RequestHandles>> =
    LazyLock::new(Default::default);
/// group → topic → handles.
static PUT_HANDLES: LazyLock<ByGroup<String, PutHandles>> = LazyLock::new(Default::default);

fn request_handles(group: &str, request: i32, response: i32) -> RequestHandles {
    let (req, resp) = (request_label(request), response_label(response));
    let group = group.to_string();
    RequestHandles {
        requests: counter!(BROKER_REQUESTS, "group" => group.clone(), "request" => req, "code" => resp),
        received: counter!(BROKER_RECEIVED_BYTES, "group" => group.clone()),
        sent: counter!(BROKER_SENT_BYTES, "group" => group.clone()),
        duration: matches!(
            request,
            rc::SEND_MESSAGE | rc::SEND_MESSAGE_V2 | rc::SEND_BATCH_MESSAGE | rc::PULL_MESSAGE
        )
        .then(|| histogram!(BROKER_REQUEST_DURATION, "group" => group, "request" => req, "code" => resp)),
    }
}

/// Messages acknowledged for `topic` by `group`'s leader (called by the broker's statistics).
pub fn on_put(group: &str, topic: &str, msgs: u64, bytes: u64) {
    let cached = PUT_HANDLES
        .read()
        .get(group)
        .and_then(|topics| topics.get(topic).cloned());
    let (m, b) = match cached {
        Some(h) => h,
        None => {
            let labels = [("group", group.to_string()), ("topic", topic.to_string())];
            let h = (
                counter!(TOPIC_PUT_MESSAGES, &labels),
                counter!(TOPIC_PUT_BYTES, &labels),
            );
            if crate::metrics::installed() {
                PUT_HANDLES
                    .write()
                    .entry(group.to_string())
                    .or_default()
                    .insert(topic.to_string(), h.clone());
            }
            h
        }
    };
    m.increment(msgs);
    b.increment(bytes);
}

/// Messages delivered by `group`'s member's pulls.
pub fn on_get(group: &str, msgs: u64, bytes: u64) {
    counter!(GOT_MESSAGES, "group" => group.to_string()).increment(msgs);
    counter!(GOT_BYTES, "group" => group.to_string()).increment(bytes);
}

/// The scrape-time gauges of every member of the process.
pub fn collector(members: Vec<Arc<BrokerContext>>) -> Collect {
    Arc::new(move || {
        gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "role" => "broker").set(1.0);
        for bc in &members {
            collect(bc);
        }
    })
}

fn collect(bc: &BrokerContext) {
    let group = bc.cfg.d_leger_group.clone();
    let node = format!("n{}", bc.core.id());

    let s = bc.core.status();
    let labels = [("group", group.clone()), ("node", node.clone())];
    gauge!(RAFT_TERM, &labels).set(s.term as f64);
    let state = s.state.to_ascii_lowercase();
    gauge!(RAFT_IS_LEADER, "group" => group.clone(), "node" => node.clone(), "state" => state)
        .set(if s.state == "Leader" { 1.0 } else { 0.0 });
    gauge!(RAFT_LAST_LOG_INDEX, &labels).set(s.last_index.unwrap_or(0) as f64);
    gauge!(RAFT_COMMIT_INDEX, &labels).set(s.committed.unwrap_or(0) as f64);
    gauge!(RAFT_APPLIED_INDEX, &labels).set(s.applied.unwrap_or(0) as f64);
    counter!(RAFT_LEADER_CHANGES, &labels).absolute(s.leader_changes);
    if let Some(ms) = s.millis_since_quorum_ack.filter(|_| s.state == "Leader") {
        gauge!(RAFT_QUORUM_ACK_AGE, &labels).set(ms as f64 / 1000.0);
    }
    let last = s.last_index.unwrap_or(0);
    for (follower, matched) in &s.replication {
        if *follower == bc.core.id() {
            continue;
        }
        let lag = last.saturating_sub(matched.unwrap_or(0));
        gauge!(RAFT_FOLLOWER_LAG, "group" => group.clone(), "node" => node.clone(), "follower" => format!("n{follower}"))
            .set(lag as f64);
    }

    let (segments, bytes) = bc.core.commit_log_usage();
    gauge!(COMMITLOG_SEGMENTS, "group" => group.clone()).set(segments as f64);
    gauge!(COMMITLOG_DISK_BYTES, "group" => group.clone()).set(bytes as f64);
    if let Some(pct) = crate::store::disk_used_pct(&bc.cfg.store_path_commit_log) {
        gauge!(DISK_USED_RATIO, "group" => group.clone()).set(f64::from(pct) / 100.0);
    }

    let levels = &bc.cfg.message_delay_level;
    let mut backlog: BTreeMap<u32, usize> = (0..levels.len() as u32).map(|l| (l, 0)).collect();
    backlog.insert(crate::raft::schedule::TIMER_LANE, 0);
    backlog.extend(bc.core.broker_state().with_schedule(|s| s.backlog()));
    for (lane, n) in backlog {
        let lane = crate::raft::schedule::lane_name(lane);
        gauge!(SCHEDULE_BACKLOG, "group" => group.clone(), "lane" => lane).set(n as f64);
    }

    for ((consumer, topic), lag) in group_lags(bc) {
        gauge!(GROUP_LAG, "group" => group.clone(), "consumer_group" => consumer, "topic" => topic)
            .set(lag as f64);
    }
}

/// (group, topic) → messages not yet consumed, for every group with a committed offset.
fn group_lags(bc: &BrokerContext) -> BTreeMap<(String, String), u64> {
    let groups: BTreeSet<String> = bc
        .core
        .broker_state()
        .metadata()
        .consumer_offsets
        .keys()
        .filter_map(|k| k.split_once('@').map(|(_, g)| g.to_string()))
        .collect();
    let mut out = BTreeMap::new();
    for group in groups {
        for ((topic, queue), offset) in bc.offsets.offsets_of_group(&group) {
            let max = bc
                .core
                .broker_state()
                .consume_queue(&topic, queue)
                .map(|cq| cq.max_offset())
                .unwrap_or(0);
            *out.entry((group.clone(), topic)).or_insert(0) += max.saturating_sub(offset);
        }
    }
    out
}
