//! PULL_MESSAGE (11): the request header, its `sysFlag` bits and the response header.

use crate::protocol::header::{
    opt_str, put, put_opt, req_i32, req_i64, req_str, CommandHeader, ExtFields, HeaderError,
};

/// The bits of the pull request's `sysFlag` (Java `PullSysFlag`).
#[derive(Debug, Clone, Copy)]
pub struct PullSysFlag;

impl PullSysFlag {
    /// Store `commitOffset` as the group's offset for this queue (master only).
    pub const COMMIT_OFFSET: i32 = 0x1;
    /// Long polling allowed: hold the request until a message arrives or the timeout.
    pub const SUSPEND: i32 = 0x1 << 1;
    /// The request's `subscription` string is authoritative; otherwise use the one registered
    /// by the group's heartbeat.
    pub const SUBSCRIPTION: i32 = 0x1 << 2;
    /// Obsolete class filter.
    pub const CLASS_FILTER: i32 = 0x1 << 3;
    /// Sent by the lite pull consumer.
    pub const LITE_PULL_MESSAGE: i32 = 0x1 << 4;

    /// Builds a flag from its parts, as the Java client does.
    pub fn build(
        commit_offset: bool,
        suspend: bool,
        subscription: bool,
        class_filter: bool,
    ) -> i32 {
        let mut flag = 0;
        if commit_offset {
            flag |= Self::COMMIT_OFFSET;
        }
        if suspend {
            flag |= Self::SUSPEND;
        }
        if subscription {
            flag |= Self::SUBSCRIPTION;
        }
        if class_filter {
            flag |= Self::CLASS_FILTER;
        }
        flag
    }

    pub fn clear_commit_offset(sys_flag: i32) -> i32 {
        sys_flag & !Self::COMMIT_OFFSET
    }
    pub fn has_commit_offset(sys_flag: i32) -> bool {
        sys_flag & Self::COMMIT_OFFSET != 0
    }
    pub fn has_suspend(sys_flag: i32) -> bool {
        sys_flag & Self::SUSPEND != 0
    }
    pub fn has_subscription(sys_flag: i32) -> bool {
        sys_flag & Self::SUBSCRIPTION != 0
    }
    pub fn has_class_filter(sys_flag: i32) -> bool {
        sys_flag & Self::CLASS_FILTER != 0
    }
    pub fn has_lite_pull(sys_flag: i32) -> bool {
        sys_flag & Self::LITE_PULL_MESSAGE != 0
    }
}

/// PULL_MESSAGE request. Every field but `subscription` and `expressionType` is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullMessageRequestHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub max_msg_nums: i32,
    /// [`PullSysFlag`] bits.
    pub sys_flag: i32,
    pub commit_offset: i64,
    /// How long the broker may hold the request (15000 from push consumers).
    pub suspend_timeout_millis: i64,
    /// `*` or `TagA || TagB` (or an SQL92 expression); authoritative only with
    /// [`PullSysFlag::SUBSCRIPTION`].
    pub subscription: Option<String>,
    pub sub_version: i64,
    /// `TAG` or `SQL92`; absent means `TAG`.
    pub expression_type: Option<String>,
}

impl PullMessageRequestHeader {
    pub fn has_commit_offset(&self) -> bool {
        PullSysFlag::has_commit_offset(self.sys_flag)
    }
    pub fn has_suspend(&self) -> bool {
        PullSysFlag::has_suspend(self.sys_flag)
    }
    pub fn has_subscription(&self) -> bool {
        PullSysFlag::has_subscription(self.sys_flag)
    }
}

impl CommandHeader for PullMessageRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "PullMessageRequestHeader";
        Ok(PullMessageRequestHeader {
            consumer_group: req_str(ext, R, "consumerGroup")?,
            topic: req_str(ext, R, "topic")?,
            queue_id: req_i32(ext, R, "queueId")?,
            queue_offset: req_i64(ext, R, "queueOffset")?,
            max_msg_nums: req_i32(ext, R, "maxMsgNums")?,
            sys_flag: req_i32(ext, R, "sysFlag")?,
            commit_offset: req_i64(ext, R, "commitOffset")?,
            suspend_timeout_millis: req_i64(ext, R, "suspendTimeoutMillis")?,
            subscription: opt_str(ext, "subscription"),
            sub_version: req_i64(ext, R, "subVersion")?,
            expression_type: opt_str(ext, "expressionType"),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "consumerGroup", &self.consumer_group);
        put(&mut ext, "topic", &self.topic);
        put(&mut ext, "queueId", self.queue_id);
        put(&mut ext, "queueOffset", self.queue_offset);
        put(&mut ext, "maxMsgNums", self.max_msg_nums);
        put(&mut ext, "sysFlag", self.sys_flag);
        put(&mut ext, "commitOffset", self.commit_offset);
        put(
            &mut ext,
            "suspendTimeoutMillis",
            self.suspend_timeout_millis,
        );
        put_opt(&mut ext, "subscription", self.subscription.as_ref());
        put(&mut ext, "subVersion", self.sub_version);
        put_opt(&mut ext, "expressionType", self.expression_type.as_ref());
        ext
    }
}

/// PULL_MESSAGE response; the Java client requires all four fields for codes 0, 19, 20, 21.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullMessageResponseHeader {
    /// Broker id (0 = master) the client should pull this queue from next.
    pub suggest_which_broker_id: i64,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    /// One past the last message.
    pub max_offset: i64,
}

impl CommandHeader for PullMessageResponseHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "PullMessageResponseHeader";
        Ok(PullMessageResponseHeader {
            suggest_which_broker_id: req_i64(ext, R, "suggestWhichBrokerId")?,
            next_begin_offset: req_i64(ext, R, "nextBeginOffset")?,
            min_offset: req_i64(ext, R, "minOffset")?,
            max_offset: req_i64(ext, R, "maxOffset")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(
            &mut ext,
            "suggestWhichBrokerId",
            self.suggest_which_broker_id,
        );
        put(&mut ext, "nextBeginOffset", self.next_begin_offset);
        put(&mut ext, "minOffset", self.min_offset);
        put(&mut ext, "maxOffset", self.max_offset);
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::header::ext_from;

    #[test]
    fn sys_flag_bits() {
        let f = PullSysFlag::build(true, true, false, false);
        assert_eq!(f, 0x3);
        assert!(PullSysFlag::has_commit_offset(f) && PullSysFlag::has_suspend(f));
        assert!(!PullSysFlag::has_subscription(f) && !PullSysFlag::has_class_filter(f));
        assert_eq!(PullSysFlag::clear_commit_offset(f), PullSysFlag::SUSPEND);
        // The lite pull consumer's flag.
        let lite =
            PullSysFlag::SUSPEND | PullSysFlag::SUBSCRIPTION | PullSysFlag::LITE_PULL_MESSAGE;
        assert_eq!(lite, 0x16);
        assert!(PullSysFlag::has_lite_pull(lite));
    }

    /// The Java push consumer: no `subscription`, no SUBSCRIPTION bit; `bname` is ignored.
    #[test]
    fn java_push_consumer_form_round_trips() {
        let ext = ext_from([
            ("bname", "broker-a"),
            ("commitOffset", "0"),
            ("consumerGroup", "G1"),
            ("expressionType", "TAG"),
            ("maxMsgNums", "32"),
            ("queueId", "0"),
            ("queueOffset", "12"),
            ("subVersion", "1700000000000"),
            ("suspendTimeoutMillis", "15000"),
            ("sysFlag", "3"),
            ("topic", "TopicTest"),
        ]);
        let h = PullMessageRequestHeader::from_ext(&ext).unwrap();
        assert_eq!(h.queue_offset, 12);
        assert!(h.has_commit_offset() && h.has_suspend() && !h.has_subscription());
        assert_eq!(h.subscription, None);
        let mut expected = ext.clone();
        expected.remove("bname");
        assert_eq!(h.to_ext(), expected);
        assert_eq!(PullMessageRequestHeader::from_ext(&h.to_ext()), Ok(h));
    }

    /// rocketmq-client-cpp always sends `subscription`, never `expressionType`.
    #[test]
    fn cpp_client_form() {
        let ext = ext_from([
            ("consumerGroup", "G"),
            ("topic", "T"),
            ("queueId", "2"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "6"),
            ("commitOffset", "0"),
            ("subVersion", "0"),
            ("suspendTimeoutMillis", "15000"),
            ("subscription", "*"),
            ("AccessKey", ""),
        ]);
        let h = PullMessageRequestHeader::from_ext(&ext).unwrap();
        assert_eq!(h.subscription.as_deref(), Some("*"));
        assert_eq!(h.expression_type, None);
        assert!(h.has_subscription());
    }

    #[test]
    fn required_fields_are_named() {
        let base = PullMessageRequestHeader {
            consumer_group: "G".into(),
            topic: "T".into(),
            queue_id: 0,
            queue_offset: 0,
            max_msg_nums: 32,
            sys_flag: 0,
            commit_offset: 0,
            suspend_timeout_millis: 15000,
            subscription: None,
            sub_version: 0,
            expression_type: None,
        }
        .to_ext();
        for name in [
            "consumerGroup",
            "topic",
            "queueId",
            "queueOffset",
            "maxMsgNums",
            "sysFlag",
            "commitOffset",
            "suspendTimeoutMillis",
            "subVersion",
        ] {
            let mut ext = base.clone();
            ext.remove(name);
            assert_eq!(
                PullMessageRequestHeader::from_ext(&ext)
                    .unwrap_err()
                    .field(),
                name
            );
        }
    }

    #[test]
    fn response_round_trip() {
        let h = PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 33,
            min_offset: 0,
            max_offset: 100,
        };
        let ext = h.to_ext();
        assert_eq!(ext.get("nextBeginOffset"), Some("33"));
        assert_eq!(PullMessageResponseHeader::from_ext(&ext), Ok(h));
        assert_eq!(
            PullMessageResponseHeader::from_ext(&ext_from([]))
                .unwrap_err()
                .field(),
            "suggestWhichBrokerId"
        );
    }
}
