//! Java `.properties` syntax, read the way `java.util.Properties.load` reads it, because
//! RocketMQ's `broker.conf` and `namesrv.conf` are such files and operators copy them between
//! RocketMQ and LedgerMQ.
//!
//! Accepted, as in Java: `key=value`, `key:value` and `key value`; whitespace (space, tab, form
//! feed) around the key and before the value is dropped; lines whose first non-blank character is
//! `#` or `!` are comments; a line ending in an odd number of backslashes continues on the next
//! line, whose leading whitespace is dropped; line ends are `\n`, `\r\n` or `\r`; a leading BOM is
//! ignored. Escapes: `\t \n \r \f \\ \= \: \# \! \<space>` and `\uXXXX` (UTF-16, surrogate pairs
//! combined). Trailing whitespace of a value is kept, as in Java; the config layer trims it.
//!
//! One deliberate difference: Java turns an unknown escape such as `\d` into `d` silently, which
//! makes a Windows path like `C:\data\store` quietly become `C:datastore`. We reject it with the
//! line number, as we do a malformed `\uXXXX`.
//!
//! This module knows nothing about keys' meaning; it returns an ordered list.

use std::collections::HashMap;

/// One `key=value` entry with the line where it starts (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A key that appeared more than once. The later value wins, as in Java; the caller decides
/// whether to warn, since a duplicated key in a broker config is usually an editing mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub key: String,
    /// The line of the value that was overridden.
    pub previous_line: usize,
    /// The line of the value that won.
    pub line: usize,
}

/// A `.properties` file without syntax: what was malformed and on which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// The parsed entries of a `.properties` text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// One entry per key, in order of first appearance, holding the last value and its line.
    entries: Vec<Property>,
    duplicates: Vec<Duplicate>,
}

impl Properties {
    /// Parses `.properties` text; see the module documentation for the accepted syntax.
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = physical_lines(text);
        let mut props = Properties::default();
        let mut index: HashMap<String, usize> = HashMap::new();
        while let Some((start_line, raw)) = lines.next() {
            let first = raw.trim_start_matches(is_blank);
            if first.is_empty() || first.starts_with(['#', '!']) {
                continue;
            }
            // Join continuation lines into one logical line, remembering each char's line so an
            // escape error points at the physical line that holds it.
            let mut logical: Vec<(char, usize)> = Vec::new();
            let (mut piece, mut piece_line) = (first, start_line);
            loop {
                let continued = ends_with_odd_backslashes(piece);
                let body = if continued {
                    &piece[..piece.len() - 1]
                } else {
                    piece
                };
                logical.extend(body.chars().map(|c| (c, piece_line)));
                if !continued {
                    break;
                }
                match lines.next() {
                    Some((n, next)) => (piece, piece_line) = (next.trim_start_matches(is_blank), n),
                    None => break,
                }
            }
            let (key, value) = split_entry(&logical, start_line)?;
            props.insert(&mut index, key, value, start_line);
        }
        Ok(props)
    }

    /// The entries, one per key, in order of first appearance.
    pub fn entries(&self) -> &[Property] {
        &self.entries
    }

    /// Keys that were set more than once, in the order the repeats were seen.
    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// Consumes the parse result, keeping the entries.
    pub fn into_entries(self) -> Vec<Property> {
        self.entries
    }

    fn insert(
        &mut self,
        index: &mut HashMap<String, usize>,
        key: String,
        value: String,
        line: usize,
    ) {
        if let Some(&at) = index.get(&key) {
            let entry = &mut self.entries[at];
            self.duplicates.push(Duplicate {
                key,
                previous_line: entry.line,
                line,
            });
            entry.value = value;
            entry.line = line;
        } else {
            index.insert(key.clone(), self.entries.len());
            self.entries.push(Property { key, value, line });
        }
    }
}

/// Renders pairs as `.properties` text that [`Properties::parse`] reads back to the same pairs.
///
/// Only what must be escaped is: keys escape separators and whitespace, values escape a leading
/// space and backslashes, so `namesrvAddr=127.0.0.1:9876` stays readable.
pub fn to_text(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        escape_into(&mut out, key, true);
        out.push('=');
        escape_into(&mut out, value, false);
        out.push('\n');
    }
    out
}

fn escape_into(out: &mut String, s: &str, is_key: bool) {
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            ' ' if is_key || i == 0 => out.push_str("\\ "),
            '=' | ':' | '#' | '!' if is_key => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// Splits text into (1-based line number, line) at `\n`, `\r\n` or `\r`.
fn physical_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text;
    let mut number = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        number += 1;
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let (line, after) = rest.split_at(end);
        rest = after
            .strip_prefix("\r\n")
            .or_else(|| after.strip_prefix('\r'))
            .or_else(|| after.strip_prefix('\n'))
            .unwrap_or(after);
        Some((number, line))
    })
}

/// `a\` continues, `a\\` is a literal backslash and does not.
fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line into its unescaped key and value, with Java's separator rules: the key
/// ends at the first unescaped `=`, `:` or whitespace; then whitespace, at most one `=` or `:`
/// (if the key did not already end with one), and more whitespace are skipped.
fn split_entry(chars: &[(char, usize)], line: usize) -> Result<(String, String), SyntaxError> {
    let mut key_end = chars.len();
    let mut value_start = chars.len();
    let mut has_separator = false;
    let mut escaped = false;
    for (i, &(c, _)) in chars.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            has_separator = !is_blank(c);
            key_end = i;
            value_start = i + 1;
            break;
        }
    }
    while let Some(&(c, _)) = chars.get(value_start) {
        if !is_blank(c) {
            if !has_separator && (c == '=' || c == ':') {
                has_separator = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    let key = unescape(&chars[..key_end])?;
    if key.is_empty() {
        return Err(SyntaxError {
            line,
            message: "an entry has an empty key".into(),
        });
    }
    Ok((key, unescape(&chars[value_start..])?))
}

fn unescape(chars: &[(char, usize)]) -> Result<String, SyntaxError> {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while let Some(&(c, line)) = chars.get(i) {
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&(e, _)) = chars.get(i) else {
            return Err(SyntaxError {
                line,
                message: "a backslash ends the entry with nothing to escape".into(),
            });
        };
        i += 1;
        out.push(match e {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\x0c',
            '\\' | '=' | ':' | '#' | '!' | ' ' | '\t' | '\x0c' => e,
            'u' => {
                let (decoded, used) = decode_unicode(&chars[i..], line)?;
                i += used;
                decoded
            }
            other => {
                return Err(SyntaxError {
                    line,
                    message: format!(
                        "unknown escape \"\\{other}\"; write \"\\\\\" for a literal backslash"
                    ),
                })
            }
        });
    }
    Ok(out)
}

/// Decodes what follows `\u`: four hex digits, and for a high surrogate the `\uXXXX` low
/// surrogate that must follow it. Returns the char and how many chars were consumed.
fn decode_unicode(rest: &[(char, usize)], line: usize) -> Result<(char, usize), SyntaxError> {
    let high = hex4(rest, line)?;
    if !(0xD800..=0xDFFF).contains(&high) {
        // Not a surrogate, so a valid scalar value.
        return char::from_u32(high)
            .map(|c| (c, 4))
            .ok_or_else(|| bad_surrogate(high, line));
    }
    let low = match rest.get(4..6) {
        Some([('\\', _), ('u', _)]) if high <= 0xDBFF => hex4(&rest[6..], line)?,
        _ => return Err(bad_surrogate(high, line)),
    };
    if !(0xDC00..=0xDFFF).contains(&low) {
        return Err(bad_surrogate(high, line));
    }
    let scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
    char::from_u32(scalar)
        .map(|c| (c, 10))
        .ok_or_else(|| bad_surrogate(high, line))
}

fn hex4(rest: &[(char, usize)], line: usize) -> Result<u32, SyntaxError> {
    let digits: String = rest.iter().take(4).map(|&(c, _)| c).collect();
    if digits.len() == 4 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
        if let Ok(v) = u32::from_str_radix(&digits, 16) {
            return Ok(v);
        }
    }
    Err(SyntaxError {
        line,
        message: format!("malformed \\uXXXX escape \"\\u{digits}\": expected four hex digits"),
    })
}

fn bad_surrogate(unit: u32, line: usize) -> SyntaxError {
    SyntaxError {
        line,
        message: format!("\\u{unit:04X} is half of a UTF-16 surrogate pair without its other half"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String, usize)> {
        Properties::parse(text)
            .unwrap()
            .into_entries()
            .into_iter()
            .map(|p| (p.key, p.value, p.line))
            .collect()
    }

    fn kv(text: &str) -> Vec<(String, String)> {
        pairs(text).into_iter().map(|(k, v, _)| (k, v)).collect()
    }

    fn owned(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn three_separator_styles_and_whitespace() {
        let text = "a=1\n  b : 2\nc 3\n\td\t=\t4 \ne\n f=\n g = = x\nh==y\n";
        assert_eq!(
            kv(text),
            owned(&[
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4 "),
                ("e", ""),
                ("f", ""),
                ("g", "= x"),
                ("h", "=y"),
            ])
        );
    }

    #[test]
    fn comments_blank_lines_and_line_numbers() {
        let text = "# comment\n! also a comment\n\n   \nkey=value\n  # indented comment\nx=1";
        assert_eq!(
            pairs(text),
            vec![
                ("key".into(), "value".into(), 5),
                ("x".into(), "1".into(), 7)
            ]
        );
        // `#` inside a value is not a comment.
        assert_eq!(kv("a=b#c"), owned(&[("a", "b#c")]));
        // A comment ending in a backslash does not continue.
        assert_eq!(kv("# c \\\na=1"), owned(&[("a", "1")]));
    }

    #[test]
    fn line_endings_and_bom() {
        assert_eq!(
            pairs("\u{feff}a=1\r\nb=2\rc=3\n"),
            vec![
                ("a".into(), "1".into(), 1),
                ("b".into(), "2".into(), 2),
                ("c".into(), "3".into(), 3)
            ]
        );
    }

    #[test]
    fn continuation_lines() {
        let text = "dLegerPeers=n0-127.0.0.1:40911;\\\n    n1-127.0.0.1:40912;\\\n\t\
                    n2-127.0.0.1:40913\nnext=1";
        assert_eq!(
            pairs(text),
            vec![
                (
                    "dLegerPeers".into(),
                    "n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913".into(),
                    1
                ),
                ("next".into(), "1".into(), 4)
            ]
        );
        // An even number of backslashes is an escaped backslash, not a continuation.
        assert_eq!(kv("a=x\\\\\nb=y"), owned(&[("a", "x\\"), ("b", "y")]));
        // A continuation at end of input just ends the entry.
        assert_eq!(kv("a=x\\"), owned(&[("a", "x")]));
        // A continued line starting with `#` is content, not a comment.
        assert_eq!(kv("a=x\\\n#y"), owned(&[("a", "x#y")]));
    }

    #[test]
    fn escapes() {
        assert_eq!(
            kv(r"a=t\tn\nr\rf\fb\\e\=c\:h\#x\!s\ end"),
            owned(&[("a", "t\tn\nr\rf\x0cb\\e=c:h#x!s end")])
        );
        assert_eq!(kv(r"my\ key\=x = v"), owned(&[("my key=x", "v")]));
        assert_eq!(kv(r"a=\ leading"), owned(&[("a", " leading")]));
        assert_eq!(kv(r"u=\u0041\u00e9\u4e2D"), owned(&[("u", "Aé中")]));
        assert_eq!(kv(r"e=\uD83D\uDE00"), owned(&[("e", "😀")]));
        assert_eq!(kv("raw=é😀"), owned(&[("raw", "é😀")]));
    }

    #[test]
    fn malformed_escapes_report_their_line() {
        let cases = [
            ("a=1\nb=\\u12G4", 2, "malformed"),
            ("a=1\n\nb=\\u12", 3, "malformed"),
            ("path=C:\\data\\store", 1, "unknown escape \"\\d\""),
            ("a=\\uD83D", 1, "surrogate"),
            ("a=\\uDE00", 1, "surrogate"),
            ("a=\\uD83D\\u0041", 1, "surrogate"),
            // The escape sits on the continued (second) physical line.
            ("a=ok\\\n  \\q", 2, "unknown escape"),
        ];
        for (text, line, needle) in cases {
            let err = Properties::parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn empty_key_is_an_error() {
        let err = Properties::parse("a=1\n = x").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("empty key"));
    }

    #[test]
    fn duplicates_last_wins_and_are_reported() {
        let props = Properties::parse("a=1\nb=2\na=3\na=4").unwrap();
        assert_eq!(props.get("a"), Some("4"));
        assert_eq!(props.entries()[0].line, 4);
        assert_eq!(props.entries()[1].key, "b");
        assert_eq!(
            props.duplicates(),
            &[
                Duplicate {
                    key: "a".into(),
                    previous_line: 1,
                    line: 3
                },
                Duplicate {
                    key: "a".into(),
                    previous_line: 3,
                    line: 4
                },
            ]
        );
    }

    #[test]
    fn to_text_round_trips() {
        let items = owned(&[
            ("plain", "value"),
            ("addr", "127.0.0.1:9876;127.0.0.2:9876"),
            ("spaces", "  two leading, trailing  "),
            ("win", "C:\\data\\store"),
            ("ctl", "a\tb\nc\rd\x0ce\x01"),
            ("odd key=:#!", "#!=:"),
            ("empty", ""),
            ("uni", "é😀"),
        ]);
        let text = to_text(&items);
        assert_eq!(text.lines().count(), items.len(), "{text}");
        assert_eq!(kv(&text), items);
    }
}
