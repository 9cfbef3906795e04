//! Statistics that describe a run without judging it: outcome counts, send latency,
//! availability inside each fault window, and how fast writes came back after each fault and
//! each heal (openmessaging-chaos's "failure recovery time").

use serde::{Deserialize, Serialize};

use super::safety::{pair, Completed};
use crate::history::{Func, Op, OpType};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcomes {
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
}

impl Outcomes {
    fn add(&mut self, t: OpType) {
        match t {
            OpType::Ok => self.ok += 1,
            OpType::Fail => self.fail += 1,
            _ => self.info += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.ok + self.fail + self.info
    }

    /// Share of operations that were `ok` (1.0 when there were none).
    pub fn availability(&self) -> f64 {
        if self.total() == 0 {
            1.0
        } else {
            self.ok as f64 / self.total() as f64
        }
    }
}

/// One fault, from the nemesis starting it to the end of its heal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    pub fault: String,
    /// What was done, e.g. `isolated n1 from n0 n2`.
    pub description: String,
    pub start_s: f64,
    /// `None` if the test ended before the heal.
    pub end_s: Option<f64>,
    /// Sends invoked inside the window, by outcome.
    pub sends: Outcomes,
    pub availability: f64,
    /// From the fault's start to the first `ok` of a send invoked after it.
    pub first_ok_after_start_ms: Option<f64>,
    /// From the heal to the first `ok` of a send invoked after it: the recovery time.
    pub recovery_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub duration_s: f64,
    pub sends: Outcomes,
    pub polls: Outcomes,
    /// Messages returned by consumer polls (redeliveries included).
    pub polled_messages: usize,
    /// Distinct values in the final drain.
    pub drained_values: usize,
    /// Latency of `ok` sends.
    pub send_latency: Latency,
    /// Availability of sends invoked while no fault was active.
    pub availability_healthy: f64,
    /// Availability of sends invoked while some fault was active.
    pub availability_faulty: f64,
    pub faults: Vec<FaultWindow>,
    /// The longest recovery after a heal, if every heal recovered.
    pub max_recovery_ms: Option<f64>,
    /// Heals after which no send succeeded before the test ended.
    pub unrecovered_heals: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Fault windows from the nemesis's fault/heal ops (it runs one fault at a time): from the
/// moment the fault took effect (its `ok`) to the end of its heal.
pub fn windows(ops: &[Op]) -> Vec<(String, String, u64, Option<u64>)> {
    let mut out: Vec<(String, String, u64, Option<u64>)> = Vec::new();
    let mut open: Option<usize> = None;
    for op in ops {
        match (op.f, op.kind) {
            (Func::Fault, OpType::Invoke) => {
                out.push((
                    op.value.clone().unwrap_or_default(),
                    String::new(),
                    op.time_us,
                    None,
                ));
                open = Some(out.len() - 1);
            }
            // The fault is in effect from its completion: that is where the window starts.
            (Func::Fault, _) => {
                if let Some(i) = open {
                    out[i].1 = op.error.clone().unwrap_or_default();
                    out[i].2 = op.time_us;
                }
            }
            (Func::Heal, OpType::Ok | OpType::Fail | OpType::Info) => {
                if let Some(i) = open.take() {
                    out[i].3 = Some(op.time_us);
                }
            }
            _ => {}
        }
    }
    out
}

fn first_ok_after(sends: &[&Completed<'_>], t_us: u64) -> Option<f64> {
    sends
        .iter()
        .filter(|c| c.invoke.time_us >= t_us && c.outcome() == OpType::Ok)
        .filter_map(|c| c.done.map(|d| d.time_us))
        .min()
        .map(|done| (done - t_us) as f64 / 1000.0)
}

pub fn compute(ops: &[Op]) -> Stats {
    let done = pair(ops);
    let mut s = Stats {
        duration_s: ops.last().map_or(0.0, Op::secs),
        ..Stats::default()
    };
    let sends: Vec<&Completed<'_>> = done.iter().filter(|c| c.invoke.f == Func::Send).collect();
    let mut lat = Vec::new();
    for c in &sends {
        s.sends.add(c.outcome());
        if let (OpType::Ok, Some(d)) = (c.outcome(), c.done) {
            lat.push((d.time_us.saturating_sub(c.invoke.time_us)) as f64 / 1000.0);
        }
    }
    lat.sort_by(f64::total_cmp);
    s.send_latency = Latency {
        p50_ms: percentile(&lat, 0.5),
        p95_ms: percentile(&lat, 0.95),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().copied().unwrap_or(0.0),
    };
    let mut drained = std::collections::HashSet::new();
    for c in &done {
        match c.invoke.f {
            Func::Poll => {
                s.polls.add(c.outcome());
                s.polled_messages += c.done.and_then(|d| d.msgs.as_ref()).map_or(0, Vec::len);
            }
            Func::Drain => {
                for (_, v) in c.done.and_then(|d| d.msgs.as_ref()).into_iter().flatten() {
                    drained.insert(v.as_str());
                }
            }
            _ => {}
        }
    }
    s.drained_values = drained.len();

    let end_us = ops.last().map_or(0, |o| o.time_us);
    let wins = windows(ops);
    let in_fault = |t: u64| {
        wins.iter()
            .any(|(_, _, a, b)| t >= *a && t <= b.unwrap_or(end_us))
    };
    let (mut healthy, mut faulty) = (Outcomes::default(), Outcomes::default());
    for c in &sends {
        if in_fault(c.invoke.time_us) {
            faulty.add(c.outcome());
        } else {
            healthy.add(c.outcome());
        }
    }
    s.availability_healthy = healthy.availability();
    s.availability_faulty = faulty.availability();
    for (fault, description, start, end) in wins {
        let mut w = Outcomes::default();
        for c in &sends {
            let t = c.invoke.time_us;
            if t >= start && t <= end.unwrap_or(end_us) {
                w.add(c.outcome());
            }
        }
        let recovery_ms = end.and_then(|e| first_ok_after(&sends, e));
        if end.is_some() && recovery_ms.is_none() {
            s.unrecovered_heals += 1;
        }
        s.faults.push(FaultWindow {
            fault,
            description,
            start_s: start as f64 / 1e6,
            end_s: end.map(|e| e as f64 / 1e6),
            availability: w.availability(),
            sends: w,
            first_ok_after_start_ms: first_ok_after(&sends, start),
            recovery_ms,
        });
    }
    s.max_recovery_ms = s
        .faults
        .iter()
        .filter_map(|w| w.recovery_ms)
        .max_by(f64::total_cmp);
    s
}
