//! Typed RocketMQ 4.x protocol data shared by the broker, the name server and the state machine.
//!
//! What this module owns: the *meaning* of a remoting command's custom header (`extFields`) and
//! of its JSON body, for the requests LedgerMQ serves and sends. It is pure data and parsing:
//! it never does I/O, never knows about frames, connections or response codes, and never
//! panics on any input — a bad header is a [`HeaderError`], a bad body a `serde_json::Error`,
//! and the processor maps either to SYSTEM_ERROR (1) once, at its edge.
//!
//! * [`header`] — the extFields plumbing: [`CommandHeader`], [`HeaderError`], typed getters.
//! * [`headers`] — one struct per Java `*RequestHeader` / `*ResponseHeader`, exact field names,
//!   `@CFNotNull` fields required.
//! * [`body`] — serde types for the JSON bodies, tolerant of fastjson's quirks and of the C++
//!   and Go clients' variants; [`parse_fastjson`] is the one way to read a body.
//! * [`topic`] — `TopicConfig` and the permission bits.
//! * [`topic_names`] — the topic-name rule and the names RocketMQ reserves (`TBW102`,
//!   `%RETRY%group`, `%DLQ%group`, `SCHEDULE_TOPIC_XXXX`, ...), shared by every layer.
//!
//! Java sources checked: apache/rocketmq `rocketmq-all-4.9.7` (`common/protocol/header`,
//! `.../body`, `.../route`, `.../heartbeat`, `RemotingCommand.decodeCommandCustomHeader`),
//! fastjson 1.2.69 (`MapDeserializer`, `MapSerializer`, `EnumDeserializer`) and
//! apache/rocketmq-client-cpp (`CommandHeader.cpp`, `HeartbeatData.h`).

pub mod body;
pub mod header;
pub mod headers;
pub mod reply;
pub mod topic;
pub mod topic_names;

pub use body::parse_fastjson;
pub use header::{CommandHeader, ExtFields, HeaderError, ValueKind};
