//! CHECK_TRANSACTION_STATE (39), broker → producer: the transaction check-back.

use crate::protocol::header::{opt_str, req_i64};
use crate::protocol::header::{put, put_opt, CommandHeader, ExtFields, HeaderError};

/// CHECK_TRANSACTION_STATE's header (broker → producer, oneway): which half message to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTransactionStateRequestHeader {
    /// The real topic (RocketMQ 5 clients read it; 4.9 ignores it).
    pub topic: Option<String>,
    /// The half message's queue offset in the half topic.
    pub tran_state_table_offset: i64,
    /// The half message's CommitLog offset.
    pub commit_log_offset: i64,
    /// The client's msgId (`UNIQ_KEY`).
    pub msg_id: Option<String>,
    pub transaction_id: Option<String>,
    /// The half message's offset msgId.
    pub offset_msg_id: Option<String>,
    /// `bname`: the broker name, which RocketMQ 5 clients echo in their END_TRANSACTION.
    pub broker_name: Option<String>,
}

impl CommandHeader for CheckTransactionStateRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "CheckTransactionStateRequestHeader";
        Ok(CheckTransactionStateRequestHeader {
            topic: opt_str(ext, "topic"),
            tran_state_table_offset: req_i64(ext, R, "tranStateTableOffset")?,
            commit_log_offset: req_i64(ext, R, "commitLogOffset")?,
            msg_id: opt_str(ext, "msgId"),
            transaction_id: opt_str(ext, "transactionId"),
            offset_msg_id: opt_str(ext, "offsetMsgId"),
            broker_name: opt_str(ext, "bname"),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put_opt(&mut ext, "topic", self.topic.as_ref());
        put(
            &mut ext,
            "tranStateTableOffset",
            self.tran_state_table_offset,
        );
        put(&mut ext, "commitLogOffset", self.commit_log_offset);
        put_opt(&mut ext, "msgId", self.msg_id.as_ref());
        put_opt(&mut ext, "transactionId", self.transaction_id.as_ref());
        put_opt(&mut ext, "offsetMsgId", self.offset_msg_id.as_ref());
        put_opt(&mut ext, "bname", self.broker_name.as_ref());
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_header_round_trips_with_javas_field_names() {
        let h = CheckTransactionStateRequestHeader {
            topic: Some("T".into()),
            tran_state_table_offset: 3,
            commit_log_offset: 4096,
            msg_id: Some("U1".into()),
            transaction_id: Some("U1".into()),
            offset_msg_id: Some("7F0000010000".into()),
            broker_name: Some("RaftNode00".into()),
        };
        let ext = h.to_ext();
        assert_eq!(ext.get("tranStateTableOffset"), Some("3"));
        assert_eq!(ext.get("commitLogOffset"), Some("4096"));
        assert_eq!(ext.get("bname"), Some("RaftNode00"));
        assert_eq!(CheckTransactionStateRequestHeader::from_ext(&ext), Ok(h));
    }
}
