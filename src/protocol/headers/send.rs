//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and the send response.
//!
//! Code 10 carries `SendMessageRequestHeader` with long field names; 310 and 320 carry
//! `SendMessageRequestHeaderV2`, the same fields renamed `a`..`n` to shrink the JSON. Both decode
//! into one [`SendMessageRequestHeader`] through one name table per form, so the two can never
//! drift apart. SEND_REPLY_MESSAGE (324) / _V2 (325) use the same two forms.

use crate::protocol::header::{
    opt_bool, opt_i32, opt_str, put, put_opt, req_i32, req_i64, req_str, CommandHeader, ExtFields,
    HeaderError,
};

/// Request codes whose send header uses the V2 short names.
pub const SEND_MESSAGE_V2: i32 = 310;
pub const SEND_BATCH_MESSAGE: i32 = 320;
pub const SEND_REPLY_MESSAGE_V2: i32 = 325;

/// The send request header, whichever form it arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessageRequestHeader {
    pub producer_group: String,
    pub topic: String,
    /// `TBW102` from Java producers: the topic whose config seeds an auto-created topic.
    pub default_topic: String,
    pub default_topic_queue_nums: i32,
    /// Target queue; negative means "broker picks a writable queue" (the value is kept as sent).
    pub queue_id: i32,
    /// MessageSysFlag bits (`crate::message::sysflag`).
    pub sys_flag: i32,
    pub born_timestamp: i64,
    /// The user flag, stored verbatim.
    pub flag: i32,
    /// Encoded properties (`name\u{1}value\u{2}`...); may be absent or empty.
    pub properties: Option<String>,
    pub reconsume_times: Option<i32>,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
    /// True for SEND_BATCH_MESSAGE.
    pub batch: bool,
    /// The broker name the client addressed (`bname` / `n`, 4.9.5+); informational.
    pub broker_name: Option<String>,
}

/// The wire names of each field in one form of the header.
struct Names {
    request: &'static str,
    producer_group: &'static str,
    topic: &'static str,
    default_topic: &'static str,
    default_topic_queue_nums: &'static str,
    queue_id: &'static str,
    sys_flag: &'static str,
    born_timestamp: &'static str,
    flag: &'static str,
    properties: &'static str,
    reconsume_times: &'static str,
    unit_mode: &'static str,
    max_reconsume_times: &'static str,
    batch: &'static str,
    broker_name: &'static str,
}

const V1: Names = Names {
    request: "SendMessageRequestHeader",
    producer_group: "producerGroup",
    topic: "topic",
    default_topic: "defaultTopic",
    default_topic_queue_nums: "defaultTopicQueueNums",
    queue_id: "queueId",
    sys_flag: "sysFlag",
    born_timestamp: "bornTimestamp",
    flag: "flag",
    properties: "properties",
    reconsume_times: "reconsumeTimes",
    unit_mode: "unitMode",
    max_reconsume_times: "maxReconsumeTimes",
    batch: "batch",
    broker_name: "bname",
};

const V2: Names = Names {
    request: "SendMessageRequestHeaderV2",
    producer_group: "a",
    topic: "b",
    default_topic: "c",
    default_topic_queue_nums: "d",
    queue_id: "e",
    sys_flag: "f",
    born_timestamp: "g",
    flag: "h",
    properties: "i",
    reconsume_times: "j",
    unit_mode: "k",
    max_reconsume_times: "l",
    batch: "m",
    broker_name: "n",
};

impl SendMessageRequestHeader {
    /// Decodes the header of a send request, choosing the form by request code: V2 short names
    /// for 310, 320 and 325, long names otherwise (10, 324).
    pub fn decode_for_code(code: i32, ext: &ExtFields) -> Result<Self, HeaderError> {
        if uses_v2_names(code) {
            Self::from_v2(ext)
        } else {
            Self::from_v1(ext)
        }
    }

    /// Decodes the long-name form (code 10).
    pub fn from_v1(ext: &ExtFields) -> Result<Self, HeaderError> {
        Self::decode(ext, &V1)
    }

    /// Decodes the short-name form (codes 310/320).
    pub fn from_v2(ext: &ExtFields) -> Result<Self, HeaderError> {
        Self::decode(ext, &V2)
    }

    /// Encodes the long-name form.
    pub fn to_v1(&self) -> ExtFields {
        self.encode(&V1)
    }

    /// Encodes the short-name form.
    pub fn to_v2(&self) -> ExtFields {
        self.encode(&V2)
    }

    fn decode(ext: &ExtFields, n: &Names) -> Result<Self, HeaderError> {
        let r = n.request;
        Ok(SendMessageRequestHeader {
            producer_group: req_str(ext, r, n.producer_group)?,
            topic: req_str(ext, r, n.topic)?,
            default_topic: req_str(ext, r, n.default_topic)?,
            default_topic_queue_nums: req_i32(ext, r, n.default_topic_queue_nums)?,
            queue_id: req_i32(ext, r, n.queue_id)?,
            sys_flag: req_i32(ext, r, n.sys_flag)?,
            born_timestamp: req_i64(ext, r, n.born_timestamp)?,
            flag: req_i32(ext, r, n.flag)?,
            properties: opt_str(ext, n.properties),
            reconsume_times: opt_i32(ext, r, n.reconsume_times)?,
            unit_mode: opt_bool(ext, n.unit_mode).unwrap_or(false),
            max_reconsume_times: opt_i32(ext, r, n.max_reconsume_times)?,
            batch: opt_bool(ext, n.batch).unwrap_or(false),
            broker_name: opt_str(ext, n.broker_name),
        })
    }

    fn encode(&self, n: &Names) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, n.producer_group, &self.producer_group);
        put(&mut ext, n.topic, &self.topic);
        put(&mut ext, n.default_topic, &self.default_topic);
        put(
            &mut ext,
            n.default_topic_queue_nums,
            self.default_topic_queue_nums,
        );
        put(&mut ext, n.queue_id, self.queue_id);
        put(&mut ext, n.sys_flag, self.sys_flag);
        put(&mut ext, n.born_timestamp, self.born_timestamp);
        put(&mut ext, n.flag, self.flag);
        put_opt(&mut ext, n.properties, self.properties.as_ref());
        put_opt(&mut ext, n.reconsume_times, self.reconsume_times);
        put(&mut ext, n.unit_mode, self.unit_mode);
        put_opt(&mut ext, n.max_reconsume_times, self.max_reconsume_times);
        put(&mut ext, n.batch, self.batch);
        put_opt(&mut ext, n.broker_name, self.broker_name.as_ref());
        ext
    }
}

/// True for the request codes whose send header uses the V2 short names.
pub fn uses_v2_names(code: i32) -> bool {
    matches!(
        code,
        SEND_MESSAGE_V2 | SEND_BATCH_MESSAGE | SEND_REPLY_MESSAGE_V2
    )
}

/// The long-name form (code 10).
impl CommandHeader for SendMessageRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Self::from_v1(ext)
    }
    fn to_ext(&self) -> ExtFields {
        self.to_v1()
    }
}

/// The send response header, required by the Java client for codes 0, 10, 11 and 12.
///
/// `msg_region` / `trace_on` are the `MSG_REGION` and `TRACE_ON` extFields the Java broker adds
/// to every send response (`DefaultRegion`, `true`); the client reads them when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessageResponseHeader {
    /// The offsetMsgId (or a comma-separated list of them for a batch).
    pub msg_id: String,
    pub queue_id: i32,
    /// The queue offset of the (first) stored message.
    pub queue_offset: i64,
    pub transaction_id: Option<String>,
    pub msg_region: Option<String>,
    pub trace_on: Option<bool>,
}

impl CommandHeader for SendMessageResponseHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "SendMessageResponseHeader";
        Ok(SendMessageResponseHeader {
            msg_id: req_str(ext, R, "msgId")?,
            queue_id: req_i32(ext, R, "queueId")?,
            queue_offset: req_i64(ext, R, "queueOffset")?,
            transaction_id: opt_str(ext, "transactionId"),
            msg_region: opt_str(ext, "MSG_REGION"),
            trace_on: opt_bool(ext, "TRACE_ON"),
        })
    }

    fn to_ext(&self) -> ExtFields {
        // Sized for every field: every send is answered with this header.
        let mut ext = ExtFields::with_capacity(6);
        put(&mut ext, "msgId", &self.msg_id);
        put(&mut ext, "queueId", self.queue_id);
        put(&mut ext, "queueOffset", self.queue_offset);
        put_opt(&mut ext, "transactionId", self.transaction_id.as_ref());
        put_opt(&mut ext, "MSG_REGION", self.msg_region.as_ref());
        put_opt(&mut ext, "TRACE_ON", self.trace_on);
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::header::ext_from;

    fn sample() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "P1".into(),
            topic: "TopicTest".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 3,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_123,
            flag: 0,
            properties: Some("TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}ABC".into()),
            reconsume_times: Some(0),
            unit_mode: false,
            max_reconsume_times: Some(16),
            batch: false,
            broker_name: Some("broker-a".into()),
        }
    }

    /// What the Java 4.9.x producer sends with SEND_MESSAGE_V2.
    fn java_v2() -> ExtFields {
        ext_from([
            ("a", "P1"),
            ("b", "TopicTest"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "3"),
            ("f", "0"),
            ("g", "1700000000123"),
            ("h", "0"),
            ("i", "TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}ABC"),
            ("j", "0"),
            ("k", "false"),
            ("l", "16"),
            ("m", "false"),
            ("n", "broker-a"),
        ])
    }

    #[test]
    fn v1_and_v2_decode_to_the_same_header() {
        let h = sample();
        assert_eq!(SendMessageRequestHeader::from_v2(&java_v2()), Ok(h.clone()));
        assert_eq!(SendMessageRequestHeader::from_v1(&h.to_v1()), Ok(h.clone()));
        assert_eq!(SendMessageRequestHeader::from_v2(&h.to_v2()), Ok(h.clone()));
        assert_eq!(h.to_v2(), java_v2());
        let v1 = h.to_v1();
        assert_eq!(v1.get("producerGroup"), Some("P1"));
        assert_eq!(v1.get("bname"), Some("broker-a"));
        assert_eq!(v1.len(), h.to_v2().len());
    }

    #[test]
    fn the_code_picks_the_form() {
        let h = sample();
        for code in [310, 320, 325] {
            assert_eq!(
                SendMessageRequestHeader::decode_for_code(code, &h.to_v2()),
                Ok(h.clone())
            );
        }
        for code in [10, 324] {
            assert_eq!(
                SendMessageRequestHeader::decode_for_code(code, &h.to_v1()),
                Ok(h.clone())
            );
        }
        // Long names under a V2 code are a missing field, named by its short name.
        let err = SendMessageRequestHeader::decode_for_code(310, &h.to_v1()).unwrap_err();
        assert_eq!(err.field(), "a");
    }

    /// rocketmq-client-cpp: code 10, numbers already stringified by the codec, "0"/"1" booleans,
    /// no maxReconsumeTimes, empty properties, plus ACL keys that must be ignored.
    #[test]
    fn cpp_client_form() {
        let ext = ext_from([
            ("producerGroup", "cpp_group"),
            ("topic", "T"),
            ("defaultTopic", "TBW102"),
            ("defaultTopicQueueNums", "4"),
            ("queueId", "1"),
            ("sysFlag", "0"),
            ("bornTimestamp", "1700000000000"),
            ("flag", "0"),
            ("properties", ""),
            ("reconsumeTimes", "0"),
            ("unitMode", "0"),
            ("batch", "1"),
            ("AccessKey", ""),
            ("Signature", "x"),
            ("OnsChannel", "ALIYUN"),
        ]);
        let h = SendMessageRequestHeader::from_ext(&ext).unwrap();
        assert_eq!(h.queue_id, 1);
        assert!(h.batch);
        assert!(!h.unit_mode);
        assert_eq!(h.properties.as_deref(), Some(""));
        assert_eq!(h.max_reconsume_times, None);
        assert_eq!(h.broker_name, None);
    }

    #[test]
    fn negative_queue_id_is_kept() {
        let mut ext = java_v2();
        ext.insert("e", "-1");
        assert_eq!(
            SendMessageRequestHeader::from_v2(&ext).map(|h| h.queue_id),
            Ok(-1)
        );
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for short in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            let mut ext = java_v2();
            ext.remove(short);
            let err = SendMessageRequestHeader::from_v2(&ext).unwrap_err();
            assert_eq!(
                err,
                HeaderError::Missing {
                    request: "SendMessageRequestHeaderV2",
                    name: short
                }
            );
        }
        let mut ext = sample().to_v1();
        ext.remove("topic");
        let err = SendMessageRequestHeader::from_v1(&ext).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing required field `topic` for request SendMessageRequestHeader"
        );
        // Optional fields may all be absent.
        let mut ext = java_v2();
        for k in ["i", "j", "k", "l", "m", "n"] {
            ext.remove(k);
        }
        assert!(SendMessageRequestHeader::from_v2(&ext).is_ok());
    }

    #[test]
    fn a_bad_number_is_named() {
        let mut ext = java_v2();
        ext.insert("g", "yesterday");
        let err = SendMessageRequestHeader::from_v2(&ext).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad value for field `g` of request SendMessageRequestHeaderV2: `yesterday` is not a long"
        );
    }

    #[test]
    fn response_round_trip() {
        let h = SendMessageResponseHeader {
            msg_id: "7F00000100002A9F0000000000000000".into(),
            queue_id: 2,
            queue_offset: 41,
            transaction_id: None,
            msg_region: Some("DefaultRegion".into()),
            trace_on: Some(true),
        };
        let ext = h.to_ext();
        assert_eq!(
            ext,
            ext_from([
                ("msgId", "7F00000100002A9F0000000000000000"),
                ("queueId", "2"),
                ("queueOffset", "41"),
                ("MSG_REGION", "DefaultRegion"),
                ("TRACE_ON", "true"),
            ])
        );
        assert_eq!(SendMessageResponseHeader::from_ext(&ext), Ok(h));
        let err = SendMessageResponseHeader::from_ext(&ext_from([("msgId", "x")])).unwrap_err();
        assert_eq!(err.field(), "queueId");
    }
}
