//! No input makes a body parser panic: mutated fixtures of every shape go through
//! `parse_fastjson` for every body type, and each either parses or returns an error.

use super::*;

/// A small deterministic generator (xorshift64*), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const FIXTURES: &[&str] = &[
    r#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"b","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#,
    r#"{"clientID":"c","consumerDataSet":[{"consumeFromWhere":4,"consumeType":1,"groupName":"G","messageModel":1,"subscriptionDataSet":[{"subString":"*","subVersion":"1","topic":"T"}]}]}"#,
    r#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":1,"consumerOffset":0,"lastTimestamp":0}}}"#,
    r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,"timestamp":2},"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}}}}"#,
    r#"{"connectionSet":[{"clientAddr":"a","clientId":"c","language":"JAVA","version":1}],"consumeType":"CONSUME_PASSIVELY","subscriptionTable":{}}"#,
    r#"{"clientId":"c","consumerGroup":"g","mqSet":[{"brokerName":"b","queueId":0,"topic":"T"}]}"#,
];

const NOISE: &[u8] = b"{}[]:,\"\\0123456789-.eE tnfalsru\x00\xff";

fn parse_all(bytes: &[u8]) {
    let _ = parse_fastjson::<TopicRouteData>(bytes);
    let _ = parse_fastjson::<ClusterInfo>(bytes);
    let _ = parse_fastjson::<HeartbeatData>(bytes);
    let _ = parse_fastjson::<ConsumeStats>(bytes);
    let _ = parse_fastjson::<TopicStatsTable>(bytes);
    let _ = parse_fastjson::<RegisterBrokerBody>(bytes);
    let _ = parse_fastjson::<ConsumerConnection>(bytes);
    let _ = parse_fastjson::<LockBatchRequestBody>(bytes);
    let _ = parse_fastjson::<KVTable>(bytes);
    let _ = parse_fastjson::<TopicList>(bytes);
    let _ = parse_fastjson::<serde_json::Value>(bytes);
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for fixture in FIXTURES {
        parse_all(fixture.as_bytes());
        for _ in 0..400 {
            let mut bytes = fixture.as_bytes().to_vec();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                let noise = NOISE[rng.below(NOISE.len())];
                match rng.below(3) {
                    0 if at < bytes.len() => bytes[at] = noise,
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, noise),
                }
            }
            parse_all(&bytes);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}{}", "{{".repeat(100_000), "}".repeat(10));
    parse_all(deep.as_bytes());
    let deep = format!("{{\"brokerDatas\":{}", "[".repeat(100_000));
    assert!(parse_fastjson::<TopicRouteData>(deep.as_bytes()).is_err());
}

#[test]
fn empty_and_null_stats_tables() {
    assert_eq!(
        parse_fastjson::<ConsumeStats>(b"{}").ok(),
        Some(ConsumeStats::default())
    );
    assert_eq!(
        parse_fastjson::<TopicStatsTable>(br#"{"offsetTable":null}"#).ok(),
        Some(TopicStatsTable::default())
    );
}
