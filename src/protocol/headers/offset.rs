//! Offsets and queue metadata: QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15),
//! SEARCH_OFFSET_BY_TIMESTAMP (29), GET_MAX_OFFSET (30), GET_MIN_OFFSET (31),
//! GET_EARLIEST_MSG_STORETIME (32), and the two shared response shapes `{offset}` and
//! `{timestamp}`.

use crate::protocol::header::{
    put, req_i32, req_i64, req_str, CommandHeader, ExtFields, HeaderError,
};

/// QUERY_CONSUMER_OFFSET request. Answer 22 QUERY_NOT_FOUND when the group has no offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConsumerOffsetRequestHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
}

impl CommandHeader for QueryConsumerOffsetRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "QueryConsumerOffsetRequestHeader";
        Ok(QueryConsumerOffsetRequestHeader {
            consumer_group: req_str(ext, R, "consumerGroup")?,
            topic: req_str(ext, R, "topic")?,
            queue_id: req_i32(ext, R, "queueId")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "consumerGroup", &self.consumer_group);
        put(&mut ext, "topic", &self.topic);
        put(&mut ext, "queueId", self.queue_id);
        ext
    }
}

/// UPDATE_CONSUMER_OFFSET request (often oneway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateConsumerOffsetRequestHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    pub commit_offset: i64,
}

impl CommandHeader for UpdateConsumerOffsetRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "UpdateConsumerOffsetRequestHeader";
        Ok(UpdateConsumerOffsetRequestHeader {
            consumer_group: req_str(ext, R, "consumerGroup")?,
            topic: req_str(ext, R, "topic")?,
            queue_id: req_i32(ext, R, "queueId")?,
            commit_offset: req_i64(ext, R, "commitOffset")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "consumerGroup", &self.consumer_group);
        put(&mut ext, "topic", &self.topic);
        put(&mut ext, "queueId", self.queue_id);
        put(&mut ext, "commitOffset", self.commit_offset);
        ext
    }
}

/// SEARCH_OFFSET_BY_TIMESTAMP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOffsetRequestHeader {
    pub topic: String,
    pub queue_id: i32,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

impl CommandHeader for SearchOffsetRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "SearchOffsetRequestHeader";
        Ok(SearchOffsetRequestHeader {
            topic: req_str(ext, R, "topic")?,
            queue_id: req_i32(ext, R, "queueId")?,
            timestamp: req_i64(ext, R, "timestamp")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "topic", &self.topic);
        put(&mut ext, "queueId", self.queue_id);
        put(&mut ext, "timestamp", self.timestamp);
        ext
    }
}

/// Declares a request header made of the two required fields `topic` and `queueId`.
macro_rules! topic_queue_header {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub topic: String,
            pub queue_id: i32,
        }

        impl CommandHeader for $name {
            fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
                const R: &str = stringify!($name);
                Ok($name {
                    topic: req_str(ext, R, "topic")?,
                    queue_id: req_i32(ext, R, "queueId")?,
                })
            }

            fn to_ext(&self) -> ExtFields {
                let mut ext = ExtFields::new();
                put(&mut ext, "topic", &self.topic);
                put(&mut ext, "queueId", self.queue_id);
                ext
            }
        }
    };
}

topic_queue_header!(
    /// GET_MAX_OFFSET request; the answer is the next offset to be written.
    GetMaxOffsetRequestHeader
);
topic_queue_header!(
    /// GET_MIN_OFFSET request.
    GetMinOffsetRequestHeader
);
topic_queue_header!(
    /// GET_EARLIEST_MSG_STORETIME request.
    GetEarliestMsgStoretimeRequestHeader
);

/// `{offset}`: the response of 14, 29, 30 and 31 (Java has one class per code, all alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetResponseHeader {
    pub offset: i64,
}

pub type QueryConsumerOffsetResponseHeader = OffsetResponseHeader;
pub type SearchOffsetResponseHeader = OffsetResponseHeader;
pub type GetMaxOffsetResponseHeader = OffsetResponseHeader;
pub type GetMinOffsetResponseHeader = OffsetResponseHeader;

impl CommandHeader for OffsetResponseHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Ok(OffsetResponseHeader {
            offset: req_i64(ext, "OffsetResponseHeader", "offset")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "offset", self.offset);
        ext
    }
}

/// `{timestamp}`: the response of GET_EARLIEST_MSG_STORETIME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampResponseHeader {
    pub timestamp: i64,
}

pub type GetEarliestMsgStoretimeResponseHeader = TimestampResponseHeader;

impl CommandHeader for TimestampResponseHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Ok(TimestampResponseHeader {
            timestamp: req_i64(ext, "TimestampResponseHeader", "timestamp")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "timestamp", self.timestamp);
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::header::ext_from;

    fn round_trip<H: CommandHeader + PartialEq + std::fmt::Debug>(h: H) {
        assert_eq!(H::from_ext(&h.to_ext()), Ok(h));
    }

    #[test]
    fn query_and_update_consumer_offset() {
        // Java form (with the 4.9.7 `bname`, ignored) and C++ form decode alike.
        let java = ext_from([
            ("bname", "b"),
            ("consumerGroup", "G"),
            ("queueId", "3"),
            ("topic", "T"),
        ]);
        let cpp = ext_from([
            ("consumerGroup", "G"),
            ("topic", "T"),
            ("queueId", "3"),
            ("AccessKey", ""),
        ]);
        let h = QueryConsumerOffsetRequestHeader::from_ext(&java).unwrap();
        assert_eq!(
            QueryConsumerOffsetRequestHeader::from_ext(&cpp),
            Ok(h.clone())
        );
        assert_eq!(h.queue_id, 3);
        round_trip(h);

        let u = UpdateConsumerOffsetRequestHeader {
            consumer_group: "G".into(),
            topic: "T".into(),
            queue_id: 1,
            commit_offset: 99,
        };
        assert_eq!(u.to_ext().get("commitOffset"), Some("99"));
        round_trip(u.clone());
        let mut ext = u.to_ext();
        ext.remove("commitOffset");
        assert_eq!(
            UpdateConsumerOffsetRequestHeader::from_ext(&ext)
                .unwrap_err()
                .to_string(),
            "missing required field `commitOffset` for request UpdateConsumerOffsetRequestHeader"
        );
    }

    #[test]
    fn queue_metadata_requests() {
        let s = SearchOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 0,
            timestamp: 1_700_000_000_000,
        };
        round_trip(s);
        round_trip(GetMaxOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 7,
        });
        round_trip(GetMinOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 7,
        });
        round_trip(GetEarliestMsgStoretimeRequestHeader {
            topic: "T".into(),
            queue_id: 7,
        });
        let err = GetMaxOffsetRequestHeader::from_ext(&ext_from([("topic", "T")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing required field `queueId` for request GetMaxOffsetRequestHeader"
        );
        let err =
            GetMinOffsetRequestHeader::from_ext(&ext_from([("topic", "T"), ("queueId", "x")]));
        assert_eq!(err.unwrap_err().field(), "queueId");
    }

    #[test]
    fn shared_responses() {
        let o = OffsetResponseHeader { offset: -1 };
        assert_eq!(o.to_ext(), ext_from([("offset", "-1")]));
        round_trip(o);
        let t = TimestampResponseHeader { timestamp: 5 };
        assert_eq!(t.to_ext(), ext_from([("timestamp", "5")]));
        round_trip(t);
        assert!(OffsetResponseHeader::from_ext(&ext_from([])).is_err());
    }
}
