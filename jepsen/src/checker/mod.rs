//! The checker: reads a whole history after the test and says whether it is valid.
//!
//! Safety anomalies (any one makes the run invalid):
//! - **lost**: a send acknowledged `ok` whose value is absent from the final drain;
//! - **false fail**: a send that completed `fail` (certainly not done) whose value was read;
//! - **duplicate**: one value at two different (queue, offset) positions;
//! - **inconsistent offsets**: two observations disagree on the value at one (queue, offset) —
//!   reads from any node, and the position an `ok` send was acknowledged at;
//! - **poll skip** / **non-monotonic poll**: one process's successive reads of a queue jump over
//!   offsets that hold data, or go back;
//! - **non-monotonic send**: one producer's successive acknowledged sends to a queue get
//!   decreasing offsets;
//! - **unexpected**: a value read that no producer ever sent;
//! - **divergent drain**: the final drains of two nodes differ (invariant 3: every node holds
//!   the same committed log);
//! - **no final drain**: the history has no final read, so loss cannot be judged;
//! - **incomplete drain** / **not converged**: a node's final drain gave up, or the nodes did
//!   not agree on one leader and one applied index after the final heal — a node that does not
//!   come back after kill -9 would otherwise leave its data unchecked.
//!
//! A run is **unknown** (neither valid nor invalid, and the command exits non-zero) when a
//! scheduled fault could not be applied or a heal failed (a missing tool, a failed command, a
//! namespace gone): the cluster was not tested under the schedule it claims, so "no anomaly"
//! proves nothing. The faults concerned are listed in [`Results::unapplied`].
//!
//! An `info` send (timeout, connection lost) may or may not be visible later; neither outcome
//! is an anomaly. Statistics (counts, latency, availability per fault window, recovery times)
//! are in [`stats`] and never affect validity.

mod safety;
pub mod stats;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::history::{Func, Op, OpType};
pub use safety::{Anomalies, AnomalyCounts};
pub use stats::Stats;

/// How many examples of each anomaly kind are kept in the results.
pub const MAX_EXAMPLES: usize = 20;

/// What `results.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// True only when no safety anomaly was found and every scheduled fault was applied and
    /// healed.
    pub valid: bool,
    /// Faults that could not be applied or healed, with the reason (`partition-leader could
    /// not be applied: ...`). Any entry makes the verdict [`Verdict::Unknown`].
    #[serde(default)]
    pub unapplied: Vec<String>,
    pub anomaly_counts: AnomalyCounts,
    /// Up to [`MAX_EXAMPLES`] examples of each anomaly kind.
    pub anomalies: Anomalies,
    pub stats: Stats,
}

/// What a run proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every fault ran and no safety anomaly was found.
    Valid,
    /// A safety anomaly was found (whatever else happened).
    Invalid,
    /// No anomaly, but a scheduled fault could not be applied or healed: nothing is proven.
    Unknown,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Valid => "VALID",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "UNKNOWN",
        }
    }
}

impl Results {
    /// Invalid beats unknown: an anomaly found under fewer faults than planned is still real.
    pub fn verdict(&self) -> Verdict {
        if self.anomaly_counts.total() > 0 {
            Verdict::Invalid
        } else if !self.unapplied.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        }
    }
}

/// The nemesis's faults that did not take effect (a `fault` completing `info`/`fail`) or whose
/// heal failed (a `heal` completing `info`/`fail`), in history order.
pub fn unapplied(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .filter(|op| op.process == "nemesis" && matches!(op.kind, OpType::Info | OpType::Fail))
        .filter_map(|op| {
            let name = op.value.as_deref().unwrap_or("?");
            let why = op.error.as_deref().unwrap_or("no reason recorded");
            match op.f {
                Func::Fault => Some(format!("fault {name} could not be applied: {why}")),
                Func::Heal => Some(format!("heal of {name} failed: {why}")),
                _ => None,
            }
        })
        .collect()
}

/// Checks a complete history.
pub fn check(ops: &[Op]) -> Results {
    let anomalies = safety::check(ops);
    let anomaly_counts = anomalies.counts.clone();
    let unapplied = unapplied(ops);
    Results {
        valid: anomaly_counts.total() == 0 && unapplied.is_empty(),
        unapplied,
        anomaly_counts,
        anomalies,
        stats: stats::compute(ops),
    }
}
