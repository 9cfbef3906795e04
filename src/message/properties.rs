//! The message properties string: `key \u{1} value` pairs separated by `\u{2}`, UTF-8.
//!
//! Java before 4.9.1 wrote a `\u{2}` after every pair; since 4.9.1 the separator stands only
//! between pairs. Decoding accepts both. Like Java's `MessageDecoder.string2messageProperties`
//! (4.9.4), a pair is split at its *first* `\u{1}` (so a value may itself contain `\u{1}`), and
//! a pair with an empty key or an empty value is dropped. A repeated key keeps its last value,
//! as Java's `HashMap.put` does. Encoding writes the 4.9.1+ form (no trailing separator), which
//! every client version decodes.
//!
//! [`MessageProperties`] is a `Vec` of pairs rather than a `HashMap` or `BTreeMap`: it keeps the
//! producer's order, so re-encoding what was decoded gives the same bytes (the stored message is
//! what the producer sent, plus the keys the broker appends at the end), and encoding is
//! deterministic without sorting. A message carries a handful of properties, so a linear scan is
//! as fast as hashing.

use super::MessageError;

/// Separates a key from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separates one pair from the next.
pub const PROPERTY_SEPARATOR: char = '\u{2}';
/// Separates the keys inside the `KEYS` property.
pub const KEY_SEPARATOR: char = ' ';

/// Business keys, space-separated; each is indexed for QUERY_MESSAGE.
pub const KEYS: &str = "KEYS";
/// The message's tag; its Java hash code is the ConsumeQueue tags code.
pub const TAGS: &str = "TAGS";
/// `true`: the producer waits until the message is stored (flushed/replicated) before the reply.
pub const WAIT: &str = "WAIT";
/// Delay level 1..=18 (`messageDelayLevel`).
pub const DELAY: &str = "DELAY";
/// The client-generated message id (`SendResult.msgId`), indexed like a key.
pub const UNIQ_KEY: &str = "UNIQ_KEY";
/// The original topic of a message re-stored to a `%RETRY%` topic.
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// The real topic of a delayed or half (transactional) message.
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// The real queue id of a delayed or half (transactional) message.
pub const REAL_QID: &str = "REAL_QID";
/// `true` on a transactional (prepared) message.
pub const TRAN_MSG: &str = "TRAN_MSG";
/// The producer group of a transactional message.
pub const PGROUP: &str = "PGROUP";
/// Queue min offset, added to pulled messages by the broker.
pub const MIN_OFFSET: &str = "MIN_OFFSET";
/// Queue max offset, added to pulled messages by the broker.
pub const MAX_OFFSET: &str = "MAX_OFFSET";
/// The msgId of the original message, set when a consumer sends a message back for retry.
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Reconsume count carried in properties by some clients.
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Per-message override of `maxReconsumeTimes`.
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Set by the consumer when consumption starts.
pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
/// Queue offset of a prepared transactional message.
pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// How often the broker has checked a transaction's state.
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Seconds before the first transaction check.
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Region the message was produced in.
pub const MSG_REGION: &str = "MSG_REGION";
/// Whether message tracing is on for this message.
pub const TRACE_ON: &str = "TRACE_ON";
/// Cluster name, added by the broker when it stores a message.
pub const CLUSTER: &str = "CLUSTER";
/// Producer instance id.
pub const INSTANCE_ID: &str = "INSTANCE_ID";
/// Request/reply: correlates a reply with its request.
pub const CORRELATION_ID: &str = "CORRELATION_ID";
/// Request/reply: client id the reply goes to.
pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Request/reply: time to live of a request, ms.
pub const TTL: &str = "TTL";
/// Request/reply: time the reply arrived at the broker.
pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
/// Request/reply: time the broker pushed the reply.
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// Request/reply: message type (`reply`).
pub const MSG_TYPE: &str = "MSG_TYPE";
/// Legacy key kept for completeness.
pub const BUYER_ID: &str = "BUYER_ID";
/// Legacy key kept for completeness.
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
/// Legacy key kept for completeness.
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
/// Legacy key kept for completeness.
pub const MQ2_FLAG: &str = "MQ2_FLAG";

/// Splits a properties string into its pairs exactly as Java 4.9.4 does, without allocating.
///
/// Later pairs with the same key are yielded too; a caller that wants Java's map semantics takes
/// the last one.
pub fn pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split(PROPERTY_SEPARATOR).filter_map(|item| {
        let (key, value) = item.split_once(NAME_VALUE_SEPARATOR)?;
        (!key.is_empty() && !value.is_empty()).then_some((key, value))
    })
}

/// Looks a key up in a properties string without allocating; the last pair with the key wins.
pub fn find<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    pairs(s).filter(|(k, _)| *k == key).map(|(_, v)| v).last()
}

/// Splits a `KEYS` value into its keys (space-separated; empty pieces skipped, as Java's index does).
pub fn split_keys(keys: &str) -> impl Iterator<Item = &str> {
    keys.split(KEY_SEPARATOR).filter(|k| !k.is_empty())
}

/// A message's properties, in insertion order, with unique keys.
///
/// Invariant: every key is non-empty and free of both separators, every value is non-empty and
/// free of `\u{2}`. So `decode(&p.encode()) == p` for every value of this type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    pairs: Vec<(String, String)>,
}

impl MessageProperties {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a properties string (with or without a trailing separator). Never fails: like Java,
    /// malformed pieces are dropped.
    pub fn decode(s: &str) -> Self {
        let mut props = Self::new();
        for (key, value) in pairs(s) {
            props.put_unchecked(key, value);
        }
        props
    }

    /// Writes the properties string, separators only between pairs.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push(PROPERTY_SEPARATOR);
            }
            out.push_str(key);
            out.push(NAME_VALUE_SEPARATOR);
            out.push_str(value);
        }
        out
    }

    /// Length in bytes of [`encode`](Self::encode)'s output, without building it.
    pub fn encoded_len(&self) -> usize {
        let text: usize = self.pairs.iter().map(|(k, v)| k.len() + 1 + v.len()).sum();
        text + self.pairs.len().saturating_sub(1)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, keeping the key's position if it exists; returns the old value.
    ///
    /// Rejects what the properties string cannot carry: an empty key or value (Java's decoder
    /// drops such pairs), a key with either separator, a value with `\u{2}`.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Option<String>, MessageError> {
        let key = key.into();
        let value = value.into();
        let reason = if key.is_empty() {
            Some("empty key")
        } else if key.contains([NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR]) {
            Some("key contains \\u0001 or \\u0002")
        } else if value.is_empty() {
            Some("empty value (Java drops it)")
        } else if value.contains(PROPERTY_SEPARATOR) {
            Some("value contains \\u0002")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(MessageError::InvalidProperty { key, reason });
        }
        Ok(self.put_unchecked(&key, &value))
    }

    /// Insert for pairs already known to satisfy the invariant (they came out of [`pairs`]).
    fn put_unchecked(&mut self, key: &str, value: &str) -> Option<String> {
        match self.pairs.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value.to_owned())),
            None => {
                self.pairs.push((key.to_owned(), value.to_owned()));
                None
            }
        }
    }

    /// Adds, after its own pairs, each pair of `defaults` whose key this set lacks: how a
    /// SEND_BATCH_MESSAGE header's properties reach each message of the batch (a message's own
    /// value wins).
    ///
    /// Infallible, unlike [`insert`](Self::insert): both sets already uphold the type's
    /// invariant, so there is nothing left to validate and no error to drop.
    pub fn inherit(&mut self, defaults: &MessageProperties) {
        for (key, value) in &defaults.pairs {
            if self.get(key).is_none() {
                self.pairs.push((key.clone(), value.clone()));
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.pairs.iter().position(|(k, _)| k == key)?;
        Some(self.pairs.remove(index).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The `TAGS` property.
    pub fn tags(&self) -> Option<&str> {
        self.get(TAGS)
    }

    /// The `KEYS` property, raw (see [`split_keys`]).
    pub fn keys(&self) -> Option<&str> {
        self.get(KEYS)
    }

    /// The `UNIQ_KEY` property (the client's msgId).
    pub fn uniq_key(&self) -> Option<&str> {
        self.get(UNIQ_KEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> MessageProperties {
        let mut p = MessageProperties::new();
        for (k, v) in pairs {
            p.insert(*k, *v).unwrap();
        }
        p
    }

    #[test]
    fn decodes_with_and_without_trailing_separator() {
        let old = "TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2\u{2}";
        let new = "TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2";
        let expected = props(&[("TAGS", "TagA"), ("KEYS", "k1 k2")]);
        assert_eq!(MessageProperties::decode(old), expected);
        assert_eq!(MessageProperties::decode(new), expected);
        assert_eq!(expected.encode(), new);
    }

    #[test]
    fn drops_empty_values_keys_and_malformed_pieces_like_java() {
        let s = "A\u{1}\u{2}\u{1}x\u{2}noseparator\u{2}\u{2}B\u{1}b\u{2}C\u{1}";
        let p = MessageProperties::decode(s);
        assert_eq!(p, props(&[("B", "b")]));
    }

    #[test]
    fn splits_at_the_first_name_value_separator() {
        let p = MessageProperties::decode("K\u{1}v\u{1}w");
        assert_eq!(p.get("K"), Some("v\u{1}w"));
        assert_eq!(MessageProperties::decode(&p.encode()), p);
    }

    #[test]
    fn repeated_key_keeps_last_value_at_first_position() {
        let p = MessageProperties::decode("A\u{1}1\u{2}B\u{1}2\u{2}A\u{1}3");
        assert_eq!(p.encode(), "A\u{1}3\u{2}B\u{1}2");
        assert_eq!(find("A\u{1}1\u{2}B\u{1}2\u{2}A\u{1}3", "A"), Some("3"));
    }

    #[test]
    fn empty_string_is_no_properties() {
        assert!(MessageProperties::decode("").is_empty());
        assert_eq!(MessageProperties::new().encode(), "");
        assert_eq!(MessageProperties::new().encoded_len(), 0);
    }

    #[test]
    fn encoding_is_deterministic_and_round_trips() {
        let mut p = props(&[(UNIQ_KEY, "ABC"), (WAIT, "true"), (TAGS, "标签")]);
        p.insert(CLUSTER, "DefaultCluster").unwrap();
        assert_eq!(p.insert(WAIT, "false").unwrap(), Some("true".to_owned()));
        let s = p.encode();
        assert_eq!(s.len(), p.encoded_len());
        assert_eq!(
            s,
            "UNIQ_KEY\u{1}ABC\u{2}WAIT\u{1}false\u{2}TAGS\u{1}标签\u{2}CLUSTER\u{1}DefaultCluster"
        );
        assert_eq!(MessageProperties::decode(&s), p);
        assert_eq!(p.tags(), Some("标签"));
        assert_eq!(p.remove(WAIT), Some("false".to_owned()));
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn insert_rejects_what_the_string_cannot_carry() {
        let mut p = MessageProperties::new();
        assert!(p.insert("", "v").is_err());
        assert!(p.insert("k", "").is_err());
        assert!(p.insert("k\u{1}", "v").is_err());
        assert!(p.insert("k\u{2}", "v").is_err());
        assert!(p.insert("k", "a\u{2}b").is_err());
        assert!(p.is_empty());
    }

    #[test]
    fn inherit_adds_only_missing_keys_after_the_own_ones() {
        let mut own = props(&[("TAGS", "a"), ("KEYS", "k1")]);
        own.inherit(&props(&[
            ("WAIT", "true"),
            ("TAGS", "header"),
            ("CLUSTER", "c"),
        ]));
        assert_eq!(
            own,
            props(&[
                ("TAGS", "a"),
                ("KEYS", "k1"),
                ("WAIT", "true"),
                ("CLUSTER", "c")
            ])
        );
        // Inheriting the empty set, or into it, is a copy.
        let mut none = MessageProperties::new();
        none.inherit(&own);
        assert_eq!(none, own);
        own.inherit(&MessageProperties::new());
        assert_eq!(none, own);
        assert_eq!(MessageProperties::decode(&own.encode()), own);
    }

    #[test]
    fn split_keys_skips_empty_pieces() {
        let keys: Vec<_> = split_keys(" order-1  order-2 ").collect();
        assert_eq!(keys, ["order-1", "order-2"]);
    }
}
