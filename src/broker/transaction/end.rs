//! END_TRANSACTION (37), oneway from a producer after its local transaction or in answer to a
//! check-back: COMMIT stores the real message and an op record, ROLLBACK the op record,
//! UNKNOWN (0) does nothing and leaves the half message to the check-backs.
//!
//! The answer is RocketMQ's even though clients send the request oneway (and so never read
//! it): a producer group, queue offset or CommitLog offset that does not match the half
//! message is SYSTEM_ERROR with Java's remark. A half message that is no longer pending, on
//! this node's table or (after a race) in the state machine's guard, is SYSTEM_ERROR too, and
//! nothing is stored twice.

use crate::broker::context::BrokerContext;
use crate::broker::message_store::message_at;
use crate::broker::processor::write_error;
use crate::message::decode_stored_bytes;
use crate::message::sysflag::{
    TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::EndTransactionRequestHeader;
use crate::protocol::reply::{error, ok};
use crate::raft::broker_state::transactions::Resolution;
use crate::raft::{ApplyResult, LogCommand};
use crate::remoting::codes::response_code as code;
use crate::remoting::RemotingCommand;
use crate::time::now_ms;

use super::half::resolution_entry;

pub async fn end_transaction(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match EndTransactionRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    let resolution = match h.commit_or_rollback {
        TRANSACTION_COMMIT_TYPE => Resolution::Commit,
        TRANSACTION_ROLLBACK_TYPE => Resolution::Rollback,
        TRANSACTION_NOT_TYPE => {
            tracing::info!(
                group = %h.producer_group,
                half_offset = h.tran_state_table_offset,
                from_check = h.from_transaction_check,
                "END_TRANSACTION UNKNOWN: the half message stays pending until a check-back resolves it"
            );
            return ok(req);
        }
        other => {
            return error(
                req,
                code::SYSTEM_ERROR,
                format!("commitOrRollback {other} is none of 0, 8, 12"),
            )
        }
    };
    if !bc.is_master() {
        return error(
            req,
            code::SERVICE_NOT_AVAILABLE,
            format!(
                "broker {} is not the master of {} (Raft leader is {}); END_TRANSACTION goes to the master",
                bc.broker_addr,
                bc.cfg.broker_name,
                bc.leader_hint()
            ),
        );
    }
    match resolve(bc, &h, resolution).await {
        Ok(()) => ok(req),
        Err((c, remark)) => {
            tracing::warn!(group = %h.producer_group, half_offset = h.tran_state_table_offset, ?resolution, %remark, "END_TRANSACTION refused");
            error(req, c, remark)
        }
    }
}

/// A refusal: the response code and remark.
type Refusal = (i32, String);

/// Checks the header against the pending half message and writes its resolution.
pub async fn resolve(
    bc: &BrokerContext,
    h: &EndTransactionRequestHeader,
    resolution: Resolution,
) -> Result<(), Refusal> {
    let state = bc.core.broker_state();
    let system = |remark: &str| (code::SYSTEM_ERROR, remark.to_string());
    let half_offset = u64::try_from(h.tran_state_table_offset)
        .map_err(|_| system("The transaction state table offset wrong"))?;
    let Some(rec) = state.pending_half(half_offset) else {
        return Err(system(
            "Find prepared transaction message failed: it is resolved already or was never prepared",
        ));
    };
    if rec.producer_group != h.producer_group {
        return Err(system("The producer group wrong"));
    }
    if i64::try_from(rec.commit_log_offset).ok() != Some(h.commit_log_offset) {
        return Err(system("The commit log offset wrong"));
    }
    resolve_half(bc, half_offset, rec.commit_log_offset, resolution).await
}

/// Writes the resolution of the half message at `half_offset` (CommitLog offset
/// `commit_log_offset`): one guarded entry, refused by the state machine if another
/// resolution got there first.
pub async fn resolve_half(
    bc: &BrokerContext,
    half_offset: u64,
    commit_log_offset: u64,
    resolution: Resolution,
) -> Result<(), Refusal> {
    let state = bc.core.broker_state();
    let system = |remark: String| (code::SYSTEM_ERROR, remark);
    let read = message_at(state, commit_log_offset)
        .ok_or_else(|| system("Find prepared transaction message failed".into()))
        .and_then(|bytes| {
            decode_stored_bytes(&bytes.freeze(), false)
                .map(|(half, _)| half)
                .map_err(|e| system(format!("the prepared message is unreadable: {e}")))
        });
    let half = match (read, resolution) {
        (Ok(half), _) => half,
        // A half message retention already deleted can still be discarded: the op record
        // needs only its offset, and without it the half would be checked forever.
        (Err(_), Resolution::Discard) => crate::message::MessageExt {
            store_host: bc.store_host,
            ..Default::default()
        },
        (Err(e), _) => return Err(e),
    };
    let entry = resolution_entry(&half, half_offset, resolution, now_ms())
        .map_err(|e| (code::MESSAGE_ILLEGAL, e.to_string()))?;
    let written = bc
        .core
        .write(LogCommand::EndTransaction(entry))
        .await
        .map_err(|e| {
            let r = write_error(&RemotingCommand::request(0), bc, &e);
            (r.code, r.remark.unwrap_or_default())
        })?;
    match written.result {
        ApplyResult::Batch(positions) => {
            if resolution == Resolution::Commit {
                if let Some(real) = positions.get(1) {
                    bc.stats.on_put(
                        half.properties
                            .get(crate::message::properties::REAL_TOPIC)
                            .unwrap_or_default(),
                        1,
                        u64::from(real.size),
                    );
                }
            }
            tracing::info!(half_offset, ?resolution, "transaction resolved");
            Ok(())
        }
        ApplyResult::Rejected(why) => Err(system(why.to_string())),
        other => Err(system(format!("unexpected apply result {other:?}"))),
    }
}
