//! Transactional half messages as replicated state: which half messages are still unresolved,
//! how often each was checked back, and the resolutions so far.
//!
//! RocketMQ 4.9 keeps this implicitly in two topics (half messages in
//! `RMQ_SYS_TRANS_HALF_TOPIC`, op records in `RMQ_SYS_TRANS_OP_HALF_TOPIC`) and has the
//! master's check service match them. Here both topics are written the same way, but the
//! matching happens in the state machine as entries apply, so every node holds the same
//! table, a snapshot carries it, and a resolution is *guarded*: an `EndTransaction` entry whose
//! half message is no longer pending is refused by every node alike, and its messages are
//! never indexed. That is what makes a commit exactly-once even if the producer's
//! END_TRANSACTION and a check-back's answer (or two leaders' check-backs) race.
//!
//! Only `apply` changes the table; the broker reads it to answer END_TRANSACTION and to run
//! check-backs on the leader.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::BrokerState;
use crate::message::properties as prop;
use crate::message::sysflag::{
    transaction_type, TransactionType, TRANSACTION_COMMIT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use crate::message::StoredMessageView;
use crate::protocol::topic_names::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use crate::raft::types::{ApplyResult, RejectReason};
use crate::store::StoreError;

/// One unresolved half message, keyed by its queue offset in the half topic (queue 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HalfRecord {
    /// Where the half message is in the CommitLog (END_TRANSACTION's `commitLogOffset`).
    pub commit_log_offset: u64,
    /// `PGROUP`: the producer group asked on check-back and matched on END_TRANSACTION.
    pub producer_group: String,
    /// The real topic and queue (`REAL_TOPIC`, `REAL_QID`).
    pub real_topic: String,
    pub real_queue_id: i32,
    /// `UNIQ_KEY`: the client's msgId and transaction id.
    pub uniq_key: Option<String>,
    pub born_timestamp: i64,
    pub store_timestamp: i64,
    /// `CHECK_IMMUNITY_TIME_IN_SECONDS` in ms, when the producer set it: no check-back before.
    pub immunity_ms: Option<i64>,
    /// Check-backs sent so far (RocketMQ's `TRANSACTION_CHECK_TIMES`).
    pub check_times: u32,
    /// The leader's clock when the last check-back was counted.
    pub last_check_ms: Option<i64>,
}

/// How a half message was resolved; carried in the op record's transaction bits so that every
/// node counts it alike (commit 0x8, rollback 0xC, discard 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    Commit,
    Rollback,
    /// Checked back `transactionCheckMax` times without an answer.
    Discard,
}

impl Resolution {
    /// The op record's sysFlag transaction bits for this resolution.
    pub fn op_sys_flag(self) -> i32 {
        match self {
            Resolution::Commit => TRANSACTION_COMMIT_TYPE,
            Resolution::Rollback => TRANSACTION_ROLLBACK_TYPE,
            Resolution::Discard => 0,
        }
    }

    fn of_op(sys_flag: i32) -> Resolution {
        match transaction_type(sys_flag) {
            TransactionType::Commit => Resolution::Commit,
            TransactionType::Rollback => Resolution::Rollback,
            _ => Resolution::Discard,
        }
    }
}

/// The replicated transaction table (part of the snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionTable {
    /// Half queue offset → the unresolved half message.
    pub pending: BTreeMap<u64, HalfRecord>,
    pub committed: u64,
    pub rolled_back: u64,
    pub discarded: u64,
}

impl TransactionTable {
    /// Records a half message just indexed at `queue_offset` of the half topic.
    fn on_half(&mut self, view: &StoredMessageView<'_>, queue_offset: u64, offset: u64) {
        let real_queue_id = view
            .property(prop::REAL_QID)
            .and_then(|q| q.parse().ok())
            .unwrap_or(0);
        let immunity_ms = view
            .property(prop::CHECK_IMMUNITY_TIME_IN_SECONDS)
            .and_then(|s| s.parse::<i64>().ok())
            .map(|s| s.saturating_mul(1000));
        self.pending.insert(
            queue_offset,
            HalfRecord {
                commit_log_offset: offset,
                producer_group: view.property(prop::PGROUP).unwrap_or_default().to_string(),
                real_topic: view
                    .property(prop::REAL_TOPIC)
                    .unwrap_or_default()
                    .to_string(),
                real_queue_id,
                uniq_key: view.uniq_key().map(str::to_string),
                born_timestamp: view.born_timestamp(),
                store_timestamp: view.store_timestamp(),
                immunity_ms,
                check_times: 0,
                last_check_ms: None,
            },
        );
    }
}

/// Transaction bookkeeping that carries no message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionCommand {
    /// The leader is about to check back the half message at `half_offset`: count it, at the
    /// leader's clock `at_ms`. Refused if the half is already resolved, so no check-back is
    /// sent for it.
    Checked { half_offset: u64, at_ms: i64 },
}

/// The half queue offset an op record names: its body, a decimal number (RocketMQ's op
/// record format).
pub fn op_half_offset(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body).ok()?.trim().parse().ok()
}

impl BrokerState {
    /// The unresolved half message at `half_offset`, if it is one.
    pub fn pending_half(&self, half_offset: u64) -> Option<HalfRecord> {
        self.meta
            .read()
            .transactions
            .pending
            .get(&half_offset)
            .cloned()
    }

    /// A copy of the transaction table (check-backs, admin views).
    pub fn transactions(&self) -> TransactionTable {
        self.meta.read().transactions.clone()
    }

    /// Notes a message indexed at `queue_offset`: a half message becomes pending. Called by
    /// the indexing of every message, under the metadata lock it already holds.
    pub(super) fn note_indexed(
        table: &mut TransactionTable,
        view: &StoredMessageView<'_>,
        queue_offset: u64,
        offset: u64,
    ) {
        if view.topic() == TRANS_HALF_TOPIC {
            table.on_half(view, queue_offset, offset);
        }
    }

    /// Applies a resolution: `bytes` is the op record, followed on commit by the real message,
    /// both in store format from CommitLog offset `offset`. Refused (nothing indexed) unless
    /// the op record names a half message that is still pending.
    pub fn apply_end_transaction(
        &self,
        bytes: &Bytes,
        offset: u64,
    ) -> Result<ApplyResult, StoreError> {
        let views = match super::parse_back_to_back(bytes) {
            Ok(v) => v,
            Err(reason) => return Ok(ApplyResult::Rejected(reason)),
        };
        let Some((op, _)) = views.first() else {
            return Ok(ApplyResult::Rejected(RejectReason::EmptyMessage));
        };
        let half_offset = match op_half_offset(op.body()) {
            Some(h) if op.topic() == TRANS_OP_HALF_TOPIC => h,
            _ => {
                return Ok(ApplyResult::Rejected(RejectReason::NotAnOpRecord(
                    op.topic().to_string(),
                )))
            }
        };
        let resolution = Resolution::of_op(op.sys_flag());
        let expected = if resolution == Resolution::Commit {
            2
        } else {
            1
        };
        if views.len() != expected {
            return Ok(ApplyResult::Rejected(RejectReason::NotAnOpRecord(format!(
                "{resolution:?} with {} messages",
                views.len()
            ))));
        }
        {
            let mut meta = self.meta.write();
            let t = &mut meta.transactions;
            if t.pending.remove(&half_offset).is_none() {
                return Ok(ApplyResult::Rejected(RejectReason::TransactionResolved(
                    half_offset,
                )));
            }
            match resolution {
                Resolution::Commit => t.committed += 1,
                Resolution::Rollback => t.rolled_back += 1,
                Resolution::Discard => t.discarded += 1,
            }
        }
        let mut out = Vec::with_capacity(views.len());
        for (v, rel) in views {
            out.push(self.index_one(&v, offset + rel as u64)?);
        }
        Ok(ApplyResult::Batch(out))
    }

    /// Applies a [`TransactionCommand`].
    pub fn apply_transaction(&self, cmd: &TransactionCommand) -> ApplyResult {
        match cmd {
            TransactionCommand::Checked { half_offset, at_ms } => {
                let mut meta = self.meta.write();
                match meta.transactions.pending.get_mut(half_offset) {
                    Some(rec) => {
                        rec.check_times = rec.check_times.saturating_add(1);
                        rec.last_check_ms = Some(*at_ms);
                        ApplyResult::None
                    }
                    None => ApplyResult::Rejected(RejectReason::TransactionResolved(*half_offset)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_records_name_a_decimal_half_offset() {
        assert_eq!(op_half_offset(b"42"), Some(42));
        assert_eq!(op_half_offset(b" 7\n"), Some(7));
        assert_eq!(op_half_offset(b"-1"), None);
        assert_eq!(op_half_offset(b"x"), None);
        assert_eq!(op_half_offset(&[0xff, 0xfe]), None);
    }

    #[test]
    fn the_op_records_transaction_bits_say_how_it_was_resolved() {
        for r in [
            Resolution::Commit,
            Resolution::Rollback,
            Resolution::Discard,
        ] {
            assert_eq!(Resolution::of_op(r.op_sys_flag()), r);
        }
    }
}
