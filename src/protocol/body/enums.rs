//! The consumer enums carried in HEART_BEAT and ConsumerConnection bodies.
//!
//! Java writes the enum name; readers differ, so these are read the way Java's fastjson 1.2.69
//! `EnumDeserializer` reads them, plus one extension:
//!
//! * a JSON integer is the ordinal (the C++ client sends `consumeType:1`); out of range is an
//!   error, as in fastjson;
//! * a string is the name, matched ASCII-case-insensitively (the Go client sends
//!   `"Clustering"`); an empty or unknown name reads as absent (fastjson gives null, e.g. for
//!   the Go client's `"UNKOWN"` consumeFromWhere);
//! * `null` reads as absent;
//! * extension: a string of digits is taken as the ordinal (fastjson would give null).
//!
//! Hence the fields are `Option<_>` (`#[serde(deserialize_with = "lenient_enum")]`); writing
//! always uses the Java name, and an absent value is omitted as fastjson omits null.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// A Java enum: its constants in ordinal order, with their names.
pub trait JavaEnum: Sized + Copy + 'static {
    /// `(constant, Java name)` in ordinal order.
    const VARIANTS: &'static [(Self, &'static str)];

    /// The Java name.
    fn name(self) -> &'static str;

    /// The constant with this ordinal.
    fn from_ordinal(ordinal: u64) -> Option<Self> {
        usize::try_from(ordinal)
            .ok()
            .and_then(|i| Self::VARIANTS.get(i))
            .map(|(v, _)| *v)
    }

    /// The constant with this name, ignoring ASCII case.
    fn from_name(name: &str) -> Option<Self> {
        Self::VARIANTS
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(v, _)| *v)
    }
}

macro_rules! java_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $java:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $java)] $variant,)+
        }

        impl JavaEnum for $name {
            const VARIANTS: &'static [(Self, &'static str)] = &[$(($name::$variant, $java),)+];

            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $java,)+
                }
            }
        }

        /// Strict: an unknown name is an error. Fields use [`lenient_enum`] instead.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                lenient_enum::<D, $name>(d)?
                    .ok_or_else(|| de::Error::custom(concat!("unknown ", stringify!($name))))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

java_enum!(
    /// How a consumer gets messages.
    ConsumeType {
        /// Pull consumer (`PULL`).
        ConsumeActively = "CONSUME_ACTIVELY",
        /// Push consumer (`PUSH`).
        ConsumePassively = "CONSUME_PASSIVELY",
        /// 5.x POP consumer; accepted so a 5.x heartbeat still parses.
        ConsumePop = "CONSUME_POP",
    }
);

java_enum!(
    /// How a group shares messages.
    MessageModel {
        /// Every consumer gets every message.
        Broadcasting = "BROADCASTING",
        /// Consumers of a group share the queues.
        Clustering = "CLUSTERING",
    }
);

java_enum!(
    /// Where a group with no committed offset starts.
    ConsumeFromWhere {
        ConsumeFromLastOffset = "CONSUME_FROM_LAST_OFFSET",
        /// Deprecated in Java.
        ConsumeFromLastOffsetAndFromMinWhenBootFirst = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        /// Deprecated in Java.
        ConsumeFromMinOffset = "CONSUME_FROM_MIN_OFFSET",
        /// Deprecated in Java.
        ConsumeFromMaxOffset = "CONSUME_FROM_MAX_OFFSET",
        ConsumeFromFirstOffset = "CONSUME_FROM_FIRST_OFFSET",
        ConsumeFromTimestamp = "CONSUME_FROM_TIMESTAMP",
    }
);

/// Reads a Java enum field leniently (see the module doc); use with `#[serde(default)]`.
pub fn lenient_enum<'de, D, E>(d: D) -> Result<Option<E>, D::Error>
where
    D: Deserializer<'de>,
    E: JavaEnum,
{
    d.deserialize_any(EnumVisitor::<E>(PhantomData))
}

struct EnumVisitor<E>(PhantomData<E>);

impl<'de, E: JavaEnum> Visitor<'de> for EnumVisitor<E> {
    type Value = Option<E>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an enum name or ordinal")
    }

    fn visit_u64<Er: de::Error>(self, v: u64) -> Result<Self::Value, Er> {
        E::from_ordinal(v)
            .map(Some)
            .ok_or_else(|| Er::custom(format_args!("enum ordinal {v} out of range")))
    }

    fn visit_i64<Er: de::Error>(self, v: i64) -> Result<Self::Value, Er> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(Er::custom(format_args!("enum ordinal {v} out of range"))),
        }
    }

    fn visit_str<Er: de::Error>(self, v: &str) -> Result<Self::Value, Er> {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            return match v.parse::<u64>() {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(Er::custom(format_args!("enum ordinal {v} out of range"))),
            };
        }
        Ok(E::from_name(v))
    }

    fn visit_unit<Er: de::Error>(self) -> Result<Self::Value, Er> {
        Ok(None)
    }

    fn visit_none<Er: de::Error>(self) -> Result<Self::Value, Er> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct F {
        #[serde(default, deserialize_with = "lenient_enum")]
        m: Option<MessageModel>,
    }

    fn read(json: &str) -> Result<Option<MessageModel>, serde_json::Error> {
        serde_json::from_str::<F>(json).map(|f| f.m)
    }

    #[test]
    fn names_ordinals_and_unknowns() {
        assert_eq!(
            read(r#"{"m":"CLUSTERING"}"#).unwrap(),
            Some(MessageModel::Clustering)
        );
        assert_eq!(
            read(r#"{"m":"Clustering"}"#).unwrap(),
            Some(MessageModel::Clustering)
        );
        assert_eq!(
            read(r#"{"m":"BroadCasting"}"#).unwrap(),
            Some(MessageModel::Broadcasting)
        );
        assert_eq!(read(r#"{"m":1}"#).unwrap(), Some(MessageModel::Clustering));
        assert_eq!(
            read(r#"{"m":"0"}"#).unwrap(),
            Some(MessageModel::Broadcasting)
        );
        assert_eq!(read(r#"{"m":"UNKOWN"}"#).unwrap(), None);
        assert_eq!(read(r#"{"m":""}"#).unwrap(), None);
        assert_eq!(read(r#"{"m":null}"#).unwrap(), None);
        assert_eq!(read("{}").unwrap(), None);
        for bad in [
            r#"{"m":2}"#,
            r#"{"m":-1}"#,
            r#"{"m":"99999999999999999999999"}"#,
            r#"{"m":[1]}"#,
            r#"{"m":1.5}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ordinals_match_java() {
        assert_eq!(
            ConsumeFromWhere::from_ordinal(4),
            Some(ConsumeFromWhere::ConsumeFromFirstOffset)
        );
        assert_eq!(
            ConsumeFromWhere::from_ordinal(5),
            Some(ConsumeFromWhere::ConsumeFromTimestamp)
        );
        assert_eq!(
            ConsumeType::from_ordinal(1),
            Some(ConsumeType::ConsumePassively)
        );
        assert_eq!(ConsumeFromWhere::from_ordinal(6), None);
    }

    #[test]
    fn written_as_java_names() {
        assert_eq!(
            serde_json::to_string(&ConsumeFromWhere::ConsumeFromLastOffsetAndFromMinWhenBootFirst)
                .unwrap(),
            r#""CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST""#
        );
        assert_eq!(
            ConsumeType::ConsumePassively.to_string(),
            "CONSUME_PASSIVELY"
        );
        assert_eq!(
            serde_json::from_str::<ConsumeType>("0").unwrap(),
            ConsumeType::ConsumeActively
        );
        assert!(serde_json::from_str::<ConsumeType>(r#""NOPE""#).is_err());
    }
}
