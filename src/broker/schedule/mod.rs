//! Scheduled delivery on the broker: delay levels (RocketMQ 4.x), delivery times (5.x) and the
//! consumer retry back-off that rides on the levels.
//!
//! - [`divert`]: a message that asks to wait is stored in its schedule topic instead (pure).
//! - [`service`]: the send-path hook, and the leader's task that fires due messages, each by
//!   one Raft entry that stores the real message and retires its slot in the replicated
//!   schedule (`raft/schedule.rs`) together.
//!
//! What this module must never do: keep schedule state of its own. What is pending lives in
//! the state machine; the firing task only keeps the set of slots it has proposed and not yet
//! heard back about, so that it does not propose the same slot twice at once.

pub mod divert;
pub mod service;

pub use service::{divert_send, run, runtime_entries, schedule_message};
