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
//! An `info` send (timeout, connection lost) may or may not be visible later; neither outcome
//! is an anomaly. Statistics (counts, latency, availability per fault window, recovery times)
//! are in [`stats`] and never affect validity.

mod safety;
pub mod stats;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::history::Op;
pub use safety::{Anomalies, AnomalyCounts};
pub use stats::Stats;

/// How many examples of each anomaly kind are kept in the results.
pub const MAX_EXAMPLES: usize = 20;

/// What `results.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// True only when no safety anomaly was found.
    pub valid: bool,
    pub anomaly_counts: AnomalyCounts,
    /// Up to [`MAX_EXAMPLES`] examples of each anomaly kind.
    pub anomalies: Anomalies,
    pub stats: Stats,
}

/// Checks a complete history.
pub fn check(ops: &[Op]) -> Results {
    let anomalies = safety::check(ops);
    let anomaly_counts = anomalies.counts.clone();
    Results {
        valid: anomaly_counts.total() == 0,
        anomaly_counts,
        anomalies,
        stats: stats::compute(ops),
    }
}
