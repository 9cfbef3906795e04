//! fastjson-style request bodies (unquoted keys, numeric map keys, Java enum names): the first
//! byte picks the body type, the rest is the text.
#![no_main]
use ledgermq::protocol::body::*;
use ledgermq::protocol::parse_fastjson;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, text)) = data.split_first() else {
        return;
    };
    match kind % 12 {
        0 => drop(parse_fastjson::<HeartbeatData>(text)),
        1 => drop(parse_fastjson::<RegisterBrokerBody>(text)),
        2 => drop(parse_fastjson::<LockBatchRequestBody>(text)),
        3 => drop(parse_fastjson::<UnlockBatchRequestBody>(text)),
        4 => drop(parse_fastjson::<TopicConfigSerializeWrapper>(text)),
        5 => drop(parse_fastjson::<KVTable>(text)),
        6 => drop(parse_fastjson::<TopicList>(text)),
        7 => drop(parse_fastjson::<TopicRouteData>(text)),
        8 => drop(parse_fastjson::<ClusterInfo>(text)),
        9 => drop(parse_fastjson::<ConsumeStats>(text)),
        10 => drop(parse_fastjson::<TopicStatsTable>(text)),
        _ => drop(parse_fastjson::<LockBatchResponseBody>(text)),
    }
});
