//! RocketMQ's JSON bodies (`RemotingSerializable` in Java), as serde types with the Java field
//! names, one file per area.
//!
//! Reading: always [`parse_fastjson`], which accepts fastjson's non-standard keys as well as
//! standard JSON, any key order, unknown keys and — on the tolerant types — missing or `null`
//! optional keys. Writing: `serde_json::to_vec` gives standard JSON with the Java key order
//! (fields are declared alphabetically, as fastjson sorts them; the nested `TopicConfig` keeps
//! its own order) and quoted numeric map keys, except [`ConsumeStats`] and [`TopicStatsTable`],
//! whose wire form is their `to_fastjson()` (see `stats`).

mod connection;
mod enums;
mod fastjson;
mod heartbeat;
mod queue;
mod register;
mod route;
mod stats;

pub use connection::{Connection, ConsumerConnection, GetConsumerListByGroupResponseBody};
pub use enums::{lenient_enum, ConsumeFromWhere, ConsumeType, JavaEnum, MessageModel};
pub use fastjson::{normalize_fastjson, parse_fastjson};
pub use heartbeat::{
    ConsumerData, HeartbeatData, ProducerData, SubscriptionData, EXPRESSION_TYPE_SQL92,
    EXPRESSION_TYPE_TAG,
};
pub use queue::{
    mq_map, LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
pub use register::{
    DataVersion, KVTable, RegisterBrokerBody, TopicConfigSerializeWrapper, TopicList,
};
pub use route::{BrokerData, ClusterInfo, QueueData, TopicRouteData};
pub use stats::{ConsumeStats, OffsetWrapper, TopicOffset, TopicStatsTable};

#[cfg(test)]
mod robustness_tests;
