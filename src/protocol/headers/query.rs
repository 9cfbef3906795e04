//! VIEW_MESSAGE_BY_ID (33) and QUERY_MESSAGE (12).

use crate::protocol::header::{
    opt_bool, put, req_i32, req_i64, req_str, CommandHeader, ExtFields, HeaderError,
};

/// The extField (outside Java's header class) that turns QUERY_MESSAGE into a lookup by
/// UNIQ_KEY (`MixAll.UNIQUE_MSG_QUERY_FLAG`); the client sends `"true"`.
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

/// VIEW_MESSAGE_BY_ID request: the CommitLog physical offset decoded from an offsetMsgId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewMessageRequestHeader {
    pub offset: i64,
}

impl CommandHeader for ViewMessageRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Ok(ViewMessageRequestHeader {
            offset: req_i64(ext, "ViewMessageRequestHeader", "offset")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "offset", self.offset);
        ext
    }
}

/// QUERY_MESSAGE request: messages of `topic` indexed under `key` stored in
/// `[begin_timestamp, end_timestamp]`. Answer 22 QUERY_NOT_FOUND when nothing matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryMessageRequestHeader {
    pub topic: String,
    pub key: String,
    pub max_num: i32,
    pub begin_timestamp: i64,
    pub end_timestamp: i64,
    /// `_UNIQUE_KEY_QUERY` = true: `key` is a UNIQ_KEY (the Java broker then ignores `max_num`
    /// in favour of its own `defaultQueryMaxNum`).
    pub unique_key_query: bool,
}

impl CommandHeader for QueryMessageRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "QueryMessageRequestHeader";
        Ok(QueryMessageRequestHeader {
            topic: req_str(ext, R, "topic")?,
            key: req_str(ext, R, "key")?,
            max_num: req_i32(ext, R, "maxNum")?,
            begin_timestamp: req_i64(ext, R, "beginTimestamp")?,
            end_timestamp: req_i64(ext, R, "endTimestamp")?,
            unique_key_query: opt_bool(ext, UNIQUE_KEY_QUERY).unwrap_or(false),
        })
    }

    /// Writes `_UNIQUE_KEY_QUERY` only when true.
    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "topic", &self.topic);
        put(&mut ext, "key", &self.key);
        put(&mut ext, "maxNum", self.max_num);
        put(&mut ext, "beginTimestamp", self.begin_timestamp);
        put(&mut ext, "endTimestamp", self.end_timestamp);
        if self.unique_key_query {
            put(&mut ext, UNIQUE_KEY_QUERY, true);
        }
        ext
    }
}

/// QUERY_MESSAGE response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryMessageResponseHeader {
    pub index_last_update_timestamp: i64,
    pub index_last_update_phyoffset: i64,
}

impl CommandHeader for QueryMessageResponseHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "QueryMessageResponseHeader";
        Ok(QueryMessageResponseHeader {
            index_last_update_timestamp: req_i64(ext, R, "indexLastUpdateTimestamp")?,
            index_last_update_phyoffset: req_i64(ext, R, "indexLastUpdatePhyoffset")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(
            &mut ext,
            "indexLastUpdateTimestamp",
            self.index_last_update_timestamp,
        );
        put(
            &mut ext,
            "indexLastUpdatePhyoffset",
            self.index_last_update_phyoffset,
        );
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::header::ext_from;

    #[test]
    fn view_message() {
        let h = ViewMessageRequestHeader::from_ext(&ext_from([("offset", "4096")])).unwrap();
        assert_eq!(h.offset, 4096);
        assert_eq!(h.to_ext(), ext_from([("offset", "4096")]));
        assert_eq!(
            ViewMessageRequestHeader::from_ext(&ext_from([]))
                .unwrap_err()
                .to_string(),
            "missing required field `offset` for request ViewMessageRequestHeader"
        );
    }

    #[test]
    fn query_message_by_key_and_by_unique_key() {
        let java = ext_from([
            ("beginTimestamp", "0"),
            ("endTimestamp", "9223372036854775807"),
            ("key", "7F0000010B5A18B4AAC2"),
            ("maxNum", "32"),
            ("topic", "TopicTest"),
            ("_UNIQUE_KEY_QUERY", "true"),
        ]);
        let h = QueryMessageRequestHeader::from_ext(&java).unwrap();
        assert!(h.unique_key_query);
        assert_eq!(h.end_timestamp, i64::MAX);
        assert_eq!(h.to_ext(), java);
        let mut by_key = java.clone();
        by_key.insert(UNIQUE_KEY_QUERY, "false");
        let h2 = QueryMessageRequestHeader::from_ext(&by_key).unwrap();
        assert!(!h2.unique_key_query);
        assert!(!h2.to_ext().contains_key(UNIQUE_KEY_QUERY));
        assert_eq!(QueryMessageRequestHeader::from_ext(&h2.to_ext()), Ok(h2));
        let mut missing = java;
        missing.remove("maxNum");
        assert_eq!(
            QueryMessageRequestHeader::from_ext(&missing)
                .unwrap_err()
                .field(),
            "maxNum"
        );
    }

    #[test]
    fn query_message_response() {
        let r = QueryMessageResponseHeader {
            index_last_update_timestamp: 10,
            index_last_update_phyoffset: 20,
        };
        assert_eq!(
            r.to_ext(),
            ext_from([
                ("indexLastUpdateTimestamp", "10"),
                ("indexLastUpdatePhyoffset", "20")
            ])
        );
        assert_eq!(QueryMessageResponseHeader::from_ext(&r.to_ext()), Ok(r));
    }
}
