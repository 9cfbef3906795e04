//! A running Raft node: the CommitLog, the state machine, openraft, the peer server and the
//! election driver, started together from a broker's configuration and stopped together.
//!
//! - `config`: [`RaftNodeConfig`], the Raft part of `broker.conf`, and [`GroupRole`].
//! - `node_core`: [`NodeCore`], the parts every task shares, and the write gate.
//! - `queries`: what a node answers without writing (Raft view, the broker's read model,
//!   committed entries, digests).
//! - `roles`: forming the group on first start, and the master/slave roles (slaves join as
//!   learners, SYNC_MASTER waits for a slave).
//! - `start`: [`RaftNode::start`] in named steps, the node's background tasks, and shutdown.
//! - `thread`: the node's own thread, on which a broker runs it (`start_on_own_thread`).

mod config;
mod node_core;
mod queries;
mod roles;
mod start;
#[cfg(test)]
mod tests;
mod thread;

pub(crate) use thread::off_node_thread;

pub use self::config::{GroupRole, RaftNodeConfig};
pub use self::node_core::{AppendStats, NodeCore};
pub use self::queries::{DigestError, MetricsWatch, ReadCommittedError};
pub use self::roles::{AdmitError, SlaveWait};
pub use self::start::RaftNode;

use openraft::error::{Fatal, InitializeError, RaftError};

use super::types::{NodeId, PeerNode};

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("node n{0} is not among the configured peers")]
    NotAPeer(NodeId),
    #[error("cannot listen on {addr} (the Raft port from dLegerPeers): {source}; is another node using it?")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("commit log: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("raft metadata: {0}")]
    Meta(#[from] super::meta::MetaError),
    #[error("state machine: {0}")]
    StateMachine(#[from] super::state_machine::StateMachineError),
    #[error("raft config: {0}")]
    RaftConfig(#[from] openraft::ConfigError),
    /// openraft stopped while the node was starting (a storage error while it loaded the
    /// log, for one).
    #[error("raft: {0}")]
    Raft(#[from] Fatal<NodeId>),
    /// The node's own thread or its runtime could not be started.
    #[error("cannot start the raft node's thread: {0}")]
    Thread(#[source] std::io::Error),
    /// Initializing a pristine group failed for a reason other than "already formed".
    #[error("raft: forming the group failed: {0}")]
    FormGroup(#[source] Box<RaftError<NodeId, InitializeError<NodeId, PeerNode>>>),
}
