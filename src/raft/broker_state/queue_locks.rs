//! Orderly consumers' queue locks (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ) as replicated state.
//!
//! RocketMQ keeps them in the master's memory (`RebalanceLockManager`): after a failover the
//! new master knows no lock, so a second consumer of the group can lock a queue another still
//! consumes, and for up to a rebalance both process it: the order breaks. Here a lock is a Raft
//! entry stamped with the leader's clock, and the grant rule is applied by the state machine:
//! a queue is granted if no one holds it, its holder asks again, or the holder has not renewed
//! it for RocketMQ's 60 s (`rocketmq.broker.rebalance.lockMaxLiveTime`). The new leader
//! therefore refuses a queue to anyone but its holder until the holder's lock lapses, exactly
//! as the old leader would have. Clients renew every 20 s (`rebalance lock interval`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::BrokerState;
use crate::raft::types::ApplyResult;

/// A lock lapses after this long without renewal (RocketMQ: 60 s).
pub const LOCK_EXPIRY_MS: i64 = 60_000;

/// (consumer group, topic, broker name, queue id).
pub type LockKey = (String, String, String, i32);

/// Who holds a queue, and when the leader last granted it to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub client_id: String,
    pub at_ms: i64,
}

/// The replicated lock table (part of the snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueLockTable {
    pub locks: BTreeMap<LockKey, LockHolder>,
}

/// A queue as the lock commands name it: (topic, broker name, queue id).
pub type LockQueue = (String, String, i32);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueLockCommand {
    /// `client_id` of `group` asks for `queues` at the leader's clock `at_ms`.
    Lock {
        group: String,
        client_id: String,
        queues: Vec<LockQueue>,
        at_ms: i64,
    },
    /// `client_id` gives up those of `queues` it holds.
    Unlock {
        group: String,
        client_id: String,
        queues: Vec<LockQueue>,
    },
}

fn key(group: &str, q: &LockQueue) -> LockKey {
    (group.to_string(), q.0.clone(), q.1.clone(), q.2)
}

impl QueueLockTable {
    fn apply(&mut self, cmd: &QueueLockCommand) {
        match cmd {
            QueueLockCommand::Lock {
                group,
                client_id,
                queues,
                at_ms,
            } => {
                for q in queues {
                    let k = key(group, q);
                    let free = self.locks.get(&k).is_none_or(|h| {
                        h.client_id == *client_id || at_ms.saturating_sub(h.at_ms) > LOCK_EXPIRY_MS
                    });
                    if free {
                        self.locks.insert(
                            k,
                            LockHolder {
                                client_id: client_id.clone(),
                                at_ms: *at_ms,
                            },
                        );
                    }
                }
                // Forget locks lapsed long ago, so departed consumers do not accumulate.
                self.locks
                    .retain(|_, h| at_ms.saturating_sub(h.at_ms) <= 2 * LOCK_EXPIRY_MS);
            }
            QueueLockCommand::Unlock {
                group,
                client_id,
                queues,
            } => {
                for q in queues {
                    let k = key(group, q);
                    if self
                        .locks
                        .get(&k)
                        .is_some_and(|h| h.client_id == *client_id)
                    {
                        self.locks.remove(&k);
                    }
                }
            }
        }
    }
}

impl BrokerState {
    pub fn apply_queue_lock(&self, cmd: &QueueLockCommand) -> ApplyResult {
        self.meta.write().queue_locks.apply(cmd);
        ApplyResult::None
    }

    /// The holder of `queue` for `group`, if any (lapsed or not).
    pub fn lock_holder(&self, group: &str, queue: &LockQueue) -> Option<LockHolder> {
        self.meta
            .read()
            .queue_locks
            .locks
            .get(&key(group, queue))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(client: &str, at_ms: i64) -> QueueLockCommand {
        QueueLockCommand::Lock {
            group: "G".into(),
            client_id: client.into(),
            queues: vec![("T".into(), "B".into(), 0)],
            at_ms,
        }
    }

    fn holder(t: &QueueLockTable) -> Option<&str> {
        t.locks
            .get(&("G".into(), "T".into(), "B".into(), 0))
            .map(|h| h.client_id.as_str())
    }

    #[test]
    fn a_held_queue_is_refused_to_others_until_the_lock_lapses() {
        let mut t = QueueLockTable::default();
        t.apply(&lock("a", 1_000));
        t.apply(&lock("b", 30_000));
        assert_eq!(holder(&t), Some("a"));
        // Renewed by its holder at 50 s: b must wait 60 s from then.
        t.apply(&lock("a", 50_000));
        t.apply(&lock("b", 100_000));
        assert_eq!(holder(&t), Some("a"));
        t.apply(&lock("b", 110_001));
        assert_eq!(holder(&t), Some("b"));
    }

    #[test]
    fn only_the_holder_unlocks_and_lapsed_locks_are_forgotten() {
        let mut t = QueueLockTable::default();
        t.apply(&lock("a", 0));
        let unlock = |c: &str| QueueLockCommand::Unlock {
            group: "G".into(),
            client_id: c.into(),
            queues: vec![("T".into(), "B".into(), 0)],
        };
        t.apply(&unlock("b"));
        assert_eq!(holder(&t), Some("a"));
        t.apply(&unlock("a"));
        assert_eq!(holder(&t), None);
        t.apply(&lock("a", 0));
        let other = QueueLockCommand::Lock {
            group: "H".into(),
            client_id: "c".into(),
            queues: vec![("T".into(), "B".into(), 1)],
            at_ms: 3 * LOCK_EXPIRY_MS,
        };
        t.apply(&other);
        assert_eq!(holder(&t), None, "a's lock lapsed two expiries ago");
        assert_eq!(t.locks.len(), 1);
    }
}
