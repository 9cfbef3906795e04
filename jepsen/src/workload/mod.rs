//! The queue workload: producers sending unique values to one topic with several queues,
//! consumers pulling and committing offsets, and the final drain. Everything goes through
//! LedgerMQ's own client library and is recorded in the history.
//!
//! ```text
//! producer.rs  p<id>: one synchronous send per op, client retries off
//! consumer.rs  c<id>.<incarnation>: pulls its own queues, commits, restarts now and then
//! drain.rs     drain-<node>: every queue from offset 0 on every node, after the heal
//! pull.rs      the single broker calls (pull, query offset, commit offset)
//! outcome.rs   fail vs info for a send that did not succeed
//! ```

pub mod consumer;
pub mod drain;
pub mod outcome;
pub mod producer;
pub mod pull;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::history::Recorder;

/// Workload settings.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    pub topic: String,
    /// Queues of the topic in each group.
    pub queues: u32,
    /// The broker groups (`brokerName`s) the topic lives on, in order. The history numbers
    /// queues across them: group `g`'s queue `q` is queue `g·queues + q`, so every position
    /// the checker compares is still one (queue, offset).
    pub groups: Vec<String>,
    pub producers: usize,
    pub consumers: usize,
    /// Sends per second, all producers together.
    pub rate: f64,
    /// Client timeout of one send or pull.
    pub timeout: Duration,
    /// Fraction (0..=1) of sends that ask for a scheduled delivery (`--delay-mix`): delay
    /// level 1 or 2, or a delivery time up to 3 s ahead. See [`producer`].
    pub delay_mix: f64,
}

impl WorkloadConfig {
    /// Every queue of the topic, numbered across the groups (see [`WorkloadConfig::groups`]).
    pub fn all_queues(&self) -> u32 {
        self.queues * self.groups.len().max(1) as u32
    }

    /// The group and its own queue id of history queue `q`.
    pub fn split(&self, q: u32) -> (&str, u32) {
        let per = self.queues.max(1);
        let g = (q / per) as usize;
        let name = self
            .groups
            .get(g)
            .or(self.groups.first())
            .map_or("", String::as_str);
        (name, q % per)
    }

    /// The history queue number of `broker`'s queue `queue_id`; `None` for a group outside
    /// the run (never expected).
    pub fn global(&self, broker: &str, queue_id: u32) -> Option<u32> {
        let g = self.groups.iter().position(|b| b == broker)? as u32;
        Some(g * self.queues + queue_id)
    }
}

/// What the workload's tasks share.
pub struct Workload {
    pub cfg: WorkloadConfig,
    pub rec: Recorder,
    pub namesrv: String,
    /// (node name, broker address), to name the node an answer came from (any of the node's
    /// members: they share its IP).
    pub nodes: Vec<(String, String)>,
    stop: watch::Receiver<bool>,
}

impl Workload {
    pub fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Every queue of the topic, numbered across the groups.
    pub fn all_queues(&self) -> u32 {
        self.cfg.all_queues()
    }

    /// The group and its own queue id of history queue `q`.
    pub fn split(&self, q: u32) -> (&str, u32) {
        self.cfg.split(q)
    }

    /// The history queue number of `broker`'s queue `queue_id`.
    pub fn global(&self, broker: &str, queue_id: u32) -> Option<u32> {
        self.cfg.global(broker, queue_id)
    }

    /// `n1` for `10.77.5.11:10911` (or the bare IP).
    pub fn node_of(&self, addr: &str) -> Option<String> {
        let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
        self.nodes
            .iter()
            .find(|(_, a)| a.rsplit_once(':').map_or(a.as_str(), |(ip, _)| ip) == ip)
            .map(|(n, _)| n.clone())
    }
}

/// Spaces sends evenly at the target rate across producers. A producer stuck in a slow send
/// does not build up a burst for later: the schedule never runs behind the clock.
pub struct Limiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Limiter {
    pub fn new(rate: f64) -> Limiter {
        Limiter {
            interval: Duration::from_secs_f64(1.0 / rate.max(0.001)),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot; false if the workload stopped meanwhile.
    pub async fn acquire(&self, w: &Workload) -> bool {
        let at = {
            let mut next = self.next.lock();
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        let mut stop = w.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(at) => !w.stopped(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }
}

/// The running producers and consumers.
pub struct Running {
    pub workload: Arc<Workload>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts `producers` producers and `consumers` consumers (queues split among them).
pub fn start(
    cfg: WorkloadConfig,
    rec: Recorder,
    namesrv: String,
    nodes: Vec<(String, String)>,
    seed: u64,
) -> Running {
    let (stop_tx, stop_rx) = watch::channel(false);
    let w = Arc::new(Workload {
        cfg,
        rec,
        namesrv,
        nodes,
        stop: stop_rx,
    });
    let limiter = Arc::new(Limiter::new(w.cfg.rate));
    let mut tasks = Vec::new();
    for id in 0..w.cfg.producers {
        tasks.push(tokio::spawn(producer::run(w.clone(), id, limiter.clone())));
    }
    let c = w.cfg.consumers.max(1);
    for id in 0..w.cfg.consumers {
        let queues: Vec<u32> = (0..w.all_queues())
            .filter(|q| *q as usize % c == id)
            .collect();
        let rng = StdRng::seed_from_u64(seed.wrapping_add(1000 + id as u64));
        tasks.push(tokio::spawn(consumer::run(w.clone(), id, queues, rng)));
    }
    Running {
        workload: w,
        stop: stop_tx,
        tasks,
    }
}

impl Running {
    /// Stops the workload and waits for every in-flight operation to complete (each is
    /// bounded by the client timeout).
    pub async fn stop(self) -> Arc<Workload> {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.workload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_numbered_across_groups() {
        let cfg = WorkloadConfig {
            topic: "t".into(),
            queues: 8,
            groups: vec![
                "RaftNode00".into(),
                "RaftNode01".into(),
                "RaftNode02".into(),
            ],
            producers: 1,
            consumers: 1,
            rate: 1.0,
            timeout: Duration::from_secs(1),
            delay_mix: 0.0,
        };
        assert_eq!(cfg.all_queues(), 24);
        assert_eq!(cfg.split(0), ("RaftNode00", 0));
        assert_eq!(cfg.split(9), ("RaftNode01", 1));
        assert_eq!(cfg.split(23), ("RaftNode02", 7));
        assert_eq!(cfg.global("RaftNode01", 1), Some(9));
        assert_eq!(cfg.global("RaftNode09", 1), None);
        for q in 0..cfg.all_queues() {
            let (b, id) = cfg.split(q);
            assert_eq!(cfg.global(b, id), Some(q));
        }
    }
}
