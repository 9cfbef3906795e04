//! The message index by key: `KEYS` and `UNIQ_KEY` → CommitLog offsets, for QUERY_MESSAGE and
//! the dashboard's "by key" search (RocketMQ's IndexFile role).
//!
//! It is kept in memory and derived like the ConsumeQueues: the state machine adds the keys of
//! every message it applies, and at start-up the retained log before the last snapshot is
//! scanned once in the background. Its size is bounded (`max_entries`, oldest keys first out),
//! so an old key may stop being found before its message is deleted; the message itself is
//! still readable by msgId and by queue offset.

use std::collections::{HashMap, VecDeque};

use parking_lot::RwLock;

#[derive(Default)]
struct Inner {
    by_key: HashMap<String, Vec<u64>>,
    /// Insertion order, to evict the oldest keys first.
    order: VecDeque<(String, u64)>,
}

pub struct KeyIndex {
    inner: RwLock<Inner>,
    max_entries: usize,
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyIndex")
            .field("entries", &self.len())
            .finish()
    }
}

impl KeyIndex {
    pub fn new(max_entries: usize) -> KeyIndex {
        KeyIndex {
            inner: RwLock::new(Inner::default()),
            max_entries: max_entries.max(1),
        }
    }

    /// Records that the message at CommitLog `offset` carries `key`.
    pub fn put(&self, key: &str, offset: u64) {
        if key.is_empty() {
            return;
        }
        let mut inner = self.inner.write();
        let offsets = inner.by_key.entry(key.to_string()).or_default();
        if offsets.last().is_some_and(|&o| o >= offset) && offsets.contains(&offset) {
            return;
        }
        offsets.push(offset);
        inner.order.push_back((key.to_string(), offset));
        while inner.order.len() > self.max_entries {
            let Some((old_key, old_offset)) = inner.order.pop_front() else {
                break;
            };
            if let Some(list) = inner.by_key.get_mut(&old_key) {
                list.retain(|&o| o != old_offset);
                if list.is_empty() {
                    inner.by_key.remove(&old_key);
                }
            }
        }
    }

    /// Up to `max` offsets of messages with `key`, newest first.
    pub fn get(&self, key: &str, max: usize) -> Vec<u64> {
        let inner = self.inner.read();
        inner
            .by_key
            .get(key)
            .map(|v| v.iter().rev().take(max).copied().collect())
            .unwrap_or_default()
    }

    /// Forgets offsets below `min_offset` (retention deleted those messages).
    pub fn purge_below(&self, min_offset: u64) {
        let mut inner = self.inner.write();
        while inner.order.front().is_some_and(|(_, o)| *o < min_offset) {
            let Some((key, offset)) = inner.order.pop_front() else {
                break;
            };
            if let Some(list) = inner.by_key.get_mut(&key) {
                list.retain(|&o| o != offset);
                if list.is_empty() {
                    inner.by_key.remove(&key);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner.read().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_evict_purge() {
        let idx = KeyIndex::new(4);
        idx.put("k1", 10);
        idx.put("k2", 20);
        idx.put("k1", 30);
        idx.put("k1", 30);
        assert_eq!(
            idx.get("k1", 10),
            vec![30, 10],
            "newest first, no duplicates"
        );
        idx.put("k3", 40);
        idx.put("k4", 50);
        assert_eq!(idx.len(), 4);
        assert_eq!(idx.get("k1", 10), vec![30], "the oldest entry was evicted");
        idx.purge_below(35);
        assert!(idx.get("k1", 10).is_empty());
        assert_eq!(idx.get("k3", 10), vec![40]);
        assert!(idx.get("", 1).is_empty());
    }
}
