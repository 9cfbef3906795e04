//! The stored message: one CommitLog entry, one element of a PULL response body, the body of a
//! VIEW_MESSAGE_BY_ID response. All ints are big-endian.
//!
//! ```text
//! pos  size  field
//!   0  4     TOTALSIZE                  whole entry, this field included
//!   4  4     MAGICCODE                  0xDAA320A7 (0xCBD43194 = BLANK segment filler)
//!   8  4     BODYCRC                    CRC-32/ISO-HDLC(body) & 0x7FFFFFFF
//!  12  4     QUEUEID
//!  16  4     FLAG                       user flag
//!  20  8     QUEUEOFFSET                index in the consume queue      (QUEUE_OFFSET_POS)
//!  28  8     PHYSICALOFFSET             byte offset in the CommitLog    (PHYSICAL_OFFSET_POS)
//!  36  4     SYSFLAG                    see `sysflag`
//!  40  8     BORNTIMESTAMP              ms
//!  48  8|20  BORNHOST                   IPv4 4 + port int | IPv6 16 + port int (SYSFLAG 0x10)
//!      8     STORETIMESTAMP             ms, broker clock
//!      8|20  STOREHOSTADDRESS           IPv4 4 + port int | IPv6 16 + port int (SYSFLAG 0x20)
//!      4     RECONSUMETIMES
//!      8     PREPAREDTRANSACTIONOFFSET
//!      4+N   BODY                       int length + bytes (compressed as the producer sent it)
//!      1+T   TOPIC                      signed byte length (T <= 127) + UTF-8
//!      2+P   PROPERTIES                 signed short length (P <= 32767) + UTF-8 (`properties`)
//! ```
//!
//! The fixed part is 84 bytes with two IPv4 hosts, 96 with one IPv6 host, 108 with two.
//!
//! QUEUEOFFSET and PHYSICALOFFSET sit at fixed positions so that they can be filled in after the
//! entry is built: in LedgerMQ queue offsets are assigned only when the Raft entry commits, so the
//! broker writes them into the bytes it serves with [`patch_offsets`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

pub use view::{iter_stored, StoredMessageView, StoredMessages};

use crate::message::{
    java_crc32, msg_id, properties::MessageProperties, sysflag, tags, MessageError,
};

mod view;

#[cfg(test)]
pub(crate) mod tests;

/// MAGICCODE of a stored message (Java `MESSAGE_MAGIC_CODE`, -626843481 as an int).
pub const MESSAGE_MAGIC_CODE: u32 = 0xDAA3_20A7;
/// MAGICCODE of the filler that pads the end of a CommitLog segment (Java `BLANK_MAGIC_CODE`).
pub const BLANK_MAGIC_CODE: u32 = 0xCBD4_3194;

pub const TOTAL_SIZE_POS: usize = 0;
pub const MAGIC_CODE_POS: usize = 4;
pub const BODY_CRC_POS: usize = 8;
pub const QUEUE_ID_POS: usize = 12;
pub const FLAG_POS: usize = 16;
/// Where QUEUEOFFSET starts; the broker patches it when serving a pull.
pub const QUEUE_OFFSET_POS: usize = 20;
/// Where PHYSICALOFFSET starts; the broker patches it when serving a pull.
pub const PHYSICAL_OFFSET_POS: usize = 28;
pub const SYS_FLAG_POS: usize = 36;
pub const BORN_TIMESTAMP_POS: usize = 40;
pub const BORN_HOST_POS: usize = 48;

/// Largest topic, in UTF-8 bytes (the length is a signed byte).
pub const MAX_TOPIC_LEN: usize = i8::MAX as usize;
/// Largest properties string, in UTF-8 bytes (the length is a signed short).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;
/// Smallest possible entry: IPv4 hosts, empty body, topic and properties.
pub const MIN_STORED_SIZE: usize = 84 + 4 + 1 + 2;

/// Bytes before BODY for a given SYSFLAG: 84 plus 12 for each IPv6 host.
pub fn fixed_part_len(sys_flag: i32) -> usize {
    let host = |v6: bool| if v6 { 20 } else { 8 };
    68 + host(sysflag::is_born_host_v6(sys_flag)) + host(sysflag::is_store_host_v6(sys_flag))
}

/// A stored message, decoded (Java `MessageExt`). The body is kept as stored: if SYSFLAG says it
/// is compressed, it is still compressed here; the consumer inflates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    pub topic: String,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    /// On encode the two IPv6 host bits are set from `born_host`/`store_host`; other bits are
    /// written as they are.
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: Bytes,
    pub properties: MessageProperties,
}

impl Default for MessageExt {
    fn default() -> Self {
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        MessageExt {
            topic: String::new(),
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: unspecified,
            store_timestamp: 0,
            store_host: unspecified,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::new(),
            properties: MessageProperties::new(),
        }
    }
}

impl MessageExt {
    pub fn tags(&self) -> Option<&str> {
        self.properties.tags()
    }

    pub fn keys(&self) -> Option<&str> {
        self.properties.keys()
    }

    pub fn uniq_key(&self) -> Option<&str> {
        self.properties.uniq_key()
    }

    /// The ConsumeQueue tags code of an ordinary message (hash of TAGS, 0 without tags).
    pub fn tags_code(&self) -> i64 {
        tags::tags_code(self.tags())
    }

    /// The offsetMsgId: store host + commit log offset (what SEND replies carry as `msgId`).
    pub fn offset_msg_id(&self) -> String {
        msg_id::create_offset_msg_id(self.store_host, self.commit_log_offset)
    }

    /// The SYSFLAG that [`encode_stored`] writes: `sys_flag` with the IPv6 bits set from the hosts.
    pub fn effective_sys_flag(&self) -> i32 {
        let flag = sysflag::set_born_host_v6(self.sys_flag, self.born_host.is_ipv6());
        sysflag::set_store_host_v6(flag, self.store_host.is_ipv6())
    }

    /// TOTALSIZE of this message once encoded, or why it cannot be encoded.
    pub fn stored_size(&self) -> Result<usize, MessageError> {
        Ok(Lengths::of(self)?.total)
    }
}

/// Checked lengths of an entry's variable parts.
struct Lengths {
    topic: i8,
    body: i32,
    properties: i16,
    total: usize,
    total_i32: i32,
}

impl Lengths {
    fn of(msg: &MessageExt) -> Result<Self, MessageError> {
        let topic_len = msg.topic.len();
        let topic =
            i8::try_from(topic_len).map_err(|_| MessageError::TopicTooLong { len: topic_len })?;
        let props_len = msg.properties.encoded_len();
        let properties = i16::try_from(props_len)
            .map_err(|_| MessageError::PropertiesTooLong { len: props_len })?;
        let body_len = msg.body.len();
        let body = i32::try_from(body_len).map_err(|_| MessageError::TooLong {
            field: "body",
            len: body_len,
        })?;
        let total = fixed_part_len(msg.effective_sys_flag())
            .saturating_add(4 + body_len)
            .saturating_add(1 + topic_len)
            .saturating_add(2 + props_len);
        let total_i32 = i32::try_from(total).map_err(|_| MessageError::TooLong {
            field: "message",
            len: total,
        })?;
        Ok(Lengths {
            topic,
            body,
            properties,
            total,
            total_i32,
        })
    }
}

/// Encodes a stored message, computing TOTALSIZE and BODYCRC.
///
/// Fails if the topic is longer than 127 bytes, the properties string longer than 32767 bytes,
/// or the body or entry longer than an int can say.
pub fn encode_stored(msg: &MessageExt) -> Result<Bytes, MessageError> {
    let mut out = BytesMut::new();
    encode_stored_into(msg, &mut out)?;
    Ok(out.freeze())
}

/// Appends a stored message to `out` (e.g. several messages of one batch into one Raft entry);
/// returns the bytes written. On error nothing is written.
pub fn encode_stored_into(msg: &MessageExt, out: &mut BytesMut) -> Result<usize, MessageError> {
    let len = Lengths::of(msg)?;
    let properties = msg.properties.encode();
    out.reserve(len.total);
    out.put_i32(len.total_i32);
    out.put_u32(MESSAGE_MAGIC_CODE);
    out.put_i32(java_crc32(&msg.body));
    out.put_i32(msg.queue_id);
    out.put_i32(msg.flag);
    out.put_i64(msg.queue_offset);
    out.put_i64(msg.commit_log_offset);
    out.put_i32(msg.effective_sys_flag());
    out.put_i64(msg.born_timestamp);
    put_host(out, msg.born_host);
    out.put_i64(msg.store_timestamp);
    put_host(out, msg.store_host);
    out.put_i32(msg.reconsume_times);
    out.put_i64(msg.prepared_transaction_offset);
    out.put_i32(len.body);
    out.put_slice(&msg.body);
    out.put_i8(len.topic);
    out.put_slice(msg.topic.as_bytes());
    out.put_i16(len.properties);
    out.put_slice(properties.as_bytes());
    Ok(len.total)
}

fn put_host(out: &mut BytesMut, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.put_slice(&ip.octets()),
        IpAddr::V6(ip) => out.put_slice(&ip.octets()),
    }
    out.put_i32(i32::from(addr.port()));
}

/// Writes QUEUEOFFSET and PHYSICALOFFSET into the stored message at the start of `buf`.
///
/// Only the first 36 bytes are touched and nothing is checked beyond their presence: the caller
/// hands the start of an entry it built or already decoded.
pub fn patch_offsets(
    buf: &mut [u8],
    queue_offset: i64,
    commit_log_offset: i64,
) -> Result<(), MessageError> {
    let need = PHYSICAL_OFFSET_POS + 8;
    let len = buf.len();
    let header = buf
        .get_mut(QUEUE_OFFSET_POS..need)
        .ok_or(MessageError::PatchOutOfBounds { len, need })?;
    let (queue, physical) = header.split_at_mut(PHYSICAL_OFFSET_POS - QUEUE_OFFSET_POS);
    queue.copy_from_slice(&queue_offset.to_be_bytes());
    physical.copy_from_slice(&commit_log_offset.to_be_bytes());
    Ok(())
}

/// Decodes the stored message at the start of `buf`; returns it and the bytes it took
/// (its TOTALSIZE). The body is copied; see [`decode_stored_bytes`] to share it instead.
pub fn decode_stored(
    buf: &[u8],
    verify_body_crc: bool,
) -> Result<(MessageExt, usize), MessageError> {
    let view = StoredMessageView::parse(buf)?;
    if verify_body_crc {
        view.check_body_crc()?;
    }
    Ok((view.to_message_ext(), view.total_size()))
}

/// Like [`decode_stored`], but the body is a slice of `buf` (no copy).
pub fn decode_stored_bytes(
    buf: &Bytes,
    verify_body_crc: bool,
) -> Result<(MessageExt, usize), MessageError> {
    let view = StoredMessageView::parse(buf)?;
    if verify_body_crc {
        view.check_body_crc()?;
    }
    let msg = view.to_message_ext_with_body(buf.slice_ref(view.body()));
    Ok((msg, view.total_size()))
}

/// Decodes a PULL response body: stored messages back to back, walked by TOTALSIZE.
///
/// Unlike the Java client, which silently stops at the first entry it cannot decode, this fails
/// with the position of the bad entry; an empty buffer is an empty list.
pub fn decode_all(buf: &[u8], verify_body_crc: bool) -> Result<Vec<MessageExt>, MessageError> {
    iter_stored(buf)
        .map(|view| {
            let view = view?;
            if verify_body_crc {
                view.check_body_crc()?;
            }
            Ok(view.to_message_ext())
        })
        .collect()
}

#[cfg(test)]
mod unit_tests {
    use super::tests::sample;
    use super::*;

    #[test]
    fn mixed_hosts_set_only_their_own_v6_bit() {
        let mut msg = sample(false);
        msg.store_host = "[::1]:10911".parse().unwrap();
        let raw = encode_stored(&msg).unwrap();
        let (decoded, _) = decode_stored(&raw, true).unwrap();
        assert!(!sysflag::is_born_host_v6(decoded.sys_flag));
        assert!(sysflag::is_store_host_v6(decoded.sys_flag));
        assert_eq!(decoded.store_host, msg.store_host);
        assert_eq!(
            raw.len(),
            96 + 4 + 14 + 1 + 9 + 2 + msg.properties.encoded_len()
        );
    }

    #[test]
    fn empty_body_topic_and_properties_is_the_minimum_entry() {
        let msg = MessageExt::default();
        let raw = encode_stored(&msg).unwrap();
        assert_eq!(raw.len(), MIN_STORED_SIZE);
        assert_eq!(decode_stored(&raw, true), Ok((msg, MIN_STORED_SIZE)));
    }

    #[test]
    fn encode_limits() {
        let mut msg = sample(false);
        msg.topic = "t".repeat(127);
        assert!(encode_stored(&msg).is_ok());
        msg.topic = "t".repeat(128);
        assert_eq!(
            encode_stored(&msg),
            Err(MessageError::TopicTooLong { len: 128 })
        );
        let mut msg = sample(false);
        msg.properties.insert("BIG", "x".repeat(32_767)).unwrap();
        assert!(matches!(
            encode_stored(&msg),
            Err(MessageError::PropertiesTooLong { .. })
        ));
        let mut out = BytesMut::new();
        assert!(encode_stored_into(&msg, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn patch_offsets_rewrites_only_the_two_fields() {
        let msg = sample(true);
        let mut raw = encode_stored(&msg).unwrap().to_vec();
        patch_offsets(&mut raw, 42, 1 << 40).unwrap();
        let (patched, _) = decode_stored(&raw, true).unwrap();
        assert_eq!(patched.queue_offset, 42);
        assert_eq!(patched.commit_log_offset, 1 << 40);
        assert_eq!(
            MessageExt {
                queue_offset: msg.queue_offset,
                commit_log_offset: msg.commit_log_offset,
                ..patched
            },
            msg
        );
        let mut short = [0u8; 35];
        assert_eq!(
            patch_offsets(&mut short, 1, 2),
            Err(MessageError::PatchOutOfBounds { len: 35, need: 36 })
        );
    }
}
