//! HEART_BEAT (34) request body: [`HeartbeatData`] with its producer and consumer groups.
//!
//! Readers are tolerant, because clients disagree on the shape: the C++ client sends enums as
//! ordinals, `subVersion` as a string and omits `classFilterMode`, `tagsSet`, `codeSet`,
//! `expressionType`, `unitMode` and `producerDataSet`; the Go client sends `"Clustering"`. Any
//! optional key may be missing or `null`; unknown keys are ignored. Writing gives Java's form
//! (enum names, every key present, alphabetical order).

use serde::{Deserialize, Serialize};

use super::enums::{lenient_enum, ConsumeFromWhere, ConsumeType, MessageModel};
use super::fastjson::{lenient_bool, lenient_i64, null_as_default};

/// The heartbeat a client sends to every broker every 30 s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatData {
    /// `ip@instance` (Java), unique per client process.
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(
        rename = "consumerDataSet",
        default,
        deserialize_with = "null_as_default"
    )]
    pub consumer_data_set: Vec<ConsumerData>,
    #[serde(
        rename = "producerDataSet",
        default,
        deserialize_with = "null_as_default"
    )]
    pub producer_data_set: Vec<ProducerData>,
}

/// A producer group the client belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerData {
    pub group_name: String,
}

/// A consumer group the client belongs to, with its subscriptions.
///
/// The three enums are `None` when absent, `null`, empty or an unknown name — exactly when Java
/// would hold null; the processor chooses the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerData {
    #[serde(
        default,
        deserialize_with = "lenient_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub consume_from_where: Option<ConsumeFromWhere>,
    #[serde(
        default,
        deserialize_with = "lenient_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub consume_type: Option<ConsumeType>,
    pub group_name: String,
    #[serde(
        default,
        deserialize_with = "lenient_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_model: Option<MessageModel>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub subscription_data_set: Vec<SubscriptionData>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub unit_mode: bool,
}

/// One topic subscription of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionData {
    #[serde(default, deserialize_with = "lenient_bool")]
    pub class_filter_mode: bool,
    /// Java `String.hashCode` of each tag in `tags_set`, compared with ConsumeQueue tags codes.
    /// Java's type is `int`; `i64` here only so a client with a wider hash still parses.
    #[serde(default, deserialize_with = "null_as_default")]
    pub code_set: Vec<i64>,
    /// `TAG` (the default when absent) or `SQL92`.
    #[serde(default = "tag_expression", deserialize_with = "expression_type")]
    pub expression_type: String,
    /// `*` or empty = every tag; else `TagA || TagB`, or an SQL92 expression.
    #[serde(default)]
    pub sub_string: String,
    /// The subscription's version (ms or ns timestamp); pulls with a newer one are refused
    /// with 25 SUBSCRIPTION_NOT_LATEST until the heartbeat catches up.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub sub_version: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags_set: Vec<String>,
    pub topic: String,
}

/// Java's `ExpressionType.TAG`.
pub const EXPRESSION_TYPE_TAG: &str = "TAG";
/// Java's `ExpressionType.SQL92`.
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";

fn tag_expression() -> String {
    EXPRESSION_TYPE_TAG.to_string()
}

/// `null` reads as `TAG`, like an absent key.
fn expression_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(tag_expression))
}

impl SubscriptionData {
    /// True for `TAG` expressions (absent or empty counts as `TAG`, as in Java).
    pub fn is_tag_type(&self) -> bool {
        self.expression_type.is_empty() || self.expression_type == EXPRESSION_TYPE_TAG
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::parse_fastjson;

    /// Java 4.9.x push consumer + producer in one process (section 4.3's shape).
    const JAVA: &str = r#"{"clientID":"127.0.0.1@12345#123456789","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"G1","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%G1"}],"unitMode":false}],"producerDataSet":[{"groupName":"P1"},{"groupName":"CLIENT_INNER_PRODUCER"}]}"#;

    /// rocketmq-client-cpp (section 12): ordinals, string subVersion, missing keys, trailing
    /// newline from jsoncpp's FastWriter.
    const CPP: &str = "{\"clientID\":\"10.0.0.2@4242\",\"consumerDataSet\":[{\"consumeFromWhere\":4,\"consumeType\":1,\"groupName\":\"G1\",\"messageModel\":1,\"subscriptionDataSet\":[{\"subString\":\"*\",\"subVersion\":\"1700000000000\",\"topic\":\"TopicTest\"}]}]}\n";

    #[test]
    fn java_heartbeat_round_trips_byte_for_byte() {
        let hb: HeartbeatData = parse_fastjson(JAVA.as_bytes()).unwrap();
        assert_eq!(hb.producer_data_set.len(), 2);
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.consume_type, Some(ConsumeType::ConsumePassively));
        assert_eq!(c.message_model, Some(MessageModel::Clustering));
        assert_eq!(c.subscription_data_set[0].code_set, vec![2_598_919]);
        assert_eq!(serde_json::to_string(&hb).unwrap(), JAVA);
    }

    #[test]
    fn cpp_heartbeat_reads_and_writes_java_form() {
        let hb: HeartbeatData = parse_fastjson(CPP.as_bytes()).unwrap();
        assert!(hb.producer_data_set.is_empty());
        let c = &hb.consumer_data_set[0];
        assert_eq!(
            c.consume_from_where,
            Some(ConsumeFromWhere::ConsumeFromFirstOffset)
        );
        assert_eq!(c.consume_type, Some(ConsumeType::ConsumePassively));
        assert!(!c.unit_mode);
        let s = &c.subscription_data_set[0];
        assert_eq!(s.sub_version, 1_700_000_000_000);
        assert!(
            s.is_tag_type()
                && s.tags_set.is_empty()
                && s.code_set.is_empty()
                && !s.class_filter_mode
        );
        assert_eq!(
            serde_json::to_string(&hb).unwrap(),
            r#"{"clientID":"10.0.0.2@4242","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"G1","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000000,"tagsSet":[],"topic":"TopicTest"}],"unitMode":false}],"producerDataSet":[]}"#
        );
    }

    /// rocketmq-client-go v2: mixed-case model, "UNKOWN" where, nulls for empty sets.
    #[test]
    fn go_heartbeat() {
        let go = r#"{"clientID":"10.0.0.3@99","producerDataSet":null,"consumerDataSet":[{"groupName":"G2","consumeType":"CONSUME_PASSIVELY","messageModel":"BroadCasting","consumeFromWhere":"UNKOWN","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"a || b","tagsSet":["a","b"],"codeSet":[97,98],"subVersion":1700000000000000000,"expressionType":"TAG"}],"unitMode":false}]}"#;
        let hb: HeartbeatData = parse_fastjson(go.as_bytes()).unwrap();
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.message_model, Some(MessageModel::Broadcasting));
        assert_eq!(c.consume_from_where, None);
        assert!(!serde_json::to_string(c)
            .unwrap()
            .contains("consumeFromWhere"));
        assert_eq!(
            c.subscription_data_set[0].sub_version,
            1_700_000_000_000_000_000
        );
    }

    #[test]
    fn producer_only_and_minimal_heartbeats() {
        let hb: HeartbeatData =
            parse_fastjson(br#"{"clientID":"c","producerDataSet":[{"groupName":"P"}]}"#).unwrap();
        assert!(hb.consumer_data_set.is_empty());
        let nulls = br#"{"clientID":"c","consumerDataSet":[{"groupName":"G","consumeType":null,"subscriptionDataSet":[{"topic":"T","expressionType":null,"tagsSet":null,"codeSet":null,"subVersion":null,"classFilterMode":null}],"unitMode":null}]}"#;
        let hb: HeartbeatData = parse_fastjson(nulls).unwrap();
        let s = &hb.consumer_data_set[0].subscription_data_set[0];
        assert_eq!(
            (
                s.expression_type.as_str(),
                s.sub_version,
                s.sub_string.as_str()
            ),
            ("TAG", 0, "")
        );
    }

    #[test]
    fn malformed_heartbeats_are_errors() {
        for bad in [
            r#"{}"#,
            r#"{"clientID":"c","consumerDataSet":[{"consumeType":1}]}"#,
            r#"{"clientID":"c","consumerDataSet":[{"groupName":"G","messageModel":7}]}"#,
            r#"{"clientID":"c","consumerDataSet":[{"groupName":"G","subscriptionDataSet":[{"subString":"*"}]}]}"#,
            r#"{"clientID":"c","consumerDataSet":[{"groupName":"G","subscriptionDataSet":[{"topic":"T","subVersion":"soon"}]}]}"#,
            r#"[1,2]"#,
        ] {
            assert!(
                parse_fastjson::<HeartbeatData>(bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
    }
}
