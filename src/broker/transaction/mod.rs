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

use crate::broker::context::BrokerContext;
use crate::protocol::topic::TopicConfig;
use crate::protocol::topic_names::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use crate::raft::WriteError;

/// Creates the half and op topics (one queue each, as RocketMQ does on first use) if missing,
/// so that tools and the dashboard can route to and browse them.
pub async fn ensure_topics(bc: &BrokerContext) -> Result<(), WriteError> {
    for name in [TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC] {
        if bc.topics.get(name).is_none() {
            bc.topics.put(TopicConfig::new(name, 1)).await?;
        }
    }
    Ok(())
}
