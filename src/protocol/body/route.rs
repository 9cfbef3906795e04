//! Routing bodies served by the name server: GET_ROUTEINFO_BY_TOPIC (105) → [`TopicRouteData`],
//! GET_BROKER_CLUSTER_INFO (106) → [`ClusterInfo`].
//!
//! `brokerAddrs` is keyed by broker id (0 = master). serde_json writes those keys quoted
//! (`{"0":"127.0.0.1:10911"}`), the standard JSON every client accepts and what the Java name
//! server itself sends to 4.9.4+ clients; fastjson's bare form (`{0:"..."}`) is read through
//! [`parse_fastjson`](super::parse_fastjson).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::fastjson::null_as_default;

/// The brokers and queues serving one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRouteData {
    #[serde(default, deserialize_with = "null_as_default")]
    pub broker_datas: Vec<BrokerData>,
    /// Obsolete filter servers per broker address; always written, usually `{}`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// `broker-a:4;broker-b:4` for ordered topics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub queue_datas: Vec<QueueData>,
}

/// One broker group (a master and its slaves) by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    /// Broker id → `ip:port`; clients send only to id 0.
    #[serde(default, deserialize_with = "null_as_default")]
    pub broker_addrs: BTreeMap<i64, String>,
    pub broker_name: String,
    #[serde(default)]
    pub cluster: String,
    /// RocketMQ 5's field, always `false` here. Java 4.9 and the C++ client ignore it, but
    /// rocketmq-client-rust 1.0.0 cannot read a route without it.
    #[serde(default)]
    pub enable_acting_master: bool,
}

impl BrokerData {
    /// The master's address, if the master is registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }
}

/// The queues of a topic on one broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    pub broker_name: String,
    /// `PermName` bits.
    #[serde(default)]
    pub perm: u32,
    #[serde(default)]
    pub read_queue_nums: u32,
    /// Spelled `topicSynFlag` before 4.9.0; both are read, the 4.9 name is written.
    #[serde(default, alias = "topicSynFlag")]
    pub topic_sys_flag: u32,
    #[serde(default)]
    pub write_queue_nums: u32,
}

/// Every broker and cluster the name server knows (`mqadmin clusterList`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// Broker name → its addresses.
    #[serde(default, deserialize_with = "null_as_default")]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name → broker names.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::parse_fastjson;

    fn route() -> TopicRouteData {
        TopicRouteData {
            broker_datas: vec![BrokerData {
                broker_addrs: BTreeMap::from([
                    (0, "127.0.0.1:10911".into()),
                    (1, "127.0.0.1:10921".into()),
                ]),
                broker_name: "broker-a".into(),
                cluster: "DefaultCluster".into(),
                enable_acting_master: false,
            }],
            filter_server_table: BTreeMap::new(),
            order_topic_conf: None,
            queue_datas: vec![QueueData {
                broker_name: "broker-a".into(),
                perm: 6,
                read_queue_nums: 4,
                topic_sys_flag: 0,
                write_queue_nums: 4,
            }],
        }
    }

    const STANDARD: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

    #[test]
    fn route_serialises_with_quoted_broker_ids() {
        assert_eq!(serde_json::to_string(&route()).unwrap(), STANDARD);
        assert_eq!(
            route().broker_datas[0].master_addr(),
            Some("127.0.0.1:10911")
        );
    }

    #[test]
    fn route_reads_fastjson_bare_keys_and_old_field_name() {
        // A pre-4.9.4 Java name server (apache/rocketmq#1445), pretty-printed, old spelling.
        let java = r#"{
            "brokerDatas": [{"brokerAddrs": {0: "127.0.0.1:10911", 1: "127.0.0.1:10921"},
                             "brokerName": "broker-a", "cluster": "DefaultCluster"}],
            "filterServerTable": {},
            "queueDatas": [{"brokerName": "broker-a", "perm": 6, "readQueueNums": 4,
                            "topicSynFlag": 0, "writeQueueNums": 4}]
        }"#;
        assert_eq!(
            parse_fastjson::<TopicRouteData>(java.as_bytes()).unwrap(),
            route()
        );
        assert_eq!(
            parse_fastjson::<TopicRouteData>(STANDARD.as_bytes()).unwrap(),
            route()
        );
        let ordered = r#"{"brokerDatas":[],"orderTopicConf":"broker-a:4","queueDatas":[]}"#;
        let r: TopicRouteData = parse_fastjson(ordered.as_bytes()).unwrap();
        assert_eq!(r.order_topic_conf.as_deref(), Some("broker-a:4"));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"brokerDatas":[],"filterServerTable":{},"orderTopicConf":"broker-a:4","queueDatas":[]}"#
        );
    }

    #[test]
    fn a_non_numeric_broker_id_is_an_error() {
        let bad =
            r#"{"brokerDatas":[{"brokerAddrs":{"master":"x"},"brokerName":"b"}],"queueDatas":[]}"#;
        assert!(parse_fastjson::<TopicRouteData>(bad.as_bytes()).is_err());
    }

    #[test]
    fn cluster_info_both_forms() {
        let info = ClusterInfo {
            broker_addr_table: BTreeMap::from([(
                "broker-a".to_string(),
                BrokerData {
                    broker_addrs: BTreeMap::from([(0, "127.0.0.1:10911".into())]),
                    broker_name: "broker-a".into(),
                    cluster: "DefaultCluster".into(),
                    enable_acting_master: false,
                },
            )]),
            cluster_addr_table: BTreeMap::from([(
                "DefaultCluster".to_string(),
                BTreeSet::from(["broker-a".to_string()]),
            )]),
        };
        let standard = r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
        assert_eq!(serde_json::to_string(&info).unwrap(), standard);
        let java = standard.replace(r#""0":"#, "0:");
        assert_eq!(
            parse_fastjson::<ClusterInfo>(java.as_bytes()).unwrap(),
            info
        );
        // Java 4.9 omits enableActingMaster (5.x adds it); both read the same.
        let v49 = java.replace(r#","enableActingMaster":false"#, "");
        assert_eq!(parse_fastjson::<ClusterInfo>(v49.as_bytes()).unwrap(), info);
    }
}
