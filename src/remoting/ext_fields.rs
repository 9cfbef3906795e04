//! [`ExtFields`]: a command's custom header (`extFields`), a small string map kept in a `Vec`.
//!
//! Every request and answer carries one, and a profile of the leader put a `HashMap<String,
//! String>` there at the top of the request path: an allocation per key and per value and a
//! SipHash per field, on decode, again when a typed header looked its fields up, and on answers.
//! Commands carry few fields (a send has 14, its answer 3 to 6), so a linear scan over a `Vec`
//! finds a key faster than hashing it, and keys are `Cow<'static, str>`: the names our code
//! writes (`"msgId"`, `"queueId"`, ...) and the well-known names the decoders recognise are
//! borrowed, never allocated.
//!
//! Semantics are the map's: one value per key, [`ExtFields::insert`] replaces an existing key
//! in place (so the last of duplicate keys on the wire wins, as with fastjson and the map
//! before), and equality ignores order. Iteration is insertion order; nothing on the wire
//! depends on it (the binary writer sorts, and readers look fields up by name).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// A command's `extFields`: field name → string value, one value per name.
#[derive(Clone, Default)]
pub struct ExtFields {
    entries: Vec<(Cow<'static, str>, String)>,
}

impl ExtFields {
    pub const fn new() -> ExtFields {
        ExtFields {
            entries: Vec::new(),
        }
    }

    /// Room for `n` fields without growing; the decoders size it from the wire.
    pub fn with_capacity(n: usize) -> ExtFields {
        ExtFields {
            entries: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`, returning the value it replaces. A replaced field keeps its
    /// place; a new one goes last.
    pub fn insert(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Option<String> {
        let key = key.into();
        let value = value.into();
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Appends a field read off the wire without looking for an earlier one of the same name:
    /// a header may hold up to 16 MiB of fields, and a scan per field would make decoding
    /// quadratic in them (a map did it in linear time). The decoder calls
    /// [`ExtFields::dedup_wire`] once when done.
    pub(crate) fn push_wire(&mut self, key: Cow<'static, str>, value: String) {
        self.entries.push((key, value));
    }

    /// Makes names unique again after [`ExtFields::push_wire`], as a run of
    /// [`ExtFields::insert`] would have left them: the last value of a name, at its first
    /// place. Few fields (every real command) are checked pairwise without allocating; many
    /// go through a map, so the whole stays linear.
    pub(crate) fn dedup_wire(&mut self) {
        /// Up to this many fields a pairwise check costs less than a map (a signed V2 send
        /// has 16).
        const PAIRWISE: usize = 32;
        let n = self.entries.len();
        if n <= PAIRWISE {
            let unique = (1..n).all(|i| {
                let key = &self.entries[i].0;
                !self.entries[..i].iter().any(|(k, _)| k == key)
            });
            if unique {
                return;
            }
        }
        let entries = std::mem::take(&mut self.entries);
        let mut at: HashMap<Cow<'static, str>, usize> = HashMap::with_capacity(n);
        self.entries.reserve(n);
        for (k, v) in entries {
            match at.get(k.as_ref()) {
                Some(&i) => self.entries[i].1 = v,
                None => {
                    at.insert(k.clone(), self.entries.len());
                    self.entries.push((k, v));
                }
            }
        }
    }

    /// Removes `key`, returning its value. The other fields keep their order.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.position(key)?;
        Some(self.entries.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Fields in insertion order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.entries.iter(),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }

    pub fn values(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|(_, v)| v.as_str())
    }
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
    inner: std::slice::Iter<'a, (Cow<'static, str>, String)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        self.inner.next().map(|(k, v)| (k.as_ref(), v.as_str()))
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

impl IntoIterator for ExtFields {
    type Item = (Cow<'static, str>, String);
    type IntoIter = std::vec::IntoIter<(Cow<'static, str>, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// Inserts each pair in turn: a later duplicate replaces an earlier one.
impl<K: Into<Cow<'static, str>>, V: Into<String>> Extend<(K, V)> for ExtFields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.entries.reserve(iter.size_hint().0);
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Into<Cow<'static, str>>, V: Into<String>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> ExtFields {
        let mut out = ExtFields::new();
        out.extend(iter);
        out
    }
}

impl<K: Into<Cow<'static, str>>, V: Into<String>, const N: usize> From<[(K, V); N]> for ExtFields {
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

/// A field name read off the wire, borrowed when it is one the broker and its clients use
/// (so decoding a send's 14 fields allocates no key), owned otherwise.
pub fn wire_key(key: &str) -> Cow<'static, str> {
    match known_key(key) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(key.to_owned()),
    }
}

/// [`wire_key`] for a name already owned: kept when it is not a known one.
pub fn wire_key_owned(key: String) -> Cow<'static, str> {
    match known_key(&key) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(key),
    }
}

/// The `'static` copy of `key` when it is one of the names requests and answers use most.
fn known_key(key: &str) -> Option<&'static str> {
    /// The V2 send header's names (`a`..`n`) and every other one-letter name.
    const LETTERS: [&str; 26] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z",
    ];
    /// Names of the hot requests' and answers' fields, and ACL's.
    const KNOWN: &[&str] = &[
        "topic",
        "queueId",
        "queueOffset",
        "consumerGroup",
        "producerGroup",
        "commitOffset",
        "maxMsgNums",
        "sysFlag",
        "suspendTimeoutMillis",
        "subscription",
        "subVersion",
        "expressionType",
        "msgId",
        "nextBeginOffset",
        "minOffset",
        "maxOffset",
        "suggestWhichBrokerId",
        "MSG_REGION",
        "TRACE_ON",
        "bname",
        "AccessKey",
        "Signature",
        "SecurityToken",
        "defaultTopic",
        "defaultTopicQueueNums",
        "bornTimestamp",
        "flag",
        "properties",
        "reconsumeTimes",
        "unitMode",
        "batch",
        "maxReconsumeTimes",
        "transactionId",
        "clientID",
        "offset",
    ];
    if let [b @ b'a'..=b'z'] = key.as_bytes() {
        return Some(LETTERS[usize::from(b - b'a')]);
    }
    KNOWN.iter().find(|k| **k == key).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty() {
        let e = ExtFields::new();
        assert!(e.is_empty());
        assert_eq!(e.len(), 0);
        assert_eq!(e.get("a"), None);
        assert!(!e.contains_key("a"));
        assert_eq!(e.iter().count(), 0);
        assert_eq!(e, ExtFields::default());
        assert_eq!(format!("{e:?}"), "{}");
    }

    #[test]
    fn insert_replaces_in_place_and_returns_the_old_value() {
        let mut e = ExtFields::new();
        assert_eq!(e.insert("a", "1"), None);
        assert_eq!(e.insert("b", "2"), None);
        assert_eq!(e.insert("a", "3"), Some("1".to_string()));
        assert_eq!(e.len(), 2);
        assert_eq!(e.get("a"), Some("3"));
        assert_eq!(e.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
        assert_eq!(&e["b"], "2");
    }

    #[test]
    fn duplicates_from_an_iterator_last_wins() {
        let e: ExtFields = [("k", "1"), ("x", "0"), ("k", "2")].into_iter().collect();
        assert_eq!(e.len(), 2);
        assert_eq!(e.get("k"), Some("2"));
        let mut f = e.clone();
        f.extend([
            ("x".to_string(), "9".to_string()),
            ("y".to_string(), "8".to_string()),
        ]);
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [("k", "2"), ("x", "9"), ("y", "8")]
        );
    }

    #[test]
    fn keeps_insertion_order_and_remove_keeps_the_rest() {
        let mut e = ExtFields::new();
        for k in ["z", "y", "x", "w"] {
            e.insert(k, k.to_uppercase());
        }
        assert_eq!(e.keys().collect::<Vec<_>>(), ["z", "y", "x", "w"]);
        assert_eq!(e.remove("y"), Some("Y".to_string()));
        assert_eq!(e.remove("y"), None);
        assert_eq!(e.keys().collect::<Vec<_>>(), ["z", "x", "w"]);
        assert_eq!(e.values().collect::<Vec<_>>(), ["Z", "X", "W"]);
        let owned: Vec<(Cow<'static, str>, String)> = e.into_iter().collect();
        assert_eq!(owned.len(), 3);
    }

    #[test]
    fn equality_ignores_order_but_not_values_or_extra_fields() {
        let a = ExtFields::from([("a", "1"), ("b", "2"), ("c", "3")]);
        let b = ExtFields::from([("c", "3"), ("a", "1"), ("b", "2")]);
        assert_eq!(a, b);
        assert_ne!(a, ExtFields::from([("a", "1"), ("b", "2"), ("c", "4")]));
        assert_ne!(a, ExtFields::from([("a", "1"), ("b", "2")]));
        assert_ne!(
            a,
            ExtFields::from([("a", "1"), ("b", "2"), ("c", "3"), ("d", "")])
        );
        assert_ne!(a, ExtFields::from([("a", "1"), ("b", "2"), ("d", "3")]));
    }

    #[test]
    fn many_fields() {
        let mut e = ExtFields::with_capacity(4);
        for i in 0..500 {
            e.insert(format!("k{i}"), i.to_string());
        }
        for i in (0..500).step_by(2) {
            e.insert(format!("k{i}"), "even");
        }
        assert_eq!(e.len(), 500);
        assert_eq!(e.get("k498"), Some("even"));
        assert_eq!(e.get("k499"), Some("499"));
        assert_eq!(e.keys().next(), Some("k0"));
        assert_eq!(e.keys().last(), Some("k499"));
        let mut pairs: Vec<(String, String)> = e
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        pairs.reverse();
        let reversed: ExtFields = pairs.into_iter().collect();
        assert_eq!(reversed, e);
    }

    /// `push_wire` + `dedup_wire` leave what a run of `insert` would, few fields or many.
    fn check_wire_dedup(pairs: &[(String, String)]) {
        let mut wire = ExtFields::new();
        for (k, v) in pairs {
            wire.push_wire(Cow::Owned(k.clone()), v.clone());
        }
        wire.dedup_wire();
        let inserted: ExtFields = pairs.iter().cloned().collect();
        assert_eq!(
            wire.iter().collect::<Vec<_>>(),
            inserted.iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn wire_fields_dedup_as_insert_does() {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        check_wire_dedup(&[]);
        check_wire_dedup(&[s("a", "1")]);
        check_wire_dedup(&[s("a", "1"), s("b", "2"), s("a", "3"), s("a", "4")]);
        let many: Vec<(String, String)> = (0..5000)
            .map(|i| (format!("k{}", i % 3000), i.to_string()))
            .collect();
        check_wire_dedup(&many);
        let distinct: Vec<(String, String)> = (0..40).map(|i| s(&i.to_string(), "v")).collect();
        check_wire_dedup(&distinct);
    }

    /// Decoding many distinct names stays linear (an `insert` per field was quadratic).
    #[test]
    fn many_wire_fields_dedup_quickly() {
        let mut e = ExtFields::new();
        for i in 0..200_000 {
            e.push_wire(Cow::Owned(i.to_string()), String::new());
        }
        let started = std::time::Instant::now();
        e.dedup_wire();
        assert_eq!(e.len(), 200_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn wire_keys_borrow_known_names() {
        for k in ["a", "n", "z", "topic", "queueId", "AccessKey", "msgId"] {
            assert!(matches!(wire_key(k), Cow::Borrowed(b) if b == k), "{k}");
        }
        for k in ["", "A", "ab", "topicX", "é"] {
            assert!(matches!(wire_key(k), Cow::Owned(ref o) if o == k), "{k}");
            assert!(
                matches!(wire_key_owned(k.into()), Cow::Owned(ref o) if o == k),
                "{k}"
            );
        }
        assert!(matches!(
            wire_key_owned("topic".into()),
            Cow::Borrowed("topic")
        ));
    }

    #[test]
    fn serializes_as_a_json_object_in_order() {
        let e = ExtFields::from([("b", "1"), ("a", "\"")]);
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"b":"1","a":"\""}"#);
    }
}
