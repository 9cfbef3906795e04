//! The layout of a group entry: the one place that writes or reads it.
//!
//! The write batcher proposes several commands as one Raft entry (`LogCommand::Group`), so that
//! one append and one fsync per node commit them all. Its record payload is the commands'
//! items back to back, each `[kind u8][length u32 BE][payload]`, and each payload is the
//! command's bytes verbatim: a message in a group has a CommitLog offset like any other (the
//! record's payload offset plus its item's payload offset), and a pull reads it without
//! decoding the group.
//!
//! Reading never trusts the lengths: an item that runs past the end of the payload is an
//! error ([`MalformedGroup`]), never a panic or a read out of bounds.

use bytes::Bytes;

/// Bytes before each item's payload: its kind and its length.
pub const ITEM_HEADER: usize = 5;

/// The header of one item whose payload is `len` bytes; `None` if `len` does not fit the
/// 32-bit length field.
pub fn item_header(kind: u8, len: usize) -> Option<[u8; ITEM_HEADER]> {
    let len = u32::try_from(len).ok()?.to_be_bytes();
    Some([kind, len[0], len[1], len[2], len[3]])
}

/// Where each item's payload starts in the group's payload, given the payload lengths in
/// order.
pub fn payload_offsets(lens: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let mut at = 0u64;
    lens.into_iter()
        .map(|len| {
            let start = at + ITEM_HEADER as u64;
            at = start + len;
            start
        })
        .collect()
}

/// Bytes a group of items with these payload lengths occupies.
pub fn encoded_len(lens: impl IntoIterator<Item = u64>) -> u64 {
    lens.into_iter().map(|len| ITEM_HEADER as u64 + len).sum()
}

/// An item whose header claims more bytes than the group holds (or whose header itself is cut
/// short), at byte `at` of the group's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed group item at byte {at}")]
pub struct MalformedGroup {
    pub at: usize,
}

/// One command of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: u8,
    /// Where `payload` starts, relative to the record's payload.
    pub offset: usize,
    /// A slice of the record's payload (no copy).
    pub payload: Bytes,
}

/// The items of a group's payload, in order. After the first error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Items {
    payload: Bytes,
    at: usize,
    /// A record that is not a group: its whole payload is one item of this kind.
    single: Option<u8>,
    done: bool,
}

impl Items {
    /// The items of a group entry's payload.
    pub fn group(payload: &Bytes) -> Items {
        Items {
            payload: payload.clone(),
            at: 0,
            single: None,
            done: false,
        }
    }

    /// A record that holds one command: one item, the whole payload.
    pub fn single(kind: u8, payload: &Bytes) -> Items {
        Items {
            payload: payload.clone(),
            at: 0,
            single: Some(kind),
            done: false,
        }
    }
}

impl Iterator for Items {
    type Item = Result<Item, MalformedGroup>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(kind) = self.single {
            self.done = true;
            return Some(Ok(Item {
                kind,
                offset: 0,
                payload: self.payload.clone(),
            }));
        }
        let b = &self.payload;
        let at = self.at;
        if at >= b.len() {
            self.done = true;
            return None;
        }
        let Some(header) = b.get(at..at + ITEM_HEADER) else {
            self.done = true;
            return Some(Err(MalformedGroup { at }));
        };
        let kind = header[0];
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let start = at + ITEM_HEADER;
        let Some(end) = start.checked_add(len).filter(|end| *end <= b.len()) else {
            self.done = true;
            return Some(Err(MalformedGroup { at }));
        };
        self.at = end;
        Some(Ok(Item {
            kind,
            offset: start,
            payload: b.slice(start..end),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(items: &[(u8, &[u8])]) -> Bytes {
        let mut out = Vec::new();
        for (kind, payload) in items {
            out.extend_from_slice(&item_header(*kind, payload.len()).unwrap());
            out.extend_from_slice(payload);
        }
        Bytes::from(out)
    }

    #[test]
    fn items_round_trip_at_the_offsets_payload_offsets_reports() {
        let written: Vec<(u8, &[u8])> = vec![(2, b"first"), (4, b""), (5, b"raw bytes"), (3, b"x")];
        let bytes = group(&written);
        assert_eq!(
            bytes.len() as u64,
            encoded_len(written.iter().map(|(_, p)| p.len() as u64))
        );
        let offsets = payload_offsets(written.iter().map(|(_, p)| p.len() as u64));
        let read: Vec<Item> = Items::group(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(read.len(), written.len());
        for ((item, (kind, payload)), offset) in read.iter().zip(&written).zip(&offsets) {
            assert_eq!(item.kind, *kind);
            assert_eq!(&item.payload[..], *payload);
            assert_eq!(item.offset as u64, *offset);
            assert_eq!(&bytes[item.offset..item.offset + payload.len()], *payload);
        }
    }

    #[test]
    fn an_empty_group_has_no_items_and_a_single_record_has_one() {
        assert_eq!(Items::group(&Bytes::new()).count(), 0);
        let payload = Bytes::from_static(b"message");
        let items: Vec<_> = Items::single(2, &payload).collect();
        assert_eq!(
            items,
            vec![Ok(Item {
                kind: 2,
                offset: 0,
                payload
            })]
        );
    }

    #[test]
    fn truncated_or_corrupt_groups_are_errors_not_panics() {
        let good = group(&[(2, b"abc"), (5, b"defgh")]);
        // Every cut inside the second item (or its header) is reported at that item.
        for cut in 9..good.len() {
            let items: Vec<_> = Items::group(&good.slice(..cut)).collect();
            assert_eq!(items.len(), 2, "cut at {cut}");
            assert!(items[0].is_ok());
            assert_eq!(items[1], Err(MalformedGroup { at: 8 }), "cut at {cut}");
        }
        // A cut inside the first header.
        for cut in 1..ITEM_HEADER {
            let items: Vec<_> = Items::group(&good.slice(..cut)).collect();
            assert_eq!(items, vec![Err(MalformedGroup { at: 0 })]);
        }
        // A length that points past the end, including one that would overflow.
        for len in [4u32, 1 << 20, u32::MAX] {
            let mut bad = vec![2u8];
            bad.extend_from_slice(&len.to_be_bytes());
            bad.extend_from_slice(b"abc");
            let items: Vec<_> = Items::group(&Bytes::from(bad)).collect();
            assert_eq!(items, vec![Err(MalformedGroup { at: 0 })]);
        }
        // Nothing after the first error.
        let mut trailing = good.to_vec();
        trailing.extend_from_slice(&[9, 0, 0]);
        let items: Vec<_> = Items::group(&Bytes::from(trailing)).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[2], Err(MalformedGroup { at: good.len() }));
    }

    #[test]
    fn a_length_beyond_u32_has_no_header() {
        assert!(item_header(2, u32::MAX as usize).is_some());
        #[cfg(target_pointer_width = "64")]
        assert!(item_header(2, u32::MAX as usize + 1).is_none());
    }
}
