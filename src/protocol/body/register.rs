//! Broker registration and small list bodies: [`DataVersion`], [`TopicConfigSerializeWrapper`]
//! (GET_ALL_TOPIC_CONFIG response, inside REGISTER_BROKER), [`RegisterBrokerBody`]
//! (REGISTER_BROKER request), [`KVTable`] (runtime info, KV lists, register response) and
//! [`TopicList`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::fastjson::null_as_default;
use crate::protocol::topic::TopicConfig;

/// Version of a broker's topic config: bumped on every change, so the name server (and
/// QUERY_DATA_VERSION) can tell whether a registration carries anything new.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataVersion {
    pub counter: i64,
    /// Milliseconds since the epoch of the last change.
    pub timestamp: i64,
}

impl DataVersion {
    /// A fresh version: counter 0 at `now_ms`.
    pub fn new(now_ms: i64) -> DataVersion {
        DataVersion {
            counter: 0,
            timestamp: now_ms,
        }
    }

    /// The next version (Java `nextVersion`): counter + 1, stamped `now_ms`.
    pub fn next_version(&mut self, now_ms: i64) {
        self.counter = self.counter.wrapping_add(1);
        self.timestamp = now_ms;
    }
}

/// Every topic config of a broker, with its version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    pub data_version: DataVersion,
    #[serde(deserialize_with = "null_as_default")]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

/// REGISTER_BROKER request body (uncompressed form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    /// Obsolete filter-server addresses; always written, usually empty.
    #[serde(deserialize_with = "null_as_default")]
    pub filter_server_list: Vec<String>,
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

/// A string → string table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KVTable {
    #[serde(deserialize_with = "null_as_default")]
    pub table: BTreeMap<String, String>,
}

/// A set of topic names, optionally with the broker that holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub topic_list: BTreeSet<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::parse_fastjson;

    /// A Java 4.9.x broker's REGISTER_BROKER body (fastjson, alphabetical keys).
    const JAVA_REGISTER: &str = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4},"TBW102":{"order":false,"perm":7,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8}}}}"#;

    #[test]
    fn register_body_from_java() {
        let body: RegisterBrokerBody = parse_fastjson(JAVA_REGISTER.as_bytes()).unwrap();
        let w = &body.topic_config_serialize_wrapper;
        assert_eq!(
            w.data_version,
            DataVersion {
                counter: 3,
                timestamp: 1_700_000_000_000
            }
        );
        assert_eq!(
            w.topic_config_table["TopicTest"],
            TopicConfig::new("TopicTest", 4)
        );
        assert_eq!(w.topic_config_table["TBW102"].perm, 7);
        let back: serde_json::Value = serde_json::to_value(&body).unwrap();
        let java: serde_json::Value = serde_json::from_str(JAVA_REGISTER).unwrap();
        assert_eq!(back, java);
    }

    #[test]
    fn wrapper_text_and_data_version() {
        let mut w = TopicConfigSerializeWrapper {
            data_version: DataVersion::new(1000),
            ..Default::default()
        };
        w.data_version.next_version(2000);
        w.topic_config_table
            .insert("T".into(), TopicConfig::new("T", 2));
        // TopicConfig (protocol::topic) writes its keys in declaration order.
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            r#"{"dataVersion":{"counter":1,"timestamp":2000},"topicConfigTable":{"T":{"topicName":"T","readQueueNums":2,"writeQueueNums":2,"perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false}}}"#
        );
        assert_eq!(
            serde_json::to_string(&DataVersion::new(5)).unwrap(),
            r#"{"counter":0,"timestamp":5}"#
        );
        // 5.x adds stateVersion to DataVersion; ignored.
        let v5: DataVersion =
            parse_fastjson(br#"{"counter":2,"stateVersion":0,"timestamp":9}"#).unwrap();
        assert_eq!(
            v5,
            DataVersion {
                counter: 2,
                timestamp: 9
            }
        );
    }

    #[test]
    fn kv_table_and_topic_list() {
        let kv: KVTable =
            parse_fastjson(br#"{"table":{"putTps":"0.0 0.0 0.0","brokerVersionDesc":"V4_9_7"}}"#)
                .unwrap();
        assert_eq!(kv.table["brokerVersionDesc"], "V4_9_7");
        assert_eq!(
            serde_json::to_string(&kv).unwrap(),
            r#"{"table":{"brokerVersionDesc":"V4_9_7","putTps":"0.0 0.0 0.0"}}"#
        );
        assert_eq!(
            parse_fastjson::<KVTable>(b"{}").unwrap(),
            KVTable::default()
        );

        let tl: TopicList = parse_fastjson(br#"{"topicList":["b","a","b"]}"#).unwrap();
        assert_eq!(tl.broker_addr, None);
        assert_eq!(
            serde_json::to_string(&tl).unwrap(),
            r#"{"topicList":["a","b"]}"#
        );
        let sys = TopicList {
            broker_addr: Some("10.0.0.1:10911".into()),
            topic_list: tl.topic_list,
        };
        let text = serde_json::to_string(&sys).unwrap();
        assert_eq!(
            text,
            r#"{"brokerAddr":"10.0.0.1:10911","topicList":["a","b"]}"#
        );
        assert_eq!(parse_fastjson::<TopicList>(text.as_bytes()).unwrap(), sys);
    }

    #[test]
    fn a_wrong_type_is_an_error() {
        assert!(parse_fastjson::<RegisterBrokerBody>(br#"{"filterServerList":{}}"#).is_err());
        assert!(parse_fastjson::<KVTable>(br#"{"table":{"a":1}}"#).is_err());
    }
}
