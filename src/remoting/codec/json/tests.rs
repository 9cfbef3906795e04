use serde::Serialize;

use super::*;
use crate::remoting::command::{FLAG_RESPONSE, LEDGERMQ_VERSION};
use crate::remoting::ExtFields;

/// What serde_json writes for the header: the reference the hand-written encoder matches.
#[derive(Serialize)]
struct HeaderOut<'a> {
    code: i32,
    #[serde(rename = "extFields", skip_serializing_if = "ExtFields::is_empty")]
    ext_fields: &'a ExtFields,
    flag: i32,
    language: &'a str,
    opaque: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type: &'static str,
    version: i32,
}

fn serde_form(cmd: &RemotingCommand) -> Vec<u8> {
    serde_json::to_vec(&HeaderOut {
        code: cmd.code,
        ext_fields: &cmd.ext_fields,
        flag: cmd.flag,
        language: cmd.language.name(),
        opaque: cmd.opaque,
        remark: cmd.remark.as_deref(),
        serialize_type: SerializeType::Json.name(),
        version: cmd.version,
    })
    .unwrap()
}

/// The fast reader either declines or agrees with the serde reader, field for field.
fn agrees(header: &[u8]) -> bool {
    match fast::read(header) {
        None => false,
        Some(cmd) => {
            let reference = read_serde(header)
                .unwrap_or_else(|e| panic!("fast path took what serde refuses: {e}"));
            assert_eq!(cmd, reference, "{}", String::from_utf8_lossy(header));
            true
        }
    }
}

#[test]
fn fast_reader_takes_client_headers_and_agrees_with_serde() {
    let taken: &[&[u8]] = &[
        br#"{"code":310,"extFields":{"a":"P1","b":"BenchTopic","c":"TBW102","d":"8","e":"3","f":"0","g":"1700000000123","h":"0","i":"TAGS\u0001bench\u0002WAIT\u0001true","j":"0","k":"false","l":"16","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":407}"#,
        br#"{"code":10,"extFields":{"AccessKey":"","queueId":3,"unitMode":"0","batch":false,"x":null},"flag":0,"language":"CPP","opaque":1,"remark":"","version":63}
"#,
        br#" { "code" : "12" , "language" : 12, "version":-5,"opaque":4294967295,"flag":null,"remark":"r\"\\\/\b\f\n\r\t\u00e9\u6f22","extFields":null,"new":true,"other":"x"}  "#,
        br#"{"code":1,"remark":7,"language":true,"extFields":{},"extFields":{"k\u0041":"v"}}"#,
        br#"{}"#,
        "{\"code\":0,\"extFields\":{\"é\":\"漢字\"}}".as_bytes(),
    ];
    for h in taken {
        assert!(
            agrees(h),
            "fast path declined {}",
            String::from_utf8_lossy(h)
        );
    }
    let declined: &[&[u8]] = &[
        br#"{"code":1.0}"#,
        br#"{"code":1,"extFields":{"f":1.5}}"#,
        br#"{"code":1,"extFields":{"o":{"x":[1]}}}"#,
        br#"{"code":1,"somethingNew":{"a":1}}"#,
        br#"{"code":-0}"#,
        br#"{"code":01}"#,
        br#"{"code":99999999999999999999}"#,
        br#"{"code":"x"}"#,
        br#"{"code":1,}"#,
        br#"{"code":1}x"#,
        br#"{"remark":"\ud83d\ude00"}"#,
        br#"{"remark":"\u00zz"}"#,
        b"{\"remark\":\"a\x01\"}",
        b"{\"remark\":\"\xff\"}",
        br#"[1]"#,
        b"",
    ];
    for h in declined {
        assert!(!agrees(h), "fast path took {}", String::from_utf8_lossy(h));
    }
    // Every prefix and every one-byte change of a real header: the fast path declines or
    // agrees, never differs.
    let base = taken[0];
    for cut in 0..base.len() {
        agrees(&base[..cut]);
    }
    for at in 0..base.len() {
        for b in [
            b'"', b'\\', b'{', b'}', b',', b':', b'1', b'-', b' ', b'x', 0x01,
        ] {
            let mut h = base.to_vec();
            h[at] = b;
            agrees(&h);
        }
    }
}

#[test]
fn hand_written_header_is_what_serde_json_writes() {
    let awkward: String = (0u8..0x80).map(char::from).collect::<String>() + "é漢\u{10FFFF}";
    let mut cases = vec![
        RemotingCommand::response(0),
        RemotingCommand::request(310)
            .with_ext("a", "P1")
            .with_ext("i", "TAGS\u{1}bench\u{2}WAIT\u{1}true"),
        RemotingCommand::response(1).with_remark(awkward.clone()),
        RemotingCommand::request(-7).with_ext(awkward.clone(), awkward.clone()),
    ];
    let mut extreme = RemotingCommand::response(i32::MIN).with_remark("");
    extreme.opaque = i32::MAX;
    extreme.flag = FLAG_RESPONSE;
    extreme.version = i32::MIN;
    extreme.language = LanguageCode::UnknownName("CO\"BOL".into());
    cases.push(extreme);
    let mut many = RemotingCommand::response(0);
    many.version = LEDGERMQ_VERSION;
    for i in 0..20 {
        many.set_ext(format!("k{i}"), i * 1_000_003);
    }
    cases.push(many);
    for cmd in &cases {
        let mut out = BytesMut::new();
        write(cmd, &mut out).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&serde_form(cmd)),
            "{cmd:?}"
        );
        // And it reads back as the same command.
        let back = read(&out).unwrap();
        assert_eq!(back.ext_fields, cmd.ext_fields);
        assert_eq!(
            (back.code, back.opaque, back.flag),
            (cmd.code, cmd.opaque, cmd.flag)
        );
    }
}
