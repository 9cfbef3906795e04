//! The JSON header (serialize type 0): what every client sends by default.
//!
//! Reading is as tolerant as the Java broker (fastjson), because real clients differ: the C++
//! client omits `serializeTypeCurrentRPC`, sends numbers in `extFields`, and ends the header with
//! a newline; the Rust client sends `"remark":null`. So: unknown keys are ignored, any
//! `language` is kept, scalar `extFields` values become their string form, integer fields may be
//! numeric strings, and trailing whitespace is accepted.
//!
//! Writing follows fastjson's output for the top-level keys (alphabetical, null fields omitted);
//! `extFields` keys come in insertion order, which no reader depends on.

use bytes::{BufMut, BytesMut};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::{snippet, CodecError};
use crate::remoting::command::{LanguageCode, RemotingCommand, SerializeType};
use crate::remoting::ext_fields::ExtFields;

mod fast;

pub(super) fn read(header: &[u8]) -> Result<RemotingCommand, CodecError> {
    // Headers as clients write them (string and integer values, no nesting) take the
    // hand-written path; anything else, errors included, goes through serde, whose answer
    // (and error text) is the reference. A test holds the two together.
    if let Some(cmd) = fast::read(header) {
        return Ok(cmd);
    }
    read_serde(header)
}

fn read_serde(header: &[u8]) -> Result<RemotingCommand, CodecError> {
    // One streaming pass into the command's fields: no intermediate `serde_json::Value` tree,
    // which cost more than the rest of a request's handling.
    FIELD_ERROR.with(|f| f.set(None));
    let mut de = serde_json::Deserializer::from_slice(header);
    let parsed = HeaderIn::deserialize(&mut de).and_then(|h| de.end().map(|()| h));
    let h = match parsed {
        Ok(h) => h,
        Err(source) => {
            return Err(match FIELD_ERROR.with(|f| f.take()) {
                Some((field, reason)) => CodecError::JsonField { field, reason },
                None => CodecError::Json {
                    snippet: snippet(header),
                    source,
                },
            })
        }
    };
    Ok(RemotingCommand {
        code: h.code,
        language: h.language,
        version: h.version,
        opaque: h.opaque,
        flag: h.flag,
        remark: h.remark,
        ext_fields: h.ext_fields,
        body: bytes::Bytes::new(),
        body_parts: Vec::new(),
        serialize_type: SerializeType::Json,
    })
}

thread_local! {
    /// The field and reason of a semantic error found while parsing, reported as
    /// `CodecError::JsonField` rather than a bare JSON error.
    static FIELD_ERROR: std::cell::Cell<Option<(&'static str, String)>> = const { std::cell::Cell::new(None) };
}

fn field_error<E: de::Error>(field: &'static str, reason: String) -> E {
    let msg = format!("{field}: {reason}");
    FIELD_ERROR.with(|f| f.set(Some((field, reason))));
    E::custom(msg)
}

struct HeaderIn {
    code: i32,
    language: LanguageCode,
    version: i32,
    opaque: i32,
    flag: i32,
    remark: Option<String>,
    ext_fields: ExtFields,
}

impl<'de> Deserialize<'de> for HeaderIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderIn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderIn, A::Error> {
                let mut h = HeaderIn {
                    code: 0,
                    language: LanguageCode::Java,
                    version: 0,
                    opaque: 0,
                    flag: 0,
                    remark: None,
                    ext_fields: ExtFields::new(),
                };
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "code" => h.code = map.next_value_seed(IntSeed("code"))?,
                        "version" => h.version = map.next_value_seed(IntSeed("version"))?,
                        "opaque" => h.opaque = map.next_value_seed(IntSeed("opaque"))?,
                        "flag" => h.flag = map.next_value_seed(IntSeed("flag"))?,
                        "language" => {
                            h.language = language(map.next_value::<Scalar>()?.as_scalar_ref())
                        }
                        "remark" => {
                            h.remark = match map.next_value::<Scalar>()? {
                                Scalar::Null => None,
                                Scalar::Text(s) if s.is_empty() => None,
                                Scalar::Text(s) | Scalar::Other(s) => Some(s),
                            }
                        }
                        "extFields" => h.ext_fields = map.next_value::<ExtFieldsIn>()?.0,
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(h)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<HeaderIn, A::Error> {
                Err(field_error(
                    "(root)",
                    "expected an object, found an array".into(),
                ))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<HeaderIn, E> {
                Err(field_error(
                    "(root)",
                    "expected an object, found a string".into(),
                ))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<HeaderIn, E> {
                Err(field_error(
                    "(root)",
                    "expected an object, found a boolean".into(),
                ))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<HeaderIn, E> {
                Err(field_error(
                    "(root)",
                    "expected an object, found a number".into(),
                ))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<HeaderIn, E> {
                Err(field_error(
                    "(root)",
                    "expected an object, found a number".into(),
                ))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<HeaderIn, E> {
                Err(field_error(
                    "(root)",
                    "expected an object, found a number".into(),
                ))
            }
            fn visit_unit<E: de::Error>(self) -> Result<HeaderIn, E> {
                Err(field_error(
                    "(root)",
                    "expected an object, found null".into(),
                ))
            }
        }
        d.deserialize_any(V)
    }
}

/// Any JSON value as text: strings as themselves, numbers and booleans in their JSON form,
/// objects and arrays as their JSON text.
enum Scalar {
    Null,
    Text(String),
    Other(String),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Other(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Other(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Other(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Other(
                    serde_json::Number::from_f64(v)
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| v.to_string()),
                ))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Text(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
                let v = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Scalar::Other(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
                let v = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Scalar::Other(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `extFields` as strings: a number or boolean becomes its text (`3` → `"3"`), an object or
/// array its JSON text, and a null value is dropped (Java's `get` sees null either way).
struct ExtFieldsIn(ExtFields);

impl<'de> Deserialize<'de> for ExtFieldsIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExtFieldsIn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ExtFieldsIn, E> {
                Ok(ExtFieldsIn(ExtFields::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtFieldsIn, A::Error> {
                let mut out = ExtFields::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(k) = map.next_key::<String>()? {
                    match map.next_value::<Scalar>()? {
                        Scalar::Null => {}
                        Scalar::Text(v) | Scalar::Other(v) => {
                            out.push_wire_str(&k, &v);
                        }
                    }
                }
                out.dedup_wire();
                Ok(ExtFieldsIn(out))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ExtFieldsIn, E> {
                Err(field_error(
                    "extFields",
                    "expected an object, found a boolean".into(),
                ))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ExtFieldsIn, E> {
                Err(field_error(
                    "extFields",
                    "expected an object, found a number".into(),
                ))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ExtFieldsIn, E> {
                Err(field_error(
                    "extFields",
                    "expected an object, found a number".into(),
                ))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ExtFieldsIn, E> {
                Err(field_error(
                    "extFields",
                    "expected an object, found a number".into(),
                ))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ExtFieldsIn, E> {
                Err(field_error(
                    "extFields",
                    "expected an object, found a string".into(),
                ))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<ExtFieldsIn, A::Error> {
                Err(field_error(
                    "extFields",
                    "expected an object, found an array".into(),
                ))
            }
        }
        d.deserialize_any(V)
    }
}

/// An `int` header field: absent or null is 0 (Java's default), a numeric string is parsed
/// (fastjson coerces), and a value in `i32::MAX + 1 ..= u32::MAX` wraps as an unsigned opaque.
struct IntSeed(&'static str);

impl<'de> de::DeserializeSeed<'de> for IntSeed {
    type Value = i32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i32, D::Error> {
        let field = self.0;
        let wide: i64 = match Scalar::deserialize(d)? {
            Scalar::Null => return Ok(0),
            Scalar::Text(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| field_error(field, format!("{s:?} is not an integer")))?,
            Scalar::Other(s) => match s.parse::<i64>() {
                Ok(i) => i,
                Err(_) => match s.parse::<f64>() {
                    Ok(f) if f.fract() == 0.0 && f.abs() < 1e12 => f as i64,
                    Ok(_) => {
                        return Err(field_error(field, format!("{s} is not a 32-bit integer")))
                    }
                    Err(_) => {
                        return Err(field_error(
                            field,
                            format!("expected an integer, found {s}"),
                        ))
                    }
                },
            },
        };
        if let Ok(v) = i32::try_from(wide) {
            Ok(v)
        } else if let Ok(v) = u32::try_from(wide) {
            Ok(v as i32)
        } else {
            Err(field_error(
                field,
                format!("{wide} is out of the 32-bit range"),
            ))
        }
    }
}

/// A [`Scalar`] borrowed, as the fast reader reads one without allocating.
#[derive(Clone, Copy)]
enum ScalarRef<'a> {
    Null,
    Text(&'a str),
    Other(&'a str),
}

impl Scalar {
    fn as_scalar_ref(&self) -> ScalarRef<'_> {
        match self {
            Scalar::Null => ScalarRef::Null,
            Scalar::Text(s) => ScalarRef::Text(s),
            Scalar::Other(s) => ScalarRef::Other(s),
        }
    }
}

/// An `int` header field from a scalar that is not a float: [`IntSeed`]'s rules, `None` where
/// it would fail.
fn int_field(value: ScalarRef<'_>) -> Option<i32> {
    let wide: i64 = match value {
        ScalarRef::Null => return Some(0),
        ScalarRef::Text(s) => s.trim().parse().ok()?,
        ScalarRef::Other(s) => s.parse().ok()?,
    };
    i32::try_from(wide)
        .ok()
        .or_else(|| u32::try_from(wide).ok().map(|v| v as i32))
}

fn language(value: ScalarRef<'_>) -> LanguageCode {
    match value {
        ScalarRef::Null => LanguageCode::Java,
        ScalarRef::Text(s) => LanguageCode::from_name(s),
        ScalarRef::Other(s) => match s.parse::<u8>() {
            Ok(b) => LanguageCode::from_byte(b),
            Err(_) => LanguageCode::UnknownName(s.to_owned()),
        },
    }
}

/// The header as fastjson writes it: fields in alphabetical order, `remark` and an empty
/// `extFields` omitted (Java omits them when null).
///
/// Written by hand rather than through serde: every answer goes through here, and the
/// serializer's generic map and string paths were most of an answer's encoding cost. The
/// output is byte for byte what `serde_json` writes for the same fields (a test holds the two
/// together): strings escaped as serde_json escapes them, integers in decimal.
pub(super) fn write(cmd: &RemotingCommand, out: &mut BytesMut) -> Result<(), CodecError> {
    let ext_len: usize = cmd
        .ext_fields
        .iter()
        .map(|(k, v)| k.len() + v.len() + 6)
        .sum();
    let remark_len = cmd.remark.as_ref().map_or(0, |r| r.len() + 12);
    out.reserve(128 + ext_len + remark_len);
    out.put_slice(b"{\"code\":");
    put_int(out, cmd.code.into());
    if !cmd.ext_fields.is_empty() {
        out.put_slice(b",\"extFields\":{");
        for (i, (k, v)) in cmd.ext_fields.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            put_str(out, k);
            out.put_u8(b':');
            put_str(out, v);
        }
        out.put_u8(b'}');
    }
    out.put_slice(b",\"flag\":");
    put_int(out, cmd.flag.into());
    out.put_slice(b",\"language\":");
    put_str(out, cmd.language.name());
    out.put_slice(b",\"opaque\":");
    put_int(out, cmd.opaque.into());
    if let Some(remark) = &cmd.remark {
        out.put_slice(b",\"remark\":");
        put_str(out, remark);
    }
    out.put_slice(b",\"serializeTypeCurrentRPC\":");
    put_str(out, SerializeType::Json.name());
    out.put_slice(b",\"version\":");
    put_int(out, cmd.version.into());
    out.put_u8(b'}');
    Ok(())
}

fn put_int(out: &mut BytesMut, v: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = v.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(&digits[at..]);
}

/// A JSON string as serde_json writes it: `"` and `\\` escaped, the control characters as
/// `\b \f \n \r \t` or `\u00xx`, everything else (non-ASCII included) as it is.
fn put_str(out: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut clean = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0C => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x00..=0x1F => 0,
            _ => continue,
        };
        out.put_slice(&bytes[clean..i]);
        out.put_u8(b'\\');
        if short == 0 {
            out.put_slice(&[
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xF)],
            ]);
        } else {
            out.put_u8(short);
        }
        clean = i + 1;
    }
    out.put_slice(&bytes[clean..]);
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests;
