//! Safety anomalies of the queue workload (see the module docs of [`super`]).
//!
//! Per queue, offsets give a version order: each (queue, offset) must name one value forever,
//! and each value must sit at one position. Every observation feeds that order: each message of
//! each `ok` poll or drain, and the position each `ok` send was acknowledged at.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::MAX_EXAMPLES;
use crate::history::{Func, Op, OpType};

/// An invocation and its completion (`None`: the test ended first, which counts as `info`).
pub(crate) struct Completed<'a> {
    pub invoke: &'a Op,
    pub done: Option<&'a Op>,
}

impl Completed<'_> {
    /// The outcome; an unfinished operation is indeterminate.
    pub fn outcome(&self) -> OpType {
        self.done.map_or(OpType::Info, |d| d.kind)
    }
}

/// Pairs each invocation with the next completion of the same process, in invocation order.
pub(crate) fn pair(ops: &[Op]) -> Vec<Completed<'_>> {
    let mut out: Vec<Completed<'_>> = Vec::new();
    let mut open: HashMap<&str, usize> = HashMap::new();
    for op in ops {
        match op.kind {
            OpType::Invoke => {
                open.insert(op.process.as_str(), out.len());
                out.push(Completed {
                    invoke: op,
                    done: None,
                });
            }
            _ => {
                if let Some(i) = open.remove(op.process.as_str()) {
                    out[i].done = Some(op);
                }
            }
        }
    }
    out
}

/// Counts of each anomaly kind (all of them, not only the examples kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyCounts {
    pub lost: usize,
    pub false_fail: usize,
    pub duplicate: usize,
    pub inconsistent_offsets: usize,
    pub poll_skip: usize,
    pub nonmonotonic_poll: usize,
    pub nonmonotonic_send: usize,
    pub unexpected: usize,
    pub divergent_drain: usize,
    pub no_final_drain: usize,
    /// Nodes whose final drain did not complete (their data went unchecked).
    pub incomplete_drain: usize,
    /// The nodes did not agree on one leader and one applied index after the final heal.
    pub not_converged: usize,
    /// A delayed message (`--delay-mix`) read by a poll that completed before its due time.
    pub early: usize,
}

impl AnomalyCounts {
    pub fn total(&self) -> usize {
        self.lost
            + self.false_fail
            + self.duplicate
            + self.inconsistent_offsets
            + self.poll_skip
            + self.nonmonotonic_poll
            + self.nonmonotonic_send
            + self.unexpected
            + self.divergent_drain
            + self.no_final_drain
            + self.incomplete_drain
            + self.not_converged
            + self.early
    }

    /// `(name, count)` of each kind with a non-zero count.
    pub fn nonzero(&self) -> Vec<(&'static str, usize)> {
        [
            ("lost", self.lost),
            ("false-fail", self.false_fail),
            ("duplicate", self.duplicate),
            ("inconsistent-offsets", self.inconsistent_offsets),
            ("poll-skip", self.poll_skip),
            ("nonmonotonic-poll", self.nonmonotonic_poll),
            ("nonmonotonic-send", self.nonmonotonic_send),
            ("unexpected", self.unexpected),
            ("divergent-drain", self.divergent_drain),
            ("no-final-drain", self.no_final_drain),
            ("incomplete-drain", self.incomplete_drain),
            ("not-converged", self.not_converged),
            ("early", self.early),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lost {
    pub value: String,
    pub process: String,
    /// The node that acknowledged it.
    pub node: Option<String>,
    pub queue: Option<u32>,
    pub offset: Option<i64>,
    /// When the ack came, seconds since the start.
    pub acked_at_s: f64,
    /// Whether any consumer read it during the run before it vanished.
    pub seen_by_consumers: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FalseFail {
    pub value: String,
    pub process: String,
    pub error: Option<String>,
    /// Where it was read: `queue/offset by process@node`.
    pub seen: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    pub value: String,
    /// Every (queue, offset) it was read at.
    pub positions: Vec<(u32, i64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inconsistent {
    pub queue: u32,
    pub offset: i64,
    /// Each value seen there, with who saw it (`process@node`, `ack:process@node`).
    pub values: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollJump {
    pub process: String,
    pub queue: u32,
    /// The offset read before the jump, and the one read right after.
    pub from: i64,
    pub to: i64,
    /// Offsets holding data that were jumped over (the first few).
    pub skipped: Vec<i64>,
    pub at_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendJump {
    pub process: String,
    pub queue: u32,
    pub from: (i64, String),
    pub to: (i64, String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unexpected {
    pub value: String,
    pub seen: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergent {
    pub queue: u32,
    pub offset: i64,
    /// Each drained node and what its final drain held there (`null`: nothing).
    pub nodes: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Early {
    pub value: String,
    /// Its due time and when the read that returned it completed, ms since the epoch.
    pub due_ms: i64,
    pub read_ms: i64,
    /// `queue/offset by process@node`.
    pub seen: String,
}

/// Examples of each anomaly kind, at most [`MAX_EXAMPLES`] each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Anomalies {
    #[serde(skip)]
    pub counts: AnomalyCounts,
    pub lost: Vec<Lost>,
    pub false_fail: Vec<FalseFail>,
    pub duplicate: Vec<Duplicate>,
    pub inconsistent_offsets: Vec<Inconsistent>,
    pub poll_skip: Vec<PollJump>,
    pub nonmonotonic_poll: Vec<PollJump>,
    pub nonmonotonic_send: Vec<SendJump>,
    pub unexpected: Vec<Unexpected>,
    pub divergent_drain: Vec<Divergent>,
    /// Nodes left out of the divergence check because their drain did not complete.
    pub incomplete_drains: Vec<String>,
    #[serde(default)]
    pub early: Vec<Early>,
}

fn push<T>(v: &mut Vec<T>, count: &mut usize, item: T) {
    *count += 1;
    if v.len() < MAX_EXAMPLES {
        v.push(item);
    }
}

/// One message seen by one read.
struct Obs<'a> {
    queue: u32,
    offset: i64,
    value: &'a str,
    process: &'a str,
    node: &'a str,
    time_us: u64,
    wall_ms: i64,
    drain: bool,
}

impl Obs<'_> {
    fn who(&self) -> String {
        format!("{}@{}", self.process, self.node)
    }
}

fn observations<'a>(done: &[Completed<'a>]) -> Vec<Obs<'a>> {
    let mut out = Vec::new();
    for c in done {
        let f = c.invoke.f;
        if f != Func::Poll && f != Func::Drain {
            continue;
        }
        let Some(d) = c.done.filter(|d| d.kind == OpType::Ok) else {
            continue;
        };
        let Some(queue) = d.queue.or(c.invoke.queue) else {
            continue;
        };
        for (offset, value) in d.msgs.iter().flatten() {
            out.push(Obs {
                queue,
                offset: *offset,
                value,
                process: &d.process,
                node: d.node.as_deref().unwrap_or("?"),
                time_us: d.time_us,
                wall_ms: d.wall_ms,
                drain: f == Func::Drain,
            });
        }
    }
    out
}

pub(crate) fn check(ops: &[Op]) -> Anomalies {
    let done = pair(ops);
    let obs = observations(&done);
    let mut a = Anomalies::default();
    check_early(&obs, &mut a);

    let sends: Vec<&Completed<'_>> = done.iter().filter(|c| c.invoke.f == Func::Send).collect();
    let invoked: HashSet<&str> = sends
        .iter()
        .filter_map(|c| c.invoke.value.as_deref())
        .collect();

    // The version order: (queue, offset) → value → who observed it there.
    let mut order: BTreeMap<(u32, i64), BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for o in &obs {
        order
            .entry((o.queue, o.offset))
            .or_default()
            .entry(o.value.to_string())
            .or_default()
            .push(o.who());
    }
    for c in &sends {
        let Some(d) = c.done.filter(|d| d.kind == OpType::Ok) else {
            continue;
        };
        if let (Some(q), Some(off), Some(v)) = (d.queue, d.offset, c.invoke.value.as_deref()) {
            if off >= 0 {
                order
                    .entry((q, off))
                    .or_default()
                    .entry(v.to_string())
                    .or_default()
                    .push(format!(
                        "ack:{}@{}",
                        d.process,
                        d.node.as_deref().unwrap_or("?")
                    ));
            }
        }
    }
    for ((queue, offset), values) in &order {
        if values.len() > 1 {
            let item = Inconsistent {
                queue: *queue,
                offset: *offset,
                values: values
                    .iter()
                    .map(|(v, who)| (v.clone(), dedup(who.clone())))
                    .collect(),
            };
            push(
                &mut a.inconsistent_offsets,
                &mut a.counts.inconsistent_offsets,
                item,
            );
        }
    }

    // Where each value was read.
    let mut positions: BTreeMap<&str, BTreeSet<(u32, i64)>> = BTreeMap::new();
    let mut seen_by: HashMap<&str, Vec<String>> = HashMap::new();
    for o in &obs {
        positions
            .entry(o.value)
            .or_default()
            .insert((o.queue, o.offset));
        let seen = seen_by.entry(o.value).or_default();
        if seen.len() < 4 {
            seen.push(format!("{}/{} by {}", o.queue, o.offset, o.who()));
        }
    }
    for (value, pos) in &positions {
        if pos.len() > 1 {
            let item = Duplicate {
                value: value.to_string(),
                positions: pos.iter().copied().collect(),
            };
            push(&mut a.duplicate, &mut a.counts.duplicate, item);
        }
        if !invoked.contains(value) {
            let item = Unexpected {
                value: value.to_string(),
                seen: seen_by.get(value).cloned().unwrap_or_default(),
            };
            push(&mut a.unexpected, &mut a.counts.unexpected, item);
        }
    }

    // Final drains.
    let drained: HashSet<&str> = obs.iter().filter(|o| o.drain).map(|o| o.value).collect();
    let drain_ops = done.iter().filter(|c| c.invoke.f == Func::Drain).count();
    if drain_ops == 0 {
        a.counts.no_final_drain = 1;
    }
    let consumed: HashSet<&str> = obs.iter().filter(|o| !o.drain).map(|o| o.value).collect();
    for c in &sends {
        let Some(value) = c.invoke.value.as_deref() else {
            continue;
        };
        match c.outcome() {
            OpType::Ok if drain_ops > 0 && !drained.contains(value) => {
                let d = c.done;
                let item = Lost {
                    value: value.to_string(),
                    process: c.invoke.process.clone(),
                    node: d.and_then(|d| d.node.clone()),
                    queue: d.and_then(|d| d.queue),
                    offset: d.and_then(|d| d.offset),
                    acked_at_s: d.map_or(0.0, Op::secs),
                    seen_by_consumers: consumed.contains(value),
                };
                push(&mut a.lost, &mut a.counts.lost, item);
            }
            OpType::Fail if positions.contains_key(value) => {
                let item = FalseFail {
                    value: value.to_string(),
                    process: c.invoke.process.clone(),
                    error: c.done.and_then(|d| d.error.clone()),
                    seen: seen_by.get(value).cloned().unwrap_or_default(),
                };
                push(&mut a.false_fail, &mut a.counts.false_fail, item);
            }
            _ => {}
        }
    }

    a.counts.not_converged = done
        .iter()
        .filter(|c| c.invoke.f == Func::Converge && c.outcome() != OpType::Ok)
        .count();
    check_polls(&obs, &order, &mut a);
    check_sends(&sends, &mut a);
    check_divergence(&done, &obs, &mut a);
    a
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Poll skip and non-monotonic poll: each process's reads of each queue, in order.
fn check_polls(
    obs: &[Obs<'_>],
    order: &BTreeMap<(u32, i64), BTreeMap<String, Vec<String>>>,
    a: &mut Anomalies,
) {
    let mut last: HashMap<(&str, u32), i64> = HashMap::new();
    for o in obs {
        let key = (o.process, o.queue);
        if let Some(&prev) = last.get(&key) {
            if o.offset <= prev {
                let item = PollJump {
                    process: o.process.to_string(),
                    queue: o.queue,
                    from: prev,
                    to: o.offset,
                    skipped: Vec::new(),
                    at_s: o.time_us as f64 / 1e6,
                };
                push(
                    &mut a.nonmonotonic_poll,
                    &mut a.counts.nonmonotonic_poll,
                    item,
                );
            } else if o.offset > prev + 1 {
                let skipped: Vec<i64> = order
                    .range((o.queue, prev + 1)..(o.queue, o.offset))
                    .map(|((_, off), _)| *off)
                    .take(8)
                    .collect();
                if !skipped.is_empty() {
                    let item = PollJump {
                        process: o.process.to_string(),
                        queue: o.queue,
                        from: prev,
                        to: o.offset,
                        skipped,
                        at_s: o.time_us as f64 / 1e6,
                    };
                    push(&mut a.poll_skip, &mut a.counts.poll_skip, item);
                }
            }
        }
        last.insert(key, o.offset);
    }
}

/// Early: a delayed value (`p1-7@<due ms>`, `--delay-mix`) returned by a read that completed
/// before its due time was visible before it was due. Reads and due times use the same wall
/// clock (one machine), so this needs no tolerance.
fn check_early(obs: &[Obs<'_>], a: &mut Anomalies) {
    for o in obs {
        let Some(due_ms) = o
            .value
            .rsplit_once('@')
            .and_then(|(_, due)| due.parse::<i64>().ok())
        else {
            continue;
        };
        if o.wall_ms < due_ms {
            push(
                &mut a.early,
                &mut a.counts.early,
                Early {
                    value: o.value.to_string(),
                    due_ms,
                    read_ms: o.wall_ms,
                    seen: format!("{}/{} by {}", o.queue, o.offset, o.who()),
                },
            );
        }
    }
}

/// Non-monotonic send: a producer's acknowledged offsets on one queue must grow.
fn check_sends(sends: &[&Completed<'_>], a: &mut Anomalies) {
    let mut last: HashMap<(&str, u32), (i64, &str)> = HashMap::new();
    for c in sends {
        let Some(d) = c.done.filter(|d| d.kind == OpType::Ok) else {
            continue;
        };
        let (Some(q), Some(off), Some(v)) = (d.queue, d.offset, c.invoke.value.as_deref()) else {
            continue;
        };
        if off < 0 {
            continue;
        }
        let key = (c.invoke.process.as_str(), q);
        if let Some(&(prev, pv)) = last.get(&key) {
            if off <= prev {
                let item = SendJump {
                    process: key.0.to_string(),
                    queue: q,
                    from: (prev, pv.to_string()),
                    to: (off, v.to_string()),
                };
                push(
                    &mut a.nonmonotonic_send,
                    &mut a.counts.nonmonotonic_send,
                    item,
                );
            }
        }
        last.insert(key, (off, v));
    }
}

/// Divergent drain: every node whose drain completed must hold the same (queue, offset) →
/// value map.
fn check_divergence(done: &[Completed<'_>], obs: &[Obs<'_>], a: &mut Anomalies) {
    let mut incomplete: BTreeSet<String> = BTreeSet::new();
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    for c in done.iter().filter(|c| c.invoke.f == Func::Drain) {
        let node = c.invoke.node.clone().unwrap_or_else(|| "?".into());
        if c.outcome() != OpType::Ok {
            incomplete.insert(node.clone());
        }
        nodes.insert(node);
    }
    let complete: Vec<&String> = nodes.iter().filter(|n| !incomplete.contains(*n)).collect();
    a.counts.incomplete_drain = incomplete.len();
    a.incomplete_drains = incomplete.into_iter().collect();
    if complete.len() < 2 {
        return;
    }
    let mut by_pos: BTreeMap<(u32, i64), BTreeMap<&str, &str>> = BTreeMap::new();
    for o in obs.iter().filter(|o| o.drain) {
        by_pos
            .entry((o.queue, o.offset))
            .or_default()
            .insert(o.node, o.value);
    }
    for ((queue, offset), held) in by_pos {
        let row: BTreeMap<String, Option<String>> = complete
            .iter()
            .map(|n| (n.to_string(), held.get(n.as_str()).map(|v| v.to_string())))
            .collect();
        let distinct: BTreeSet<&Option<String>> = row.values().collect();
        if distinct.len() > 1 {
            let item = Divergent {
                queue,
                offset,
                nodes: row,
            };
            push(&mut a.divergent_drain, &mut a.counts.divergent_drain, item);
        }
    }
}
