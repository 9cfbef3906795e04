//! The JSON header (serialize type 0): what every client sends by default.
//!
//! Reading is as tolerant as the Java broker (fastjson), because real clients differ: the C++
//! client omits `serializeTypeCurrentRPC`, sends numbers in `extFields`, and ends the header with
//! a newline; the Rust client sends `"remark":null`. So: unknown keys are ignored, any
//! `language` is kept, scalar `extFields` values become their string form, integer fields may be
//! numeric strings, and trailing whitespace is accepted.
//!
//! Writing follows fastjson's output: keys in alphabetical order, null fields omitted.

use std::collections::HashMap;

use bytes::{BufMut, BytesMut};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{snippet, CodecError};
use crate::remoting::command::{LanguageCode, RemotingCommand, SerializeType};

pub(super) fn read(header: &[u8]) -> Result<RemotingCommand, CodecError> {
    let root: Value = serde_json::from_slice(header).map_err(|source| CodecError::Json {
        snippet: snippet(header),
        source,
    })?;
    let Value::Object(mut obj) = root else {
        return Err(CodecError::JsonField {
            field: "(root)",
            reason: format!("expected an object, found {}", kind(&root)),
        });
    };
    Ok(RemotingCommand {
        code: int_field(&mut obj, "code")?,
        language: language(obj.remove("language")),
        version: int_field(&mut obj, "version")?,
        opaque: int_field(&mut obj, "opaque")?,
        flag: int_field(&mut obj, "flag")?,
        remark: remark(obj.remove("remark")),
        ext_fields: ext_fields(obj.remove("extFields"))?,
        body: bytes::Bytes::new(),
        serialize_type: SerializeType::Json,
    })
}

/// An `int` header field: absent or null is 0 (Java's default), a numeric string is parsed
/// (fastjson coerces), and a value in `i32::MAX + 1 ..= u32::MAX` wraps as an unsigned opaque.
fn int_field(obj: &mut Map<String, Value>, field: &'static str) -> Result<i32, CodecError> {
    let bad = |reason: String| CodecError::JsonField { field, reason };
    let wide: i64 = match obj.remove(field) {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i,
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e12 => f as i64,
            _ => return Err(bad(format!("{n} is not a 32-bit integer"))),
        },
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| bad(format!("{s:?} is not an integer")))?,
        Some(other) => return Err(bad(format!("expected an integer, found {}", kind(&other)))),
    };
    if let Ok(v) = i32::try_from(wide) {
        Ok(v)
    } else if let Ok(v) = u32::try_from(wide) {
        Ok(v as i32)
    } else {
        Err(bad(format!("{wide} is out of the 32-bit range")))
    }
}

fn language(value: Option<Value>) -> LanguageCode {
    match value {
        None | Some(Value::Null) => LanguageCode::Java,
        Some(Value::String(s)) => LanguageCode::from_name(&s),
        Some(Value::Number(n)) => match n.as_u64().and_then(|b| u8::try_from(b).ok()) {
            Some(b) => LanguageCode::from_byte(b),
            None => LanguageCode::UnknownName(n.to_string()),
        },
        Some(other) => LanguageCode::UnknownName(other.to_string()),
    }
}

/// `null`, absent and `""` all mean "no remark".
fn remark(value: Option<Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    }
}

/// `extFields` as strings: a number or boolean becomes its text (`3` → `"3"`), an object or
/// array its JSON text, and a null value is dropped (Java's `get` sees null either way).
fn ext_fields(value: Option<Value>) -> Result<HashMap<String, String>, CodecError> {
    let obj = match value {
        None | Some(Value::Null) => return Ok(HashMap::new()),
        Some(Value::Object(obj)) => obj,
        Some(other) => {
            return Err(CodecError::JsonField {
                field: "extFields",
                reason: format!("expected an object, found {}", kind(&other)),
            })
        }
    };
    let mut out = HashMap::with_capacity(obj.len());
    for (k, v) in obj {
        let v = match v {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        out.insert(k, v);
    }
    Ok(out)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The header as fastjson writes it: fields in alphabetical order, `remark` and an empty
/// `extFields` omitted (Java omits them when null).
#[derive(Serialize)]
struct HeaderOut<'a> {
    code: i32,
    #[serde(
        rename = "extFields",
        skip_serializing_if = "HashMap::is_empty",
        serialize_with = "sorted"
    )]
    ext_fields: &'a HashMap<String, String>,
    flag: i32,
    language: &'a str,
    opaque: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type: &'static str,
    version: i32,
}

/// Writes a map with its keys sorted, so equal commands encode to equal bytes.
fn sorted<S: Serializer>(map: &&HashMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    let mut entries: Vec<(&String, &String)> = map.iter().collect();
    entries.sort_unstable();
    let mut out = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        out.serialize_entry(k, v)?;
    }
    out.end()
}

pub(super) fn write(cmd: &RemotingCommand, out: &mut BytesMut) -> Result<(), CodecError> {
    let header = HeaderOut {
        code: cmd.code,
        ext_fields: &cmd.ext_fields,
        flag: cmd.flag,
        language: cmd.language.name(),
        opaque: cmd.opaque,
        remark: cmd.remark.as_deref(),
        serialize_type: SerializeType::Json.name(),
        version: cmd.version,
    };
    serde_json::to_writer(out.writer(), &header).map_err(|source| CodecError::Json {
        snippet: String::from("(while encoding)"),
        source,
    })
}
