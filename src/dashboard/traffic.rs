//! The cockpit's history: cluster-wide send and consume TPS over the last ten minutes, and the
//! busiest topics.
//!
//! Every 5 s each registered node's runtime info gives its put and get totals; the cluster's
//! TPS is the sum of each node's growth since the previous sample (a node that restarted and
//! counts from zero adds nothing for that sample, rather than a negative rate). Every 10 s the
//! committed message count of each normal topic (the sum of its queues' max offsets) gives
//! per-topic TPS the same way; the first [`MAX_TOPICS_SAMPLED`] topics by name are sampled, so a
//! cluster with thousands of topics costs a bounded number of requests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;

use super::api::topics::{system_topics, topic_kind, TopicKind};
use crate::client::MqAdmin;
use crate::time::now_ms;

const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Ten minutes of 5 s samples.
const MAX_POINTS: usize = 120;
const MAX_TOPICS_SAMPLED: usize = 200;
const TOP_TOPICS: usize = 10;

/// One point of the cockpit's chart.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TpsPoint {
    pub at_ms: i64,
    pub put_tps: f64,
    pub get_tps: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicTps {
    pub topic: String,
    pub tps: f64,
    pub messages: u64,
}

#[derive(Default)]
struct State {
    points: VecDeque<TpsPoint>,
    /// node address → (put total, get total, when).
    totals: HashMap<String, (u64, u64, Instant)>,
    /// topic → (messages, when).
    topic_totals: HashMap<String, (u64, Instant)>,
    top: Vec<TopicTps>,
    error: Option<String>,
}

/// The sampler's shared state.
pub struct Traffic {
    admin: Arc<MqAdmin>,
    state: Mutex<State>,
}

/// What the cockpit reads.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficView {
    pub points: Vec<TpsPoint>,
    pub top_topics: Vec<TopicTps>,
    pub error: Option<String>,
}

impl Traffic {
    pub fn new(admin: Arc<MqAdmin>) -> Arc<Traffic> {
        Arc::new(Traffic {
            admin,
            state: Mutex::new(State::default()),
        })
    }

    pub fn view(&self) -> TrafficView {
        let s = self.state.lock();
        TrafficView {
            points: s.points.iter().copied().collect(),
            top_topics: s.top.clone(),
            error: s.error.clone(),
        }
    }

    /// Samples until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tick: u64 = 0;
        loop {
            self.sample_nodes().await;
            if tick.is_multiple_of(2) {
                self.sample_topics().await;
            }
            tick += 1;
            tokio::select! {
                _ = tokio::time::sleep(SAMPLE_EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn sample_nodes(&self) {
        let nodes = match self.admin.nodes().await {
            Ok(n) => n,
            Err(e) => {
                self.state.lock().error = Some(format!("cannot read the cluster: {e}"));
                return;
            }
        };
        let infos = self.admin.runtime_infos(&nodes).await;
        let now = Instant::now();
        let mut s = self.state.lock();
        s.error = None;
        let (mut put, mut get) = (0.0, 0.0);
        for (node, info) in nodes.iter().zip(infos) {
            let Ok(kv) = info else { continue };
            let num = |k: &str| {
                kv.table
                    .get(k)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let (p, g) = (num("msgPutTotalTodayNow"), num("msgGetTotalTodayNow"));
            if let Some((p0, g0, t0)) = s.totals.insert(node.addr.clone(), (p, g, now)) {
                let secs = now.saturating_duration_since(t0).as_secs_f64();
                if secs > 0.0 {
                    put += p.saturating_sub(p0) as f64 / secs;
                    get += g.saturating_sub(g0) as f64 / secs;
                }
            }
        }
        s.points.push_back(TpsPoint {
            at_ms: now_ms(),
            put_tps: put,
            get_tps: get,
        });
        while s.points.len() > MAX_POINTS {
            s.points.pop_front();
        }
    }

    async fn sample_topics(&self) {
        let Ok(list) = self.admin.topic_list().await else {
            return;
        };
        let system = system_topics(&self.admin).await;
        let topics: Vec<String> = list
            .topic_list
            .into_iter()
            .filter(|t| topic_kind(t, &system) == TopicKind::Normal)
            .take(MAX_TOPICS_SAMPLED)
            .collect();
        let mut counts = BTreeMap::new();
        for chunk in topics.chunks(16) {
            let stats =
                futures::future::join_all(chunk.iter().map(|t| self.admin.topic_stats(t))).await;
            for (t, st) in chunk.iter().zip(stats) {
                if let Ok(st) = st {
                    let n: i64 = st.offset_table.values().map(|o| o.max_offset).sum();
                    counts.insert(t.clone(), n.max(0) as u64);
                }
            }
        }
        let now = Instant::now();
        let mut s = self.state.lock();
        let mut top = Vec::new();
        for (topic, n) in counts {
            let tps = match s.topic_totals.insert(topic.clone(), (n, now)) {
                Some((n0, t0)) => {
                    let secs = now.saturating_duration_since(t0).as_secs_f64();
                    if secs > 0.0 {
                        n.saturating_sub(n0) as f64 / secs
                    } else {
                        0.0
                    }
                }
                None => 0.0,
            };
            top.push(TopicTps {
                topic,
                tps,
                messages: n,
            });
        }
        top.sort_by(|a, b| {
            b.tps
                .total_cmp(&a.tps)
                .then(b.messages.cmp(&a.messages))
                .then(a.topic.cmp(&b.topic))
        });
        top.truncate(TOP_TOPICS);
        s.top = top;
    }
}
