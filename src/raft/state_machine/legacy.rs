//! Snapshots written before the replicated schedule, the transaction table and the queue-lock
//! table joined `BrokerMetadata` (issue 14). bincode is positional, so such a snapshot does not
//! decode as the current type; it is read as this one and completed with an empty schedule and
//! empty tables, so a node upgraded in place keeps its store, and a follower can install an
//! older leader's snapshot during a rolling upgrade.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::SnapshotFile;
use crate::protocol::topic::TopicConfig;
use crate::raft::broker_state::{BrokerMetadata, QueueRange};
use crate::raft::meta::read_atomic;
use crate::raft::types::SnapshotMeta;

/// `BrokerMetadata` as it was before issue 14.
#[derive(Deserialize)]
struct MetadataV1 {
    topics: BTreeMap<String, TopicConfig>,
    consumer_offsets: BTreeMap<String, BTreeMap<u32, u64>>,
    queues: BTreeMap<(String, u32), QueueRange>,
    next_commit_log_offset: u64,
}

impl From<MetadataV1> for BrokerMetadata {
    fn from(v: MetadataV1) -> BrokerMetadata {
        BrokerMetadata {
            topics: v.topics,
            consumer_offsets: v.consumer_offsets,
            queues: v.queues,
            next_commit_log_offset: v.next_commit_log_offset,
            ..BrokerMetadata::default()
        }
    }
}

#[derive(Deserialize)]
struct SnapshotFileV1 {
    meta: SnapshotMeta,
    data: MetadataV1,
}

/// The snapshot file at `path` in the older layout, if it is one.
pub(super) fn read_file(path: &Path) -> Option<SnapshotFile> {
    let v1: SnapshotFileV1 = read_atomic(path).ok().flatten()?;
    Some(SnapshotFile {
        meta: v1.meta,
        data: v1.data.into(),
    })
}

/// A leader's snapshot data in the older layout, if it is one.
pub(super) fn decode_metadata(bytes: &[u8]) -> Option<BrokerMetadata> {
    bincode::deserialize::<MetadataV1>(bytes)
        .ok()
        .map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    struct WrittenV1 {
        topics: BTreeMap<String, TopicConfig>,
        consumer_offsets: BTreeMap<String, BTreeMap<u32, u64>>,
        queues: BTreeMap<(String, u32), QueueRange>,
        next_commit_log_offset: u64,
    }

    #[test]
    fn an_older_snapshot_decodes_with_empty_new_tables() {
        let mut topics = BTreeMap::new();
        topics.insert("T".to_string(), TopicConfig::new("T", 4));
        let old = WrittenV1 {
            topics,
            consumer_offsets: BTreeMap::new(),
            queues: BTreeMap::new(),
            next_commit_log_offset: 4096,
        };
        let bytes = bincode::serialize(&old).unwrap();
        assert!(bincode::deserialize::<BrokerMetadata>(&bytes).is_err());
        let m = decode_metadata(&bytes).expect("v1");
        assert_eq!(m.next_commit_log_offset, 4096);
        assert!(m.topics.contains_key("T"));
        assert!(m.transactions.pending.is_empty() && m.queue_locks.locks.is_empty());
    }

    #[test]
    fn a_node_upgraded_in_place_opens_its_older_snapshot_file() {
        #[derive(Serialize)]
        struct FileV1 {
            meta: SnapshotMeta,
            data: WrittenV1,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot");
        let meta = SnapshotMeta {
            snapshot_id: "old".into(),
            ..SnapshotMeta::default()
        };
        let data = WrittenV1 {
            topics: BTreeMap::new(),
            consumer_offsets: BTreeMap::new(),
            queues: BTreeMap::new(),
            next_commit_log_offset: 77,
        };
        crate::raft::meta::write_atomic(&path, &FileV1 { meta, data }).unwrap();
        assert!(read_atomic::<SnapshotFile>(&path).is_err());
        let f = read_file(&path).expect("read as v1");
        assert_eq!(
            (f.meta.snapshot_id.as_str(), f.data.next_commit_log_offset),
            ("old", 77)
        );
    }
}
