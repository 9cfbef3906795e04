//! [`ExtFields`]: a command's custom header (`extFields`), a small string map kept in a `Vec`
//! over one shared text.
//!
//! Every request and answer carries one, and a profile of the leader put a `HashMap<String,
//! String>` there at the top of the request path: an allocation per key and per value and a
//! SipHash per field, on decode, again when a typed header looked its fields up, and on answers.
//! Commands carry few fields (a send has 14, its answer 3 to 6), so a linear scan over a `Vec`
//! finds a key faster than hashing it.
//!
//! All values, and the names that are not `'static`, live back to back in one `String`; an
//! entry holds their ranges. Decoding a header therefore costs two allocations (the text and
//! the entries), not one per value as with a `String` each (issue 16: those allocations were a
//! third of the leader's header-decoding time). The names our code writes (`"msgId"`,
//! `"queueId"`, ...) are borrowed `'static` strings, never copied; names read off the wire are
//! ranges of the text like the values.
//!
//! Semantics are the map's: one value per key, [`ExtFields::insert`] replaces an existing key
//! in place (so the last of duplicate keys on the wire wins, as with fastjson and the map
//! before), and equality ignores order. Iteration is insertion order; nothing on the wire
//! depends on it (the binary writer sorts, and readers look fields up by name). A replaced or
//! removed value leaves its bytes in the text until the text is more than half garbage, when it
//! is rewritten, so a command whose fields are set over and over does not grow without bound.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::ops::Range;

/// Where a field's name is.
#[derive(Clone, Copy, Debug)]
enum Name {
    /// A name our code wrote: nothing copied.
    Static(&'static str),
    /// Bytes `start..end` of the text (names read off the wire, and owned names).
    Text(usize, usize),
}

/// One field: its name and the range of the text that is its value.
#[derive(Clone, Copy, Debug)]
struct Entry {
    name: Name,
    start: usize,
    end: usize,
}

/// Bytes of text reserved per field by [`ExtFields::with_capacity`]: a send answer's six
/// values take about 65.
const TEXT_PER_FIELD: usize = 16;

/// Garbage the text may hold whatever its live bytes, so small commands are never rewritten.
const SLACK: usize = 256;

/// A command's `extFields`: field name → string value, one value per name.
#[derive(Clone, Default)]
pub struct ExtFields {
    /// Every value and every non-`'static` name, back to back.
    text: String,
    entries: Vec<Entry>,
}

/// `text[start..end]`; `""` for a range that is not one (no entry holds such a range: the
/// writers below only record ranges of what they appended).
fn span(text: &str, start: usize, end: usize) -> &str {
    text.get(start..end).unwrap_or("")
}

fn name_in<'a>(text: &'a str, e: &Entry) -> &'a str {
    match e.name {
        Name::Static(s) => s,
        Name::Text(start, end) => span(text, start, end),
    }
}

fn value_in<'a>(text: &'a str, e: &Entry) -> &'a str {
    span(text, e.start, e.end)
}

impl ExtFields {
    pub const fn new() -> ExtFields {
        ExtFields {
            text: String::new(),
            entries: Vec::new(),
        }
    }

    /// Room for `n` fields of short values without growing; answers size it from their header.
    pub fn with_capacity(n: usize) -> ExtFields {
        ExtFields::with_text_capacity(n, n.saturating_mul(TEXT_PER_FIELD))
    }

    /// Room for `fields` fields whose names and values take `text` bytes; the decoders size it
    /// from the wire so that reading a header allocates once for each.
    pub(crate) fn with_text_capacity(fields: usize, text: usize) -> ExtFields {
        ExtFields {
            text: String::with_capacity(text),
            entries: Vec::with_capacity(fields),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| name_in(&self.text, e) == key)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| name_in(&self.text, e) == key)
            .map(|e| value_in(&self.text, e))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`, returning the value it replaces. A replaced field keeps its
    /// place; a new one goes last.
    pub fn insert(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl AsRef<str>,
    ) -> Option<String> {
        let start = self.text.len();
        self.text.push_str(value.as_ref());
        self.set(key.into(), start)
    }

    /// [`ExtFields::insert`] of `value`'s text (`3` → `"3"`, `true` → `"true"`, as Java
    /// writes them), formatted straight into the shared text: no `String` per value.
    pub fn insert_display(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl fmt::Display,
    ) -> Option<String> {
        let start = self.text.len();
        // Writing to a `String` only fails if `value`'s `Display` does; the field then holds
        // what it wrote, as `to_string` would have panicked instead.
        let _ = write!(self.text, "{value}");
        self.set(key.into(), start)
    }

    /// Points `key` at the text from `start` to its end (what the caller just appended).
    fn set(&mut self, key: Cow<'static, str>, start: usize) -> Option<String> {
        let end = self.text.len();
        match self.position(&key) {
            Some(i) => {
                let e = &mut self.entries[i];
                let old = span(&self.text, e.start, e.end).to_owned();
                e.start = start;
                e.end = end;
                self.compact_if_sparse();
                Some(old)
            }
            None => {
                let name = match key {
                    Cow::Borrowed(s) => Name::Static(s),
                    Cow::Owned(s) => {
                        let at = self.text.len();
                        self.text.push_str(&s);
                        Name::Text(at, self.text.len())
                    }
                };
                self.entries.push(Entry { name, start, end });
                None
            }
        }
    }

    /// The text the decoders append a field's name and value to before
    /// [`ExtFields::push_wire`] records them.
    ///
    /// Append only: what is in it on the call belongs to other fields. The one exception is
    /// truncating back to a length taken during the same field (a field read and then
    /// dropped, such as a JSON null); ranges never recorded are then all that is cut.
    pub(crate) fn wire_text(&mut self) -> &mut String {
        &mut self.text
    }

    /// Appends a field read off the wire, whose name and value are the ranges `name` and
    /// `value` of [`ExtFields::wire_text`], without looking for an earlier one of the same
    /// name: a header may hold up to 16 MiB of fields, and a scan per field would make
    /// decoding quadratic in them (a map did it in linear time). The decoder calls
    /// [`ExtFields::dedup_wire`] once when done.
    pub(crate) fn push_wire(&mut self, name: Range<usize>, value: Range<usize>) {
        debug_assert!(self.text.get(name.clone()).is_some());
        debug_assert!(self.text.get(value.clone()).is_some());
        self.entries.push(Entry {
            name: Name::Text(name.start, name.end),
            start: value.start,
            end: value.end,
        });
    }

    /// [`ExtFields::push_wire`] of a name and a value the decoder holds elsewhere.
    pub(crate) fn push_wire_str(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let mid = self.text.len();
        self.text.push_str(value);
        let end = self.text.len();
        self.push_wire(start..mid, mid..end);
    }

    /// Makes names unique again after [`ExtFields::push_wire`], as a run of
    /// [`ExtFields::insert`] would have left them: the last value of a name, at its first
    /// place. Few fields (every real command) are checked pairwise without allocating, with
    /// a one-byte hash of each name so that only names that may be equal are compared; many
    /// go through a map, so the whole stays linear.
    pub(crate) fn dedup_wire(&mut self) {
        /// Up to this many fields a pairwise check costs less than a map (a signed V2 send
        /// has 16).
        const PAIRWISE: usize = 32;
        let n = self.entries.len();
        if n <= PAIRWISE {
            let mut hashes = [0u8; PAIRWISE];
            // Names whose hashes all differ (a V2 send's) differ: no compare at all.
            let mut seen = 0u128;
            let mut clash = false;
            for (h, e) in hashes.iter_mut().zip(&self.entries) {
                *h = name_hash(name_in(&self.text, e));
                let bit = 1u128 << (*h & 127);
                clash |= seen & bit != 0;
                seen |= bit;
            }
            if !clash {
                return;
            }
            let text = &self.text;
            let entries = &self.entries;
            let unique = (1..n).all(|i| {
                let key = name_in(text, &entries[i]);
                !(0..i).any(|j| hashes[j] == hashes[i] && name_in(text, &entries[j]) == key)
            });
            if unique {
                return;
            }
        }
        let entries = std::mem::take(&mut self.entries);
        let mut kept: Vec<Entry> = Vec::with_capacity(n);
        {
            let text = &self.text;
            let mut at: HashMap<&str, usize> = HashMap::with_capacity(n);
            for e in entries {
                let key = name_in(text, &e);
                match at.get(key) {
                    Some(&i) => {
                        kept[i].start = e.start;
                        kept[i].end = e.end;
                    }
                    None => {
                        at.insert(key, kept.len());
                        kept.push(e);
                    }
                }
            }
        }
        self.entries = kept;
        self.compact_if_sparse();
    }

    /// Rewrites the text with only the live names and values when more than half of it is
    /// garbage left by replaced, removed or duplicate fields. Linear in the fields, as is
    /// every caller.
    fn compact_if_sparse(&mut self) {
        if self.text.len() <= SLACK {
            return;
        }
        let live: usize = self
            .entries
            .iter()
            .map(|e| {
                let name = match e.name {
                    Name::Static(_) => 0,
                    Name::Text(start, end) => end.saturating_sub(start),
                };
                name + e.end.saturating_sub(e.start)
            })
            .sum();
        if self.text.len() <= live.saturating_mul(2).saturating_add(SLACK) {
            return;
        }
        let old = std::mem::take(&mut self.text);
        let mut text = String::with_capacity(live);
        for e in &mut self.entries {
            if let Name::Text(start, end) = e.name {
                let at = text.len();
                text.push_str(span(&old, start, end));
                e.name = Name::Text(at, text.len());
            }
            let at = text.len();
            text.push_str(span(&old, e.start, e.end));
            e.start = at;
            e.end = text.len();
        }
        self.text = text;
    }

    /// Removes `key`, returning its value. The other fields keep their order.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.position(key)?;
        let e = self.entries.remove(i);
        let value = value_in(&self.text, &e).to_owned();
        self.compact_if_sparse();
        Some(value)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.text.clear();
    }

    /// Fields in insertion order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            text: &self.text,
            inner: self.entries.iter(),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(_, v)| v)
    }
}

/// A one-byte summary of a name: equal names have equal hashes, and the V2 send header's
/// one-letter names all differ, in the low seven bits too.
fn name_hash(name: &str) -> u8 {
    name.bytes()
        .fold(name.len() as u8, |h, b| h.wrapping_mul(31).wrapping_add(b))
}

/// Order-blind, as the map it replaces: two commands with the same fields are equal however
/// each was built. Keys are unique, so same length and every field found in the other suffices.
impl PartialEq for ExtFields {
    fn eq(&self, other: &ExtFields) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// `ext["topic"]`, for tests and fixtures; panics when the field is absent, as `HashMap` does.
impl std::ops::Index<&str> for ExtFields {
    type Output = str;
    fn index(&self, key: &str) -> &str {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no extFields entry {key:?}"),
        }
    }
}

/// Fields of an [`ExtFields`] as `(name, value)`, in insertion order.
pub struct Iter<'a> {
    text: &'a str,
    inner: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let text = self.text;
        self.inner
            .next()
            .map(|e| (name_in(text, e), value_in(text, e)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a ExtFields {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Fields of an [`ExtFields`] taken by value, in insertion order: each value (and each name
/// that is not `'static`) is copied out of the shared text.
pub struct IntoIter {
    fields: ExtFields,
    at: usize,
}

impl Iterator for IntoIter {
    type Item = (Cow<'static, str>, String);
    fn next(&mut self) -> Option<Self::Item> {
        let e = *self.fields.entries.get(self.at)?;
        self.at += 1;
        let text = &self.fields.text;
        let name = match e.name {
            Name::Static(s) => Cow::Borrowed(s),
            Name::Text(start, end) => Cow::Owned(span(text, start, end).to_owned()),
        };
        Some((name, value_in(text, &e).to_owned()))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.fields.entries.len().saturating_sub(self.at);
        (n, Some(n))
    }
}

impl ExactSizeIterator for IntoIter {}

impl IntoIterator for ExtFields {
    type Item = (Cow<'static, str>, String);
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        IntoIter {
            fields: self,
            at: 0,
        }
    }
}

/// Inserts each pair in turn: a later duplicate replaces an earlier one.
impl<K: Into<Cow<'static, str>>, V: AsRef<str>> Extend<(K, V)> for ExtFields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.entries.reserve(iter.size_hint().0);
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Into<Cow<'static, str>>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> ExtFields {
        let mut out = ExtFields::new();
        out.extend(iter);
        out
    }
}

impl<K: Into<Cow<'static, str>>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for ExtFields {
    fn from(pairs: [(K, V); N]) -> ExtFields {
        pairs.into_iter().collect()
    }
}

/// A JSON object, for tests that compare with serde_json's output and for tools that print
/// a command.
impl serde::Serialize for ExtFields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests;
