//! [`ProcessQueue`]: a consumer's progress on one queue it owns (Java's `ProcessQueue`).
//!
//! Invariant: the offset this consumer may commit for the queue is the smallest offset pulled
//! but not yet processed, or, when nothing is outstanding, the next offset to pull. Committing
//! anything higher could skip a message that was delivered but not processed before a crash
//! or a rebalance; committing lower only redelivers (at-least-once).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::protocol::body::MessageQueue;

#[derive(Debug)]
pub struct ProcessQueue {
    pub mq: MessageQueue,
    state: Mutex<State>,
    dropped: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    /// Offsets delivered (or queued for delivery) and not yet processed.
    in_flight: BTreeSet<i64>,
    /// The next offset to pull; `None` until the start offset is known.
    next_offset: Option<i64>,
    /// The offset last stored on the broker.
    committed: Option<i64>,
}

impl ProcessQueue {
    pub fn new(mq: MessageQueue) -> ProcessQueue {
        ProcessQueue {
            mq,
            state: Mutex::new(State::default()),
            dropped: AtomicBool::new(false),
        }
    }

    /// Forgets what was outstanding and continues at `offset` (start, or PULL_OFFSET_MOVED).
    pub fn reset(&self, offset: i64) {
        let mut s = self.state.lock();
        s.in_flight.clear();
        s.next_offset = Some(offset);
    }

    /// Records a pull's result: `delivered` are the offsets handed to the application,
    /// `next` the broker's nextBeginOffset.
    pub fn on_pulled(&self, delivered: impl IntoIterator<Item = i64>, next: i64) {
        let mut s = self.state.lock();
        s.in_flight.extend(delivered);
        s.next_offset = Some(next);
    }

    /// The application has processed the message at `offset`.
    pub fn done(&self, offset: i64) {
        self.state.lock().in_flight.remove(&offset);
    }

    /// The offset safe to commit now (see the module invariant).
    pub fn committable(&self) -> Option<i64> {
        let s = self.state.lock();
        s.in_flight.first().copied().or(s.next_offset)
    }

    /// The committable offset if it differs from the last one committed.
    pub fn pending_commit(&self) -> Option<i64> {
        let s = self.state.lock();
        let c = s.in_flight.first().copied().or(s.next_offset)?;
        (s.committed != Some(c)).then_some(c)
    }

    pub fn mark_committed(&self, offset: i64) {
        self.state.lock().committed = Some(offset);
    }

    /// Rebalance gave the queue away (or the consumer stops): its pull loop ends and its
    /// undelivered messages are skipped; the new owner starts from the committed offset.
    pub fn drop_queue(&self) {
        self.dropped.store(true, Ordering::Release);
    }

    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_never_pass_an_unprocessed_message() {
        let pq = ProcessQueue::new(MessageQueue::new("T", "b", 0));
        assert_eq!(pq.committable(), None);
        pq.reset(10);
        assert_eq!(pq.pending_commit(), Some(10));
        pq.mark_committed(10);
        assert_eq!(pq.pending_commit(), None);
        pq.on_pulled([10, 11, 13], 14);
        assert_eq!(pq.committable(), Some(10));
        pq.done(11);
        assert_eq!(pq.committable(), Some(10));
        pq.done(10);
        assert_eq!(pq.committable(), Some(13));
        pq.done(13);
        assert_eq!(pq.pending_commit(), Some(14));
        pq.on_pulled([], 20);
        assert_eq!(pq.committable(), Some(20));
        pq.reset(5);
        assert_eq!(pq.committable(), Some(5));
        assert!(!pq.is_dropped());
        pq.drop_queue();
        assert!(pq.is_dropped());
    }
}
