//! What the drill's traffic did: every send's outcome and every delivery, with times, so each
//! round's RTO and catch-up and the final loss check are computed from records, not guessed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// An acknowledgement counts for a round only if it arrived this long after the fault: an
/// answer the killed leader had already written to its socket can still arrive a moment later.
pub const ACK_GRACE: Duration = Duration::from_millis(10);

#[derive(Default)]
struct Inner {
    sent: u64,
    /// seq → when SEND_OK arrived.
    acked: BTreeMap<u64, Instant>,
    /// seq → when the send failed for good, and why.
    failed: BTreeMap<u64, (Instant, String)>,
    /// seq → when the live consumer first received it, and how many times.
    received: HashMap<u64, (Instant, u32)>,
    /// The final read from offset 0: seq → every (queue id, queue offset) it sits at.
    final_read: HashMap<u64, BTreeSet<(String, i64)>>,
}

/// Shared by the producer, the consumers and the rounds.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

/// Totals for the final report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    /// Sent but neither acknowledged nor failed (still pending when counted).
    pub pending: u64,
    pub received: u64,
    /// Deliveries beyond the first of a message (redeliveries after a failover are allowed).
    pub redelivered: u64,
    /// Acknowledged but absent from the final read from offset 0: data loss.
    pub lost: Vec<u64>,
    /// Acknowledged, present in the log, but never given to the live consumer.
    pub undelivered: Vec<u64>,
    /// Stored at more than one queue offset (a retried send whose first try also landed).
    pub duplicated: Vec<u64>,
    /// A failed send whose message is in the log anyway (an indeterminate failure).
    pub failed_but_stored: u64,
}

impl Ledger {
    pub fn on_send(&self) {
        self.inner.lock().sent += 1;
    }

    pub fn on_ack(&self, seq: u64, at: Instant) {
        self.inner.lock().acked.insert(seq, at);
    }

    pub fn on_fail(&self, seq: u64, at: Instant, why: String) {
        self.inner.lock().failed.insert(seq, (at, why));
    }

    pub fn on_receive(&self, seq: u64, at: Instant) {
        let mut g = self.inner.lock();
        let e = g.received.entry(seq).or_insert((at, 0));
        e.1 += 1;
    }

    pub fn on_final_read(&self, seq: u64, queue: String, offset: i64) {
        self.inner
            .lock()
            .final_read
            .entry(seq)
            .or_default()
            .insert((queue, offset));
    }

    /// The first acknowledgement that arrived after `t` (+ [`ACK_GRACE`]).
    pub fn first_ack_after(&self, t: Instant) -> Option<Instant> {
        let g = self.inner.lock();
        g.acked
            .values()
            .filter(|a| **a > t + ACK_GRACE)
            .min()
            .copied()
    }

    /// Acknowledgements that arrived in `[from, to)`.
    pub fn acks_between(&self, from: Instant, to: Instant) -> u64 {
        let g = self.inner.lock();
        g.acked.values().filter(|a| **a >= from && **a < to).count() as u64
    }

    /// The most recent failure reasons since `t`, distinct, at most `n`.
    pub fn failures_since(&self, t: Instant, n: usize) -> Vec<String> {
        let g = self.inner.lock();
        let mut seen = BTreeSet::new();
        g.failed
            .values()
            .filter(|(at, _)| *at >= t)
            .filter(|(_, why)| seen.insert(why.clone()))
            .map(|(_, why)| why.clone())
            .take(n)
            .collect()
    }

    /// Consumption has caught up with `t`: everything acknowledged before `t` was received,
    /// and so was something acknowledged after it (consumption resumed).
    pub fn caught_up_with(&self, t: Instant) -> bool {
        let g = self.inner.lock();
        let mut resumed = false;
        for (seq, at) in &g.acked {
            let got = g.received.contains_key(seq);
            if *at <= t && !got {
                return false;
            }
            resumed |= *at > t + ACK_GRACE && got;
        }
        resumed
    }

    /// True once every acknowledged send was received by the live consumer.
    pub fn all_received(&self) -> bool {
        let g = self.inner.lock();
        g.acked.keys().all(|s| g.received.contains_key(s))
    }

    /// True once every acknowledged send was seen by the final read.
    pub fn all_in_final_read(&self) -> bool {
        let g = self.inner.lock();
        g.acked.keys().all(|s| g.final_read.contains_key(s))
    }

    pub fn totals(&self) -> Totals {
        let g = self.inner.lock();
        let acked = g.acked.len() as u64;
        let failed = g.failed.len() as u64;
        Totals {
            sent: g.sent,
            acked,
            failed,
            pending: g.sent.saturating_sub(acked + failed),
            received: g.received.len() as u64,
            redelivered: g
                .received
                .values()
                .map(|(_, n)| u64::from(n.saturating_sub(1)))
                .sum(),
            lost: g
                .acked
                .keys()
                .filter(|s| !g.final_read.contains_key(s))
                .copied()
                .collect(),
            undelivered: g
                .acked
                .keys()
                .filter(|s| g.final_read.contains_key(s) && !g.received.contains_key(s))
                .copied()
                .collect(),
            duplicated: {
                let mut d: Vec<u64> = g
                    .final_read
                    .iter()
                    .filter(|(_, at)| at.len() > 1)
                    .map(|(s, _)| *s)
                    .collect();
                d.sort_unstable();
                d
            },
            failed_but_stored: g
                .failed
                .keys()
                .filter(|s| g.final_read.contains_key(s))
                .count() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_ignores_answers_already_on_the_wire_at_the_kill() {
        let l = Ledger::default();
        let t0 = Instant::now();
        l.on_ack(1, t0 + Duration::from_millis(2));
        assert_eq!(l.first_ack_after(t0), None);
        l.on_ack(2, t0 + Duration::from_millis(800));
        assert_eq!(l.first_ack_after(t0), Some(t0 + Duration::from_millis(800)));
    }

    #[test]
    fn catch_up_needs_the_backlog_and_a_message_after_the_fault() {
        let l = Ledger::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        l.on_ack(1, t0 - ms(5));
        l.on_ack(2, t0 + ms(900));
        assert!(!l.caught_up_with(t0));
        l.on_receive(2, t0 + ms(950));
        assert!(
            !l.caught_up_with(t0),
            "seq 1 from before the fault is missing"
        );
        l.on_receive(1, t0 + ms(960));
        assert!(l.caught_up_with(t0));
    }

    #[test]
    fn totals_separate_loss_from_undelivered_and_duplicates() {
        let l = Ledger::default();
        let now = Instant::now();
        for s in 0..5 {
            l.on_send();
            if s < 4 {
                l.on_ack(s, now);
            }
        }
        l.on_fail(4, now, "no master".into());
        // 0: fine; 1: in the log twice; 2: in the log, never delivered; 3: lost.
        for (s, q, o) in [
            (0, "q0", 0),
            (1, "q0", 1),
            (1, "q1", 0),
            (2, "q1", 1),
            (4, "q1", 2),
        ] {
            l.on_final_read(s, q.into(), o);
        }
        l.on_receive(0, now);
        l.on_receive(0, now);
        l.on_receive(1, now);
        let t = l.totals();
        assert_eq!((t.sent, t.acked, t.failed, t.pending), (5, 4, 1, 0));
        assert_eq!(t.lost, vec![3]);
        assert_eq!(t.undelivered, vec![2]);
        assert_eq!(t.duplicated, vec![1]);
        assert_eq!(t.redelivered, 1);
        assert_eq!(t.failed_but_stored, 1);
        assert!(!l.all_received());
        assert!(!l.all_in_final_read());
    }
}
