//! LedgerMQ: a RocketMQ-compatible message broker whose CommitLog is a Raft log.
//!
//! The crate is organised as in `docs/architecture.md`: `store` owns bytes on disk and knows
//! nothing of Raft's meaning, `raft` turns the CommitLog into openraft's log and applies committed
//! entries, and the binary's `cli` wires them to the command line.

pub mod message;
