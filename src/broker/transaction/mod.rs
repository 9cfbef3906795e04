//! Transactional messages, RocketMQ 4.9's model on a replicated state machine.
//!
//! ```text
//! half.rs    pure: a prepared send becomes a half message in RMQ_SYS_TRANS_HALF_TOPIC; a
//!            resolution becomes an op record (+ the real message on commit); the body of a
//!            check-back
//! end.rs     END_TRANSACTION (37): commit / rollback / unknown from a producer
//! check.rs   the leader's check-back service: CHECK_TRANSACTION_STATE (39) to a producer of
//!            the group after `transactionTimeOut`, every `transactionCheckInterval`, at most
//!            `transactionCheckMax` times, then discard
//! ```
//! What is pending lives in the state machine (`raft::broker_state::transactions`), so a new
//! leader continues the check-backs where the old one stopped, and each resolution is one
//! guarded Raft entry that every node applies at most once.

pub mod check;
pub mod end;
pub mod half;

pub use crate::protocol::headers::CheckTransactionStateRequestHeader;
