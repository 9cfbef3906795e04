//! LedgerMQ's own small clients, for our tools, benchmarks, tests and the Jepsen suite.
//! Compatibility is proven with clients nobody here wrote; these are not that.

pub mod raft_admin;

pub use raft_admin::{AdminError, RaftAdminClient};
