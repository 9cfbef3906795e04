//! Hand-written histories: each anomaly is detected, and what is not an anomaly (indeterminate
//! sends, redelivery after a restart, a new incarnation starting over) is not reported.

use super::*;
use crate::history::{Func, Op, OpType};

/// Builds a history with times 1 ms apart.
#[derive(Default)]
struct H {
    ops: Vec<Op>,
}

impl H {
    fn push(&mut self, mut op: Op) -> &mut H {
        op.index = self.ops.len() as u64;
        op.time_us = op.index * 1000;
        self.ops.push(op);
        self
    }

    fn send(&mut self, p: &str, v: &str, outcome: OpType, at: Option<(u32, i64)>) -> &mut H {
        self.push(Op::new(OpType::Invoke, Func::Send, p).value(v));
        let mut done = Op::new(outcome, Func::Send, p).value(v).node("n0");
        if let Some((q, o)) = at {
            done = done.queue(q).offset(o);
        }
        if outcome == OpType::Fail {
            done = done.error("SERVICE_NOT_AVAILABLE: not the master");
        }
        self.push(done)
    }

    fn read(
        &mut self,
        f: Func,
        p: &str,
        node: &str,
        q: u32,
        from: i64,
        msgs: &[(i64, &str)],
    ) -> &mut H {
        self.push(
            Op::new(OpType::Invoke, f, p)
                .node(node)
                .queue(q)
                .offset(from),
        );
        let mut done = Op::new(OpType::Ok, f, p).node(node).queue(q).offset(from);
        done.msgs = Some(msgs.iter().map(|(o, v)| (*o, v.to_string())).collect());
        done.next = Some(msgs.last().map_or(from, |(o, _)| o + 1));
        self.push(done)
    }

    fn poll(&mut self, p: &str, q: u32, from: i64, msgs: &[(i64, &str)]) -> &mut H {
        self.read(Func::Poll, p, "n0", q, from, msgs)
    }

    fn drain(&mut self, node: &str, q: u32, msgs: &[(i64, &str)]) -> &mut H {
        let p = format!("drain-{node}");
        self.read(Func::Drain, &p, node, q, 0, msgs)
    }

    fn check(&self) -> Results {
        check(&self.ops)
    }
}

/// Three acknowledged sends to queue 0, consumed and drained on two nodes.
fn healthy() -> H {
    let mut h = H::default();
    h.send("p0", "p0-1", OpType::Ok, Some((0, 0)))
        .send("p0", "p0-2", OpType::Ok, Some((0, 1)))
        .send("p1", "p1-1", OpType::Ok, Some((0, 2)))
        .poll("c0.1", 0, 0, &[(0, "p0-1"), (1, "p0-2")])
        .poll("c0.1", 0, 2, &[(2, "p1-1")]);
    h
}

fn drain_all(h: &mut H, msgs: &[(i64, &str)]) {
    h.drain("n0", 0, msgs).drain("n1", 0, msgs);
}

const ALL: &[(i64, &str)] = &[(0, "p0-1"), (1, "p0-2"), (2, "p1-1")];

#[test]
fn a_clean_history_is_valid() {
    let mut h = healthy();
    drain_all(&mut h, ALL);
    let r = h.check();
    assert!(r.valid, "{:?}", r.anomaly_counts);
    assert_eq!(r.stats.sends.ok, 3);
    assert_eq!(r.stats.polls.ok, 2);
    assert_eq!(r.stats.drained_values, 3);
}

#[test]
fn lost_write_is_reported() {
    let mut h = healthy();
    h.send("p2", "p2-1", OpType::Ok, Some((0, 3)));
    drain_all(&mut h, ALL);
    let r = h.check();
    assert!(!r.valid);
    assert_eq!(r.anomaly_counts.lost, 1);
    assert_eq!(r.anomalies.lost[0].value, "p2-1");
    assert_eq!(r.anomalies.lost[0].offset, Some(3));
    assert!(!r.anomalies.lost[0].seen_by_consumers);
}

#[test]
fn lost_write_seen_by_a_consumer_first_is_still_lost() {
    let mut h = healthy();
    h.send("p2", "p2-1", OpType::Ok, Some((0, 3)))
        .poll("c0.1", 0, 3, &[(3, "p2-1")]);
    drain_all(&mut h, ALL);
    let r = h.check();
    assert_eq!(r.anomaly_counts.lost, 1);
    assert!(r.anomalies.lost[0].seen_by_consumers);
}

#[test]
fn indeterminate_sends_are_not_anomalies_either_way() {
    let mut h = healthy();
    // One timed-out send shows up later, another never does: both are fine.
    h.send("p2", "p2-1", OpType::Info, None)
        .send("p3", "p3-1", OpType::Info, None);
    // An invocation the test never completed counts as indeterminate too.
    h.push(Op::new(OpType::Invoke, Func::Send, "p4").value("p4-1"));
    let mut with = ALL.to_vec();
    with.push((3, "p2-1"));
    with.push((4, "p4-1"));
    drain_all(&mut h, &with);
    let r = h.check();
    assert!(r.valid, "{:?}", r.anomalies);
    assert_eq!(r.stats.sends.info, 3);
}

#[test]
fn false_fail_is_reported() {
    let mut h = healthy();
    h.send("p2", "p2-1", OpType::Fail, None);
    let mut with = ALL.to_vec();
    with.push((3, "p2-1"));
    drain_all(&mut h, &with);
    let r = h.check();
    assert_eq!(r.anomaly_counts.false_fail, 1);
    assert_eq!(r.anomalies.false_fail[0].value, "p2-1");
    assert!(r.anomalies.false_fail[0].seen[0].starts_with("0/3 by drain-n"));
    // A definite failure that never shows up is fine.
    let mut h = healthy();
    h.send("p2", "p2-1", OpType::Fail, None);
    drain_all(&mut h, ALL);
    assert!(h.check().valid);
}

#[test]
fn duplicate_is_reported() {
    let mut h = healthy();
    let dup = [(0, "p0-1"), (1, "p0-2"), (2, "p1-1"), (3, "p0-2")];
    drain_all(&mut h, &dup);
    let r = h.check();
    assert_eq!(r.anomaly_counts.duplicate, 1);
    assert_eq!(r.anomalies.duplicate[0].value, "p0-2");
    assert_eq!(r.anomalies.duplicate[0].positions, vec![(0, 1), (0, 3)]);
    // The same value in two queues is a duplicate too.
    let mut h = healthy();
    drain_all(&mut h, ALL);
    h.drain("n0", 1, &[(0, "p0-1")])
        .drain("n1", 1, &[(0, "p0-1")]);
    let r = h.check();
    assert_eq!(r.anomaly_counts.duplicate, 1);
    assert_eq!(r.anomalies.duplicate[0].positions, vec![(0, 0), (1, 0)]);
}

#[test]
fn inconsistent_offsets_are_reported() {
    let mut h = healthy();
    // The consumer saw p1-1 at offset 2, the drains see p2-1 there and p1-1 at 3.
    h.send("p2", "p2-1", OpType::Ok, Some((0, 3)));
    let other = [(0, "p0-1"), (1, "p0-2"), (2, "p2-1"), (3, "p1-1")];
    drain_all(&mut h, &other);
    let r = h.check();
    assert!(r.anomaly_counts.inconsistent_offsets >= 1);
    let first = &r.anomalies.inconsistent_offsets[0];
    assert_eq!((first.queue, first.offset), (0, 2));
    assert_eq!(first.values.len(), 2);
    assert!(first.values["p1-1"].iter().any(|w| w == "c0.1@n0"));
    // The acknowledged position disagrees too (p2-1 acked at 3, p1-1 read there).
    assert!(r
        .anomalies
        .inconsistent_offsets
        .iter()
        .any(|i| i.offset == 3 && i.values["p2-1"].iter().any(|w| w.starts_with("ack:"))));
}

#[test]
fn poll_skip_is_reported() {
    let mut h = H::default();
    for (i, v) in ["p0-1", "p0-2", "p0-3", "p0-4"].iter().enumerate() {
        h.send("p0", v, OpType::Ok, Some((0, i as i64)));
    }
    h.poll("c0.1", 0, 0, &[(0, "p0-1")])
        .poll("c0.1", 0, 3, &[(3, "p0-4")]);
    let all = [(0, "p0-1"), (1, "p0-2"), (2, "p0-3"), (3, "p0-4")];
    drain_all(&mut h, &all);
    let r = h.check();
    assert_eq!(r.anomaly_counts.poll_skip, 1, "{:?}", r.anomalies);
    let s = &r.anomalies.poll_skip[0];
    assert_eq!((s.from, s.to, s.skipped.clone()), (0, 3, vec![1, 2]));
    assert_eq!(r.anomaly_counts.nonmonotonic_poll, 0);
}

#[test]
fn non_monotonic_poll_is_reported_but_a_new_incarnation_may_start_over() {
    let mut h = healthy();
    // c0.1 goes back to offset 1 after reading 2.
    h.poll("c0.1", 0, 1, &[(1, "p0-2")]);
    // c0.2 (the restarted consumer) rereads from its committed offset: fine.
    h.poll("c0.2", 0, 0, &[(0, "p0-1"), (1, "p0-2"), (2, "p1-1")]);
    drain_all(&mut h, ALL);
    let r = h.check();
    assert_eq!(r.anomaly_counts.nonmonotonic_poll, 1, "{:?}", r.anomalies);
    let n = &r.anomalies.nonmonotonic_poll[0];
    assert_eq!((n.process.as_str(), n.from, n.to), ("c0.1", 2, 1));
    assert_eq!(r.anomaly_counts.poll_skip, 0);
    assert_eq!(r.anomaly_counts.duplicate, 0);
}

#[test]
fn a_skip_over_offsets_nobody_saw_is_not_reported() {
    // Offsets 1 and 2 hold nothing anyone observed (e.g. filtered out): no evidence of a skip.
    let mut h = H::default();
    h.send("p0", "p0-1", OpType::Ok, Some((0, 0)))
        .send("p0", "p0-2", OpType::Ok, Some((0, 3)))
        .poll("c0.1", 0, 0, &[(0, "p0-1"), (3, "p0-2")]);
    h.drain("n0", 0, &[(0, "p0-1"), (3, "p0-2")]);
    let r = h.check();
    assert_eq!(r.anomaly_counts.poll_skip, 0, "{:?}", r.anomalies);
}

#[test]
fn unexpected_value_is_reported() {
    let mut h = healthy();
    let mut with = ALL.to_vec();
    with.push((3, "p9-99"));
    drain_all(&mut h, &with);
    let r = h.check();
    assert_eq!(r.anomaly_counts.unexpected, 1);
    assert_eq!(r.anomalies.unexpected[0].value, "p9-99");
}

#[test]
fn non_monotonic_send_is_reported() {
    let mut h = H::default();
    h.send("p0", "p0-1", OpType::Ok, Some((0, 5)))
        .send("p0", "p0-2", OpType::Ok, Some((0, 4)));
    h.drain("n0", 0, &[(4, "p0-2"), (5, "p0-1")]);
    let r = h.check();
    assert_eq!(r.anomaly_counts.nonmonotonic_send, 1);
    // An unknown acknowledged offset (-1) is ignored.
    let mut h = H::default();
    h.send("p0", "p0-1", OpType::Ok, Some((0, 5)))
        .send("p0", "p0-2", OpType::Ok, Some((0, -1)));
    h.drain("n0", 0, &[(5, "p0-1"), (6, "p0-2")]);
    assert!(h.check().valid);
}

#[test]
fn divergent_drains_are_reported_and_incomplete_ones_flagged() {
    let mut h = healthy();
    h.drain("n0", 0, ALL).drain("n1", 0, &ALL[..2]);
    let r = h.check();
    assert_eq!(r.anomaly_counts.divergent_drain, 1);
    let d = &r.anomalies.divergent_drain[0];
    assert_eq!(d.offset, 2);
    assert_eq!(d.nodes["n1"], None);
    assert_eq!(r.anomaly_counts.lost, 0);

    // n1's drain gave up: it is not compared, but the run cannot pass.
    let mut h = healthy();
    h.drain("n0", 0, ALL);
    h.push(
        Op::new(OpType::Invoke, Func::Drain, "drain-n1")
            .node("n1")
            .queue(0)
            .offset(0),
    );
    h.push(
        Op::new(OpType::Info, Func::Drain, "drain-n1")
            .node("n1")
            .error("timeout"),
    );
    let r = h.check();
    assert!(!r.valid, "an unchecked node is not a pass");
    assert_eq!(r.anomaly_counts.incomplete_drain, 1);
    assert_eq!(r.anomaly_counts.divergent_drain, 0);
    assert_eq!(r.anomalies.incomplete_drains, vec!["n1".to_string()]);
}

#[test]
fn a_cluster_that_does_not_converge_is_not_valid() {
    let mut h = healthy();
    h.push(Op::new(OpType::Invoke, Func::Converge, "nemesis"));
    h.push(Op::new(OpType::Info, Func::Converge, "nemesis").error("not converged after 60 s"));
    drain_all(&mut h, ALL);
    let r = h.check();
    assert_eq!(r.anomaly_counts.not_converged, 1);
    assert!(!r.valid);
    let mut h = healthy();
    h.push(Op::new(OpType::Invoke, Func::Converge, "nemesis"));
    h.push(Op::new(OpType::Ok, Func::Converge, "nemesis"));
    drain_all(&mut h, ALL);
    assert!(h.check().valid);
}

#[test]
fn a_history_without_final_drain_is_not_valid() {
    let r = healthy().check();
    assert!(!r.valid);
    assert_eq!(r.anomaly_counts.no_final_drain, 1);
    assert_eq!(r.anomaly_counts.lost, 0);
}

#[test]
fn fault_windows_give_availability_and_recovery() {
    let mut h = H::default();
    h.send("p0", "p0-1", OpType::Ok, Some((0, 0))); // t 0..1 ms
    h.push(Op::new(OpType::Invoke, Func::Fault, "nemesis").value("partition-leader")); // 2
    h.push(
        Op::new(OpType::Ok, Func::Fault, "nemesis")
            .value("partition-leader")
            .error("isolated n0"),
    ); // 3
    h.send("p0", "p0-2", OpType::Info, None); // 4..5
    h.send("p0", "p0-3", OpType::Fail, None); // 6..7
    h.send("p0", "p0-4", OpType::Ok, Some((0, 1))); // 8..9
    h.push(Op::new(OpType::Invoke, Func::Heal, "nemesis").value("partition-leader")); // 10
    h.push(Op::new(OpType::Ok, Func::Heal, "nemesis").value("partition-leader")); // 11
    h.send("p0", "p0-5", OpType::Fail, None); // 12..13
    h.send("p0", "p0-6", OpType::Ok, Some((0, 2))); // 14..15
    h.drain("n0", 0, &[(0, "p0-1"), (1, "p0-4"), (2, "p0-6")]);
    let r = h.check();
    assert!(r.valid, "{:?}", r.anomalies);
    let w = &r.stats.faults[0];
    assert_eq!(w.fault, "partition-leader");
    assert_eq!(w.description, "isolated n0");
    assert_eq!((w.sends.ok, w.sends.fail, w.sends.info), (1, 1, 1));
    assert!((w.availability - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(w.first_ok_after_start_ms, Some(6.0)); // fault in effect at 3 ms, p0-4 ok at 9 ms
    assert_eq!(w.recovery_ms, Some(4.0)); // heal done at 11 ms, p0-6 ok at 15 ms
    assert_eq!(r.stats.max_recovery_ms, Some(4.0));
    assert_eq!(r.stats.unrecovered_heals, 0);
    assert!((r.stats.availability_healthy - 2.0 / 3.0).abs() < 1e-9);
}

/// `--delay-mix`: a delayed value is acknowledged without a position; read after its due time
/// it is fine, read before it is `early`, never drained it is `lost`.
#[test]
fn delayed_values_read_early_or_never_are_reported() {
    let mut h = healthy();
    h.send("p2", "p2-1@5000", OpType::Ok, None)
        .send("p2", "p2-2@9000", OpType::Ok, None);
    h.poll("c0.1", 0, 3, &[(3, "p2-1@5000")]);
    h.ops.last_mut().unwrap().wall_ms = 6_000;
    let mut on_time = h.ops.clone();
    h.poll("c0.1", 0, 4, &[(4, "p2-2@9000")]);
    h.ops.last_mut().unwrap().wall_ms = 8_999;
    let all = [
        (0, "p0-1"),
        (1, "p0-2"),
        (2, "p1-1"),
        (3, "p2-1@5000"),
        (4, "p2-2@9000"),
    ];
    drain_all(&mut h, &all);
    for op in h.ops.iter_mut().filter(|o| o.f == Func::Drain) {
        op.wall_ms = 20_000;
    }
    let r = h.check();
    assert!(!r.valid);
    assert_eq!(r.anomaly_counts.early, 1, "{:?}", r.anomaly_counts);
    assert_eq!(r.anomalies.early[0].value, "p2-2@9000");
    assert_eq!(r.anomalies.early[0].read_ms, 8_999);

    // Read on time; the second one never delivered: lost, not early.
    let mut h = H {
        ops: std::mem::take(&mut on_time),
    };
    drain_all(&mut h, &all[..4]);
    for op in h.ops.iter_mut().filter(|o| o.f == Func::Drain) {
        op.wall_ms = 20_000;
    }
    let r = h.check();
    assert_eq!(r.anomaly_counts.early, 0);
    assert_eq!(r.anomaly_counts.lost, 1);
    assert_eq!(r.anomalies.lost[0].value, "p2-2@9000");
}

#[test]
fn a_fault_not_applied_makes_the_run_unknown_and_names_it() {
    let mut h = healthy();
    h.push(Op::new(OpType::Invoke, Func::Fault, "nemesis").value("partition-leader"));
    h.push(
        Op::new(OpType::Info, Func::Fault, "nemesis")
            .value("partition-leader")
            .error("ip netns exec lmqj-1-n0 iptables -w -A INPUT: not found"),
    );
    h.push(Op::new(OpType::Invoke, Func::Heal, "nemesis").value("partition-leader"));
    h.push(Op::new(OpType::Ok, Func::Heal, "nemesis").value("partition-leader"));
    drain_all(&mut h, ALL);
    let r = h.check();
    assert!(!r.valid);
    assert_eq!(r.verdict(), Verdict::Unknown);
    assert_eq!(r.unapplied.len(), 1);
    assert!(r.unapplied[0].contains("fault partition-leader could not be applied"));
    assert!(r.unapplied[0].contains("iptables"));
}

#[test]
fn a_failed_heal_makes_the_run_unknown() {
    let mut h = healthy();
    h.push(Op::new(OpType::Invoke, Func::Heal, "nemesis").value("all"));
    h.push(
        Op::new(OpType::Info, Func::Heal, "nemesis")
            .value("all")
            .error("Cannot open network namespace"),
    );
    drain_all(&mut h, ALL);
    let r = h.check();
    assert_eq!(r.verdict(), Verdict::Unknown);
    assert!(r.unapplied[0].starts_with("heal of all failed"));
}

#[test]
fn an_anomaly_beats_an_unapplied_fault() {
    let mut h = healthy();
    h.send("p2", "p2-1", OpType::Ok, Some((0, 3)));
    h.push(
        Op::new(OpType::Info, Func::Fault, "nemesis")
            .value("kill")
            .error("n1 was not running"),
    );
    drain_all(&mut h, ALL);
    assert_eq!(h.check().verdict(), Verdict::Invalid);
}
