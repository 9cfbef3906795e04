//! The frame codec: bytes on a TCP stream ⇄ [`RemotingCommand`]s.
//!
//! ```text
//! offset  size  field
//! 0       4     totalLength (i32 BE) = 4 + headerLength + bodyLength; does not count itself
//! 4       4     bits 31..24: serialize type (0 JSON, 1 ROCKETMQ); bits 23..0: headerLength
//! 8       H     header: JSON text (json.rs) or the ROCKETMQ binary layout (binary.rs)
//! 8+H     B     body, B = totalLength - 4 - H (may be 0)
//! ```
//!
//! Decoding is split as in mini-redis: [`check`] looks at the first four bytes only and says
//! whether a whole frame is buffered (so a partial read costs nothing), then [`parse`] turns that
//! frame into a command. The body is a slice of the frame's buffer, never copied.
//!
//! Every decode error is fatal for the connection: after a bad frame the stream can no longer
//! be trusted to be aligned on frame boundaries, and RocketMQ's own server closes the connection
//! without an answer too. Nothing here panics on any input.

mod binary;
mod json;

use bytes::{BufMut, Bytes, BytesMut};

use super::command::{RemotingCommand, SerializeType};

/// Largest frame accepted, length prefix included: Java's `com.rocketmq.remoting.frameMaxLength`
/// default (16 MiB), applied by Netty to the whole frame.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// Largest header the 24-bit header-length field can describe.
pub const MAX_HEADER_LEN: usize = 0x00FF_FFFF;

/// Why bytes could not be decoded into, or a command encoded as, a frame.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame length field is {length}; it must be at least 4 (the header-length word)")]
    FrameTooShort { length: i32 },
    #[error("frame of {length} bytes (length prefix included) exceeds the {max}-byte limit")]
    FrameTooLarge { length: usize, max: usize },
    #[error("frame length field says {declared} but the frame has {actual} bytes after it")]
    LengthMismatch { declared: i32, actual: usize },
    #[error("header length {header_len} exceeds the {available} bytes the frame has after the header-length word")]
    HeaderTooLong { header_len: usize, available: usize },
    #[error("unknown header serialize type {0} (0 = JSON, 1 = ROCKETMQ)")]
    UnknownSerializeType(u8),
    #[error("JSON header is not valid JSON ({source}); it starts {snippet:?}")]
    Json {
        snippet: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("JSON header field `{field}` is unusable: {reason}")]
    JsonField { field: &'static str, reason: String },
    #[error(
        "ROCKETMQ binary header is truncated at {field}: {needed} bytes needed, {available} left"
    )]
    TruncatedBinaryHeader {
        field: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("ROCKETMQ binary header field {field} has a negative length {length}")]
    NegativeLength { field: &'static str, length: i32 },
    #[error("encoded header of {0} bytes does not fit the 24-bit header-length field")]
    HeaderTooLarge(usize),
    #[error("frame of {0} bytes does not fit the signed 32-bit length field")]
    EncodedFrameTooLarge(usize),
    #[error("{field} = {value} does not fit the ROCKETMQ binary header's {bits}-bit field")]
    FieldOutOfRange {
        field: &'static str,
        value: i64,
        bits: u8,
    },
}

/// Decodes one command from the front of `buf`, consuming exactly its frame.
///
/// `Ok(None)`: more bytes are needed (nothing is consumed). `Err`: the connection must be closed.
/// `max_frame` bounds the whole frame, length prefix included; a larger length is refused as
/// soon as its four bytes arrive, before anything is buffered for it.
pub fn decode(buf: &mut BytesMut, max_frame: usize) -> Result<Option<RemotingCommand>, CodecError> {
    match check(buf, max_frame)? {
        None => Ok(None),
        Some(len) => parse(buf.split_to(len).freeze()).map(Some),
    }
}

/// Whether `buf` starts with a whole frame: its size on the wire (prefix included) if so.
pub fn check(buf: &[u8], max_frame: usize) -> Result<Option<usize>, CodecError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let length = i32::from_be_bytes(*prefix);
    if length < 4 {
        return Err(CodecError::FrameTooShort { length });
    }
    // `length` is positive and below 2^31, so this cannot overflow a usize of 32 bits or more.
    let wire = length as usize + 4;
    if wire > max_frame {
        return Err(CodecError::FrameTooLarge {
            length: wire,
            max: max_frame,
        });
    }
    Ok((buf.len() >= wire).then_some(wire))
}

/// Parses one whole frame, length prefix included (as measured by [`check`]).
pub fn parse(frame: Bytes) -> Result<RemotingCommand, CodecError> {
    if frame.len() < 8 {
        // Fewer than 8 bytes: the length field cannot have counted the header-length word.
        return Err(CodecError::FrameTooShort {
            length: frame.len() as i32 - 4,
        });
    }
    let length = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    if i64::from(length) + 4 != frame.len() as i64 {
        return Err(CodecError::LengthMismatch {
            declared: length,
            actual: frame.len() - 4,
        });
    }
    let word = [frame[4], frame[5], frame[6], frame[7]];
    let word = u32::from_be_bytes(word);
    let header_len = (word & MAX_HEADER_LEN as u32) as usize;
    let available = frame.len() - 8;
    if header_len > available {
        return Err(CodecError::HeaderTooLong {
            header_len,
            available,
        });
    }
    let type_byte = (word >> 24) as u8;
    let serialize_type =
        SerializeType::from_byte(type_byte).ok_or(CodecError::UnknownSerializeType(type_byte))?;
    let header = &frame[8..8 + header_len];
    let mut cmd = match serialize_type {
        SerializeType::Json => json::read(header)?,
        SerializeType::RocketMq => binary::read(header)?,
    };
    cmd.serialize_type = serialize_type;
    cmd.body = frame.slice(8 + header_len..);
    Ok(cmd)
}

/// Encodes `cmd` as one frame appended to `out`, in `cmd.serialize_type`; a body given in
/// parts is joined.
pub fn encode(cmd: &RemotingCommand, out: &mut BytesMut) -> Result<(), CodecError> {
    encode_head(cmd, out)?;
    out.extend_from_slice(&cmd.body);
    for part in &cmd.body_parts {
        out.extend_from_slice(part);
    }
    Ok(())
}

/// Appends everything of `cmd`'s frame except the body, and returns the whole frame's size on
/// the wire; the length prefix counts every body part. The writer sends the body from
/// `cmd.body` and `cmd.body_parts` themselves, so a pulled batch of messages is never copied
/// into a frame buffer. On error nothing is appended.
pub fn encode_head(cmd: &RemotingCommand, out: &mut BytesMut) -> Result<usize, CodecError> {
    let start = out.len();
    out.put_u64(0); // length and header-length words, filled in below
    let written = match cmd.serialize_type {
        SerializeType::Json => json::write(cmd, out),
        SerializeType::RocketMq => binary::write(cmd, out),
    };
    let header_len = out.len() - start - 8;
    let total = 4 + header_len + cmd.body_len();
    let checked = written.and_then(|()| {
        if header_len > MAX_HEADER_LEN {
            Err(CodecError::HeaderTooLarge(header_len))
        } else if total > i32::MAX as usize {
            Err(CodecError::EncodedFrameTooLarge(total + 4))
        } else {
            Ok(())
        }
    });
    if let Err(e) = checked {
        out.truncate(start);
        return Err(e);
    }
    let word = (u32::from(cmd.serialize_type.to_byte()) << 24) | header_len as u32;
    out[start..start + 4].copy_from_slice(&(total as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
    Ok(total + 4)
}

/// The first bytes of a header, printable, for error messages.
fn snippet(header: &[u8]) -> String {
    let cut = header.len().min(80);
    String::from_utf8_lossy(&header[..cut]).into_owned()
}

#[cfg(test)]
mod tests;
