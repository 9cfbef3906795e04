//! A zero-copy, validated view of one stored message, and an iterator over entries back to back.
//!
//! This is the one parser of the stored layout (see `store_format` for the table): decoding to
//! an owned [`MessageExt`] goes through it. Parsing checks the whole entry (magic, TOTALSIZE
//! against the buffer and against the fields, lengths, UTF-8, ports) but allocates nothing, so a
//! broker can read the topic, queue id, tags and keys it indexes without copying the body.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

use super::{MessageExt, BLANK_MAGIC_CODE, MESSAGE_MAGIC_CODE, MIN_STORED_SIZE};
use crate::message::cursor::Cursor;
use crate::message::properties::{self, MessageProperties};
use crate::message::{java_crc32, sysflag, tags, MessageError};

/// One stored message, borrowed from the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMessageView<'a> {
    at: usize,
    total_size: usize,
    body_crc: i32,
    queue_id: i32,
    flag: i32,
    queue_offset: i64,
    commit_log_offset: i64,
    sys_flag: i32,
    born_timestamp: i64,
    born_host: SocketAddr,
    store_timestamp: i64,
    store_host: SocketAddr,
    reconsume_times: i32,
    prepared_transaction_offset: i64,
    body: &'a [u8],
    topic: &'a str,
    properties: &'a str,
}

impl<'a> StoredMessageView<'a> {
    /// Parses the stored message at the start of `buf`. Bytes after its TOTALSIZE are ignored.
    pub fn parse(buf: &'a [u8]) -> Result<Self, MessageError> {
        Self::parse_at(buf, 0)
    }

    /// `base` is where `buf` starts in the caller's buffer; errors report absolute positions.
    pub(crate) fn parse_at(buf: &'a [u8], base: usize) -> Result<Self, MessageError> {
        let mut head = Cursor::new(buf, base);
        let total_size = head.i32("TOTALSIZE")?;
        let magic_at = head.at();
        match head.u32("MAGICCODE")? {
            MESSAGE_MAGIC_CODE => {}
            BLANK_MAGIC_CODE => {
                return Err(MessageError::Blank {
                    at: magic_at,
                    total_size,
                })
            }
            found => {
                return Err(MessageError::BadMagic {
                    at: magic_at,
                    found,
                })
            }
        }
        let total = usize::try_from(total_size)
            .ok()
            .filter(|t| *t >= MIN_STORED_SIZE)
            .ok_or(MessageError::TotalSizeTooSmall {
                at: base,
                total_size,
                min: MIN_STORED_SIZE,
            })?;
        let entry = buf.get(..total).ok_or(MessageError::Truncated {
            at: base,
            need: total,
            available: buf.len(),
            field: "the message (TOTALSIZE)",
        })?;

        let mut c = Cursor::new(entry, base);
        c.take(8, "TOTALSIZE and MAGICCODE")?;
        let body_crc = c.i32("BODYCRC")?;
        let queue_id = c.i32("QUEUEID")?;
        let flag = c.i32("FLAG")?;
        let queue_offset = c.i64("QUEUEOFFSET")?;
        let commit_log_offset = c.i64("PHYSICALOFFSET")?;
        let sys_flag = c.i32("SYSFLAG")?;
        let born_timestamp = c.i64("BORNTIMESTAMP")?;
        let born_host = read_host(&mut c, sysflag::is_born_host_v6(sys_flag), "BORNHOST")?;
        let store_timestamp = c.i64("STORETIMESTAMP")?;
        let store_host = read_host(
            &mut c,
            sysflag::is_store_host_v6(sys_flag),
            "STOREHOSTADDRESS",
        )?;
        let reconsume_times = c.i32("RECONSUMETIMES")?;
        let prepared_transaction_offset = c.i64("PREPAREDTRANSACTIONOFFSET")?;
        let body_len = c.len_i32("BODY length")?;
        let body = c.take(body_len, "BODY")?;
        let topic_len = c.len_i8("TOPIC length")?;
        let topic = utf8(&mut c, topic_len, "TOPIC")?;
        let properties_len = c.len_i16("PROPERTIES length")?;
        let properties = utf8(&mut c, properties_len, "PROPERTIES")?;
        if c.pos() != total {
            return Err(MessageError::TotalSizeMismatch {
                at: base,
                declared: total_size,
                actual: c.pos(),
            });
        }

        Ok(StoredMessageView {
            at: base,
            total_size: total,
            body_crc,
            queue_id,
            flag,
            queue_offset,
            commit_log_offset,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            topic,
            properties,
        })
    }

    /// TOTALSIZE: the bytes this entry takes, so the next one starts this far on.
    pub fn total_size(&self) -> usize {
        self.total_size
    }

    /// BODYCRC as stored (not recomputed; see [`check_body_crc`](Self::check_body_crc)).
    pub fn body_crc(&self) -> i32 {
        self.body_crc
    }

    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }

    pub fn flag(&self) -> i32 {
        self.flag
    }

    pub fn queue_offset(&self) -> i64 {
        self.queue_offset
    }

    pub fn commit_log_offset(&self) -> i64 {
        self.commit_log_offset
    }

    pub fn sys_flag(&self) -> i32 {
        self.sys_flag
    }

    pub fn born_timestamp(&self) -> i64 {
        self.born_timestamp
    }

    pub fn born_host(&self) -> SocketAddr {
        self.born_host
    }

    pub fn store_timestamp(&self) -> i64 {
        self.store_timestamp
    }

    pub fn store_host(&self) -> SocketAddr {
        self.store_host
    }

    pub fn reconsume_times(&self) -> i32 {
        self.reconsume_times
    }

    pub fn prepared_transaction_offset(&self) -> i64 {
        self.prepared_transaction_offset
    }

    /// The body as stored (still compressed if SYSFLAG says so).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The raw properties string.
    pub fn properties_str(&self) -> &'a str {
        self.properties
    }

    /// One property, looked up without allocating (last pair wins, as in Java).
    pub fn property(&self, key: &str) -> Option<&'a str> {
        properties::find(self.properties, key)
    }

    pub fn tags(&self) -> Option<&'a str> {
        self.property(properties::TAGS)
    }

    pub fn keys(&self) -> Option<&'a str> {
        self.property(properties::KEYS)
    }

    pub fn uniq_key(&self) -> Option<&'a str> {
        self.property(properties::UNIQ_KEY)
    }

    /// Hash of TAGS, 0 without tags. For a delayed message on `SCHEDULE_TOPIC_XXXX` the
    /// ConsumeQueue stores the deliver time instead; that is the broker's decision, not this view's.
    pub fn tags_code(&self) -> i64 {
        tags::tags_code(self.tags())
    }

    /// Recomputes the body CRC and compares it with BODYCRC.
    pub fn check_body_crc(&self) -> Result<(), MessageError> {
        let computed = java_crc32(self.body);
        if computed == self.body_crc {
            Ok(())
        } else {
            Err(MessageError::BodyCrcMismatch {
                at: self.at,
                stored: self.body_crc,
                computed,
            })
        }
    }

    /// An owned copy, body included.
    pub fn to_message_ext(self) -> MessageExt {
        self.to_message_ext_with_body(Bytes::copy_from_slice(self.body))
    }

    /// An owned message whose body is `body` (the caller's zero-copy slice of the same bytes).
    pub(crate) fn to_message_ext_with_body(self, body: Bytes) -> MessageExt {
        MessageExt {
            topic: self.topic.to_owned(),
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            commit_log_offset: self.commit_log_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body,
            properties: MessageProperties::decode(self.properties),
        }
    }
}

fn read_host(
    c: &mut Cursor<'_>,
    v6: bool,
    field: &'static str,
) -> Result<SocketAddr, MessageError> {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(c.bytes16(field)?))
    } else {
        IpAddr::V4(Ipv4Addr::from(c.bytes4(field)?))
    };
    let at = c.at();
    let port = c.i32(field)?;
    let port = u16::try_from(port).map_err(|_| MessageError::BadPort { at, field, port })?;
    Ok(SocketAddr::new(ip, port))
}

fn utf8<'a>(c: &mut Cursor<'a>, len: usize, field: &'static str) -> Result<&'a str, MessageError> {
    let at = c.at();
    let bytes = c.take(len, field)?;
    std::str::from_utf8(bytes).map_err(|_| MessageError::InvalidUtf8 { at, field })
}

/// Stored messages back to back (a PULL body, a run of a CommitLog segment).
///
/// Yields one view per entry; after the first error (including [`MessageError::Blank`] at the
/// end of a segment) it yields that error once and then stops.
#[derive(Debug, Clone)]
pub struct StoredMessages<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

/// Walks the stored messages in `buf` by TOTALSIZE.
pub fn iter_stored(buf: &[u8]) -> StoredMessages<'_> {
    StoredMessages {
        buf,
        pos: 0,
        done: false,
    }
}

impl StoredMessages<'_> {
    /// Where the next entry starts (after an error: where the bad entry starts).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for StoredMessages<'a> {
    type Item = Result<StoredMessageView<'a>, MessageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        match StoredMessageView::parse_at(rest, self.pos) {
            Ok(view) => {
                self.pos += view.total_size();
                Some(Ok(view))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::store_format::tests::sample;
    use crate::message::store_format::{decode_all, encode_stored, fixed_part_len};
    use crate::message::tags::tags_hash_code;

    #[test]
    fn fixed_part_lengths() {
        assert_eq!(fixed_part_len(0), 84);
        assert_eq!(fixed_part_len(sysflag::BORNHOST_V6_FLAG), 96);
        assert_eq!(fixed_part_len(sysflag::STOREHOSTADDRESS_V6_FLAG), 96);
        assert_eq!(
            fixed_part_len(sysflag::BORNHOST_V6_FLAG | sysflag::STOREHOSTADDRESS_V6_FLAG),
            108
        );
    }

    #[test]
    fn view_reads_index_fields_without_copying() {
        for v6 in [false, true] {
            let msg = sample(v6);
            let raw = encode_stored(&msg).unwrap();
            let view = StoredMessageView::parse(&raw).unwrap();
            assert_eq!(view.total_size(), raw.len());
            assert_eq!(view.topic(), "TopicTest");
            assert_eq!(view.queue_id(), 3);
            assert_eq!(view.flag(), 0x55);
            assert_eq!(view.queue_offset(), 5);
            assert_eq!(view.commit_log_offset(), 1000);
            assert_eq!(view.sys_flag(), msg.sys_flag);
            assert_eq!(view.born_timestamp(), 1_700_000_000_000);
            assert_eq!(view.born_host(), msg.born_host);
            assert_eq!(view.store_timestamp(), 1_700_000_000_123);
            assert_eq!(view.store_host(), msg.store_host);
            assert_eq!(view.reconsume_times(), 2);
            assert_eq!(view.prepared_transaction_offset(), -1);
            assert_eq!(view.tags(), Some("TagA"));
            assert_eq!(view.tags_code(), tags_hash_code("TagA"));
            assert_eq!(view.keys(), Some("order-1 order-2"));
            assert_eq!(view.uniq_key(), Some("C0A8010A1F40FFFFFFFF010203040000"));
            assert_eq!(view.property("NOPE"), None);
            assert_eq!(view.properties_str(), msg.properties.encode());
            assert_eq!(view.body_crc(), java_crc32(b"Hello RocketMQ"));
            assert!(view.check_body_crc().is_ok());
            let body = view.body().as_ptr() as usize;
            let start = raw.as_ptr() as usize;
            assert!(body >= start && body < start + raw.len());
            assert_eq!(view.to_message_ext(), msg);
        }
    }

    #[test]
    fn trailing_bytes_after_total_size_are_not_read() {
        let mut raw = encode_stored(&sample(false)).unwrap().to_vec();
        let len = raw.len();
        raw.extend_from_slice(&[0xEE; 7]);
        assert_eq!(StoredMessageView::parse(&raw).unwrap().total_size(), len);
    }

    fn two_messages() -> (Vec<u8>, usize) {
        let mut first = sample(false);
        first.body = Bytes::from_static(b"first");
        let mut raw = encode_stored(&first).unwrap().to_vec();
        let second_at = raw.len();
        raw.extend_from_slice(&encode_stored(&sample(true)).unwrap());
        (raw, second_at)
    }

    #[test]
    fn decode_all_walks_total_size() {
        let (raw, _) = two_messages();
        let all = decode_all(&raw, true).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(&all[0].body[..], b"first");
        assert_eq!(all[1], sample(true));
        assert!(decode_all(&[], true).unwrap().is_empty());
    }

    #[test]
    fn errors_in_a_later_entry_carry_its_absolute_position() {
        let (mut raw, second_at) = two_messages();
        raw[second_at + 4] = 0; // break the second MAGICCODE
        let err = decode_all(&raw, false).unwrap_err();
        assert!(matches!(err, MessageError::BadMagic { at, .. } if at == second_at + 4));

        let (raw, second_at) = two_messages();
        let cut = &raw[..raw.len() - 1];
        assert!(matches!(
            decode_all(cut, false),
            Err(MessageError::Truncated { at, .. }) if at == second_at
        ));
        let mut iter = iter_stored(cut);
        assert!(iter.next().unwrap().is_ok());
        assert!(iter.next().unwrap().is_err());
        assert_eq!(iter.position(), second_at);
        assert!(iter.next().is_none());
    }

    #[test]
    fn every_prefix_of_a_pull_body_is_an_error_or_a_shorter_list() {
        let (raw, second_at) = two_messages();
        for len in 1..raw.len() {
            match decode_all(&raw[..len], true) {
                Ok(list) => assert!(len == second_at && list.len() == 1),
                Err(_) => assert!(len != second_at),
            }
        }
    }

    #[test]
    fn blank_filler_ends_a_segment() {
        let mut raw = encode_stored(&sample(false)).unwrap().to_vec();
        let blank_at = raw.len();
        raw.extend_from_slice(&64i32.to_be_bytes());
        raw.extend_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
        raw.extend_from_slice(&[0; 56]);
        let results: Vec<_> = iter_stored(&raw).collect();
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        assert_eq!(
            results[1],
            Err(MessageError::Blank {
                at: blank_at + 4,
                total_size: 64
            })
        );
    }
}
