//! A message's place in a transaction, in words, for the Messages page: what its topic and
//! sysFlag say (the dashboard is a client; the broker's table of pending half messages is
//! not something it reads).

use crate::message::properties::REAL_TOPIC;
use crate::message::sysflag::{transaction_type, TransactionType};
use crate::message::MessageExt;
use crate::protocol::topic_names::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};

/// `None` for a message that has nothing to do with a transaction.
pub fn transaction_state(m: &MessageExt) -> Option<String> {
    if m.topic == TRANS_HALF_TOPIC {
        let real = m.properties.get(REAL_TOPIC).unwrap_or("?");
        return Some(format!(
            "half message of {real}: not visible to consumers until committed"
        ));
    }
    if m.topic == TRANS_OP_HALF_TOPIC {
        let half = String::from_utf8_lossy(&m.body);
        let how = match transaction_type(m.sys_flag) {
            TransactionType::Commit => "committed",
            TransactionType::Rollback => "rolled back",
            _ => "discarded after transactionCheckMax check-backs",
        };
        return Some(format!("op record: half message {half} {how}"));
    }
    match transaction_type(m.sys_flag) {
        TransactionType::Commit => Some(format!(
            "committed transactional message (half at CommitLog offset {})",
            m.prepared_transaction_offset
        )),
        TransactionType::Prepared => Some("prepared".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::sysflag::{TRANSACTION_COMMIT_TYPE, TRANSACTION_ROLLBACK_TYPE};
    use crate::message::MessageProperties;

    #[test]
    fn half_op_and_committed_messages_are_named() {
        let half = MessageExt {
            topic: TRANS_HALF_TOPIC.into(),
            properties: MessageProperties::decode("REAL_TOPIC\u{1}Orders"),
            ..MessageExt::default()
        };
        assert!(transaction_state(&half)
            .unwrap()
            .starts_with("half message of Orders"));
        let op = MessageExt {
            topic: TRANS_OP_HALF_TOPIC.into(),
            sys_flag: TRANSACTION_ROLLBACK_TYPE,
            body: bytes::Bytes::from_static(b"7"),
            ..MessageExt::default()
        };
        assert_eq!(
            transaction_state(&op).as_deref(),
            Some("op record: half message 7 rolled back")
        );
        let committed = MessageExt {
            topic: "Orders".into(),
            sys_flag: TRANSACTION_COMMIT_TYPE,
            prepared_transaction_offset: 4096,
            ..MessageExt::default()
        };
        assert!(transaction_state(&committed).unwrap().contains("4096"));
        let plain = MessageExt::default();
        assert_eq!(transaction_state(&plain), None);
    }
}
