//! The body of a SEND_BATCH_MESSAGE (320) request: the client's light per-message frames, back
//! to back (Java `MessageDecoder.encodeMessage`).
//!
//! ```text
//! size  field
//! 4     TOTALSIZE    whole frame, this field included
//! 4     MAGICCODE    0 from Java and Go clients; not checked
//! 4     BODYCRC      0 from clients; not checked (the broker computes the stored one)
//! 4     FLAG         user flag
//! 4+N   BODY         int length + bytes
//! 2+P   PROPERTIES   short length + UTF-8 properties string
//! ```
//!
//! Topic, queue and the rest come from the request header and are shared by every message. The
//! Java broker walks the fields and ignores TOTALSIZE; this decoder also requires TOTALSIZE to
//! equal the fields' length (the Java and Go clients always write it so), which turns a corrupt
//! frame into an error at its position instead of a misparse of every later message.

use bytes::{BufMut, Bytes, BytesMut};

use super::cursor::Cursor;
use super::properties::MessageProperties;
use super::MessageError;

/// Smallest frame: empty body and properties.
pub const MIN_BATCH_MESSAGE_SIZE: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// One message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMessage {
    pub flag: i32,
    /// A slice of the request body: no copy.
    pub body: Bytes,
    pub properties: MessageProperties,
}

/// Splits a batch body into its messages. An empty body is an empty list; whether that is an
/// acceptable request is the processor's call.
pub fn decode_batch(body: &Bytes) -> Result<Vec<BatchMessage>, MessageError> {
    let mut messages = Vec::new();
    let mut pos = 0;
    while let Some(rest) = body.get(pos..).filter(|rest| !rest.is_empty()) {
        let mut head = Cursor::new(rest, pos);
        let total_size = head.i32("batch TOTALSIZE")?;
        let total = usize::try_from(total_size)
            .ok()
            .filter(|t| *t >= MIN_BATCH_MESSAGE_SIZE)
            .ok_or(MessageError::TotalSizeTooSmall {
                at: pos,
                total_size,
                min: MIN_BATCH_MESSAGE_SIZE,
            })?;
        let frame = rest.get(..total).ok_or(MessageError::Truncated {
            at: pos,
            need: total,
            available: rest.len(),
            field: "the batch message (TOTALSIZE)",
        })?;

        let mut c = Cursor::new(frame, pos);
        c.take(4, "batch TOTALSIZE")?;
        c.take(4, "batch MAGICCODE")?;
        c.take(4, "batch BODYCRC")?;
        let flag = c.i32("batch FLAG")?;
        let body_len = c.len_i32("batch BODY length")?;
        let body_slice = c.take(body_len, "batch BODY")?;
        let properties_len = c.len_i16("batch PROPERTIES length")?;
        let properties_at = c.at();
        let properties = c.take(properties_len, "batch PROPERTIES")?;
        let properties =
            std::str::from_utf8(properties).map_err(|_| MessageError::InvalidUtf8 {
                at: properties_at,
                field: "batch PROPERTIES",
            })?;
        if c.pos() != total {
            return Err(MessageError::TotalSizeMismatch {
                at: pos,
                declared: total_size,
                actual: c.pos(),
            });
        }

        messages.push(BatchMessage {
            flag,
            body: body.slice_ref(body_slice),
            properties: MessageProperties::decode(properties),
        });
        pos += total;
    }
    Ok(messages)
}

/// Builds a batch body, as a producer does (for our own tools and tests).
pub fn encode_batch(messages: &[BatchMessage]) -> Result<Bytes, MessageError> {
    let mut out = BytesMut::new();
    for message in messages {
        encode_batch_message_into(message, &mut out)?;
    }
    Ok(out.freeze())
}

/// Appends one frame with MAGICCODE and BODYCRC 0, as the Java client writes them; returns its
/// size. On error nothing is written.
pub fn encode_batch_message_into(
    message: &BatchMessage,
    out: &mut BytesMut,
) -> Result<usize, MessageError> {
    let properties = message.properties.encode();
    let properties_len =
        i16::try_from(properties.len()).map_err(|_| MessageError::PropertiesTooLong {
            len: properties.len(),
        })?;
    let body_len = i32::try_from(message.body.len()).map_err(|_| MessageError::TooLong {
        field: "body",
        len: message.body.len(),
    })?;
    let total = MIN_BATCH_MESSAGE_SIZE
        .saturating_add(message.body.len())
        .saturating_add(properties.len());
    let total_i32 = i32::try_from(total).map_err(|_| MessageError::TooLong {
        field: "batch message",
        len: total,
    })?;
    out.reserve(total);
    out.put_i32(total_i32);
    out.put_i32(0);
    out.put_i32(0);
    out.put_i32(message.flag);
    out.put_i32(body_len);
    out.put_slice(&message.body);
    out.put_i16(properties_len);
    out.put_slice(properties.as_bytes());
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::properties::{KEYS, TAGS};

    fn message(flag: i32, body: &'static [u8], tags: &str) -> BatchMessage {
        let mut properties = MessageProperties::new();
        properties.insert(TAGS, tags).unwrap();
        BatchMessage {
            flag,
            body: Bytes::from_static(body),
            properties,
        }
    }

    #[test]
    fn hand_built_frame_decodes_field_by_field() {
        let mut raw = Vec::new();
        raw.extend_from_slice(&30i32.to_be_bytes()); // 22 + 3 + 5
        raw.extend_from_slice(&0i32.to_be_bytes());
        raw.extend_from_slice(&0i32.to_be_bytes());
        raw.extend_from_slice(&7i32.to_be_bytes());
        raw.extend_from_slice(&3i32.to_be_bytes());
        raw.extend_from_slice(b"abc");
        raw.extend_from_slice(&5i16.to_be_bytes());
        raw.extend_from_slice(b"K\x01v\x01w");
        let body = Bytes::from(raw);
        let decoded = decode_batch(&body).unwrap();
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded[0].flag, 7);
        assert_eq!(&decoded[0].body[..], b"abc");
        assert_eq!(decoded[0].properties.get("K"), Some("v\u{1}w"));
    }

    #[test]
    fn round_trip_and_bodies_share_the_input() {
        let mut second = message(0, b"", "TagB");
        second.properties.insert(KEYS, "order-1").unwrap();
        let messages = vec![message(1, b"hello", "TagA"), second];
        let body = encode_batch(&messages).unwrap();
        let decoded = decode_batch(&body).unwrap();
        assert_eq!(decoded, messages);
        let start = body.as_ptr() as usize;
        let inner = decoded[0].body.as_ptr() as usize;
        assert!(inner >= start && inner < start + body.len());
        assert!(decode_batch(&Bytes::new()).unwrap().is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let body = encode_batch(&[message(1, b"hello", "TagA"), message(2, b"x", "B")]).unwrap();
        let first =
            usize::try_from(i32::from_be_bytes([body[0], body[1], body[2], body[3]])).unwrap();
        for len in 1..body.len() {
            let prefix = body.slice(..len);
            let result = decode_batch(&prefix);
            if len == first {
                assert_eq!(result.unwrap().len(), 1);
            } else {
                assert!(result.is_err(), "prefix of {len} bytes decoded");
            }
        }
    }

    #[test]
    fn hostile_lengths() {
        let good = encode_batch(&[message(1, b"hello", "TagA")]).unwrap();
        let patched = |pos: usize, bytes: &[u8]| {
            let mut raw = good.to_vec();
            raw[pos..pos + bytes.len()].copy_from_slice(bytes);
            Bytes::from(raw)
        };
        for size in [-1i32, 0, 21, i32::MIN] {
            assert!(matches!(
                decode_batch(&patched(0, &size.to_be_bytes())),
                Err(MessageError::TotalSizeTooSmall { at: 0, .. })
            ));
        }
        assert!(matches!(
            decode_batch(&patched(0, &i32::MAX.to_be_bytes())),
            Err(MessageError::Truncated { at: 0, .. })
        ));
        assert!(matches!(
            decode_batch(&patched(16, &(-5i32).to_be_bytes())),
            Err(MessageError::NegativeLength { at: 16, .. })
        ));
        assert!(matches!(
            decode_batch(&patched(16, &1000i32.to_be_bytes())),
            Err(MessageError::Truncated {
                field: "batch BODY",
                ..
            })
        ));
        assert!(matches!(
            decode_batch(&patched(16, &4i32.to_be_bytes())),
            Err(MessageError::TotalSizeMismatch { .. }) | Err(MessageError::Truncated { .. })
        ));
        assert!(matches!(
            decode_batch(&patched(25, &(-1i16).to_be_bytes())),
            Err(MessageError::NegativeLength { at: 25, .. })
        ));
        // Properties that are not UTF-8.
        assert!(matches!(
            decode_batch(&patched(27, &[0xFF])),
            Err(MessageError::InvalidUtf8 { at: 27, .. })
        ));
    }

    #[test]
    fn a_bad_second_frame_reports_its_own_position() {
        let mut raw = encode_batch(&[message(1, b"a", "T")]).unwrap().to_vec();
        let second_at = raw.len();
        raw.extend_from_slice(&3i32.to_be_bytes());
        assert_eq!(
            decode_batch(&Bytes::from(raw)),
            Err(MessageError::TotalSizeTooSmall {
                at: second_at,
                total_size: 3,
                min: MIN_BATCH_MESSAGE_SIZE
            })
        );
    }

    #[test]
    fn oversized_properties_are_refused() {
        let mut m = message(0, b"", "T");
        m.properties.insert("BIG", "x".repeat(40_000)).unwrap();
        let mut out = BytesMut::new();
        assert!(matches!(
            encode_batch_message_into(&m, &mut out),
            Err(MessageError::PropertiesTooLong { .. })
        ));
        assert!(out.is_empty());
    }
}
