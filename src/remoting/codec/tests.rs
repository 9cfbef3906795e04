use bytes::{BufMut, Bytes, BytesMut};

use super::*;
use crate::remoting::codes::{request_code, response_code};
use crate::remoting::command::{LanguageCode, FLAG_ONEWAY, FLAG_RESPONSE};

const MAX: usize = DEFAULT_MAX_FRAME;

/// A frame as a client would write it: prefix, type+length word, header, body.
fn frame(serialize_type: u8, header: &[u8], body: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i32((4 + header.len() + body.len()) as i32);
    b.put_u32((u32::from(serialize_type) << 24) | header.len() as u32);
    b.put_slice(header);
    b.put_slice(body);
    b
}

fn decode_one(mut buf: BytesMut) -> Result<RemotingCommand, CodecError> {
    let cmd = decode(&mut buf, MAX)?.expect("a whole frame");
    assert!(buf.is_empty(), "exactly one frame consumed");
    Ok(cmd)
}

#[test]
fn java_json_request() {
    let header = br#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":403}"#;
    let cmd = decode_one(frame(0, header, b"")).unwrap();
    assert_eq!(cmd.code, request_code::GET_ROUTEINFO_BY_TOPIC);
    assert_eq!(cmd.language, LanguageCode::Java);
    assert_eq!(cmd.version, 403);
    assert_eq!(cmd.opaque, 3);
    assert_eq!(cmd.flag, 0);
    assert_eq!(cmd.remark, None);
    assert_eq!(cmd.ext("topic"), Some("TopicTest"));
    assert_eq!(cmd.ext_fields.len(), 1);
    assert!(cmd.body.is_empty());
    assert_eq!(cmd.serialize_type, SerializeType::Json);
    assert!(!cmd.is_response() && !cmd.is_oneway());
}

#[test]
fn cpp_client_quirks() {
    // No serializeTypeCurrentRPC, numbers and "0"/"1" in extFields, credentials extras,
    // remark "", and the trailing newline counted in the header length.
    let header = concat!(
        r#"{"code":10,"extFields":{"AccessKey":"","OnsChannel":"ALIYUN","Signature":"","#,
        r#""batch":"0","bornTimestamp":"1700000000000","defaultTopic":"TBW102","#,
        r#""defaultTopicQueueNums":4,"flag":0,"producerGroup":"pg","properties":"KEYS\u0001k\u0002","#,
        r#""queueId":3,"reconsumeTimes":0,"sysFlag":0,"topic":"TopicTest","unitMode":"0"},"#,
        r#""flag":0,"language":"CPP","opaque":1,"remark":"","version":63}"#,
        "\n"
    );
    let cmd = decode_one(frame(0, header.as_bytes(), b"hello")).unwrap();
    assert_eq!(cmd.code, request_code::SEND_MESSAGE);
    assert_eq!(cmd.language, LanguageCode::Cpp);
    assert_eq!(cmd.version, 63);
    assert_eq!(cmd.opaque, 1);
    assert_eq!(cmd.remark, None);
    assert_eq!(cmd.ext("queueId"), Some("3"));
    assert_eq!(cmd.ext("sysFlag"), Some("0"));
    assert_eq!(cmd.ext("flag"), Some("0"));
    assert_eq!(cmd.ext("defaultTopicQueueNums"), Some("4"));
    assert_eq!(cmd.ext("batch"), Some("0"));
    assert_eq!(cmd.ext("unitMode"), Some("0"));
    assert_eq!(cmd.ext("AccessKey"), Some(""));
    assert_eq!(cmd.ext("OnsChannel"), Some("ALIYUN"));
    assert_eq!(cmd.ext("properties"), Some("KEYS\u{1}k\u{2}"));
    assert_eq!(&cmd.body[..], b"hello");
}

#[test]
fn rust_client_and_other_tolerances() {
    let header = br#"{"code":34,"language":"RUST","version":474,"opaque":2147483648,"flag":"2","remark":null,"extFields":{"b":true,"f":1.5,"n":null,"o":{"x":[1]}},"serializeTypeCurrentRPC":"JSON","somethingNew":{"a":1}}  "#;
    let cmd = decode_one(frame(0, header, b"")).unwrap();
    assert_eq!(cmd.language, LanguageCode::Rust);
    assert_eq!(cmd.version, 474);
    assert_eq!(cmd.opaque, i32::MIN, "an unsigned opaque wraps");
    assert_eq!(cmd.flag, FLAG_ONEWAY, "numeric strings are integers");
    assert_eq!(cmd.remark, None);
    assert_eq!(cmd.ext("b"), Some("true"));
    assert_eq!(cmd.ext("f"), Some("1.5"));
    assert_eq!(cmd.ext("n"), None);
    assert_eq!(cmd.ext("o"), Some(r#"{"x":[1]}"#));

    let header = br#"{"code":11,"language":"COBOL","opaque":7}"#;
    let cmd = decode_one(frame(0, header, b"")).unwrap();
    assert_eq!(cmd.language, LanguageCode::UnknownName("COBOL".into()));
    assert_eq!(cmd.version, 0);
    assert!(cmd.ext_fields.is_empty());
}

#[test]
fn json_response_is_written_as_fastjson_does() {
    let req = RemotingCommand::request(request_code::PULL_MESSAGE);
    let resp = RemotingCommand::response_to(&req, response_code::PULL_NOT_FOUND)
        .with_ext("suggestWhichBrokerId", 0)
        .with_ext("nextBeginOffset", 12)
        .with_remark("no new \"message\"");
    let mut out = BytesMut::new();
    encode(&resp, &mut out).unwrap();
    let header_len = (u32::from_be_bytes(out[4..8].try_into().unwrap()) & 0xFF_FFFF) as usize;
    assert_eq!(out[4], 0, "JSON");
    let text = std::str::from_utf8(&out[8..8 + header_len]).unwrap();
    // Top-level keys in fastjson's alphabetical order; extFields in map order (no reader
    // depends on it), so compare those as values.
    let expected = format!(
        r#"{{"code":19,"extFields":{{"nextBeginOffset":"12","suggestWhichBrokerId":"0"}},"flag":1,"language":"JAVA","opaque":{},"remark":"no new \"message\"","serializeTypeCurrentRPC":"JSON","version":407}}"#,
        req.opaque
    );
    let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        parsed,
        serde_json::from_str::<serde_json::Value>(&expected).unwrap()
    );
    let keys: Vec<&str> = [
        "\"code\"",
        "\"extFields\"",
        "\"flag\"",
        "\"language\"",
        "\"opaque\"",
        "\"remark\"",
        "\"serializeTypeCurrentRPC\"",
        "\"version\"",
    ]
    .to_vec();
    let positions: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "top-level keys in alphabetical order: {text}"
    );
    let back = decode_one(out).unwrap();
    assert_eq!(back, resp);
    assert!(back.is_response());

    // No remark, no extFields: both keys omitted.
    let mut out = BytesMut::new();
    encode(&RemotingCommand::response_to(&req, 0), &mut out).unwrap();
    let text = std::str::from_utf8(&out[8..]).unwrap();
    assert!(
        !text.contains("remark") && !text.contains("extFields"),
        "{text}"
    );
}

#[test]
fn binary_round_trip() {
    let mut cmd = RemotingCommand::request(request_code::SEND_MESSAGE_V2)
        .with_serialize_type(SerializeType::RocketMq)
        .with_ext("a", "TopicTest")
        .with_ext("e", 3)
        .with_ext("ключ", "значение")
        .with_remark("remark é")
        .with_body(Bytes::from_static(b"\x00\x01body"));
    cmd.language = LanguageCode::Go;
    cmd.version = 474;
    cmd.mark_oneway();
    let mut out = BytesMut::new();
    encode(&cmd, &mut out).unwrap();
    assert_eq!(out[4], 1, "ROCKETMQ");
    assert_eq!(decode_one(out).unwrap(), cmd);

    // Response flag, no remark, no ext fields, no body.
    let mut resp = RemotingCommand::response_to(&cmd, response_code::SYSTEM_BUSY);
    resp.language = LanguageCode::UnknownByte(99);
    let mut out = BytesMut::new();
    encode(&resp, &mut out).unwrap();
    assert_eq!(out.len(), 8 + 2 + 1 + 2 + 4 + 4 + 4 + 4);
    let back = decode_one(out).unwrap();
    assert_eq!(back, resp);
    assert_eq!(back.flag, FLAG_RESPONSE);
    assert_eq!(back.remark, None);
    assert!(back.body.is_empty());
}

/// The fixed part of a binary (ROCKETMQ) header as Java writes it: code 105, language JAVA,
/// version 407, opaque 9, flag 0, then `remark` with its length; the extFields follow.
fn binary_header_up_to_ext_fields(remark: &[u8]) -> BytesMut {
    let mut h = BytesMut::new();
    h.put_i16(105);
    h.put_u8(0);
    h.put_i16(407);
    h.put_i32(9);
    h.put_i32(0);
    h.put_i32(remark.len() as i32);
    h.put_slice(remark);
    h
}

#[test]
fn binary_header_as_java_writes_it() {
    // code 105, JAVA, version 407, opaque 9, flag 0, remark "r", one ext field topic=T.
    let mut h = binary_header_up_to_ext_fields(b"r");
    h.put_i32(2 + 5 + 4 + 1);
    h.put_i16(5);
    h.put_slice(b"topic");
    h.put_i32(1);
    h.put_slice(b"T");
    let cmd = decode_one(frame(1, &h, b"xyz")).unwrap();
    assert_eq!(cmd.code, 105);
    assert_eq!(cmd.version, 407);
    assert_eq!(cmd.opaque, 9);
    assert_eq!(cmd.remark.as_deref(), Some("r"));
    assert_eq!(cmd.ext("topic"), Some("T"));
    assert_eq!(&cmd.body[..], b"xyz");
    assert_eq!(cmd.serialize_type, SerializeType::RocketMq);
}

/// Bytes that are not UTF-8 in a binary header's field names or values are read as Java reads
/// them (U+FFFD for each bad sequence), not refused and not passed on as they are.
#[test]
fn binary_ext_fields_that_are_not_utf8_are_read_lossily() {
    let mut h = binary_header_up_to_ext_fields(b"");
    // Two fields: "k\xff"="v\xfe" and "topic"="T".
    h.put_i32((2 + 2 + 4 + 2) + (2 + 5 + 4 + 1));
    h.put_i16(2);
    h.put_slice(b"k\xff");
    h.put_i32(2);
    h.put_slice(b"v\xfe");
    h.put_i16(5);
    h.put_slice(b"topic");
    h.put_i32(1);
    h.put_slice(b"T");
    let cmd = decode_one(frame(1, &h, b"")).unwrap();
    assert_eq!(cmd.ext("k\u{fffd}"), Some("v\u{fffd}"));
    assert_eq!(
        cmd.ext("topic"),
        Some("T"),
        "the next field is read where it starts"
    );
}

#[test]
fn binary_encode_refuses_what_java_cannot_read() {
    let cmd = RemotingCommand::request(70_000).with_serialize_type(SerializeType::RocketMq);
    let mut out = BytesMut::from(&b"keep"[..]);
    assert!(matches!(
        encode(&cmd, &mut out),
        Err(CodecError::FieldOutOfRange { field: "code", .. })
    ));
    assert_eq!(&out[..], b"keep", "nothing appended on error");
}

#[test]
fn header_too_large_for_24_bits_is_refused() {
    let cmd = RemotingCommand::request(10).with_remark("x".repeat(MAX_HEADER_LEN + 1));
    let mut out = BytesMut::new();
    assert!(matches!(
        encode(&cmd, &mut out),
        Err(CodecError::HeaderTooLarge(_))
    ));
    assert!(out.is_empty());
}

#[test]
fn split_at_every_byte_boundary() {
    let cmd = RemotingCommand::request(request_code::SEND_MESSAGE)
        .with_ext("topic", "T")
        .with_body(Bytes::from_static(b"0123456789"));
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let cmd = cmd.clone().with_serialize_type(st);
        let mut wire = BytesMut::new();
        encode(&cmd, &mut wire).unwrap();
        for cut in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..cut]);
            assert!(decode(&mut buf, MAX).unwrap().is_none(), "cut at {cut}");
            assert_eq!(buf.len(), cut, "nothing consumed while incomplete");
            buf.extend_from_slice(&wire[cut..]);
            let got = decode(&mut buf, MAX).unwrap().expect("complete");
            assert_eq!(got, cmd);
            assert!(buf.is_empty());
        }
        // Byte by byte, then two frames back to back.
        let mut buf = BytesMut::new();
        let mut got = None;
        for (i, b) in wire.iter().enumerate() {
            buf.put_u8(*b);
            got = decode(&mut buf, MAX).unwrap();
            assert_eq!(got.is_some(), i + 1 == wire.len());
        }
        assert_eq!(got, Some(cmd.clone()));
        let mut two = wire.clone();
        two.extend_from_slice(&wire);
        assert_eq!(decode(&mut two, MAX).unwrap(), Some(cmd.clone()));
        assert_eq!(decode(&mut two, MAX).unwrap(), Some(cmd.clone()));
        assert_eq!(decode(&mut two, MAX).unwrap(), None);
    }
}

fn decode_err(buf: &[u8], max: usize) -> CodecError {
    let mut b = BytesMut::from(buf);
    match decode(&mut b, max) {
        Err(e) => e,
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn hostile_lengths() {
    for len in [0i32, 1, 3, -1, i32::MIN] {
        let e = decode_err(&len.to_be_bytes(), MAX);
        assert!(matches!(e, CodecError::FrameTooShort { .. }), "{len}: {e}");
    }
    // Refused as soon as the prefix is in, before the rest is buffered.
    let e = decode_err(&(i32::MAX).to_be_bytes(), MAX);
    assert!(matches!(e, CodecError::FrameTooLarge { .. }), "{e}");
    let e = decode_err(&(MAX as i32 - 3).to_be_bytes(), MAX);
    assert!(
        matches!(e, CodecError::FrameTooLarge { length, max } if length == MAX + 1 && max == MAX)
    );
    assert!(decode(
        &mut BytesMut::from(&(MAX as i32 - 4).to_be_bytes()[..]),
        MAX
    )
    .unwrap()
    .is_none());

    // Header length beyond the frame, including a huge 24-bit value.
    let mut f = frame(0, b"{}", b"");
    f[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(matches!(
        decode_err(&f, MAX),
        CodecError::HeaderTooLong {
            header_len: 3,
            available: 2
        }
    ));
    f[4..8].copy_from_slice(&0x00FF_FFFFu32.to_be_bytes());
    assert!(matches!(
        decode_err(&f, MAX),
        CodecError::HeaderTooLong { .. }
    ));

    // Parse refuses a frame whose prefix disagrees with its size.
    let f = frame(0, b"{}", b"");
    assert!(matches!(
        parse(f.clone().freeze().slice(..f.len() - 1)),
        Err(CodecError::LengthMismatch { .. })
    ));
    assert!(matches!(
        parse(Bytes::from_static(b"\0\0\0\x04")),
        Err(CodecError::FrameTooShort { .. })
    ));
}

#[test]
fn hostile_headers() {
    let e = decode_err(&frame(7, b"{}", b""), MAX);
    assert!(matches!(e, CodecError::UnknownSerializeType(7)), "{e}");
    let e = decode_err(&frame(0xFF, b"{}", b""), MAX);
    assert!(matches!(e, CodecError::UnknownSerializeType(0xFF)), "{e}");

    for bad in [
        &b"{\"code\":10,"[..],
        b"not json",
        b"",
        b"{\"code\":1}{",
        b"\xff\xfe",
    ] {
        let e = decode_err(&frame(0, bad, b""), MAX);
        assert!(matches!(e, CodecError::Json { .. }), "{e}");
    }
    for (bad, field) in [
        (&br#"[1,2]"#[..], "(root)"),
        (br#"{"code":"ten"}"#, "code"),
        (br#"{"code":1e40}"#, "code"),
        (br#"{"opaque":99999999999}"#, "opaque"),
        (br#"{"flag":true}"#, "flag"),
        (br#"{"extFields":[1]}"#, "extFields"),
    ] {
        match decode_err(&frame(0, bad, b""), MAX) {
            CodecError::JsonField { field: f, .. } => assert_eq!(f, field),
            e => panic!("{e}"),
        }
    }

    // Binary: too short for the fixed part; remark and ext lengths past the end.
    let e = decode_err(&frame(1, &[0, 10, 0], b""), MAX);
    assert!(
        matches!(
            e,
            CodecError::TruncatedBinaryHeader {
                field: "version",
                ..
            }
        ),
        "{e}"
    );
    let fixed = |remark_len: i32| {
        let mut h = BytesMut::new();
        h.put_i16(10);
        h.put_u8(0);
        h.put_i16(0);
        h.put_i32(1);
        h.put_i32(0);
        h.put_i32(remark_len);
        h
    };
    let mut h = fixed(100);
    h.put_slice(b"short");
    let e = decode_err(&frame(1, &h, b"body"), MAX);
    assert!(
        matches!(
            e,
            CodecError::TruncatedBinaryHeader {
                field: "remark",
                ..
            }
        ),
        "{e}"
    );
    let e = decode_err(&frame(1, &fixed(-5), b""), MAX);
    assert!(
        matches!(
            e,
            CodecError::NegativeLength {
                field: "remarkLength",
                length: -5
            }
        ),
        "{e}"
    );
    let e = decode_err(&frame(1, &fixed(0), b""), MAX);
    assert!(
        matches!(
            e,
            CodecError::TruncatedBinaryHeader {
                field: "extFieldsLength",
                ..
            }
        ),
        "{e}"
    );

    let mut h = fixed(0);
    h.put_i32(20);
    h.put_u16(3);
    h.put_slice(b"key");
    let e = decode_err(&frame(1, &h, b""), MAX);
    assert!(
        matches!(
            e,
            CodecError::TruncatedBinaryHeader {
                field: "extFields",
                ..
            }
        ),
        "{e}"
    );

    let mut h = fixed(0);
    h.put_i32(2 + 3 + 4 + 1);
    h.put_u16(3);
    h.put_slice(b"key");
    h.put_i32(50);
    h.put_slice(b"v");
    let e = decode_err(&frame(1, &h, b""), MAX);
    assert!(
        matches!(
            e,
            CodecError::TruncatedBinaryHeader {
                field: "extFields value",
                ..
            }
        ),
        "{e}"
    );

    let mut h = fixed(0);
    h.put_i32(2 + 3 + 4);
    h.put_u16(3);
    h.put_slice(b"key");
    h.put_i32(-1);
    let e = decode_err(&frame(1, &h, b""), MAX);
    assert!(
        matches!(
            e,
            CodecError::NegativeLength {
                field: "extFields value length",
                ..
            }
        ),
        "{e}"
    );

    let mut h = fixed(0);
    h.put_i32(1);
    h.put_u8(0);
    let e = decode_err(&frame(1, &h, b""), MAX);
    assert!(
        matches!(
            e,
            CodecError::TruncatedBinaryHeader {
                field: "extFields key length",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn random_bytes_never_panic() {
    // A deterministic xorshift stream: frames with plausible lengths and random contents.
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for _ in 0..20_000 {
        let len = (next() % 64) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 8 && next() % 2 == 0 {
            body[..4].copy_from_slice(&((len - 4) as i32).to_be_bytes());
            body[4] = (next() % 3) as u8;
            body[5] = 0;
            body[6] = 0;
        }
        let mut buf = BytesMut::from(&body[..]);
        while let Ok(Some(_)) = decode(&mut buf, 4096) {}
    }
}

/// A body given in parts encodes to the same frame as the joined body, and decodes to it.
#[test]
fn a_multi_part_body_encodes_as_the_joined_body() {
    let parts: Vec<Bytes> = vec![
        Bytes::from_static(b"head-0"),
        Bytes::new(),
        Bytes::from(vec![7u8; 3000]),
        Bytes::from_static(b"x"),
    ];
    let joined: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let one = RemotingCommand::response(response_code::SUCCESS)
            .with_ext("nextBeginOffset", 5)
            .with_serialize_type(st)
            .with_body(joined.clone());
        let many = one.clone().with_body_parts(parts.clone());
        assert_eq!(many.body_len(), joined.len());
        assert_eq!(&many.body_bytes()[..], &joined[..]);
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        encode(&one, &mut a).unwrap();
        encode(&many, &mut b).unwrap();
        assert_eq!(a, b);
        let mut head = BytesMut::new();
        let wire = encode_head(&many, &mut head).unwrap();
        assert_eq!(wire, a.len(), "the length prefix counts every part");
        let back = decode_one(b).unwrap();
        assert_eq!(&back.body[..], &joined[..]);
        assert!(back.body_parts.is_empty());
    }
}
