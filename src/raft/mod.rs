//! The Raft layer: openraft wired to the CommitLog.
//!
//! - `types`: openraft's types, declared once, and what travels in entries ([`LogCommand`])
//!   and comes back from the state machine ([`ApplyResult`], [`RejectReason`]).
//! - `codec`: a Raft entry as a CommitLog record and back; `group_entry`: the layout of a
//!   group entry's items, the one place that writes or reads it.
//! - `log_store`: openraft's log storage, backed by the CommitLog itself (no second log).
//! - `state_machine`: applies committed entries to `broker_state` (queue offsets,
//!   ConsumeQueues, topics, consumer offsets, the key index) and snapshots its metadata.
//! - `batcher`: group commit above openraft (concurrent writes become one entry).
//! - `rpc`: the peer protocol's messages and framing, and the write outcome
//!   ([`WriteError`], [`FatalError`]); `frame_bytes` decodes payloads in a frame without
//!   copying them; `network` is the peer transport's client side, `server` its server side;
//!   `peer_auth` the `raftPeerSecret` handshake both sides run first when ACL is on.
//! - `election`: pre-vote and leadership transfer to the preferred leader.
//! - `meta`: the vote, the committed-id hint and the purge point, on disk.
//! - `schedule`: the replicated schedule of delayed messages (delay levels, delivery times).
//! - `retention`: deletes old CommitLog segments by `fileReservedTime`/`deleteWhen`/disk use.
//! - `node`: starts and stops all of it ([`RaftNode`]); [`NodeCore`] is what the broker talks
//!   to: writes through the write gate, and committed reads.
//! - `test_support` (tests only): real nodes in the unit-test process.

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
pub mod peer_auth;
pub mod retention;
pub mod rpc;
pub mod schedule;
pub mod server;
pub mod state_machine;
#[cfg(test)]
pub(crate) mod test_support;
pub mod types;

pub use node::{GroupRole, NodeCore, NodeError, RaftNode, RaftNodeConfig, SlaveWait};
pub use rpc::{FatalError, NodeStatus, WriteError, WriteOk};
pub use types::{
    ApplyResult, LogCommand, MetaCommand, NodeId, PeerNode, Raft, RejectReason, TypeConfig,
};
