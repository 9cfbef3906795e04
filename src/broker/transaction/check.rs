//! The leader's check-back service (RocketMQ's `TransactionalMessageCheckService`).
//!
//! Every `transactionCheckInterval` the Raft leader walks the replicated table of unresolved
//! half messages. A half message younger than `transactionTimeOut` (or its producer's
//! `CHECK_IMMUNITY_TIME_IN_SECONDS`) is left alone; one checked `transactionCheckMax` times
//! already is discarded (an op record, as for a rollback); any other is checked back: the
//! leader first commits a `Checked` entry (refused if the half was resolved meanwhile, so no
//! check-back is sent for it), then sends CHECK_TRANSACTION_STATE over an open connection of a
//! producer of the half's group, whose END_TRANSACTION answer resolves it.
//!
//! Nothing here is leader memory: the check counts and times are in the state machine, so the
//! leader that takes over after a kill continues with the same counts, and a half that an old
//! leader resolved is not checked again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::end::resolve_half;
use super::half::check_body;
use super::CheckTransactionStateRequestHeader;
use crate::broker::context::BrokerContext;
use crate::broker::message_store::message_at;
use crate::message::{create_offset_msg_id, decode_stored_bytes};
use crate::protocol::header::CommandHeader;
use crate::raft::broker_state::transactions::{HalfRecord, Resolution, TransactionCommand};
use crate::raft::{ApplyResult, LogCommand};
use crate::remoting::codes::request_code;
use crate::remoting::RemotingCommand;
use crate::time::now_ms;

/// What one pass does with one unresolved half message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Too young, or checked too recently.
    Wait,
    Check,
    Discard,
}

/// The check-back rules, as RocketMQ 4.9 applies them, for a half message at `now`.
pub fn decide(rec: &HalfRecord, now: i64, timeout_ms: u64, interval_ms: u64, max: u32) -> Decision {
    let immunity = rec.immunity_ms.unwrap_or(timeout_ms as i64);
    if now.saturating_sub(rec.born_timestamp) < immunity {
        return Decision::Wait;
    }
    // A pass runs every interval; one that comes soon after another leader's (or this one's
    // previous) check of the same half waits for the next, so a leader change does not
    // double the check rate.
    if rec
        .last_check_ms
        .is_some_and(|last| now.saturating_sub(last) < (interval_ms / 2) as i64)
    {
        return Decision::Wait;
    }
    if rec.check_times >= max {
        return Decision::Discard;
    }
    Decision::Check
}

/// Runs passes until shutdown; only the leader acts.
pub async fn run(bc: Arc<BrokerContext>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(bc.cfg.transaction_check_interval.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if bc.is_master() {
            check_pass(&bc).await;
        }
    }
}

/// One pass over the unresolved half messages.
pub async fn check_pass(bc: &BrokerContext) {
    let table = bc.core.broker_state().transactions();
    for (half_offset, rec) in table.pending {
        if !bc.is_master() {
            return;
        }
        let now = now_ms();
        match decide(
            &rec,
            now,
            bc.cfg.transaction_time_out,
            bc.cfg.transaction_check_interval,
            bc.cfg.transaction_check_max,
        ) {
            Decision::Wait => {}
            Decision::Discard => {
                match resolve_half(bc, half_offset, rec.commit_log_offset, Resolution::Discard)
                    .await
                {
                    Ok(()) => tracing::warn!(
                        half_offset,
                        group = %rec.producer_group,
                        topic = %rec.real_topic,
                        checks = rec.check_times,
                        "half message discarded after transactionCheckMax check-backs without an answer"
                    ),
                    Err((_, why)) => {
                        tracing::debug!(half_offset, %why, "could not discard half message")
                    }
                }
            }
            Decision::Check => check_back(bc, half_offset, &rec, now).await,
        }
    }
}

/// Counts a check-back in the state machine, then sends it to a producer of the group.
async fn check_back(bc: &BrokerContext, half_offset: u64, rec: &HalfRecord, now: i64) {
    let counted = bc
        .core
        .write(LogCommand::Transaction(TransactionCommand::Checked {
            half_offset,
            at_ms: now,
        }))
        .await;
    match counted {
        Ok(w) if w.result == ApplyResult::None => {}
        Ok(w) => {
            tracing::debug!(half_offset, result = ?w.result, "no check-back: resolved meanwhile");
            return;
        }
        Err(e) => {
            tracing::debug!(half_offset, error = %e, "no check-back: could not count it");
            return;
        }
    }
    let Some(ch) = bc.clients.producer_channel(&rec.producer_group) else {
        tracing::warn!(
            half_offset,
            group = %rec.producer_group,
            "check-back skipped: no producer of the group is connected"
        );
        return;
    };
    let Some(bytes) = message_at(bc.core.broker_state(), rec.commit_log_offset) else {
        tracing::warn!(
            half_offset,
            "check-back skipped: the half message is not readable"
        );
        return;
    };
    let body = match decode_stored_bytes(&bytes.freeze(), false)
        .map_err(|e| e.to_string())
        .and_then(|(half, _)| check_body(&half, rec.check_times + 1).map_err(|e| e.to_string()))
    {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(half_offset, error = %e, "check-back skipped: the half message is unreadable");
            return;
        }
    };
    let header = CheckTransactionStateRequestHeader {
        topic: Some(rec.real_topic.clone()),
        tran_state_table_offset: half_offset as i64,
        commit_log_offset: rec.commit_log_offset as i64,
        msg_id: rec.uniq_key.clone(),
        transaction_id: rec.uniq_key.clone(),
        offset_msg_id: Some(create_offset_msg_id(
            bc.store_host,
            rec.commit_log_offset as i64,
        )),
        broker_name: Some(bc.cfg.broker_name.clone()),
    };
    let mut cmd = RemotingCommand::request(request_code::CHECK_TRANSACTION_STATE).with_body(body);
    cmd.ext_fields = header.to_ext();
    match ch.send_request_oneway(cmd) {
        Ok(()) => tracing::info!(
            half_offset,
            group = %rec.producer_group,
            check = rec.check_times + 1,
            producer = %ch.peer,
            "CHECK_TRANSACTION_STATE sent"
        ),
        Err(e) => tracing::warn!(half_offset, error = %e, "could not send CHECK_TRANSACTION_STATE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(born: i64, checks: u32, last: Option<i64>) -> HalfRecord {
        HalfRecord {
            commit_log_offset: 0,
            producer_group: "PG".into(),
            real_topic: "T".into(),
            real_queue_id: 0,
            uniq_key: None,
            born_timestamp: born,
            store_timestamp: born,
            immunity_ms: None,
            check_times: checks,
            last_check_ms: last,
        }
    }

    #[test]
    fn a_half_younger_than_the_timeout_waits() {
        assert_eq!(
            decide(&rec(10_000, 0, None), 15_999, 6_000, 60_000, 15),
            Decision::Wait
        );
        assert_eq!(
            decide(&rec(10_000, 0, None), 16_000, 6_000, 60_000, 15),
            Decision::Check
        );
    }

    #[test]
    fn the_producers_immunity_time_replaces_the_timeout() {
        let mut r = rec(0, 0, None);
        r.immunity_ms = Some(20_000);
        assert_eq!(decide(&r, 19_999, 6_000, 60_000, 15), Decision::Wait);
        assert_eq!(decide(&r, 20_000, 6_000, 60_000, 15), Decision::Check);
    }

    #[test]
    fn a_recent_check_waits_for_the_next_pass() {
        assert_eq!(
            decide(&rec(0, 1, Some(100_000)), 120_000, 6_000, 60_000, 15),
            Decision::Wait
        );
        assert_eq!(
            decide(&rec(0, 1, Some(100_000)), 130_000, 6_000, 60_000, 15),
            Decision::Check
        );
    }

    #[test]
    fn after_check_max_checks_the_half_is_discarded() {
        assert_eq!(
            decide(&rec(0, 14, None), 100_000, 6_000, 60_000, 15),
            Decision::Check
        );
        assert_eq!(
            decide(&rec(0, 15, None), 100_000, 6_000, 60_000, 15),
            Decision::Discard
        );
    }
}
