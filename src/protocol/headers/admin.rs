//! Admin headers (mqadmin, dashboard): UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER
//! (215), GET_TOPIC_STATS_INFO (202), GET_CONSUMER_CONNECTION_LIST (203), GET_CONSUME_STATS
//! (208) and the GET_BROKER_CONFIG (26) response header.

use crate::protocol::header::{
    opt_bool, opt_i32, opt_str, put, put_opt, req_i32, req_str, CommandHeader, ExtFields,
    HeaderError, ValueKind,
};
use crate::protocol::topic::TopicConfig;

/// UPDATE_AND_CREATE_TOPIC request.
///
/// Java marks `order` `@CFNotNull` but gives it a default (false) and 4.9.x never rejects its
/// absence; the C++ admin API omits both `order` and `topicSysFlag`. So `order` is optional
/// here (default false) — a deliberate relaxation of the annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicRequestHeader {
    pub topic: String,
    pub default_topic: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    /// `PermName` bits (`crate::protocol::topic::perm`).
    pub perm: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    pub topic_sys_flag: Option<i32>,
    pub order: bool,
}

impl CreateTopicRequestHeader {
    const NAME: &'static str = "CreateTopicRequestHeader";

    /// The topic config this request asks for; negative counts or flags are rejected.
    pub fn to_topic_config(&self) -> Result<TopicConfig, HeaderError> {
        let non_negative = |name: &'static str, v: i32| {
            u32::try_from(v).map_err(|_| {
                HeaderError::bad_value(Self::NAME, name, &v.to_string(), ValueKind::NonNegativeInt)
            })
        };
        Ok(TopicConfig {
            topic_name: self.topic.clone(),
            read_queue_nums: non_negative("readQueueNums", self.read_queue_nums)?,
            write_queue_nums: non_negative("writeQueueNums", self.write_queue_nums)?,
            perm: non_negative("perm", self.perm)?,
            topic_filter_type: self.topic_filter_type.clone(),
            topic_sys_flag: non_negative("topicSysFlag", self.topic_sys_flag.unwrap_or(0))?,
            order: self.order,
        })
    }
}

impl CommandHeader for CreateTopicRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = CreateTopicRequestHeader::NAME;
        Ok(CreateTopicRequestHeader {
            topic: req_str(ext, R, "topic")?,
            default_topic: req_str(ext, R, "defaultTopic")?,
            read_queue_nums: req_i32(ext, R, "readQueueNums")?,
            write_queue_nums: req_i32(ext, R, "writeQueueNums")?,
            perm: req_i32(ext, R, "perm")?,
            topic_filter_type: req_str(ext, R, "topicFilterType")?,
            topic_sys_flag: opt_i32(ext, R, "topicSysFlag")?,
            order: opt_bool(ext, "order").unwrap_or(false),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "topic", &self.topic);
        put(&mut ext, "defaultTopic", &self.default_topic);
        put(&mut ext, "readQueueNums", self.read_queue_nums);
        put(&mut ext, "writeQueueNums", self.write_queue_nums);
        put(&mut ext, "perm", self.perm);
        put(&mut ext, "topicFilterType", &self.topic_filter_type);
        put_opt(&mut ext, "topicSysFlag", self.topic_sys_flag);
        put(&mut ext, "order", self.order);
        ext
    }
}

string_header!(
    /// DELETE_TOPIC_IN_BROKER (215) / DELETE_TOPIC_IN_NAMESRV (216) request.
    DeleteTopicRequestHeader { topic: "topic" }
);

string_header!(
    /// GET_TOPIC_STATS_INFO request; the answer body is `TopicStatsTable`.
    GetTopicStatsInfoRequestHeader { topic: "topic" }
);

string_header!(
    /// GET_CONSUMER_CONNECTION_LIST request; the answer body is `ConsumerConnection`, or code
    /// 206 CONSUMER_NOT_ONLINE when the group has no live client.
    GetConsumerConnectionListRequestHeader { consumer_group: "consumerGroup" }
);

/// GET_CONSUME_STATS request; the answer body is `ConsumeStats`. Without `topic`, every topic
/// the group subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetConsumeStatsRequestHeader {
    pub consumer_group: String,
    pub topic: Option<String>,
}

impl CommandHeader for GetConsumeStatsRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Ok(GetConsumeStatsRequestHeader {
            consumer_group: req_str(ext, "GetConsumeStatsRequestHeader", "consumerGroup")?,
            topic: opt_str(ext, "topic").filter(|t| !t.is_empty()),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "consumerGroup", &self.consumer_group);
        put_opt(&mut ext, "topic", self.topic.as_ref());
        ext
    }
}

string_header!(
    /// GET_BROKER_CONFIG response header: `version` is the broker config's DataVersion as
    /// JSON text (`{"counter":1,"timestamp":...}`); the body is the properties text.
    GetBrokerConfigResponseHeader { version: "version" }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::header::ext_from;
    use crate::protocol::topic::perm;

    /// `mqadmin updateTopic -t T -c DefaultCluster` (4.9.x).
    fn java_create() -> ExtFields {
        ext_from([
            ("defaultTopic", "TBW102"),
            ("order", "false"),
            ("perm", "6"),
            ("readQueueNums", "8"),
            ("topic", "T"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("writeQueueNums", "8"),
        ])
    }

    #[test]
    fn create_topic_java_form_round_trips() {
        let h = CreateTopicRequestHeader::from_ext(&java_create()).unwrap();
        assert_eq!(h.to_ext(), java_create());
        let cfg = h.to_topic_config().unwrap();
        assert_eq!(cfg.perm, perm::READ_WRITE);
        assert_eq!(cfg.read_queue_nums, 8);
        assert_eq!(cfg, TopicConfig::new("T", 8));
    }

    #[test]
    fn create_topic_cpp_form_without_order_and_sys_flag() {
        let ext = ext_from([
            ("topic", "T"),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "4"),
            ("writeQueueNums", "4"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
        ]);
        let h = CreateTopicRequestHeader::from_ext(&ext).unwrap();
        assert!(!h.order);
        assert_eq!(h.topic_sys_flag, None);
        assert_eq!(h.to_topic_config().map(|c| c.topic_sys_flag), Ok(0));
    }

    #[test]
    fn create_topic_rejects_missing_and_negative() {
        let mut ext = java_create();
        ext.remove("topicFilterType");
        assert_eq!(
            CreateTopicRequestHeader::from_ext(&ext)
                .unwrap_err()
                .field(),
            "topicFilterType"
        );
        let mut ext = java_create();
        ext.insert("writeQueueNums", "-4");
        let h = CreateTopicRequestHeader::from_ext(&ext).unwrap();
        assert_eq!(
            h.to_topic_config().unwrap_err().to_string(),
            "bad value for field `writeQueueNums` of request CreateTopicRequestHeader: `-4` is not a non-negative int"
        );
    }

    #[test]
    fn single_field_headers() {
        let t = ext_from([("topic", "T")]);
        assert_eq!(
            DeleteTopicRequestHeader::from_ext(&t).map(|h| h.topic),
            Ok("T".to_string())
        );
        assert_eq!(
            GetTopicStatsInfoRequestHeader::from_ext(&t).map(|h| h.to_ext()),
            Ok(t)
        );
        let g = ext_from([("consumerGroup", "G")]);
        let c = GetConsumerConnectionListRequestHeader::from_ext(&g).unwrap();
        assert_eq!(c.consumer_group, "G");
        assert_eq!(
            GetTopicStatsInfoRequestHeader::from_ext(&g)
                .unwrap_err()
                .to_string(),
            "missing required field `topic` for request GetTopicStatsInfoRequestHeader"
        );
        let v = GetBrokerConfigResponseHeader {
            version: r#"{"counter":1,"timestamp":2}"#.into(),
        };
        assert_eq!(GetBrokerConfigResponseHeader::from_ext(&v.to_ext()), Ok(v));
    }

    #[test]
    fn consume_stats_topic_is_optional() {
        let h =
            GetConsumeStatsRequestHeader::from_ext(&ext_from([("consumerGroup", "G")])).unwrap();
        assert_eq!(h.topic, None);
        assert_eq!(h.to_ext(), ext_from([("consumerGroup", "G")]));
        let h = GetConsumeStatsRequestHeader::from_ext(&ext_from([
            ("consumerGroup", "G"),
            ("topic", "T"),
        ]))
        .unwrap();
        assert_eq!(GetConsumeStatsRequestHeader::from_ext(&h.to_ext()), Ok(h));
    }
}
