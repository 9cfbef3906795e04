//! The request path's JSON header reader, for what clients actually send: an object whose
//! values are strings, integers, booleans or null, and an `extFields` object of the same.
//! Every other input (floats, nested values, bad syntax) returns `None` and is left to the
//! serde reader, so this path never decides an error. `extFields` names and values are
//! unescaped straight into the map's one shared text, sized from the header up front, so a
//! send's header costs two allocations (text and entries) however many fields it has; through
//! the serde visitors the same header cost about 1.6 times as much as with one `String` each.

use std::borrow::Cow;

use super::{int_field, language, ScalarRef};
use crate::remoting::command::{LanguageCode, RemotingCommand, SerializeType};
use crate::remoting::ext_fields::ExtFields;

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
                "code" => cmd.code = int_field(p.scalar()?.as_scalar_ref())?,
                "version" => cmd.version = int_field(p.scalar()?.as_scalar_ref())?,
                "opaque" => cmd.opaque = int_field(p.scalar()?.as_scalar_ref())?,
                "flag" => cmd.flag = int_field(p.scalar()?.as_scalar_ref())?,
                "language" => cmd.language = language(p.scalar()?.as_scalar_ref()),
                "remark" => {
                    cmd.remark = match p.scalar()? {
                        Value::Null => None,
                        Value::Text(s) if s.is_empty() => None,
                        Value::Text(s) => Some(s.into_owned()),
                        Value::Other(s) => Some(s.to_owned()),
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

/// A top-level scalar as the fast reader reads it: [`super::Scalar`] without the copies
/// (`code`, `opaque`, `language`... allocated a `String` each).
enum Value<'a> {
    Null,
    Text(Cow<'a, str>),
    Other(&'a str),
}

impl Value<'_> {
    fn as_scalar_ref(&self) -> ScalarRef<'_> {
        match self {
            Value::Null => ScalarRef::Null,
            Value::Text(s) => ScalarRef::Text(s),
            Value::Other(s) => ScalarRef::Other(s),
        }
    }
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
        if self.eat(b'}') {
            return Some(ExtFields::new());
        }
        // Java's send header has 14 fields: room for them without growing. Unescaping never
        // lengthens a string and other values are copied as they are, so the rest of the
        // header bounds the text: it is allocated once.
        let mut out = ExtFields::with_text_capacity(16, self.s.len() - self.i);
        loop {
            let text = out.wire_text();
            let name_start = text.len();
            self.string_into(text)?;
            let name_end = text.len();
            self.expect(b':')?;
            let text = out.wire_text();
            if self.value_into(text)? {
                let end = text.len();
                out.push_wire(name_start..name_end, name_end..end);
            } else {
                // A null value: the field is absent (Java's `get` sees null either way).
                text.truncate(name_start);
            }
            if self.eat(b',') {
                continue;
            }
            self.expect(b'}')?;
            out.dedup_wire();
            return Some(out);
        }
    }

    /// An `extFields` value appended to `out` in its string form (`3` → `3`, `true` →
    /// `true`, as [`Parser::scalar`] gives it): `Some(true)`, or `Some(false)` for null, which
    /// appends nothing; `None` where the serde reader must decide.
    fn value_into(&mut self, out: &mut String) -> Option<bool> {
        self.skip_ws();
        let rest = &self.s[self.i..];
        match *rest.first()? {
            b'"' => self.string_into(out)?,
            b'n' if rest.starts_with(b"null") => {
                self.i += 4;
                return Some(false);
            }
            b't' if rest.starts_with(b"true") => {
                self.i += 4;
                out.push_str("true");
            }
            b'f' if rest.starts_with(b"false") => {
                self.i += 5;
                out.push_str("false");
            }
            b'-' | b'0'..=b'9' => out.push_str(self.integer()?),
            _ => return None,
        }
        Some(true)
    }

    /// A string, integer, boolean or null, borrowed from the header where it can be (every
    /// top-level field but an escaped string): `None` for anything else.
    fn scalar(&mut self) -> Option<Value<'a>> {
        self.skip_ws();
        let rest = &self.s[self.i..];
        match *rest.first()? {
            b'"' => self.text().map(Value::Text),
            b'n' if rest.starts_with(b"null") => {
                self.i += 4;
                Some(Value::Null)
            }
            b't' if rest.starts_with(b"true") => {
                self.i += 4;
                Some(Value::Other("true"))
            }
            b'f' if rest.starts_with(b"false") => {
                self.i += 5;
                Some(Value::Other("false"))
            }
            b'-' | b'0'..=b'9' => self.integer().map(Value::Other),
            _ => None,
        }
    }

    /// An integer literal as serde_json would print the number it parses: the literal
    /// itself, when it has no fraction, exponent or leading zero, fits an i64 and is not
    /// `-0` (serde_json reads that as a float).
    fn integer(&mut self) -> Option<&'a str> {
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
        (v != 0 || start == digits).then_some(text)
    }

    /// A JSON string, unescaped: borrowed from the header when it has no escape (names are
    /// then matched without an allocation), owned otherwise. `None` on a raw control
    /// character, a bad escape or a surrogate escape (serde decides those).
    fn text(&mut self) -> Option<Cow<'a, str>> {
        match self.open_string()? {
            Ok(s) => Some(Cow::Borrowed(s)),
            Err(start) => {
                let mut out = String::with_capacity(self.i - start + 16);
                self.unescape_rest(start, &mut out)?;
                Some(Cow::Owned(out))
            }
        }
    }

    /// [`Parser::text`] appended to `out`; on `None`, `out` holds part of it.
    fn string_into(&mut self, out: &mut String) -> Option<()> {
        match self.open_string()? {
            Ok(s) => {
                out.push_str(s);
                Some(())
            }
            Err(start) => self.unescape_rest(start, out),
        }
    }

    /// Reads up to a string's first escape: `Ok` with the whole string when it has none (and
    /// it is consumed), `Err(start)` of its contents when one is next, for
    /// [`Parser::unescape_rest`]. `None` on a raw control character.
    fn open_string(&mut self) -> Option<Result<&'a str, usize>> {
        self.skip_ws();
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let start = self.i;
        // Most strings have no escape: no second UTF-8 check (the header was checked whole,
        // and a quote or backslash is a character boundary).
        let stop = find_special(&self.s[start..])?;
        self.i = start + stop;
        match self.s[self.i] {
            b'"' => {
                let out = &self.text[start..self.i];
                self.i += 1;
                Some(Ok(out))
            }
            b'\\' => Some(Err(start)),
            _ => None,
        }
    }

    /// The rest of a string whose contents began at `clean`, unescaped onto `out`, up to and
    /// including its closing quote.
    fn unescape_rest(&mut self, mut clean: usize, out: &mut String) -> Option<()> {
        loop {
            match *self.s.get(self.i)? {
                b'"' => {
                    out.push_str(&self.text[clean..self.i]);
                    self.i += 1;
                    return Some(());
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
                    self.i += find_special(&self.s[self.i..]).unwrap_or(self.s.len() - self.i);
                }
            }
        }
    }
}

/// The first quote, backslash or control character (below 0x20) in `s`: where a JSON string's
/// plain run ends. Eight bytes at a time (the byte loop was about a fifth of decoding a send's
/// header): in each word, a byte equal to `"` or `\\` or below 0x20 sets its top bit in
/// `flags`; a borrow can also flag bytes above a true match, never below one, so the lowest
/// flag is exact.
fn find_special(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let flags = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if flags != 0 {
            return Some(at + (flags.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

#[cfg(test)]
mod find_special_tests {
    use super::find_special;

    fn naive(s: &[u8]) -> Option<usize> {
        s.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)
    }

    #[test]
    fn agrees_with_a_byte_loop() {
        // Every special and boundary byte at every place of words and tails, after runs of
        // bytes that are not special (ASCII, 0x20, 0x7f, 0x80.., 0xff, quote/backslash +-1).
        let plain = [b'a', b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xc3, 0xff];
        let special = [b'"', b'\\', 0x00, 0x01, 0x1f];
        for len in 0..20 {
            for &p in &plain {
                let base = vec![p; len];
                assert_eq!(find_special(&base), None, "{base:?}");
                for at in 0..len {
                    for &sp in &special {
                        let mut s = base.clone();
                        s[at] = sp;
                        assert_eq!(find_special(&s), naive(&s), "{s:?}");
                        // A second special later, and plain bytes mixed in.
                        if at + 2 < len {
                            s[at + 2] = b'"';
                            s[0] = plain[at % plain.len()];
                            assert_eq!(find_special(&s), naive(&s), "{s:?}");
                        }
                    }
                }
            }
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let s: Vec<u8> = (0..(x % 40))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8 | if x & 3 == 0 { 0 } else { 0x20 }
                })
                .collect();
            assert_eq!(find_special(&s), naive(&s), "{s:?}");
        }
    }
}
