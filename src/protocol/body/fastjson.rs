//! Reading what fastjson writes, and writing what fastjson reads.
//!
//! Java's `RemotingSerializable` bodies are written by fastjson 1.2.x, which is not quite JSON:
//!
//! * a map whose Java key type is a number is written with bare keys: `{0:"127.0.0.1:10911"}`
//!   (`BrokerData.brokerAddrs`, apache/rocketmq#1445);
//! * a map whose key is an object is written with the object itself as key:
//!   `{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}` (`ConsumeStats` and
//!   `TopicStatsTable`, apache/rocketmq#3389).
//!
//! [`parse_fastjson`] first rewrites both into standard JSON — a bare key becomes a quoted key,
//! an object/array key becomes a string holding its JSON text — and then lets serde_json parse.
//! Types whose map keys are objects (`mq_map`) parse that string. The rewrite is a single pass
//! over the bytes with an explicit stack (no recursion), leaves strings untouched, and passes
//! anything it does not understand through for serde_json to reject; it never panics.
//!
//! Writing: LedgerMQ writes standard JSON (quoted number keys), which every client accepts
//! (section 4 of the protocol reference). Object-keyed maps are the exception, see `mq_map`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;

/// How many object keys may nest inside one another. fastjson writes one level (a
/// `MessageQueue` key); each level re-escapes the text inside it, so the limit also bounds the
/// rewrite's growth (at most 4x) on hostile input.
const MAX_KEY_NESTING: usize = 2;

/// Parses a body written by fastjson, a C++ client or anything producing standard JSON.
pub fn parse_fastjson<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(&normalize_fastjson(bytes))
}

/// Rewrites fastjson's non-standard object keys into standard JSON; borrows when nothing
/// needed rewriting.
pub fn normalize_fastjson(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len() + 16);
    // Per open container: is it an object, and where its text starts in `out` if it is itself
    // a map key (to be turned into a string when it closes).
    let mut stack: Vec<(bool, Option<usize>)> = Vec::new();
    let mut expect_key = false;
    let mut changed = false;
    // Open containers that are map keys; each level of nesting re-escapes the inner text.
    let mut key_depth = 0usize;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if expect_key {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    out.push(b);
                    i += 1;
                    continue;
                }
                b'"' | b'}' => expect_key = false,
                b'{' | b'[' if key_depth < MAX_KEY_NESTING => {
                    expect_key = b == b'{';
                    stack.push((b == b'{', Some(out.len())));
                    key_depth += 1;
                    out.push(b);
                    changed = true;
                    i += 1;
                    continue;
                }
                // Too deep: left as fastjson wrote it (it ends up inside the enclosing key's string).
                b'{' | b'[' => expect_key = false,
                _ => {
                    expect_key = false;
                    let end = bare_key_end(input, i);
                    if end > i {
                        out.push(b'"');
                        escape_into(&input[i..end], &mut out);
                        out.push(b'"');
                        changed = true;
                        i = end;
                        continue;
                    }
                }
            }
        }
        match b {
            b'"' => {
                i = copy_string(input, i, &mut out);
                continue;
            }
            b'{' => {
                stack.push((true, None));
                expect_key = true;
            }
            b'[' => stack.push((false, None)),
            b'}' | b']' => {
                out.push(b);
                if let Some((_, Some(start))) = stack.pop() {
                    key_depth -= 1;
                    let key = out.split_off(start);
                    out.push(b'"');
                    escape_into(&key, &mut out);
                    out.push(b'"');
                }
                i += 1;
                continue;
            }
            b',' => expect_key = matches!(stack.last(), Some((true, _))),
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(input)
    }
}

/// End of a bare key starting at `start`: up to the `:` (or anything structural).
fn bare_key_end(input: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < input.len()
        && !matches!(
            input[end],
            b':' | b' ' | b'\t' | b'\r' | b'\n' | b',' | b'{' | b'}' | b'[' | b']' | b'"'
        )
    {
        end += 1;
    }
    end
}

/// Copies the string starting at the quote `input[start]`, escapes included; returns the index
/// after its closing quote (or the end of input when it is unterminated).
fn copy_string(input: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
    let mut i = start + 1;
    while i < input.len() {
        match input[i] {
            b'\\' => i += 2,
            b'"' => {
                i += 1;
                break;
            }
            _ => i += 1,
        }
    }
    let end = i.min(input.len());
    out.extend_from_slice(&input[start..end]);
    end
}

/// Appends `raw` as the inside of a JSON string.
fn escape_into(raw: &[u8], out: &mut Vec<u8>) {
    for &b in raw {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
}

/// For `#[serde(default, deserialize_with = "null_as_default")]`: an explicit `null` (which
/// some clients write for an empty collection) reads like an absent key.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// For `#[serde(default, deserialize_with = "lenient_i64")]`: a number, or a string of one (the
/// C++ client writes `subVersion` as a string); `null` reads as 0.
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a long, or a string holding one")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom(format_args!("{v} does not fit a long")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            v.trim()
                .parse()
                .map_err(|_| E::custom(format_args!("{v:?} is not a long")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
        fn visit_none<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

/// For `#[serde(default, deserialize_with = "lenient_bool")]`: a JSON boolean, `0`/`1`, or a
/// string `true`/`false`/`1`/`0`; `null` reads as false.
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::custom(format_args!("{v} is not a boolean"))),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            crate::protocol::header::parse_bool(v)
                .ok_or_else(|| E::custom(format_args!("{v:?} is not a boolean")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_none<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn norm(s: &str) -> String {
        String::from_utf8_lossy(&normalize_fastjson(s.as_bytes())).into_owned()
    }

    #[test]
    fn standard_json_is_borrowed_untouched() {
        let s = r#"{"a":{"0":"x"},"b":[1,{"c":"{d}:e"}],"s":"he said \"{0:1}\""}"#;
        assert!(matches!(normalize_fastjson(s.as_bytes()), Cow::Borrowed(_)));
    }

    #[test]
    fn bare_numeric_keys_are_quoted() {
        assert_eq!(
            norm(r#"{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"}}"#),
            r#"{"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"}}"#
        );
        assert_eq!(norm("{ -1 : 2 , 3:4}"), r#"{ "-1" : 2 , "3":4}"#);
        let m: BTreeMap<i64, String> = parse_fastjson(br#"{0:"a", 10:"b"}"#).unwrap();
        assert_eq!(m.get(&10).map(String::as_str), Some("b"));
    }

    #[test]
    fn object_keys_become_string_keys() {
        let s = r#"{"t":{{"brokerName":"b","queueId":0,"topic":"T"}:{"x":1},{"brokerName":"b","queueId":1,"topic":"T"}:{"x":2}}}"#;
        let v: serde_json::Value = parse_fastjson(s.as_bytes()).unwrap();
        let t = v["t"].as_object().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[r#"{"brokerName":"b","queueId":1,"topic":"T"}"#]["x"], 2);
    }

    #[test]
    fn nested_non_standard_keys_inside_an_object_key() {
        let s = r#"{{"m":{0:"a"},"s":"q\"x"}:1}"#;
        let v: serde_json::Value = parse_fastjson(s.as_bytes()).unwrap();
        let (k, val) = v.as_object().unwrap().iter().next().unwrap();
        assert_eq!(val, 1);
        let inner: serde_json::Value = serde_json::from_str(k).unwrap();
        assert_eq!(inner["m"]["0"], "a");
        assert_eq!(inner["s"], "q\"x");
    }

    #[test]
    fn key_nesting_is_bounded() {
        // Two levels are rewritten...
        let two = r#"{{{"a":"\\"}:1}:2}"#;
        let v: serde_json::Value = parse_fastjson(two.as_bytes()).unwrap();
        assert_eq!(v.as_object().map(|o| o.len()), Some(1));
        // ...deeper ones are left for serde_json to reject, without blowing up the text.
        let deep = format!("{}\"{}", "{".repeat(40), "\\".repeat(1000));
        let n = normalize_fastjson(deep.as_bytes());
        assert!(n.len() < 4 * deep.len() + 64);
        // A third level stays as fastjson wrote it, inside the second level's string.
        let v: serde_json::Value = parse_fastjson(br#"{{{{"a":1}:1}:1}:1}"#).unwrap();
        let level1 = v
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap();
        let level1: serde_json::Value = serde_json::from_str(&level1).unwrap();
        let level2 = level1
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap();
        assert_eq!(level2, r#"{{"a":1}:1}"#);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "",
            "{",
            "}",
            "{{",
            "{{}",
            "{{\"a\":1}",
            "[}",
            "{\"a\":\"unterminated",
            "{:1}",
            "{,}",
            "\\",
            "{{{{{{{{{{{{",
            "]]]]",
            "{\"a\":\"\\",
            "{0",
            "{0:",
            "{[1,2]:3}",
        ] {
            let r: Result<serde_json::Value, _> = parse_fastjson(bad.as_bytes());
            if bad == "{[1,2]:3}" {
                assert!(r.is_ok(), "array key {bad:?}");
            } else {
                assert!(r.is_err(), "{bad:?}");
            }
        }
        // Every prefix of a real body either parses or errs.
        let s = r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"maxOffset":1}},"x":{0:"y"}}"#;
        for end in 0..s.len() {
            let _ = parse_fastjson::<serde_json::Value>(&s.as_bytes()[..end]);
        }
    }

    #[test]
    fn null_collections_read_as_empty() {
        #[derive(Deserialize)]
        struct S {
            #[serde(default, deserialize_with = "null_as_default")]
            v: Vec<i32>,
        }
        let s: S = serde_json::from_str(r#"{"v":null}"#).unwrap();
        assert!(s.v.is_empty());
        let s: S = serde_json::from_str("{}").unwrap();
        assert!(s.v.is_empty());
    }

    #[test]
    fn lenient_numbers_and_bools() {
        #[derive(Deserialize)]
        struct S {
            #[serde(default, deserialize_with = "lenient_i64")]
            n: i64,
            #[serde(default, deserialize_with = "lenient_bool")]
            b: bool,
        }
        let read = |j: &str| serde_json::from_str::<S>(j).map(|s| (s.n, s.b));
        assert_eq!(
            read(r#"{"n":1700000000000,"b":true}"#).unwrap(),
            (1_700_000_000_000, true)
        );
        assert_eq!(
            read(r#"{"n":"1700000000000","b":"1"}"#).unwrap(),
            (1_700_000_000_000, true)
        );
        assert_eq!(read(r#"{"n":null,"b":0}"#).unwrap(), (0, false));
        assert_eq!(read("{}").unwrap(), (0, false));
        for bad in [
            r#"{"n":"x"}"#,
            r#"{"n":1.5}"#,
            r#"{"n":18446744073709551615}"#,
            r#"{"b":2}"#,
            r#"{"b":"y"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
