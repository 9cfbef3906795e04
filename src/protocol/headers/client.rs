//! Client-management headers: GET_CONSUMER_LIST_BY_GROUP (38), UNREGISTER_CLIENT (35),
//! CONSUMER_SEND_MSG_BACK (36), NOTIFY_CONSUMER_IDS_CHANGED (40, broker → client) and
//! END_TRANSACTION (37).

use crate::protocol::header::{
    opt_bool, opt_i32, opt_str, put, put_opt, req_i32, req_i64, req_str, CommandHeader, ExtFields,
    HeaderError,
};

string_header!(
    /// GET_CONSUMER_LIST_BY_GROUP request; the answer body is
    /// `GetConsumerListByGroupResponseBody`.
    GetConsumerListByGroupRequestHeader { consumer_group: "consumerGroup" }
);

string_header!(
    /// NOTIFY_CONSUMER_IDS_CHANGED, sent oneway by the broker to each consumer of a group whose
    /// set of client ids changed, so they rebalance at once.
    NotifyConsumerIdsChangedRequestHeader { consumer_group: "consumerGroup" }
);

/// UNREGISTER_CLIENT request.
///
/// The C++ client sends both group keys, the unused one as `""`; an empty group is read as
/// absent so the processor never unregisters a client from the group named "".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnregisterClientRequestHeader {
    /// Wire name `clientID` (capital ID, unlike most headers).
    pub client_id: String,
    pub producer_group: Option<String>,
    pub consumer_group: Option<String>,
}

impl CommandHeader for UnregisterClientRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        let non_empty = |name: &str| opt_str(ext, name).filter(|s| !s.is_empty());
        Ok(UnregisterClientRequestHeader {
            client_id: req_str(ext, "UnregisterClientRequestHeader", "clientID")?,
            producer_group: non_empty("producerGroup"),
            consumer_group: non_empty("consumerGroup"),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "clientID", &self.client_id);
        put_opt(&mut ext, "producerGroup", self.producer_group.as_ref());
        put_opt(&mut ext, "consumerGroup", self.consumer_group.as_ref());
        ext
    }
}

/// CONSUMER_SEND_MSG_BACK request: re-store a message the consumer failed to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSendMsgBackRequestHeader {
    /// CommitLog physical offset of the failed message.
    pub offset: i64,
    /// The consumer group (its `%RETRY%`/`%DLQ%` topics are the targets).
    pub group: String,
    /// 0: the broker chooses (3 + reconsumeTimes); < 0: straight to the DLQ.
    pub delay_level: i32,
    pub origin_msg_id: Option<String>,
    pub origin_topic: Option<String>,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
}

impl CommandHeader for ConsumerSendMsgBackRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "ConsumerSendMsgBackRequestHeader";
        Ok(ConsumerSendMsgBackRequestHeader {
            offset: req_i64(ext, R, "offset")?,
            group: req_str(ext, R, "group")?,
            delay_level: req_i32(ext, R, "delayLevel")?,
            origin_msg_id: opt_str(ext, "originMsgId"),
            origin_topic: opt_str(ext, "originTopic"),
            unit_mode: opt_bool(ext, "unitMode").unwrap_or(false),
            max_reconsume_times: opt_i32(ext, R, "maxReconsumeTimes")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "offset", self.offset);
        put(&mut ext, "group", &self.group);
        put(&mut ext, "delayLevel", self.delay_level);
        put_opt(&mut ext, "originMsgId", self.origin_msg_id.as_ref());
        put_opt(&mut ext, "originTopic", self.origin_topic.as_ref());
        put(&mut ext, "unitMode", self.unit_mode);
        put_opt(&mut ext, "maxReconsumeTimes", self.max_reconsume_times);
        ext
    }
}

/// END_TRANSACTION request (oneway): commit or roll back a prepared message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTransactionRequestHeader {
    pub producer_group: String,
    /// Queue offset of the half message.
    pub tran_state_table_offset: i64,
    /// CommitLog offset of the half message.
    pub commit_log_offset: i64,
    /// `TRANSACTION_COMMIT_TYPE` (8), `TRANSACTION_ROLLBACK_TYPE` (12) or
    /// `TRANSACTION_NOT_TYPE` (0, unknown) from `crate::message::sysflag`.
    pub commit_or_rollback: i32,
    /// True when sent in answer to CHECK_TRANSACTION_STATE.
    pub from_transaction_check: bool,
    pub msg_id: String,
    pub transaction_id: Option<String>,
}

impl CommandHeader for EndTransactionRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "EndTransactionRequestHeader";
        Ok(EndTransactionRequestHeader {
            producer_group: req_str(ext, R, "producerGroup")?,
            tran_state_table_offset: req_i64(ext, R, "tranStateTableOffset")?,
            commit_log_offset: req_i64(ext, R, "commitLogOffset")?,
            commit_or_rollback: req_i32(ext, R, "commitOrRollback")?,
            from_transaction_check: opt_bool(ext, "fromTransactionCheck").unwrap_or(false),
            msg_id: req_str(ext, R, "msgId")?,
            transaction_id: opt_str(ext, "transactionId"),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "producerGroup", &self.producer_group);
        put(
            &mut ext,
            "tranStateTableOffset",
            self.tran_state_table_offset,
        );
        put(&mut ext, "commitLogOffset", self.commit_log_offset);
        put(&mut ext, "commitOrRollback", self.commit_or_rollback);
        put(
            &mut ext,
            "fromTransactionCheck",
            self.from_transaction_check,
        );
        put(&mut ext, "msgId", &self.msg_id);
        put_opt(&mut ext, "transactionId", self.transaction_id.as_ref());
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::sysflag::TRANSACTION_COMMIT_TYPE;
    use crate::protocol::header::ext_from;

    #[test]
    fn group_only_headers() {
        let ext = ext_from([("consumerGroup", "G1")]);
        let h = GetConsumerListByGroupRequestHeader::from_ext(&ext).unwrap();
        assert_eq!(h.consumer_group, "G1");
        assert_eq!(h.to_ext(), ext);
        let n = NotifyConsumerIdsChangedRequestHeader {
            consumer_group: "G1".into(),
        };
        assert_eq!(n.to_ext(), ext);
        assert_eq!(
            NotifyConsumerIdsChangedRequestHeader::from_ext(&ext_from([])).unwrap_err().to_string(),
            "missing required field `consumerGroup` for request NotifyConsumerIdsChangedRequestHeader"
        );
    }

    #[test]
    fn unregister_client_java_and_cpp() {
        let java = ext_from([("clientID", "10.0.0.1@123"), ("consumerGroup", "G1")]);
        let h = UnregisterClientRequestHeader::from_ext(&java).unwrap();
        assert_eq!(h.producer_group, None);
        assert_eq!(h.consumer_group.as_deref(), Some("G1"));
        assert_eq!(h.to_ext(), java);
        // C++ sends the unused group as "".
        let cpp = ext_from([
            ("clientID", "10.0.0.1@123"),
            ("producerGroup", ""),
            ("consumerGroup", "G1"),
        ]);
        assert_eq!(UnregisterClientRequestHeader::from_ext(&cpp), Ok(h));
        let err =
            UnregisterClientRequestHeader::from_ext(&ext_from([("clientId", "x")])).unwrap_err();
        assert_eq!(err.field(), "clientID");
    }

    #[test]
    fn send_msg_back_java_and_cpp() {
        let java = ext_from([
            ("delayLevel", "0"),
            ("group", "G1"),
            ("maxReconsumeTimes", "16"),
            ("offset", "1024"),
            ("originMsgId", "AC1100010000"),
            ("originTopic", "TopicTest"),
            ("unitMode", "false"),
        ]);
        let h = ConsumerSendMsgBackRequestHeader::from_ext(&java).unwrap();
        assert_eq!(h.offset, 1024);
        assert_eq!(h.max_reconsume_times, Some(16));
        assert_eq!(h.to_ext(), java);
        let mut cpp = java.clone();
        cpp.insert("unitMode", "0");
        cpp.insert("delayLevel", "-1");
        let c = ConsumerSendMsgBackRequestHeader::from_ext(&cpp).unwrap();
        assert_eq!(c.delay_level, -1);
        assert!(!c.unit_mode);
        let mut missing = java;
        missing.remove("group");
        assert_eq!(
            ConsumerSendMsgBackRequestHeader::from_ext(&missing)
                .unwrap_err()
                .field(),
            "group"
        );
    }

    #[test]
    fn end_transaction_java_and_cpp() {
        let h = EndTransactionRequestHeader {
            producer_group: "P".into(),
            tran_state_table_offset: 3,
            commit_log_offset: 4096,
            commit_or_rollback: TRANSACTION_COMMIT_TYPE,
            from_transaction_check: true,
            msg_id: "7F00000100002A9F0000000000001000".into(),
            transaction_id: Some("uniq".into()),
        };
        let ext = h.to_ext();
        assert_eq!(ext.get("commitOrRollback"), Some("8"));
        assert_eq!(ext.get("fromTransactionCheck"), Some("true"));
        assert_eq!(EndTransactionRequestHeader::from_ext(&ext), Ok(h.clone()));
        let mut cpp = ext.clone();
        cpp.insert("fromTransactionCheck", "1");
        assert_eq!(EndTransactionRequestHeader::from_ext(&cpp), Ok(h));
        let mut missing = ext;
        missing.remove("msgId");
        assert_eq!(
            EndTransactionRequestHeader::from_ext(&missing)
                .unwrap_err()
                .field(),
            "msgId"
        );
    }
}
