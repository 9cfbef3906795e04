//! Tags hash codes and tag subscriptions.
//!
//! The ConsumeQueue stores, per message, the Java `String.hashCode()` of its TAGS (as a long),
//! and the broker filters pulls by comparing that code with the subscription's code set. The
//! hash must therefore be bit-for-bit Java's: over UTF-16 code units, int32 wrapping arithmetic,
//! sign-extended to i64. Hash collisions are expected; the client filters again by string.

use std::collections::BTreeSet;

use super::MessageError;

/// The subscription expression meaning "every tag".
pub const SUB_ALL: &str = "*";
/// Separates tags in a subscription expression.
pub const TAG_SEPARATOR: &str = "||";

/// Java `tags.hashCode()` as a long: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units,
/// wrapping at 32 bits. The empty string hashes to 0.
pub fn tags_hash_code(tags: &str) -> i64 {
    let hash = tags.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    i64::from(hash)
}

/// The tags code of a message: 0 without tags (Java `tagsString2tagsCode`).
pub fn tags_code(tags: Option<&str>) -> i64 {
    tags.map_or(0, tags_hash_code)
}

/// A parsed tag subscription (Java `FilterAPI.buildSubscriptionData` for expression type TAG).
///
/// Sets are `BTreeSet`s so iteration (and anything serialised from them) is deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSubscription {
    /// `*` or the empty string.
    All,
    /// Only messages with one of these tags. `codes` are the tags' Java hash codes as ints, the
    /// form Java's `SubscriptionData.codeSet` has. The set may be empty (e.g. `" || "`), which
    /// matches nothing, as in Java.
    Tags {
        tags: BTreeSet<String>,
        codes: BTreeSet<i32>,
    },
}

impl TagSubscription {
    /// Parses `*`, the empty string, or tags separated by `||`.
    ///
    /// As in Java: only exactly `*` means all (`" * "` is the tag `*`); each tag is trimmed of
    /// characters up to U+0020 (Java `String.trim`), and empty tags are skipped. An expression
    /// made only of `||` separators is rejected, as Java's split leaves nothing to read.
    pub fn parse(expr: &str) -> Result<Self, MessageError> {
        if expr.is_empty() || expr == SUB_ALL {
            return Ok(TagSubscription::All);
        }
        if expr.split(TAG_SEPARATOR).all(str::is_empty) {
            return Err(MessageError::InvalidSubscription {
                expr: expr.to_owned(),
            });
        }
        let mut tags = BTreeSet::new();
        let mut codes = BTreeSet::new();
        for tag in expr.split(TAG_SEPARATOR) {
            let tag = tag.trim_matches(|c: char| c <= ' ');
            if !tag.is_empty() {
                // Truncation to the int Java keeps in `codeSet`.
                codes.insert(tags_hash_code(tag) as i32);
                tags.insert(tag.to_owned());
            }
        }
        Ok(TagSubscription::Tags { tags, codes })
    }

    pub fn is_all(&self) -> bool {
        matches!(self, TagSubscription::All)
    }

    /// Broker-side filter on a ConsumeQueue tags code. Java compares `tagsCode.intValue()`, so
    /// the code is truncated to 32 bits the same way.
    pub fn matches_tags_code(&self, tags_code: i64) -> bool {
        match self {
            TagSubscription::All => true,
            TagSubscription::Tags { codes, .. } => codes.contains(&(tags_code as i32)),
        }
    }

    /// Client-side filter on the message's TAGS string (resolves hash collisions).
    pub fn matches_tags(&self, tags: Option<&str>) -> bool {
        match (self, tags) {
            (TagSubscription::All, _) => true,
            (TagSubscription::Tags { tags: set, .. }, Some(tag)) => set.contains(tag),
            (TagSubscription::Tags { .. }, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_code_vectors() {
        assert_eq!(tags_hash_code(""), 0);
        assert_eq!(tags_hash_code("a"), 97);
        // 'T'=84, 'a'=97, 'g'=103, 'A'=65:
        // ((84*31 + 97)*31 + 103)*31 + 65 = (2701*31 + 103)*31 + 65 = 83834*31 + 65 = 2598919
        assert_eq!(tags_hash_code("TagA"), 2_598_919);
        // U+1F600 is the surrogate pair D83D DE00: 0xD83D*31 + 0xDE00 = 55357*31 + 56832.
        assert_eq!(tags_hash_code("\u{1F600}"), 55_357 * 31 + 56_832);
        // A BMP non-ASCII char is one code unit: '标' = U+6807 = 26631.
        assert_eq!(tags_hash_code("标"), 26_631);
        // Known Java values: wrapping, and a string whose hash is Integer.MIN_VALUE, which must
        // be sign-extended, not zero-extended.
        assert_eq!(tags_hash_code("hello world"), 1_794_106_052);
        assert_eq!(tags_hash_code("polygenelubricants"), -2_147_483_648);
    }

    #[test]
    fn no_tags_is_code_zero() {
        assert_eq!(tags_code(None), 0);
        assert_eq!(tags_code(Some("")), 0);
        assert_eq!(tags_code(Some("a")), 97);
    }

    #[test]
    fn parse_all() {
        assert!(TagSubscription::parse("*").unwrap().is_all());
        assert!(TagSubscription::parse("").unwrap().is_all());
        let star = TagSubscription::parse(" * ").unwrap();
        assert!(!star.is_all());
        assert!(star.matches_tags(Some("*")));
    }

    #[test]
    fn parse_tags_trims_and_skips_empty() {
        let sub = TagSubscription::parse(" TagA ||TagB|| ||\tTagA").unwrap();
        let TagSubscription::Tags { tags, codes } = &sub else {
            panic!("expected tags, got {sub:?}");
        };
        assert_eq!(
            tags.iter().map(String::as_str).collect::<Vec<_>>(),
            ["TagA", "TagB"]
        );
        assert_eq!(codes.len(), 2);
        assert!(sub.matches_tags_code(2_598_919));
        assert!(sub.matches_tags_code(tags_hash_code("TagB")));
        assert!(!sub.matches_tags_code(0));
        assert!(!sub.matches_tags_code(tags_hash_code("TagC")));
        assert!(sub.matches_tags(Some("TagB")));
        assert!(!sub.matches_tags(None));
    }

    #[test]
    fn codes_compare_as_java_ints() {
        let sub = TagSubscription::parse("polygenelubricants").unwrap();
        assert!(sub.matches_tags_code(-2_147_483_648));
        // The upper half of the long is ignored, as with Java's intValue().
        assert!(sub.matches_tags_code(0x1_8000_0000));
    }

    #[test]
    fn separator_only_expressions_are_rejected_like_java() {
        assert!(TagSubscription::parse("||").is_err());
        assert!(TagSubscription::parse("||||").is_err());
        let blank = TagSubscription::parse(" || ").unwrap();
        assert!(!blank.matches_tags_code(0));
        assert!(!blank.matches_tags(Some("")));
    }

    #[test]
    fn three_bars_split_like_java_regex() {
        // Java: "A|||B".split("\\|\\|") == ["A", "|B"].
        let sub = TagSubscription::parse("A|||B").unwrap();
        assert!(sub.matches_tags(Some("A")));
        assert!(sub.matches_tags(Some("|B")));
    }
}
