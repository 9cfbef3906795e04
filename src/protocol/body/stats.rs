//! Admin statistics bodies keyed by `MessageQueue`: GET_CONSUME_STATS (208) → [`ConsumeStats`],
//! GET_TOPIC_STATS_INFO (202) → [`TopicStatsTable`].
//!
//! Java writes these maps with raw object keys (`{{"brokerName":..}:{..}}`). Which form to send:
//! the Java `mqadmin`/dashboard parse the body with fastjson's `MapDeserializer`, which reads a
//! raw object key in every 1.2.x version, and a JSON-string key only from 1.2.68 on (RocketMQ
//! 4.8+). So the wire form is [`ConsumeStats::to_fastjson`] / [`TopicStatsTable::to_fastjson`]
//! — byte-for-byte the Java broker's text. serde's `Serialize` writes the standard-JSON string
//! key form instead (for our own tools and logs; 4.9.x tools read it too). Reading goes through
//! [`parse_fastjson`](super::parse_fastjson) and accepts both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::queue::{mq_map, write_mq_map_fastjson, MessageQueue};

/// Progress of one consumer group on one queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// The queue's max offset (next to be written).
    pub broker_offset: i64,
    /// The group's committed offset.
    pub consumer_offset: i64,
    /// Store timestamp of the last consumed message (0 if unknown).
    pub last_timestamp: i64,
}

/// GET_CONSUME_STATS response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStats {
    pub consume_tps: f64,
    #[serde(with = "mq_map")]
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
}

impl ConsumeStats {
    /// The Java broker's text, raw object keys included; send this as the response body.
    pub fn to_fastjson(&self) -> Result<String, serde_json::Error> {
        let mut out = String::from("{\"consumeTps\":");
        out.push_str(&serde_json::to_string(&self.consume_tps)?);
        out.push_str(",\"offsetTable\":");
        write_mq_map_fastjson(&self.offset_table, &mut out)?;
        out.push('}');
        Ok(out)
    }

    /// Total lag: the sum over queues of broker offset minus consumer offset (Java
    /// `computeTotalDiff`).
    pub fn total_diff(&self) -> i64 {
        self.offset_table
            .values()
            .map(|w| w.broker_offset.saturating_sub(w.consumer_offset))
            .fold(0i64, i64::saturating_add)
    }
}

/// Offsets of one queue of a topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    pub last_update_timestamp: i64,
    pub max_offset: i64,
    pub min_offset: i64,
}

/// GET_TOPIC_STATS_INFO response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicStatsTable {
    #[serde(with = "mq_map")]
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
}

impl TopicStatsTable {
    /// The Java broker's text, raw object keys included; send this as the response body.
    pub fn to_fastjson(&self) -> Result<String, serde_json::Error> {
        let mut out = String::from("{\"offsetTable\":");
        write_mq_map_fastjson(&self.offset_table, &mut out)?;
        out.push('}');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::parse_fastjson;

    fn stats() -> ConsumeStats {
        let mut s = ConsumeStats {
            consume_tps: 1.5,
            ..Default::default()
        };
        for q in [1, 0] {
            s.offset_table.insert(
                MessageQueue::new("T", "broker-a", q),
                OffsetWrapper {
                    broker_offset: 10,
                    consumer_offset: 4 + i64::from(q),
                    last_timestamp: 1700,
                },
            );
        }
        s
    }

    /// What the Java 4.9.x broker writes (apache/rocketmq#3389 shows the same shape).
    const JAVA_STATS: &str = r#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":10,"consumerOffset":4,"lastTimestamp":1700},{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"brokerOffset":10,"consumerOffset":5,"lastTimestamp":1700}}}"#;

    #[test]
    fn consume_stats_writes_the_java_broker_form() {
        assert_eq!(stats().to_fastjson().unwrap(), JAVA_STATS);
        assert_eq!(stats().total_diff(), 11);
    }

    #[test]
    fn consume_stats_reads_raw_and_string_keys() {
        let from_java: ConsumeStats = parse_fastjson(JAVA_STATS.as_bytes()).unwrap();
        assert_eq!(from_java, stats());
        let standard = serde_json::to_string(&stats()).unwrap();
        assert_eq!(
            standard,
            r#"{"consumeTps":1.5,"offsetTable":{"{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"T\"}":{"brokerOffset":10,"consumerOffset":4,"lastTimestamp":1700},"{\"brokerName\":\"broker-a\",\"queueId\":1,\"topic\":\"T\"}":{"brokerOffset":10,"consumerOffset":5,"lastTimestamp":1700}}}"#
        );
        assert_eq!(
            parse_fastjson::<ConsumeStats>(standard.as_bytes()).unwrap(),
            stats()
        );
        // Key order and whitespace do not matter; an empty table and 0.0 tps read fine.
        let loose = "{ \"offsetTable\" : { } , \"consumeTps\" : 0.0 }";
        assert_eq!(
            parse_fastjson::<ConsumeStats>(loose.as_bytes()).unwrap(),
            ConsumeStats::default()
        );
        assert_eq!(
            ConsumeStats::default().to_fastjson().unwrap(),
            r#"{"consumeTps":0.0,"offsetTable":{}}"#
        );
    }

    #[test]
    fn a_bad_queue_key_is_an_error() {
        let bad = r#"{"offsetTable":{"not a queue":{"brokerOffset":1}}}"#;
        assert!(parse_fastjson::<ConsumeStats>(bad.as_bytes()).is_err());
        let bad = r#"{"offsetTable":{{"queueId":"x"}:{}}}"#;
        assert!(parse_fastjson::<ConsumeStats>(bad.as_bytes()).is_err());
    }

    #[test]
    fn topic_stats_table_both_forms() {
        let java = r#"{"offsetTable":{{"brokerName":"rocketmq-broker-a","queueId":2,"topic":"test"}:{"lastUpdateTimestamp":0,"maxOffset":0,"minOffset":0},{"brokerName":"rocketmq-broker-a","queueId":0,"topic":"test"}:{"lastUpdateTimestamp":1700000000000,"maxOffset":12,"minOffset":3}}}"#;
        let t: TopicStatsTable = parse_fastjson(java.as_bytes()).unwrap();
        assert_eq!(t.offset_table.len(), 2);
        let q0 = &t.offset_table[&MessageQueue::new("test", "rocketmq-broker-a", 0)];
        assert_eq!((q0.min_offset, q0.max_offset), (3, 12));
        // Written back sorted by queue, as Java's compareTo orders them.
        assert_eq!(
            t.to_fastjson().unwrap(),
            r#"{"offsetTable":{{"brokerName":"rocketmq-broker-a","queueId":0,"topic":"test"}:{"lastUpdateTimestamp":1700000000000,"maxOffset":12,"minOffset":3},{"brokerName":"rocketmq-broker-a","queueId":2,"topic":"test"}:{"lastUpdateTimestamp":0,"maxOffset":0,"minOffset":0}}}"#
        );
        let again: TopicStatsTable = parse_fastjson(t.to_fastjson().unwrap().as_bytes()).unwrap();
        assert_eq!(again, t);
        let standard = serde_json::to_vec(&t).unwrap();
        assert_eq!(parse_fastjson::<TopicStatsTable>(&standard).unwrap(), t);
    }
}
