//! The CommitLog record frame.
//!
//! Byte layout (all integers big-endian, like RocketMQ's own store format):
//!
//! ```text
//! offset size field
//!  0      4   total length of the record, header included
//!  4      4   magic RECORD_MAGIC ("LMQR")
//!  8      4   CRC32C of bytes [12, total length): everything after the CRC itself
//! 12      8   term of the leader that created the entry
//! 20      8   node id of that leader (openraft's log id carries it)
//! 28      8   log index
//! 36      1   kind: the raft layer's entry type, opaque here
//! 37      n   payload
//! ```
//!
//! A segment that cannot hold the next record ends with a BLANK filler (`length`, `BLANK_MAGIC`)
//! when at least 8 bytes remain, so a reader knows to continue in the next segment.

/// Bytes before the payload.
pub const RECORD_HEADER_LEN: usize = 37;
/// Marks a live record.
pub const RECORD_MAGIC: u32 = 0x4C4D_5152;
/// Marks the unused tail of a segment.
pub const BLANK_MAGIC: u32 = 0x4C4D_5145;

/// Where a record sits in the Raft log. The store keeps it verbatim and checks only that indices
/// are contiguous and terms non-decreasing, which holds for any valid log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordMeta {
    pub term: u64,
    pub leader: u64,
    pub index: u64,
    pub kind: u8,
}

/// The decoded fixed part of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub len: u32,
    pub magic: u32,
    pub crc: u32,
    pub meta: RecordMeta,
}

pub(crate) fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// The header of a record of `len` bytes whose payload is the concatenation of `parts`. The CRC
/// runs over the header's covered bytes and then each part, so the payload never has to be
/// copied into one buffer first (the CommitLog writes header and parts with one `pwritev`).
pub(crate) fn header_for(
    len: usize,
    meta: &RecordMeta,
    parts: &[&[u8]],
) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&(len as u32).to_be_bytes());
    h[4..8].copy_from_slice(&RECORD_MAGIC.to_be_bytes());
    h[12..20].copy_from_slice(&meta.term.to_be_bytes());
    h[20..28].copy_from_slice(&meta.leader.to_be_bytes());
    h[28..36].copy_from_slice(&meta.index.to_be_bytes());
    h[36] = meta.kind;
    let crc = parts.iter().fold(crc32c::crc32c(&h[12..]), |crc, p| {
        crc32c::crc32c_append(crc, p)
    });
    h[8..12].copy_from_slice(&crc.to_be_bytes());
    h
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Reads the first 8 bytes: (length, magic). `b` must hold at least 8 bytes.
pub(crate) fn peek_len_magic(b: &[u8]) -> (u32, u32) {
    (be_u32(b, 0), be_u32(b, 4))
}

/// Decodes the fixed header. `b` must hold at least `RECORD_HEADER_LEN` bytes.
pub(crate) fn decode_header(b: &[u8]) -> RecordHeader {
    RecordHeader {
        len: be_u32(b, 0),
        magic: be_u32(b, 4),
        crc: be_u32(b, 8),
        meta: RecordMeta {
            term: be_u64(b, 12),
            leader: be_u64(b, 20),
            index: be_u64(b, 28),
            kind: b[36],
        },
    }
}

/// CRC32C of a whole record's covered bytes; `record` is the full record.
pub(crate) fn compute_crc(record: &[u8]) -> u32 {
    crc32c::crc32c(&record[12..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let meta = RecordMeta {
            term: 7,
            leader: 2,
            index: 42,
            kind: 3,
        };
        let payload = b"hello";
        let mut buf = vec![0u8; record_len(payload.len())];
        buf[RECORD_HEADER_LEN..].copy_from_slice(payload);
        let len = buf.len();
        buf[..RECORD_HEADER_LEN].copy_from_slice(&header_for(len, &meta, &[payload]));
        let h = decode_header(&buf);
        assert_eq!(h.len as usize, buf.len());
        assert_eq!(h.magic, RECORD_MAGIC);
        assert_eq!(h.meta, meta);
        assert_eq!(h.crc, compute_crc(&buf));
        assert_eq!(&buf[RECORD_HEADER_LEN..], payload);
        let parts: [&[u8]; 3] = [b"he", b"", b"llo"];
        assert_eq!(
            header_for(buf.len(), &meta, &parts)[..],
            buf[..RECORD_HEADER_LEN],
            "a payload in parts gets the header of the same payload in one piece"
        );
        buf[40] ^= 0xFF;
        assert_ne!(
            h.crc,
            compute_crc(&buf),
            "a flipped payload bit changes the CRC"
        );
    }
}
