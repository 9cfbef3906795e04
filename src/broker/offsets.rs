//! Consumer offsets: kept in memory where clients commit them, and replicated through Raft in
//! batches, like RocketMQ's `consumerOffset.json` that the broker persists every 5 s — but here
//! every node of the group ends up with the same offsets, so a failover redelivers only what
//! was committed in the last few seconds (at-least-once), never less.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::raft::{LogCommand, MetaCommand, NodeCore};

type Key = (String, String, u32);

#[derive(Default)]
struct Entry {
    offset: u64,
    dirty: bool,
}

pub struct ConsumerOffsetManager {
    core: Arc<NodeCore>,
    local: Mutex<HashMap<Key, Entry>>,
}

impl ConsumerOffsetManager {
    pub fn new(core: Arc<NodeCore>) -> ConsumerOffsetManager {
        ConsumerOffsetManager {
            core,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Records a committed offset (UPDATE_CONSUMER_OFFSET, or a pull's commitOffset).
    pub fn commit(&self, group: &str, topic: &str, queue_id: u32, offset: u64) {
        let key = (group.to_string(), topic.to_string(), queue_id);
        let mut local = self.local.lock();
        let e = local.entry(key).or_default();
        if e.offset != offset || !e.dirty {
            e.offset = offset;
            e.dirty = true;
        }
    }

    /// The group's offset for a queue: the newest local commit, else the replicated one.
    pub fn query(&self, group: &str, topic: &str, queue_id: u32) -> Option<u64> {
        let key = (group.to_string(), topic.to_string(), queue_id);
        if let Some(e) = self.local.lock().get(&key) {
            return Some(e.offset);
        }
        self.core
            .broker_state()
            .consumer_offset(group, topic, queue_id)
    }

    /// Every (topic, queue) offset a group has, local commits over replicated ones.
    pub fn offsets_of_group(&self, group: &str) -> HashMap<(String, u32), u64> {
        let mut out = HashMap::new();
        let meta = self.core.broker_state().metadata();
        let suffix = format!("@{group}");
        for (k, queues) in &meta.consumer_offsets {
            if let Some(topic) = k.strip_suffix(&suffix) {
                for (q, o) in queues {
                    out.insert((topic.to_string(), *q), *o);
                }
            }
        }
        for ((g, t, q), e) in self.local.lock().iter() {
            if g == group {
                out.insert((t.clone(), *q), e.offset);
            }
        }
        out
    }

    /// Groups that have an offset for `topic`.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        let mut groups: Vec<String> = self
            .core
            .broker_state()
            .metadata()
            .consumer_offsets
            .keys()
            .filter_map(|k| {
                k.split_once('@')
                    .filter(|(t, _)| *t == topic)
                    .map(|(_, g)| g.to_string())
            })
            .collect();
        for (g, t, _) in self.local.lock().keys() {
            if t == topic && !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        groups.sort();
        groups
    }

    /// Replicates dirty offsets (leader only). Writes run concurrently, so the write batcher
    /// commits them as one entry.
    pub async fn flush(&self) {
        if !self.core.is_leader() {
            // Only the leader's commits count; the replicated table is authoritative elsewhere.
            self.local.lock().clear();
            return;
        }
        let dirty: Vec<(Key, u64)> = self
            .local
            .lock()
            .iter()
            .filter(|(_, e)| e.dirty)
            .map(|(k, e)| (k.clone(), e.offset))
            .collect();
        if dirty.is_empty() {
            return;
        }
        let writes = dirty.iter().map(|((group, topic, queue_id), offset)| {
            self.core.write(LogCommand::Meta(MetaCommand::CommitOffset {
                group: group.clone(),
                topic: topic.clone(),
                queue_id: *queue_id,
                offset: *offset,
            }))
        });
        let results = futures::future::join_all(writes).await;
        let mut local = self.local.lock();
        let mut failed = 0;
        for ((key, offset), r) in dirty.into_iter().zip(results) {
            match r {
                Ok(_) => {
                    if let Some(e) = local.get_mut(&key) {
                        if e.offset == offset {
                            e.dirty = false;
                        }
                    }
                }
                Err(_) => failed += 1,
            }
        }
        if failed > 0 {
            tracing::warn!(
                failed,
                "could not replicate some consumer offsets; will retry"
            );
        }
    }

    /// Flushes every `interval` until shutdown, and once more at shutdown.
    pub async fn run(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {
                    self.flush().await;
                    return;
                }
            }
            self.flush().await;
        }
    }
}
