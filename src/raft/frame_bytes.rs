//! Zero-copy payloads for peer frames.
//!
//! A follower receives every message body inside an AppendEntries frame. Decoding each body
//! into its own `Vec` cost an allocation and a copy per message on every follower (the
//! allocator's fresh pages alone were a tenth of the group's CPU in `bench raft`), so
//! [`read_frame`](super::rpc::read_frame) reads the whole frame into one `Bytes` and the
//! payload fields of [`LogCommand`](super::types::LogCommand) decode as slices of it. The wire
//! format is unchanged: a payload is serialized exactly as `Bytes` serializes itself.
//!
//! The frame is handed to the field decoder through a thread-local that is set only for the
//! synchronous `bincode::deserialize` call; a payload decoded anywhere else (a snapshot, a
//! test) is copied as before.

use std::cell::RefCell;

use bytes::Bytes;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};
use serde::Serializer;

thread_local! {
    static FRAME: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Makes slices of `frame` available to payload decoding until dropped.
pub struct FrameScope(());

impl FrameScope {
    pub fn enter(frame: &Bytes) -> FrameScope {
        FRAME.with(|f| *f.borrow_mut() = Some(frame.clone()));
        FrameScope(())
    }
}

impl Drop for FrameScope {
    fn drop(&mut self) {
        FRAME.with(|f| *f.borrow_mut() = None);
    }
}

/// A slice of the current frame if `bytes` lies inside it, else a copy.
fn share_or_copy(bytes: &[u8]) -> Bytes {
    FRAME.with(|f| {
        let frame = f.borrow();
        match frame.as_ref() {
            Some(frame) if contains(frame, bytes) => frame.slice_ref(bytes),
            _ => Bytes::copy_from_slice(bytes),
        }
    })
}

fn contains(frame: &[u8], part: &[u8]) -> bool {
    let (f, p) = (frame.as_ptr() as usize, part.as_ptr() as usize);
    p >= f && p + part.len() <= f + frame.len()
}

pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(b)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    d.deserialize_bytes(PayloadVisitor)
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_borrowed_bytes<E: Error>(self, v: &'de [u8]) -> Result<Bytes, E> {
        Ok(share_or_copy(v))
    }

    fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(v))
    }

    fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        Ok(Bytes::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Msg {
        #[serde(with = "super")]
        body: Bytes,
    }

    #[test]
    fn payloads_inside_the_frame_are_shared_and_the_wire_format_is_that_of_bytes() {
        let plain = bincode::serialize(&Bytes::from_static(b"hello")).unwrap();
        let ours = bincode::serialize(&Msg {
            body: Bytes::from_static(b"hello"),
        })
        .unwrap();
        assert_eq!(plain, ours);

        let frame = Bytes::from(ours);
        let shared: Msg = {
            let _scope = FrameScope::enter(&frame);
            bincode::deserialize(&frame).unwrap()
        };
        assert_eq!(&shared.body[..], b"hello");
        assert!(
            contains(&frame, &shared.body),
            "decoded as a slice of the frame"
        );

        // Outside a scope the payload is a copy, and the scope is gone after its drop.
        let copied: Msg = bincode::deserialize(&frame).unwrap();
        assert_eq!(copied, shared);
        assert!(!contains(&frame, &copied.body));
    }
}
