//! The pure message transformations of a transaction, after RocketMQ 4.9's
//! `TransactionalMessageBridge` and `EndTransactionProcessor`:
//!
//! - a prepared send (property `TRAN_MSG=true`) is stored in `RMQ_SYS_TRANS_HALF_TOPIC`,
//!   queue 0, with its real topic and queue in `REAL_TOPIC` / `REAL_QID` and its transaction
//!   bits cleared, so no consumer of the real topic sees it;
//! - a resolution is an op record in `RMQ_SYS_TRANS_OP_HALF_TOPIC` (tag `d`, body = the half's
//!   queue offset) and, on commit, the real message: the half's body, flag, born fields and
//!   properties, back in its topic and queue, `REAL_*` and `TRAN_MSG` removed, transaction
//!   bits COMMIT, `preparedTransactionOffset` = the half's CommitLog offset;
//! - a check-back carries the half message with its real topic and queue restored and
//!   `TRANSACTION_CHECK_TIMES` set.

use bytes::{Bytes, BytesMut};

use crate::message::properties::{self as prop, MessageProperties};
use crate::message::sysflag::{reset_transaction_value, TransactionType};
use crate::message::{encode_stored, encode_stored_into, MessageError, MessageExt};
use crate::protocol::topic_names::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use crate::raft::broker_state::transactions::Resolution;

/// The op record's tag (RocketMQ's `TransactionalMessageUtil.REMOVETAG`).
pub const OP_TAG: &str = "d";

/// Whether a send's properties make it a prepared (half) message: RocketMQ looks at the
/// `TRAN_MSG` property, which the client sets together with the PREPARED sysFlag.
pub fn is_prepared(properties: &str) -> bool {
    prop::find(properties, prop::TRAN_MSG).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Where a half message is stored instead of `real_topic` / `real_queue_id`: the half topic's
/// queue 0, with the real place in its properties and the transaction bits cleared. Returns
/// (topic, queue id, sysFlag, properties string).
pub fn half_placement(
    properties: &str,
    sys_flag: i32,
    real_topic: &str,
    real_queue_id: u32,
) -> Result<(String, u32, i32, String), MessageError> {
    let mut props = MessageProperties::decode(properties);
    props.insert(prop::REAL_TOPIC, real_topic)?;
    props.insert(prop::REAL_QID, real_queue_id.to_string())?;
    Ok((
        TRANS_HALF_TOPIC.to_string(),
        0,
        reset_transaction_value(sys_flag, TransactionType::NotTransaction),
        props.encode(),
    ))
}

/// The real message a commit stores, made from the half message (as read back from the
/// CommitLog, with its offsets filled in).
pub fn committed_message(half: &MessageExt, now_ms: i64) -> Result<MessageExt, MessageError> {
    let mut properties = half.properties.clone();
    let topic = properties
        .remove(prop::REAL_TOPIC)
        .ok_or(MessageError::InvalidProperty {
            key: prop::REAL_TOPIC.into(),
            reason: "missing on a half message",
        })?;
    let queue_id = properties
        .remove(prop::REAL_QID)
        .and_then(|q| q.parse::<i32>().ok())
        .ok_or(MessageError::InvalidProperty {
            key: prop::REAL_QID.into(),
            reason: "missing or not a number on a half message",
        })?;
    properties.remove(prop::TRAN_MSG);
    Ok(MessageExt {
        topic,
        queue_id,
        flag: half.flag,
        queue_offset: 0,
        commit_log_offset: 0,
        sys_flag: reset_transaction_value(half.sys_flag, TransactionType::Commit),
        born_timestamp: half.born_timestamp,
        born_host: half.born_host,
        store_timestamp: now_ms,
        store_host: half.store_host,
        reconsume_times: half.reconsume_times,
        prepared_transaction_offset: half.commit_log_offset,
        body: half.body.clone(),
        properties,
    })
}

/// The op record that resolves the half message at `half_offset`.
pub fn op_record(
    half: &MessageExt,
    half_offset: u64,
    resolution: Resolution,
    now_ms: i64,
) -> MessageExt {
    let mut properties = MessageProperties::new();
    // Static, valid key and value: cannot fail.
    let _ = properties.insert(prop::TAGS, OP_TAG);
    MessageExt {
        topic: TRANS_OP_HALF_TOPIC.to_string(),
        queue_id: 0,
        sys_flag: resolution.op_sys_flag(),
        born_timestamp: now_ms,
        born_host: half.store_host,
        store_timestamp: now_ms,
        store_host: half.store_host,
        body: Bytes::from(half_offset.to_string()),
        properties,
        ..MessageExt::default()
    }
}

/// The payload of the `EndTransaction` entry that resolves `half` (at `half_offset`): the op
/// record, then on commit the real message.
pub fn resolution_entry(
    half: &MessageExt,
    half_offset: u64,
    resolution: Resolution,
    now_ms: i64,
) -> Result<Bytes, MessageError> {
    let mut out = BytesMut::new();
    encode_stored_into(&op_record(half, half_offset, resolution, now_ms), &mut out)?;
    if resolution == Resolution::Commit {
        encode_stored_into(&committed_message(half, now_ms)?, &mut out)?;
    }
    Ok(out.freeze())
}

/// The body of a CHECK_TRANSACTION_STATE: the half message in its real topic and queue, with
/// the number of this check in `TRANSACTION_CHECK_TIMES`.
pub fn check_body(half: &MessageExt, check_times: u32) -> Result<Bytes, MessageError> {
    let mut msg = half.clone();
    if let Some(topic) = msg.properties.get(prop::REAL_TOPIC) {
        msg.topic = topic.to_string();
    }
    if let Some(q) = msg
        .properties
        .get(prop::REAL_QID)
        .and_then(|q| q.parse().ok())
    {
        msg.queue_id = q;
    }
    msg.properties
        .insert(prop::TRANSACTION_CHECK_TIMES, check_times.to_string())?;
    encode_stored(&msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::decode_all;
    use crate::message::sysflag::{transaction_type, TRANSACTION_PREPARED_TYPE};

    fn half() -> MessageExt {
        let (topic, queue_id, sys_flag, properties) = half_placement(
            "TAGS\u{1}tx\u{2}TRAN_MSG\u{1}true\u{2}PGROUP\u{1}PG\u{2}UNIQ_KEY\u{1}U1",
            TRANSACTION_PREPARED_TYPE | 0x2,
            "Orders",
            3,
        )
        .expect("placement");
        MessageExt {
            topic,
            queue_id: queue_id as i32,
            flag: 5,
            queue_offset: 9,
            commit_log_offset: 4096,
            sys_flag,
            born_timestamp: 1_000,
            born_host: "10.0.0.1:5555".parse().expect("addr"),
            store_timestamp: 2_000,
            store_host: "127.0.0.1:10911".parse().expect("addr"),
            body: Bytes::from_static(b"order-1"),
            properties: MessageProperties::decode(&properties),
            ..MessageExt::default()
        }
    }

    #[test]
    fn only_tran_msg_true_is_a_prepared_send() {
        assert!(is_prepared("TRAN_MSG\u{1}true\u{2}PGROUP\u{1}G"));
        assert!(is_prepared("TRAN_MSG\u{1}TRUE"));
        assert!(!is_prepared("TRAN_MSG\u{1}false"));
        assert!(!is_prepared("TAGS\u{1}a"));
    }

    #[test]
    fn a_half_message_waits_in_the_half_topic_with_its_real_place_in_properties() {
        let h = half();
        assert_eq!((h.topic.as_str(), h.queue_id), (TRANS_HALF_TOPIC, 0));
        assert_eq!(
            transaction_type(h.sys_flag),
            TransactionType::NotTransaction
        );
        assert_eq!(h.sys_flag & 0x2, 0x2, "other bits are kept");
        assert_eq!(h.properties.get(prop::REAL_TOPIC), Some("Orders"));
        assert_eq!(h.properties.get(prop::REAL_QID), Some("3"));
    }

    #[test]
    fn a_commit_restores_the_real_message_once_with_commit_bits() {
        let bytes = resolution_entry(&half(), 9, Resolution::Commit, 3_000).expect("entry");
        let msgs = decode_all(&bytes, true).expect("decode");
        assert_eq!(msgs.len(), 2);
        let (op, real) = (&msgs[0], &msgs[1]);
        assert_eq!(
            (op.topic.as_str(), &op.body[..]),
            (TRANS_OP_HALF_TOPIC, &b"9"[..])
        );
        assert_eq!(op.properties.get(prop::TAGS), Some(OP_TAG));
        assert_eq!((real.topic.as_str(), real.queue_id), ("Orders", 3));
        assert_eq!(&real.body[..], b"order-1");
        assert_eq!(transaction_type(real.sys_flag), TransactionType::Commit);
        assert_eq!(real.prepared_transaction_offset, 4096);
        assert_eq!((real.flag, real.born_timestamp), (5, 1_000));
        for gone in [prop::REAL_TOPIC, prop::REAL_QID, prop::TRAN_MSG] {
            assert_eq!(real.properties.get(gone), None, "{gone}");
        }
        assert_eq!(real.properties.get(prop::UNIQ_KEY), Some("U1"));
        assert_eq!(real.properties.get(prop::PGROUP), Some("PG"));
    }

    #[test]
    fn a_rollback_or_discard_is_the_op_record_alone() {
        for r in [Resolution::Rollback, Resolution::Discard] {
            let bytes = resolution_entry(&half(), 9, r, 3_000).expect("entry");
            let msgs = decode_all(&bytes, true).expect("decode");
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].topic, TRANS_OP_HALF_TOPIC);
        }
    }

    #[test]
    fn a_half_without_its_real_topic_cannot_be_committed() {
        let mut h = half();
        h.properties.remove(prop::REAL_TOPIC);
        assert!(committed_message(&h, 0).is_err());
    }

    #[test]
    fn a_check_back_shows_the_real_place_and_the_check_count() {
        let body = check_body(&half(), 2).expect("body");
        let msgs = decode_all(&body, true).expect("decode");
        assert_eq!((msgs[0].topic.as_str(), msgs[0].queue_id), ("Orders", 3));
        assert_eq!(
            msgs[0].properties.get(prop::TRANSACTION_CHECK_TIMES),
            Some("2")
        );
        assert_eq!(msgs[0].properties.get(prop::PGROUP), Some("PG"));
    }
}
