//! Typed reading of property values: a [`Source`] hands out each known key once, converts it with
//! a small parser, and turns the parser's complaint into a [`ConfigError::BadValue`] that names
//! the file, line and key. Whatever is left at the end is an unknown key.
//!
//! Parsers return `Err(reason)` where the reason quotes the offending value, so every message
//! reads `<file>:<line>: <key>: "<value>" <what is wrong>`.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::num::{IntErrorKind, ParseIntError};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::properties::Properties;
use super::ConfigError;

/// The entries of one configuration text, consumed key by key.
pub(crate) struct Source<'a> {
    origin: &'a Path,
    /// key → (raw value, line)
    entries: BTreeMap<String, (String, usize)>,
}

impl<'a> Source<'a> {
    /// Parses `text`; duplicated keys are warned about here (the later value wins, as in Java).
    pub(crate) fn new(text: &str, origin: &'a Path) -> Result<Self, ConfigError> {
        let props = Properties::parse(text).map_err(|e| ConfigError::Syntax {
            file: origin.to_path_buf(),
            line: e.line,
            message: e.message,
        })?;
        for d in props.duplicates() {
            tracing::warn!(
                file = %origin.display(),
                key = %d.key,
                line = d.line,
                previous_line = d.previous_line,
                "config key is set twice; the later value wins"
            );
        }
        let entries = props
            .into_entries()
            .into_iter()
            .map(|p| (p.key, (p.value, p.line)))
            .collect();
        Ok(Self { origin, entries })
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Takes `key` out of the source and converts its trimmed value; `Ok(None)` if absent.
    ///
    /// Values are trimmed because trailing whitespace after `brokerName=broker-a ` is always an
    /// accident in a broker config, although Java's `Properties` would keep it.
    pub(crate) fn get<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some((raw, line)) = self.entries.remove(key) else {
            return Ok(None);
        };
        let value = raw.trim();
        parse(value)
            .map(Some)
            .map_err(|reason| ConfigError::BadValue {
                file: self.origin.to_path_buf(),
                line: Some(line),
                key: key.to_string(),
                value: value.to_string(),
                reason,
            })
    }

    /// Overwrites `*field` with the parsed value if `key` is present, so a field keeps its
    /// default (from the one `Default` impl) when the key is absent.
    pub(crate) fn set<T>(
        &mut self,
        field: &mut T,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<(), ConfigError> {
        if let Some(value) = self.get(key, parse)? {
            *field = value;
        }
        Ok(())
    }

    /// Returns the keys nobody asked for, warning about each: a misspelt key must be visible,
    /// but RocketMQ files carry many keys we do not implement, so it is never fatal.
    pub(crate) fn finish(self) -> BTreeMap<String, String> {
        for (key, (_, line)) in &self.entries {
            tracing::warn!(
                file = %self.origin.display(),
                key = %key,
                line = *line,
                "unknown config key; kept but ignored"
            );
        }
        self.entries.into_iter().map(|(k, (v, _))| (k, v)).collect()
    }
}

/// `$HOME`, if set and non-empty: the base of default paths, like Java's `user.home`.
pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// A non-empty string.
pub(crate) fn text(v: &str) -> Result<String, String> {
    if v.is_empty() {
        Err("is empty".into())
    } else {
        Ok(v.to_string())
    }
}

/// `true` or `false`, in any case. Java's `Boolean.parseBoolean` reads anything else as false,
/// which would turn `enableDLegerCommitLog=yes` into a silent single-node broker.
pub(crate) fn boolean(v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("{v:?} is not a boolean (expected true or false)"))
    }
}

/// `None` for an empty value (the same as an absent key), else `parse(v)`.
pub(crate) fn optional<T>(
    v: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if v.is_empty() {
        Ok(None)
    } else {
        parse(v).map(Some)
    }
}

/// The integer types config keys use, with their bounds for error messages.
pub(crate) trait Int: FromStr<Err = ParseIntError> + Copy + Display + PartialOrd {
    const MIN: Self;
    const MAX: Self;
    const SIGNED: bool;
    const ONE: Self;
}

macro_rules! int_types {
    ($($t:ty: $signed:expr),*) => {$(
        impl Int for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            const SIGNED: bool = $signed;
            const ONE: Self = 1;
        }
    )*};
}
int_types!(u8: false, u16: false, u32: false, u64: false, usize: false, i64: true);

/// A decimal integer of type `T`, telling garbage, negatives and overflow apart.
pub(crate) fn int<T: Int>(v: &str) -> Result<T, String> {
    v.parse::<T>().map_err(|e| match e.kind() {
        IntErrorKind::Empty => "is empty; expected a whole number".into(),
        IntErrorKind::PosOverflow => format!("{v:?} is too large (at most {})", T::MAX),
        IntErrorKind::NegOverflow => format!("{v:?} is too small (at least {})", T::MIN),
        IntErrorKind::InvalidDigit if !T::SIGNED && is_negative_number(v) => {
            format!("{v:?} is negative; this key takes a number of at least 0")
        }
        _ => format!("{v:?} is not a whole number"),
    })
}

fn is_negative_number(v: &str) -> bool {
    v.strip_prefix('-')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// An integer within `lo..=hi`.
pub(crate) fn int_in<T: Int>(v: &str, lo: T, hi: T) -> Result<T, String> {
    let n = int::<T>(v)?;
    if n < lo || n > hi {
        return Err(if hi == T::MAX {
            format!("{v:?} is below the minimum of {lo}")
        } else {
            format!("{v:?} is outside {lo}..={hi}")
        });
    }
    Ok(n)
}

/// An integer of at least 1, for counts, sizes and periods where 0 would stall or divide by zero.
pub(crate) fn positive<T: Int>(v: &str) -> Result<T, String> {
    int_in(v, T::ONE, T::MAX)
}

/// A path; a leading `~/` (or a lone `~`) means `home`, as a shell would expand it, because
/// RocketMQ's docs write `~/store` and the broker is not started through a shell under systemd.
pub(crate) fn path(v: &str, home: Option<&Path>) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("is empty".into());
    }
    let rest = match v.strip_prefix('~') {
        Some("") => "",
        Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/'),
        _ => return Ok(PathBuf::from(v)),
    };
    match home {
        Some(home) => Ok(home.join(rest)),
        None => Err(format!("{v:?} starts with ~ but HOME is not set")),
    }
}

/// `deleteWhen`: one or more hours of the day, `00`–`23`, separated by `;` (`04` or `04;16`).
pub(crate) fn hours(v: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let hour = (part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u8>().ok())
            .flatten()
            .filter(|h| *h <= 23)
            .ok_or_else(|| format!("{v:?} has {part:?}, which is not an hour 00-23"))?;
        out.push(hour);
    }
    if out.is_empty() {
        return Err(format!("{v:?} lists no hour (expected e.g. 04 or 04;16)"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        assert_eq!(boolean("true"), Ok(true));
        assert_eq!(boolean("TRUE"), Ok(true));
        assert_eq!(boolean("False"), Ok(false));
        for bad in ["yes", "1", "", "t"] {
            assert!(boolean(bad).unwrap_err().contains("not a boolean"), "{bad}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(int::<u16>("10911"), Ok(10911));
        assert_eq!(int::<i64>("-3"), Ok(-3));
        assert_eq!(int::<u64>("+5"), Ok(5));
        assert_eq!(
            int::<u16>("abc").unwrap_err(),
            "\"abc\" is not a whole number"
        );
        assert_eq!(
            int::<u16>("1.5").unwrap_err(),
            "\"1.5\" is not a whole number"
        );
        assert_eq!(
            int::<u64>("-1").unwrap_err(),
            "\"-1\" is negative; this key takes a number of at least 0"
        );
        assert_eq!(
            int::<u16>("65536").unwrap_err(),
            "\"65536\" is too large (at most 65535)"
        );
        assert!(int::<u64>("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(int::<i64>("-99999999999999999999")
            .unwrap_err()
            .contains("too small"));
        assert!(int::<u8>("").unwrap_err().contains("empty"));
        assert_eq!(int_in::<u8>("50", 10, 95), Ok(50));
        assert_eq!(
            int_in::<u8>("5", 10, 95).unwrap_err(),
            "\"5\" is outside 10..=95"
        );
        assert_eq!(
            int_in::<usize>("0", 1, usize::MAX).unwrap_err(),
            "\"0\" is below the minimum of 1"
        );
    }

    #[test]
    fn paths_expand_home() {
        let home = Path::new("/home/mq");
        assert_eq!(path("~/store", Some(home)), Ok("/home/mq/store".into()));
        assert_eq!(path("~", Some(home)), Ok("/home/mq".into()));
        assert_eq!(path("/abs/~/x", Some(home)), Ok("/abs/~/x".into()));
        assert_eq!(path("~other/x", Some(home)), Ok("~other/x".into()));
        assert_eq!(path("rel/x", None), Ok("rel/x".into()));
        assert!(path("~/x", None).unwrap_err().contains("HOME is not set"));
        assert!(path("", Some(home)).is_err());
    }

    #[test]
    fn delete_when_hours() {
        assert_eq!(hours("04"), Ok(vec![4]));
        assert_eq!(hours("4"), Ok(vec![4]));
        assert_eq!(hours("00;12;23"), Ok(vec![0, 12, 23]));
        assert_eq!(hours("04;"), Ok(vec![4]));
        for bad in ["24", "-1", "004", "ab", "04;x", ""] {
            assert!(hours(bad).is_err(), "{bad}");
        }
        assert!(hours("04;25").unwrap_err().contains("\"25\""));
    }

    #[test]
    fn source_hands_out_each_key_once_and_keeps_the_rest() {
        let origin = Path::new("b.conf");
        let mut src = Source::new("a = 1 \nzz=top\nb=x", origin).unwrap();
        assert!(src.contains("a"));
        assert_eq!(src.get("a", int::<u8>).unwrap(), Some(1));
        assert_eq!(src.get("a", int::<u8>).unwrap(), None);
        let err = src.get("b", int::<u8>).unwrap_err();
        assert_eq!(err.to_string(), "b.conf:3: b: \"x\" is not a whole number");
        assert_eq!(err.line(), Some(3));
        let unknown = src.finish();
        assert_eq!(
            unknown.into_iter().collect::<Vec<_>>(),
            vec![("zz".into(), "top".into())]
        );
    }

    #[test]
    fn source_reports_syntax_errors_with_file_and_line() {
        let err = Source::new("a=1\nb=\\u00zz", Path::new("n.conf"))
            .err()
            .unwrap();
        assert!(matches!(err, ConfigError::Syntax { line: 2, .. }));
        assert!(err.to_string().starts_with("n.conf:2: malformed"), "{err}");
    }
}
