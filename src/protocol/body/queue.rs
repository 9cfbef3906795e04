//! `MessageQueue`, the maps keyed by it, and the orderly-consumer lock bodies
//! LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::fastjson::null_as_default;

/// One queue of one topic on one broker (Java `MessageQueue`).
///
/// Fields are declared in fastjson's (alphabetical) key order so serialising gives the Java
/// text; ordering follows Java's `compareTo`: topic, then broker name, then queue id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueue {
    pub broker_name: String,
    pub queue_id: i32,
    pub topic: String,
}

impl MessageQueue {
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue {
            broker_name: broker_name.into(),
            queue_id,
            topic: topic.into(),
        }
    }
}

impl Ord for MessageQueue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.topic
            .cmp(&other.topic)
            .then_with(|| self.broker_name.cmp(&other.broker_name))
            .then_with(|| self.queue_id.cmp(&other.queue_id))
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Serde for `BTreeMap<MessageQueue, V>` (Java `HashMap<MessageQueue, V>`), used with
/// `#[serde(with = "mq_map")]`.
///
/// * Serialising writes each key as a JSON *string* holding the queue's JSON — standard JSON,
///   which fastjson ≥ 1.2.68 (RocketMQ ≥ 4.8, so every 4.9.x tool) reads back as an object key
///   (`MapDeserializer` re-parses a string key when the key type is a bean). For the exact Java
///   broker form, readable by every fastjson version, use the types' `to_fastjson`.
/// * Deserialising accepts that string form and, through [`super::parse_fastjson`], fastjson's
///   raw object keys; an unparsable key is an error.
pub mod mq_map {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use serde::ser::{self, SerializeMap, Serializer};
    use serde::{Deserialize, Serialize};

    use super::MessageQueue;

    pub fn serialize<S, V>(map: &BTreeMap<MessageQueue, V>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        V: Serialize,
    {
        let mut m = s.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            let key = serde_json::to_string(k).map_err(ser::Error::custom)?;
            m.serialize_entry(&key, v)?;
        }
        m.end()
    }

    pub fn deserialize<'de, D, V>(d: D) -> Result<BTreeMap<MessageQueue, V>, D::Error>
    where
        D: Deserializer<'de>,
        V: Deserialize<'de>,
    {
        d.deserialize_option(OptMapVisitor(PhantomData))
    }

    /// Accepts `null` as an empty map, like the rest of the tolerant readers.
    struct OptMapVisitor<V>(PhantomData<V>);

    impl<'de, V: Deserialize<'de>> Visitor<'de> for OptMapVisitor<V> {
        type Value = BTreeMap<MessageQueue, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map keyed by MessageQueue")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(MapVisitor(PhantomData))
        }
    }

    struct MapVisitor<V>(PhantomData<V>);

    impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
        type Value = BTreeMap<MessageQueue, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map keyed by MessageQueue JSON")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some(key) = access.next_key::<String>()? {
                let mq: MessageQueue = serde_json::from_str(&key).map_err(|e| {
                    de::Error::custom(format_args!("bad MessageQueue key {key:?}: {e}"))
                })?;
                map.insert(mq, access.next_value()?);
            }
            Ok(map)
        }
    }
}

/// Writes `map` in the Java broker's fastjson form: `{<queue object>:<value>,...}`. Not
/// standard JSON, but what every Java `mqadmin` / dashboard version parses.
pub(crate) fn write_mq_map_fastjson<V: Serialize>(
    map: &BTreeMap<MessageQueue, V>,
    out: &mut String,
) -> Result<(), serde_json::Error> {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k)?);
        out.push(':');
        out.push_str(&serde_json::to_string(v)?);
    }
    out.push('}');
    Ok(())
}

/// LOCK_BATCH_MQ request body (UNLOCK_BATCH_MQ has the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockBatchRequestBody {
    pub client_id: String,
    pub consumer_group: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub mq_set: BTreeSet<MessageQueue>,
}

/// UNLOCK_BATCH_MQ request body.
pub type UnlockBatchRequestBody = LockBatchRequestBody;

/// LOCK_BATCH_MQ response body: the queues now locked by the requesting client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet", default, deserialize_with = "null_as_default")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::parse_fastjson;

    #[test]
    fn message_queue_orders_like_java_and_serialises_alphabetically() {
        let a = MessageQueue::new("A", "z", 9);
        let b = MessageQueue::new("B", "a", 0);
        let b1 = MessageQueue::new("B", "a", 1);
        assert!(a < b && b < b1);
        assert_eq!(
            serde_json::to_string(&b1).unwrap(),
            r#"{"brokerName":"a","queueId":1,"topic":"B"}"#
        );
    }

    #[test]
    fn lock_batch_java_form_round_trips() {
        let java = r#"{"clientId":"10.0.0.1@1234","consumerGroup":"G1","mqSet":[{"brokerName":"broker-a","queueId":1,"topic":"T"},{"brokerName":"broker-a","queueId":0,"topic":"T"}]}"#;
        let body: LockBatchRequestBody = parse_fastjson(java.as_bytes()).unwrap();
        assert_eq!(body.mq_set.len(), 2);
        assert_eq!(body.mq_set.iter().next().map(|q| q.queue_id), Some(0));
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(
            text,
            r#"{"clientId":"10.0.0.1@1234","consumerGroup":"G1","mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"T"},{"brokerName":"broker-a","queueId":1,"topic":"T"}]}"#
        );
        let unlock: UnlockBatchRequestBody = parse_fastjson(text.as_bytes()).unwrap();
        assert_eq!(unlock, body);
        // 5.x adds onlyThisBroker; unknown keys are ignored.
        let v5 = r#"{"clientId":"c","consumerGroup":"g","mqSet":[],"onlyThisBroker":false}"#;
        assert!(parse_fastjson::<LockBatchRequestBody>(v5.as_bytes()).is_ok());
    }

    #[test]
    fn lock_batch_response() {
        let mut r = LockBatchResponseBody::default();
        r.lock_ok_mq_set.insert(MessageQueue::new("T", "b", 3));
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"lockOKMQSet":[{"brokerName":"b","queueId":3,"topic":"T"}]}"#
        );
        assert_eq!(
            parse_fastjson::<LockBatchResponseBody>(text.as_bytes()).unwrap(),
            r
        );
        assert_eq!(
            parse_fastjson::<LockBatchResponseBody>(b"{}").unwrap(),
            Default::default()
        );
    }
}
