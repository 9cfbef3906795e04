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
fn each_form_matches_exactly_its_own_names() {
    for form in [&V1, &V2] {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
            assert_eq!(form.field(form.names[i]), Some(*f), "{}", form.names[i]);
        }
    }
    for other in [
        "",
        "o",
        "z",
        "A",
        "ab",
        "topicX",
        "Topic",
        "AccessKey",
        "bnam",
        "é",
        "a\0",
    ] {
        assert_eq!(v1_field(other), None, "{other:?}");
        assert_eq!(v2_field(other), None, "{other:?}");
    }
    assert_eq!(v2_field("topic"), None);
    assert_eq!(v1_field("a"), None);
}

/// Several faults: the first field in the header's order is the one reported, as when
/// each field was looked up in turn.
#[test]
fn the_first_fault_in_field_order_is_reported() {
    let mut ext = java_v2();
    ext.remove("a");
    ext.insert("g", "x");
    assert_eq!(
        SendMessageRequestHeader::from_v2(&ext).unwrap_err(),
        HeaderError::Missing {
            request: "SendMessageRequestHeaderV2",
            name: "a"
        }
    );
    let mut ext = java_v2();
    ext.insert("d", "four");
    ext.remove("e");
    assert_eq!(
        SendMessageRequestHeader::from_v2(&ext).unwrap_err().field(),
        "d"
    );
    let mut ext = java_v2();
    ext.insert("e", "");
    assert_eq!(
        SendMessageRequestHeader::from_v2(&ext).unwrap_err(),
        HeaderError::Missing {
            request: "SendMessageRequestHeaderV2",
            name: "e"
        }
    );
    let mut ext = java_v2();
    ext.insert("j", "");
    ext.insert("l", "x");
    assert_eq!(
        SendMessageRequestHeader::from_v2(&ext).unwrap_err().field(),
        "l"
    );
}

/// A header read off the wire, in either serialize type, with escapes, non-ASCII text,
/// an empty value, a duplicate (the last wins) and fields the header does not know.
#[test]
fn decodes_from_both_wire_forms() {
    use crate::remoting::{codec, RemotingCommand, SerializeType};
    let mut h = sample();
    h.topic = "Tópico_漢".into();
    h.properties = Some("TAGS\u{1}a\"b\\c\u{2}KEYS\u{1}\n".into());
    h.broker_name = Some(String::new());
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let mut req = RemotingCommand::request(SEND_MESSAGE_V2).with_serialize_type(st);
        req.ext_fields = h.to_v2();
        req.ext_fields.insert("AccessKey", "ak");
        req.ext_fields.insert(String::from("x-extra"), "é");
        let mut frame = bytes::BytesMut::new();
        codec::encode(&req, &mut frame).unwrap();
        let got = codec::decode(&mut frame, 1 << 20).unwrap().unwrap();
        assert_eq!(got.ext_fields, req.ext_fields, "{st:?}");
        assert_eq!(
            SendMessageRequestHeader::decode_for_code(got.code, &got.ext_fields),
            Ok(h.clone()),
            "{st:?}"
        );
    }
    // JSON with a duplicate and an escaped name.
    let json = br#"{"code":310,"extFields":{"a":"P0","b":"T","c":"TBW102","d":"4","e":"3","f":"0","g":"1","h":"0","\u0061":"P1","zz":null},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":1}"#;
    let mut frame = bytes::BytesMut::new();
    frame.extend_from_slice(&((4 + json.len()) as u32).to_be_bytes());
    frame.extend_from_slice(&(json.len() as u32).to_be_bytes());
    frame.extend_from_slice(json);
    let got = codec::decode(&mut frame, 1 << 20).unwrap().unwrap();
    assert_eq!(got.ext_fields.len(), 8);
    let h = SendMessageRequestHeader::decode_for_code(got.code, &got.ext_fields).unwrap();
    assert_eq!((h.producer_group.as_str(), h.topic.as_str()), ("P1", "T"));
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

/// The borrowed header is the owned one's fields, read from the request without a copy.
#[test]
fn the_borrowed_header_reads_the_same_fields_in_place() {
    let h = sample();
    for (code, ext) in [(310, h.to_v2()), (10, h.to_v1())] {
        let r = SendMessageRequestHeaderRef::decode_for_code(code, &ext).unwrap();
        assert_eq!(r.to_owned_header(), h);
        let topic = ext.get(if code == 10 { "topic" } else { "b" }).unwrap();
        assert!(std::ptr::eq(r.topic, topic));
        assert_eq!(
            SendMessageRequestHeaderRef::decode_for_code(code, &ExtFields::new()),
            SendMessageRequestHeader::decode_for_code(code, &ExtFields::new()).map(|_| r)
        );
    }
}
