//! What a consumer has received so far, and whether that is everything.
//!
//! A delivery counts towards the goal when its body is intact, i.e. exactly
//! `Hello RocketMQ <i>` as `produce` wrote it. Deliveries are keyed by the client msgId
//! (the producer's UNIQ_KEY), so a redelivery of the same message is a duplicate, never
//! progress. The verifier (`compat/verify.py`) later matches these ids against the
//! producer's own output; this module only decides when the consumer may stop.

use std::collections::{BTreeSet, HashMap};

#[derive(Default)]
pub struct Tally {
    expect: u64,
    /// msgId → (number of deliveries, whether one of them was intact).
    deliveries: HashMap<String, (u64, bool)>,
    /// msgIds whose body was intact on (at least) one delivery.
    intact: usize,
    /// Body indices seen intact; used to say which ones are missing.
    bodies: BTreeSet<u64>,
    /// Deliveries of a msgId that had been delivered before.
    pub duplicates: u64,
    /// Deliveries whose body was not `Hello RocketMQ <i>`.
    pub corrupt: u64,
    pub total: u64,
}

/// The `i` of an intact body `Hello RocketMQ <i>`, `None` for anything else.
pub fn body_index(body: &[u8]) -> Option<u64> {
    let digits = body.strip_prefix(b"Hello RocketMQ ")?;
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Tally {
    pub fn new(expect: u64) -> Self {
        Self {
            expect,
            ..Self::default()
        }
    }

    /// Records one delivery; returns true if it was intact.
    pub fn record(&mut self, msg_id: &str, body: &[u8]) -> bool {
        self.total += 1;
        let entry = self
            .deliveries
            .entry(msg_id.to_string())
            .or_insert((0, false));
        entry.0 += 1;
        if entry.0 > 1 {
            self.duplicates += 1;
        }
        match body_index(body) {
            Some(i) => {
                if !entry.1 {
                    entry.1 = true;
                    self.intact += 1;
                }
                self.bodies.insert(i);
                true
            }
            None => {
                self.corrupt += 1;
                false
            }
        }
    }

    /// Distinct msgIds received with an intact body.
    pub fn distinct_intact(&self) -> u64 {
        self.intact as u64
    }

    pub fn complete(&self) -> bool {
        self.distinct_intact() >= self.expect
    }

    /// Body indices in `0..expect` not seen yet, as compact ranges ("0-9,17").
    pub fn missing_bodies(&self) -> String {
        let mut out = Vec::new();
        let mut start: Option<u64> = None;
        for i in 0..=self.expect {
            let missing = i < self.expect && !self.bodies.contains(&i);
            match (missing, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    out.push(if s + 1 == i {
                        s.to_string()
                    } else {
                        format!("{s}-{}", i - 1)
                    });
                    start = None;
                }
                _ => {}
            }
        }
        out.join(",")
    }

    /// Number of body indices in `0..expect` not seen yet.
    pub fn missing_count(&self) -> u64 {
        self.expect - self.bodies.range(0..self.expect).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_index_accepts_only_the_exact_shape() {
        assert_eq!(body_index(b"Hello RocketMQ 0"), Some(0));
        assert_eq!(body_index(b"Hello RocketMQ 999"), Some(999));
        assert_eq!(body_index(b"Hello RocketMQ "), None);
        assert_eq!(body_index(b"Hello RocketMQ 1 "), None);
        assert_eq!(body_index(b"Hello RocketMQ -1"), None);
        assert_eq!(body_index(b"hello RocketMQ 1"), None);
        assert_eq!(body_index(b"Hello RocketMQ 1\0"), None);
    }

    #[test]
    fn duplicates_do_not_count_as_progress() {
        let mut t = Tally::new(2);
        assert!(t.record("A", b"Hello RocketMQ 0"));
        assert!(t.record("A", b"Hello RocketMQ 0"));
        assert!(!t.complete());
        assert_eq!(t.duplicates, 1);
        assert!(t.record("B", b"Hello RocketMQ 1"));
        assert!(t.complete());
        assert_eq!((t.total, t.corrupt, t.missing_count()), (3, 0, 0));
    }

    #[test]
    fn corrupt_bodies_are_counted_and_missing_ranges_are_compact() {
        let mut t = Tally::new(10);
        for i in [0u64, 1, 2, 5, 9] {
            t.record(&format!("id{i}"), format!("Hello RocketMQ {i}").as_bytes());
        }
        assert!(!t.record("bad", b"Hello RocketMQ x"));
        assert_eq!(t.corrupt, 1);
        assert_eq!(t.missing_bodies(), "3-4,6-8");
        assert_eq!(t.missing_count(), 5);
        assert_eq!(Tally::new(1).missing_bodies(), "0");
    }
}
