//! RocketMQ's `TopicConfig`, with the JSON field names the Java broker uses in
//! `TopicConfigSerializeWrapper`, so the same value travels in Raft entries, snapshots and
//! name-server registrations.

use serde::{Deserialize, Serialize};

/// Queue permission bits (`PermName`).
pub mod perm {
    pub const INHERIT: u32 = 1;
    pub const WRITE: u32 = 1 << 1;
    pub const READ: u32 = 1 << 2;
    pub const READ_WRITE: u32 = READ | WRITE;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    pub topic_name: String,
    pub read_queue_nums: u32,
    pub write_queue_nums: u32,
    pub perm: u32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    pub topic_sys_flag: u32,
    pub order: bool,
}

impl TopicConfig {
    /// A readable and writable topic with `queues` read and write queues.
    pub fn new(name: impl Into<String>, queues: u32) -> TopicConfig {
        TopicConfig {
            topic_name: name.into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: perm::READ_WRITE,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: 0,
            order: false,
        }
    }
}
