//! The request path's JSON header reader, for what clients actually send: an object whose
//! values are strings, integers, booleans or null, and an `extFields` object of the same.
//! Every other input (floats, nested values, bad syntax) returns `None` and is left to the
//! serde reader, so this path never decides an error. It allocates only the command's own
//! strings and map; through the serde visitors the same header cost about 1.6 times as much.

use std::borrow::Cow;

use super::{int_field, language, Scalar};
use crate::remoting::command::{LanguageCode, RemotingCommand, SerializeType};
use crate::remoting::ext_fields::{wire_key, ExtFields};

pub(super) fn read(header: &[u8]) -> Option<RemotingCommand> {
    // serde_json rejects invalid UTF-8 in strings; checking the whole header at once is
    // cheaper than per string and refuses no header serde would take.
    let text = std::str::from_utf8(header).ok()?;
    let mut p = Parser {
        text,
        s: header,
        i: 0,
    };
    let mut cmd = RemotingCommand {
        code: 0,
        language: LanguageCode::Java,
        version: 0,
        opaque: 0,
        flag: 0,
        remark: None,
        ext_fields: ExtFields::new(),
        body: bytes::Bytes::new(),
        body_parts: Vec::new(),
        serialize_type: SerializeType::Json,
    };
    p.expect(b'{')?;
    if !p.eat(b'}') {
        loop {
            let key = p.text()?;
            p.expect(b':')?;
            match key.as_ref() {
                "code" => cmd.code = int_field(p.scalar()?)?,
                "version" => cmd.version = int_field(p.scalar()?)?,
                "opaque" => cmd.opaque = int_field(p.scalar()?)?,
                "flag" => cmd.flag = int_field(p.scalar()?)?,
                "language" => cmd.language = language(p.scalar()?),
                "remark" => {
                    cmd.remark = match p.scalar()? {
                        Scalar::Null => None,
                        Scalar::Text(s) if s.is_empty() => None,
                        Scalar::Text(s) | Scalar::Other(s) => Some(s),
                    }
                }
                "extFields" => cmd.ext_fields = p.ext_fields()?,
                _ => {
                    p.scalar()?;
                }
            }
            if p.eat(b',') {
                continue;
            }
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    (p.i == p.s.len()).then_some(cmd)
}

struct Parser<'a> {
    /// The header, checked to be UTF-8, and its bytes.
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    /// Skips whitespace, then consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    fn ext_fields(&mut self) -> Option<ExtFields> {
        self.skip_ws();
        if self.s[self.i..].starts_with(b"null") {
            self.i += 4;
            return Some(ExtFields::new());
        }
        self.expect(b'{')?;
        // Java's send header has 14 fields: room for them without growing.
        let mut out = ExtFields::with_capacity(16);
        if self.eat(b'}') {
            return Some(out);
        }
        loop {
            let key = match self.text()? {
                Cow::Borrowed(k) => wire_key(k),
                Cow::Owned(k) => Cow::Owned(k),
            };
            self.expect(b':')?;
            match self.scalar()? {
                Scalar::Null => {}
                Scalar::Text(v) | Scalar::Other(v) => {
                    out.push_wire(key, v);
                }
            }
            if self.eat(b',') {
                continue;
            }
            self.expect(b'}')?;
            out.dedup_wire();
            return Some(out);
        }
    }

    /// A string, integer, boolean or null; `None` for anything else.
    fn scalar(&mut self) -> Option<Scalar> {
        self.skip_ws();
        let rest = &self.s[self.i..];
        match *rest.first()? {
            b'"' => self.text().map(|t| Scalar::Text(t.into_owned())),
            b'n' if rest.starts_with(b"null") => {
                self.i += 4;
                Some(Scalar::Null)
            }
            b't' if rest.starts_with(b"true") => {
                self.i += 4;
                Some(Scalar::Other("true".into()))
            }
            b'f' if rest.starts_with(b"false") => {
                self.i += 5;
                Some(Scalar::Other("false".into()))
            }
            b'-' | b'0'..=b'9' => self.integer().map(Scalar::Other),
            _ => None,
        }
    }

    /// An integer literal as serde_json would print the number it parses: the literal
    /// itself, when it has no fraction, exponent or leading zero, fits an i64 and is not
    /// `-0` (serde_json reads that as a float).
    fn integer(&mut self) -> Option<String> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let digits = self.i;
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
        let n = self.i - digits;
        if n == 0 || (n > 1 && self.s[digits] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.s.get(self.i) {
            return None;
        }
        let text = &self.text[start..self.i];
        let v: i64 = text.parse().ok()?;
        (v != 0 || start == digits).then(|| text.to_string())
    }

    /// A JSON string, unescaped: borrowed from the header when it has no escape (names are
    /// then matched or interned without an allocation), owned otherwise. `None` on a raw
    /// control character, a bad escape or a surrogate escape (serde decides those).
    fn text(&mut self) -> Option<Cow<'a, str>> {
        self.skip_ws();
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let start = self.i;
        // Most strings have no escape: one exact allocation, no second UTF-8 check (the
        // header was checked whole, and a quote or backslash is a character boundary).
        let stop = self.s[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        self.i = start + stop;
        match self.s[self.i] {
            b'"' => {
                let out = &self.text[start..self.i];
                self.i += 1;
                return Some(Cow::Borrowed(out));
            }
            b'\\' => {}
            _ => return None,
        }
        let mut out = String::with_capacity(self.i - start + 16);
        let mut clean = start;
        loop {
            match *self.s.get(self.i)? {
                b'"' => {
                    out.push_str(&self.text[clean..self.i]);
                    self.i += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    out.push_str(&self.text[clean..self.i]);
                    let e = *self.s.get(self.i + 1)?;
                    self.i += 2;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(char::from(e)),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hex = self.text.get(self.i..self.i + 4)?;
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return None;
                            }
                            let code = u32::from_str_radix(hex, 16).ok()?;
                            out.push(char::from_u32(code)?);
                            self.i += 4;
                        }
                        _ => return None,
                    }
                    clean = self.i;
                }
                0x00..=0x1F => return None,
                _ => {
                    // Up to the next quote, backslash or control character at once.
                    self.i += self.s[self.i..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                        .unwrap_or(self.s.len() - self.i);
                }
            }
        }
    }
}
