//! Broker statistics for `clusterList`, `brokerStatus` and the dashboard: messages put and got,
//! per topic, with TPS over the last 10 s, 1 min and 10 min (RocketMQ's `putTps` triple).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

#[derive(Default)]
pub struct BrokerStats {
    /// The member's Raft group, the `group` label of its metrics.
    group: String,
    pub put_msgs: AtomicU64,
    pub put_bytes: AtomicU64,
    pub get_msgs: AtomicU64,
    pub get_bytes: AtomicU64,
    per_topic_put: Mutex<HashMap<String, u64>>,
    /// (when, put total, get total), one sample per second, 10 minutes kept.
    samples: Mutex<VecDeque<(Instant, u64, u64)>>,
    /// Messages delivered per consumer group, for ConsumeStats' `consumeTps`.
    per_group_get: Mutex<HashMap<String, GroupGets>>,
}

/// One consumer group's delivered-message total and its last minute of per-second samples.
#[derive(Default)]
struct GroupGets {
    total: u64,
    samples: VecDeque<(Instant, u64)>,
}

/// The window of a group's `consumeTps`: RocketMQ reports its per-minute rate.
const GROUP_TPS_SAMPLES: usize = 61;

impl BrokerStats {
    /// Statistics of the member of Raft group `group`.
    pub fn new(group: impl Into<String>) -> BrokerStats {
        BrokerStats {
            group: group.into(),
            ..BrokerStats::default()
        }
    }

    pub fn on_put(&self, topic: &str, msgs: u64, bytes: u64) {
        self.put_msgs.fetch_add(msgs, Ordering::Relaxed);
        self.put_bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut per_topic = self.per_topic_put.lock();
        // Looked up by `&str` first: a new String only for a new topic.
        match per_topic.get_mut(topic) {
            Some(n) => *n += msgs,
            None => {
                per_topic.insert(topic.to_string(), msgs);
            }
        }
        drop(per_topic);
        super::metrics::on_put(&self.group, topic, msgs, bytes);
    }

    pub fn on_get(&self, group: &str, msgs: u64, bytes: u64) {
        self.get_msgs.fetch_add(msgs, Ordering::Relaxed);
        self.get_bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut groups = self.per_group_get.lock();
        if !groups.contains_key(group) {
            // A group's rate starts from zero at the last sample, so its first pulls count.
            let since = self.samples.lock().back().map(|&(t, _, _)| t);
            groups.insert(
                group.to_string(),
                GroupGets {
                    total: 0,
                    samples: since.map(|t| (t, 0)).into_iter().collect(),
                },
            );
        }
        if let Some(g) = groups.get_mut(group) {
            g.total += msgs;
        }
        super::metrics::on_get(&self.group, msgs, bytes);
    }

    pub fn topic_puts(&self) -> HashMap<String, u64> {
        self.per_topic_put.lock().clone()
    }

    /// Records a sample; call once a second.
    pub fn sample(&self, now: Instant) {
        let mut s = self.samples.lock();
        s.push_back((
            now,
            self.put_msgs.load(Ordering::Relaxed),
            self.get_msgs.load(Ordering::Relaxed),
        ));
        while s.len() > 601 {
            s.pop_front();
        }
        drop(s);
        for g in self.per_group_get.lock().values_mut() {
            g.samples.push_back((now, g.total));
            while g.samples.len() > GROUP_TPS_SAMPLES {
                g.samples.pop_front();
            }
        }
    }

    /// Messages per second pulled by `group` over the last minute (0 for an unknown group).
    pub fn group_tps(&self, group: &str) -> f64 {
        let groups = self.per_group_get.lock();
        let Some(g) = groups.get(group) else {
            return 0.0;
        };
        match (g.samples.front(), g.samples.back()) {
            (Some(&(t0, n0)), Some(&(t1, n1))) => {
                let secs = t1.saturating_duration_since(t0).as_secs_f64();
                if secs > 0.0 {
                    (n1 - n0) as f64 / secs
                } else {
                    0.0
                }
            }
            _ => 0.0,
        }
    }

    /// (put TPS, get TPS) over the last `window`.
    pub fn tps(&self, window: Duration) -> (f64, f64) {
        let s = self.samples.lock();
        let Some(&(t1, p1, g1)) = s.back() else {
            return (0.0, 0.0);
        };
        let Some(&(t0, p0, g0)) = s
            .iter()
            .find(|(t, _, _)| t1.saturating_duration_since(*t) <= window)
        else {
            return (0.0, 0.0);
        };
        let secs = t1.saturating_duration_since(t0).as_secs_f64();
        if secs <= 0.0 {
            return (0.0, 0.0);
        }
        ((p1 - p0) as f64 / secs, (g1 - g0) as f64 / secs)
    }

    /// RocketMQ's "a b c" form: TPS over 10 s, 1 min, 10 min.
    pub fn tps_triple(&self) -> (String, String) {
        let w = [10, 60, 600].map(|s| self.tps(Duration::from_secs(s)));
        (
            format!("{:.2} {:.2} {:.2}", w[0].0, w[1].0, w[2].0),
            format!("{:.2} {:.2} {:.2}", w[0].1, w[1].1, w[2].1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_over_windows() {
        let s = BrokerStats::default();
        let t0 = Instant::now();
        s.sample(t0);
        s.on_put("T", 100, 1000);
        s.on_get("G", 50, 500);
        s.sample(t0 + Duration::from_secs(10));
        let (put, get) = s.tps(Duration::from_secs(10));
        assert!((put - 10.0).abs() < 1e-9 && (get - 5.0).abs() < 1e-9);
        assert!(
            (s.group_tps("G") - 5.0).abs() < 1e-9,
            "{}",
            s.group_tps("G")
        );
        assert_eq!(s.group_tps("other"), 0.0);
        assert_eq!(s.topic_puts()["T"], 100);
        assert!(s.tps_triple().0.starts_with("10.00"));
    }
}
