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
    pub queues: u32,
    pub producers: usize,
    pub consumers: usize,
    /// Sends per second, all producers together.
    pub rate: f64,
    /// Client timeout of one send or pull.
    pub timeout: Duration,
}

/// What the workload's tasks share.
pub struct Workload {
    pub cfg: WorkloadConfig,
    pub rec: Recorder,
    pub namesrv: String,
    /// (node name, broker address), to name the node an answer came from.
    pub nodes: Vec<(String, String)>,
    stop: watch::Receiver<bool>,
}

impl Workload {
    pub fn stopped(&self) -> bool {
        *self.stop.borrow()
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
        let queues: Vec<u32> = (0..w.cfg.queues)
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
