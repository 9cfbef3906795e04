//! The Raft layer: openraft wired to the CommitLog.
//!
//! `types` declares openraft's types once; `log_store` is openraft's log storage backed by the
//! CommitLog itself; `state_machine` applies committed entries to the `broker_state` (queue
//! offsets, ConsumeQueues, topics, consumer offsets) and snapshots its metadata; `network` and
//! `server` are the peer transport, whose frames `frame_bytes` decodes without copying payloads; `election` adds pre-vote and leadership transfer; `node`
//! starts and stops all of it.

// openraft's `StorageError` is the error type its storage traits require; boxing it in our
// helpers would only add conversions.
#![allow(clippy::result_large_err)]

pub mod batcher;
pub mod broker_state;
pub mod codec;
pub mod election;
pub mod frame_bytes;
pub mod group_entry;
pub mod log_store;
pub mod meta;
pub mod network;
pub mod node;
pub mod retention;
pub mod rpc;
pub mod server;
pub mod state_machine;
pub mod types;

pub use node::{GroupRole, NodeCore, NodeError, RaftNode, RaftNodeConfig, SlaveWait};
pub use rpc::{NodeStatus, WriteError, WriteOk};
pub use types::{ApplyResult, LogCommand, MetaCommand, NodeId, PeerNode, Raft, TypeConfig};
