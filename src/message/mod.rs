//! RocketMQ's message bytes.
//!
//! This module owns every byte layout a RocketMQ 4.9.x client or broker uses for a *message*:
//! the stored entry that is both a CommitLog record and an element of a PULL response body
//! ([`store_format`]), the light per-message frames of a SEND_BATCH_MESSAGE body ([`batch`]),
//! the properties string ([`properties`]), Java's payload CRC ([`crc`]), the system flag bits ([`sysflag`]), the tags hash code
//! the ConsumeQueue filters on ([`tags`]) and the two kinds of message id ([`msg_id`]).
//!
//! Everything here is a pure function or a plain value: no I/O, no clock, no async. It must never
//! touch a disk or a socket, and it knows nothing of Raft, segments or queues' state: `store/`
//! decides where bytes live, `broker/` decides what they mean for a request, and both ask this
//! module how to read and write them.
//!
//! Every decoder takes bytes that came from the network or the disk, so none of them may panic:
//! each read is bounds-checked and each failure is a [`MessageError`] that names the field and
//! the byte position where the input went wrong.

mod cursor;

pub mod batch;
pub mod crc;
pub mod msg_id;
pub mod properties;
pub mod store_format;
pub mod sysflag;
pub mod tags;

pub use batch::{decode_batch, encode_batch, encode_batch_message_into, BatchMessage};
pub use crc::java_crc32;
pub use msg_id::{create_offset_msg_id, decode_offset_msg_id, UniqIdGenerator};
pub use properties::MessageProperties;
pub use store_format::{
    decode_all, decode_stored, decode_stored_bytes, encode_stored, encode_stored_into, iter_stored,
    patch_offsets, MessageExt, StoredMessageView, StoredMessages, BLANK_MAGIC_CODE,
    MESSAGE_MAGIC_CODE, PHYSICAL_OFFSET_POS, QUEUE_OFFSET_POS,
};
pub use tags::{tags_code, tags_hash_code, TagSubscription};

/// What went wrong reading or writing message bytes, and where.
///
/// Positions (`at`) are byte offsets from the start of the buffer handed to the decoder, so a
/// bad entry in the middle of a pull body or a batch is reported where it really is. The
/// processor edge maps these to RocketMQ response codes (`MESSAGE_ILLEGAL`, `SYSTEM_ERROR`);
/// this layer only says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The input ends (or a length field points) before a field is complete.
    #[error(
        "truncated message at byte {at}: need {need} bytes for {field}, {available} available"
    )]
    Truncated {
        at: usize,
        need: usize,
        available: usize,
        field: &'static str,
    },

    /// MAGICCODE is neither the message magic nor the BLANK magic.
    #[error("bad MAGICCODE 0x{found:08X} at byte {at}: expected 0xDAA320A7 (a stored message)")]
    BadMagic { at: usize, found: u32 },

    /// The entry is the BLANK filler that pads the end of a CommitLog segment, not a message.
    /// A segment reader stops here and moves to the next segment.
    #[error("BLANK filler (MAGICCODE 0xCBD43194) at byte {at}, TOTALSIZE {total_size}: end of a CommitLog segment, not a message")]
    Blank { at: usize, total_size: i32 },

    /// TOTALSIZE is negative or smaller than the smallest possible entry.
    #[error("TOTALSIZE {total_size} at byte {at} is below the minimum entry size of {min} bytes")]
    TotalSizeTooSmall {
        at: usize,
        total_size: i32,
        min: usize,
    },

    /// The fields inside an entry do not add up to its TOTALSIZE.
    #[error("TOTALSIZE {declared} of the entry at byte {at} does not match its fields, which take {actual} bytes")]
    TotalSizeMismatch {
        at: usize,
        declared: i32,
        actual: usize,
    },

    /// A length prefix is negative.
    #[error("negative length {len} for {field} at byte {at}")]
    NegativeLength {
        at: usize,
        field: &'static str,
        len: i32,
    },

    /// The stored BODYCRC does not match the body.
    #[error(
        "BODYCRC mismatch in the message at byte {at}: stored {stored}, body hashes to {computed}"
    )]
    BodyCrcMismatch {
        at: usize,
        stored: i32,
        computed: i32,
    },

    /// A text field (topic, properties) is not UTF-8.
    #[error("{field} at byte {at} is not valid UTF-8")]
    InvalidUtf8 { at: usize, field: &'static str },

    /// A host's port int is outside 0..=65535.
    #[error("port {port} of {field} at byte {at} is outside 0..=65535")]
    BadPort {
        at: usize,
        field: &'static str,
        port: i32,
    },

    /// A buffer to patch is too short to hold the fields being patched.
    #[error("cannot patch offsets: buffer is {len} bytes, a stored message header needs at least {need}")]
    PatchOutOfBounds { len: usize, need: usize },

    /// Encoding: the topic does not fit the one-byte (signed) TOPIC length.
    #[error("topic is {len} bytes; the stored format allows at most 127")]
    TopicTooLong { len: usize },

    /// Encoding: the properties string does not fit the two-byte (signed) PROPERTIES length.
    #[error("properties are {len} bytes; the stored format allows at most 32767")]
    PropertiesTooLong { len: usize },

    /// Encoding: the body or the whole entry does not fit an int length.
    #[error("{field} is {len} bytes; the format allows at most 2147483647")]
    TooLong { field: &'static str, len: usize },

    /// A property key or value that would not survive the properties string.
    #[error("invalid property {key:?}: {reason}")]
    InvalidProperty { key: String, reason: &'static str },

    /// An offsetMsgId whose length is not 32 (IPv4) or 56 (IPv6) hex characters.
    #[error("bad msgId length {len}: an offsetMsgId is 32 (IPv4) or 56 (IPv6) hex characters")]
    BadMsgIdLength { len: usize },

    /// An offsetMsgId with a character that is not a hex digit.
    #[error("bad msgId: {found:?} at byte {at} is not a hex digit")]
    BadMsgIdHex { at: usize, found: char },

    /// A subscription expression Java's FilterAPI rejects (only `||` separators, no tags).
    #[error("invalid subscription expression {expr:?}: it has `||` separators but no tags")]
    InvalidSubscription { expr: String },
}
