//! Consumer-group membership bodies: GET_CONSUMER_LIST_BY_GROUP (38) →
//! [`GetConsumerListByGroupResponseBody`], GET_CONSUMER_CONNECTION_LIST (203) →
//! [`ConsumerConnection`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::enums::{lenient_enum, ConsumeFromWhere, ConsumeType, MessageModel};
use super::fastjson::null_as_default;
use super::heartbeat::SubscriptionData;

/// The client ids of a consumer group's live members; each consumer rebalances over this list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetConsumerListByGroupResponseBody {
    #[serde(deserialize_with = "null_as_default")]
    pub consumer_id_list: Vec<String>,
}

/// One client connection of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The remote `ip:port`.
    #[serde(default)]
    pub client_addr: String,
    pub client_id: String,
    /// LanguageCode name (`JAVA`, `CPP`, `GO`, `RUST`, ...), kept as text so an unknown
    /// language never breaks the body.
    #[serde(default)]
    pub language: String,
    /// The client's `version` header field (MQVersion ordinal).
    #[serde(default)]
    pub version: i32,
}

/// The live connections and subscriptions of a consumer group (`mqadmin consumerConnection`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerConnection {
    #[serde(default, deserialize_with = "null_as_default")]
    pub connection_set: Vec<Connection>,
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
    #[serde(
        default,
        deserialize_with = "lenient_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_model: Option<MessageModel>,
    /// Topic → subscription.
    #[serde(default, deserialize_with = "null_as_default")]
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::parse_fastjson;

    #[test]
    fn consumer_list() {
        let body = GetConsumerListByGroupResponseBody {
            consumer_id_list: vec!["10.0.0.1@1".into(), "10.0.0.2@2".into()],
        };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(text, r#"{"consumerIdList":["10.0.0.1@1","10.0.0.2@2"]}"#);
        assert_eq!(
            parse_fastjson::<GetConsumerListByGroupResponseBody>(text.as_bytes()).unwrap(),
            body
        );
        // Java's answer for an empty list omits nothing but may carry null.
        let empty: GetConsumerListByGroupResponseBody =
            parse_fastjson(br#"{"consumerIdList":null}"#).unwrap();
        assert!(empty.consumer_id_list.is_empty());
    }

    /// The Java broker's answer to `mqadmin consumerConnection -g G1`.
    const JAVA: &str = r#"{"connectionSet":[{"clientAddr":"10.0.0.1:52000","clientId":"10.0.0.1@1234","language":"JAVA","version":407},{"clientAddr":"10.0.0.2:52001","clientId":"10.0.0.2@4242","language":"CPP","version":63}],"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","subscriptionTable":{"TopicTest":{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000000,"tagsSet":[],"topic":"TopicTest"}}}"#;

    #[test]
    fn consumer_connection_round_trips_java_text() {
        let cc: ConsumerConnection = parse_fastjson(JAVA.as_bytes()).unwrap();
        assert_eq!(cc.connection_set.len(), 2);
        assert_eq!(cc.connection_set[1].language, "CPP");
        assert_eq!(cc.message_model, Some(MessageModel::Clustering));
        assert_eq!(serde_json::to_string(&cc).unwrap(), JAVA);
    }

    #[test]
    fn consumer_connection_tolerates_ordinals_and_gaps() {
        let odd = r#"{"connectionSet":[{"clientId":"c","language":"RUST"}],"consumeType":0,"messageModel":"1","consumeFromWhere":5}"#;
        let cc: ConsumerConnection = parse_fastjson(odd.as_bytes()).unwrap();
        assert_eq!(cc.consume_type, Some(ConsumeType::ConsumeActively));
        assert_eq!(cc.message_model, Some(MessageModel::Clustering));
        assert_eq!(
            cc.consume_from_where,
            Some(ConsumeFromWhere::ConsumeFromTimestamp)
        );
        assert_eq!(cc.connection_set[0].version, 0);
        assert!(cc.subscription_table.is_empty());
        assert!(parse_fastjson::<ConsumerConnection>(
            br#"{"connectionSet":[{"language":"JAVA"}]}"#
        )
        .is_err());
    }
}
