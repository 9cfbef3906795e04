//! Snapshots written before the replicated schedule existed: the same metadata without the
//! `schedule` field. bincode has no optional trailing fields, so a node upgraded with such a
//! snapshot on disk reads it through this layout (an empty schedule) instead of refusing to
//! start.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::SnapshotFile;
use crate::protocol::topic::TopicConfig;
use crate::raft::broker_state::{BrokerMetadata, QueueRange};
use crate::raft::types::SnapshotMeta;

#[derive(Deserialize)]
struct MetadataV1 {
    topics: BTreeMap<String, TopicConfig>,
    consumer_offsets: BTreeMap<String, BTreeMap<u32, u64>>,
    queues: BTreeMap<(String, u32), QueueRange>,
    next_commit_log_offset: u64,
}

#[derive(Deserialize)]
pub(super) struct SnapshotFileV1 {
    meta: SnapshotMeta,
    data: MetadataV1,
}

impl From<SnapshotFileV1> for SnapshotFile {
    fn from(f: SnapshotFileV1) -> SnapshotFile {
        SnapshotFile {
            meta: f.meta,
            data: BrokerMetadata {
                topics: f.data.topics,
                consumer_offsets: f.data.consumer_offsets,
                queues: f.data.queues,
                next_commit_log_offset: f.data.next_commit_log_offset,
                ..BrokerMetadata::default()
            },
        }
    }
}
