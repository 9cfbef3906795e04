//! The extFields plumbing: reading typed custom-header fields out of a remoting command's
//! `extFields` map and writing them back.
//!
//! On the wire every extFields value is a string (Java writes `"4"`, never `4`); the codec has
//! already turned the C++ client's JSON numbers and booleans into their string form before a
//! header is decoded here, so this module only ever sees string values ([`ExtFields`]).
//!
//! Java decodes a header by reflection (`RemotingCommand.decodeCommandCustomHeader`): each field
//! is looked up by its exact, case-sensitive name, unknown keys (`AccessKey`, `Signature`,
//! `OnsChannel`, `bname`, ...) are ignored, and fields annotated `@CFNotNull` are required. We
//! do the same, but fail loudly: a missing required field or an unparsable number is a
//! [`HeaderError`] naming the field, which the processor maps to SYSTEM_ERROR (1) with the
//! error text as remark. (Java 4.9.x only logs a missing `@CFNotNull` field and then fails
//! later on a null; the client sees SYSTEM_ERROR either way.)
//!
//! Booleans are more tolerant than Java's `Boolean.parseBoolean` (which makes the C++ client's
//! `"1"` false): `true`/`false` in any case and `1`/`0` are accepted.
//!
//! This module never panics on any input.

use std::fmt;

/// A command's custom header fields, as carried in `extFields`.
pub use crate::remoting::ExtFields;

/// Longest part of an offending value quoted in a [`HeaderError`]; a header value can be as
/// large as a frame, and the error ends up in logs and response remarks.
const MAX_QUOTED_VALUE: usize = 64;

/// What a field's value should have parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A Java `int` (`i32`).
    Int,
    /// A Java `long` (`i64`).
    Long,
    /// A boolean: `true`/`false` (any case) or `1`/`0`.
    Bool,
    /// An `int` that must not be negative (queue counts, permissions).
    NonNegativeInt,
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueKind::Int => "an int",
            ValueKind::Long => "a long",
            ValueKind::Bool => "a bool",
            ValueKind::NonNegativeInt => "a non-negative int",
        })
    }
}

/// Why a custom header could not be decoded. The text is meant for the response remark.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A field Java marks `@CFNotNull` is absent.
    #[error("missing required field `{name}` for request {request}")]
    Missing {
        request: &'static str,
        name: &'static str,
    },
    /// A field is present but its value does not parse as its type.
    #[error("bad value for field `{name}` of request {request}: `{value}` is not {expected}")]
    BadValue {
        request: &'static str,
        name: &'static str,
        /// The offending value, cut to at most 64 bytes.
        value: String,
        expected: ValueKind,
    },
}

impl HeaderError {
    /// A [`HeaderError::BadValue`] quoting at most the first 64 bytes of `value`.
    pub fn bad_value(
        request: &'static str,
        name: &'static str,
        value: &str,
        expected: ValueKind,
    ) -> HeaderError {
        let mut end = value.len().min(MAX_QUOTED_VALUE);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        HeaderError::BadValue {
            request,
            name,
            value: value[..end].to_string(),
            expected,
        }
    }

    /// The name of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            HeaderError::Missing { name, .. } | HeaderError::BadValue { name, .. } => name,
        }
    }
}

/// A typed custom header: the `CommandCustomHeader` of the Java code.
///
/// `from_ext` validates exactly the fields Java requires; `to_ext` writes every field that is
/// set, each value as a string (the C++ client only reads string-valued response fields).
pub trait CommandHeader: Sized {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError>;
    fn to_ext(&self) -> ExtFields;
}

/// A required string field. An empty string is a value, as in Java.
pub fn req_str(
    ext: &ExtFields,
    request: &'static str,
    name: &'static str,
) -> Result<String, HeaderError> {
    ext.get(name)
        .map(str::to_owned)
        .ok_or(HeaderError::Missing { request, name })
}

/// An optional string field; `None` only when the key is absent.
pub fn opt_str(ext: &ExtFields, name: &str) -> Option<String> {
    ext.get(name).map(str::to_owned)
}

/// A required `int` field.
pub fn req_i32(
    ext: &ExtFields,
    request: &'static str,
    name: &'static str,
) -> Result<i32, HeaderError> {
    opt_i32(ext, request, name)?.ok_or(HeaderError::Missing { request, name })
}

/// An optional `int` field: `None` when absent or empty; an unparsable value is an error.
pub fn opt_i32(
    ext: &ExtFields,
    request: &'static str,
    name: &'static str,
) -> Result<Option<i32>, HeaderError> {
    parse_opt(ext, request, name, ValueKind::Int)
}

/// A required `long` field.
pub fn req_i64(
    ext: &ExtFields,
    request: &'static str,
    name: &'static str,
) -> Result<i64, HeaderError> {
    opt_i64(ext, request, name)?.ok_or(HeaderError::Missing { request, name })
}

/// An optional `long` field: `None` when absent or empty; an unparsable value is an error.
pub fn opt_i64(
    ext: &ExtFields,
    request: &'static str,
    name: &'static str,
) -> Result<Option<i64>, HeaderError> {
    parse_opt(ext, request, name, ValueKind::Long)
}

/// A required boolean field; a value that is not a boolean is an error.
pub fn req_bool(
    ext: &ExtFields,
    request: &'static str,
    name: &'static str,
) -> Result<bool, HeaderError> {
    let value = ext
        .get(name)
        .ok_or(HeaderError::Missing { request, name })?;
    parse_bool(value).ok_or_else(|| HeaderError::bad_value(request, name, value, ValueKind::Bool))
}

/// An optional boolean field: `None` when absent or not a boolean, so the caller applies the
/// field's default (Java's `Boolean.parseBoolean` never fails either).
pub fn opt_bool(ext: &ExtFields, name: &str) -> Option<bool> {
    ext.get(name).and_then(parse_bool)
}

/// `true`/`false` in any case, and the C++ client's `1`/`0`.
pub fn parse_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") || value == "1" {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") || value == "0" {
        Some(false)
    } else {
        None
    }
}

fn parse_opt<T: std::str::FromStr>(
    ext: &ExtFields,
    request: &'static str,
    name: &'static str,
    kind: ValueKind,
) -> Result<Option<T>, HeaderError> {
    parse_value(ext.get(name), request, name, kind)
}

/// The number in a field's value, for a header that reads its fields in one pass rather than
/// by name: `None` when absent or empty, an error naming the field when it does not parse
/// ([`opt_i32`] and [`opt_i64`] are this over `ext.get(name)`).
pub fn parse_value<T: std::str::FromStr>(
    value: Option<&str>,
    request: &'static str,
    name: &'static str,
    kind: ValueKind,
) -> Result<Option<T>, HeaderError> {
    match value {
        None => Ok(None),
        Some("") => Ok(None),
        Some(v) => v
            .parse::<T>()
            .map(Some)
            .map_err(|_| HeaderError::bad_value(request, name, v, kind)),
    }
}

/// Writes `value` under `name` in its string form (booleans as `true`/`false`, like Java).
/// Names are the headers' `'static` wire names and the value is formatted into the map's
/// shared text, so writing a field allocates nothing of its own.
pub fn put(ext: &mut ExtFields, name: &'static str, value: impl fmt::Display) {
    ext.insert_display(name, value);
}

/// Writes `value` under `name` when it is set; Java omits null fields.
pub fn put_opt<T: fmt::Display>(ext: &mut ExtFields, name: &'static str, value: Option<T>) {
    if let Some(v) = value {
        put(ext, name, v);
    }
}

/// Builds an [`ExtFields`] from string pairs; handy in tests and fixtures.
pub fn ext_from<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ExtFields {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = "TestHeader";

    #[test]
    fn bools_accept_java_and_cpp_forms() {
        for t in ["true", "TRUE", "True", "1"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "FALSE", "False", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "2", " true", "t"] {
            assert_eq!(parse_bool(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn optional_bool_defaults_required_bool_errors() {
        let ext = ext_from([("a", "maybe"), ("b", "1")]);
        assert_eq!(opt_bool(&ext, "a"), None);
        assert_eq!(opt_bool(&ext, "b"), Some(true));
        assert_eq!(opt_bool(&ext, "missing"), None);
        let err = req_bool(&ext, REQ, "a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad value for field `a` of request TestHeader: `maybe` is not a bool"
        );
        let err = req_bool(&ext, REQ, "missing").unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing required field `missing` for request TestHeader"
        );
    }

    #[test]
    fn numbers_parse_like_java() {
        let ext = ext_from([
            ("q", "-1"),
            ("p", "+7"),
            ("l", "1700000000000"),
            ("bad", "1.5"),
            ("e", ""),
        ]);
        assert_eq!(req_i32(&ext, REQ, "q"), Ok(-1));
        assert_eq!(req_i32(&ext, REQ, "p"), Ok(7));
        assert_eq!(req_i64(&ext, REQ, "l"), Ok(1_700_000_000_000));
        assert_eq!(opt_i32(&ext, REQ, "e"), Ok(None));
        assert_eq!(opt_i32(&ext, REQ, "none"), Ok(None));
        let err = req_i32(&ext, REQ, "l").unwrap_err();
        assert_eq!(err.field(), "l");
        assert_eq!(
            err.to_string(),
            "bad value for field `l` of request TestHeader: `1700000000000` is not an int"
        );
        assert!(opt_i64(&ext, REQ, "bad").is_err());
        assert_eq!(
            req_i64(&ext, REQ, "e"),
            Err(HeaderError::Missing {
                request: REQ,
                name: "e"
            })
        );
    }

    #[test]
    fn bad_values_are_quoted_short_on_a_char_boundary() {
        let long = "é".repeat(100);
        let ext = ext_from([("x", long.as_str())]);
        match req_i32(&ext, REQ, "x") {
            Err(HeaderError::BadValue { value, .. }) => {
                assert!(value.len() <= 64);
                assert!(value.chars().all(|c| c == 'é'));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn put_writes_strings() {
        let mut ext = ExtFields::new();
        put(&mut ext, "b", true);
        put(&mut ext, "n", -3i32);
        put_opt::<i64>(&mut ext, "none", None);
        put_opt(&mut ext, "some", Some("x"));
        assert_eq!(ext, ext_from([("b", "true"), ("n", "-3"), ("some", "x")]));
    }
}
