//! LedgerMQ: a RocketMQ-compatible message broker whose CommitLog is a Raft log.
//!
//! The crate is organised as in `docs/architecture.md`: `store` owns bytes on disk and knows
//! nothing of Raft's meaning, `raft` turns the CommitLog into openraft's log and applies committed
//! entries, `message` owns RocketMQ's message bytes, `config` reads RocketMQ's `broker.conf`, `time` reads the wall clock, and
//! the binary's `cli` wires them to the command line.

pub mod acl;
pub mod broker;
pub mod cli;
pub mod client;
pub mod config;
pub mod dashboard;
pub mod message;
pub mod metrics;
pub mod namesrv;
pub mod protocol;
pub mod raft;
pub mod remoting;
pub mod store;
pub mod time;
