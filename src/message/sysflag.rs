//! MessageSysFlag: the SYSFLAG int of a stored message.
//!
//! ```text
//! bit  0     COMPRESSED            body is compressed (the broker stores it as sent)
//! bit  1     MULTI_TAGS
//! bits 2-3   transaction type      0 none, 1 prepared, 2 commit, 3 rollback
//! bit  4     BORNHOST_V6           BORNHOST is 16 + 4 bytes instead of 4 + 4
//! bit  5     STOREHOSTADDRESS_V6   STOREHOSTADDRESS is 16 + 4 bytes instead of 4 + 4
//! bit  6     NEED_UNWRAP           (4.9.x inner batch; not used by clients)
//! bit  7     INNER_BATCH           (4.9.x inner batch; not used by clients)
//! bits 8-10  compression type      since 4.9.4: 1 LZ4, 2 ZSTD, 3 ZLIB; 0 = ZLIB (older clients)
//! ```
//!
//! The flags are plain `i32`s, as on the wire, so a value read from a message can be passed
//! through unchanged even if it carries bits this version does not know.

pub const COMPRESSED_FLAG: i32 = 0x1;
pub const MULTI_TAGS_FLAG: i32 = 0x1 << 1;
pub const TRANSACTION_NOT_TYPE: i32 = 0;
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x1 << 2;
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x2 << 2;
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0x3 << 2;
/// Mask of the two transaction-type bits.
pub const TRANSACTION_TYPE_MASK: i32 = TRANSACTION_ROLLBACK_TYPE;
pub const BORNHOST_V6_FLAG: i32 = 0x1 << 4;
pub const STOREHOSTADDRESS_V6_FLAG: i32 = 0x1 << 5;
pub const NEED_UNWRAP_FLAG: i32 = 0x1 << 6;
pub const INNER_BATCH_FLAG: i32 = 0x1 << 7;
pub const COMPRESSION_LZ4_TYPE: i32 = 0x1 << 8;
pub const COMPRESSION_ZSTD_TYPE: i32 = 0x2 << 8;
pub const COMPRESSION_ZLIB_TYPE: i32 = 0x3 << 8;
/// Mask of the three compression-type bits.
pub const COMPRESSION_TYPE_MASK: i32 = 0x7 << 8;

/// The transaction state carried in bits 2-3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionType {
    NotTransaction,
    Prepared,
    Commit,
    Rollback,
}

impl TransactionType {
    /// The bits of this type, already shifted into place.
    pub fn bits(self) -> i32 {
        match self {
            TransactionType::NotTransaction => TRANSACTION_NOT_TYPE,
            TransactionType::Prepared => TRANSACTION_PREPARED_TYPE,
            TransactionType::Commit => TRANSACTION_COMMIT_TYPE,
            TransactionType::Rollback => TRANSACTION_ROLLBACK_TYPE,
        }
    }
}

/// The codec of a compressed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    Zlib,
    Lz4,
    Zstd,
    /// Type bits 4..=7: no codec is defined; Java's client throws on these.
    Unknown(u8),
}

pub fn is_compressed(sys_flag: i32) -> bool {
    sys_flag & COMPRESSED_FLAG != 0
}

pub fn clear_compressed_flag(sys_flag: i32) -> i32 {
    sys_flag & !COMPRESSED_FLAG
}

pub fn is_multi_tags(sys_flag: i32) -> bool {
    sys_flag & MULTI_TAGS_FLAG != 0
}

/// Java's `getTransactionValue`: the transaction bits, still in place.
pub fn transaction_value(sys_flag: i32) -> i32 {
    sys_flag & TRANSACTION_TYPE_MASK
}

pub fn transaction_type(sys_flag: i32) -> TransactionType {
    match transaction_value(sys_flag) {
        TRANSACTION_PREPARED_TYPE => TransactionType::Prepared,
        TRANSACTION_COMMIT_TYPE => TransactionType::Commit,
        TRANSACTION_ROLLBACK_TYPE => TransactionType::Rollback,
        _ => TransactionType::NotTransaction,
    }
}

/// Java's `resetTransactionValue`: replaces the transaction bits, keeps every other bit.
pub fn reset_transaction_value(sys_flag: i32, kind: TransactionType) -> i32 {
    (sys_flag & !TRANSACTION_TYPE_MASK) | kind.bits()
}

pub fn is_born_host_v6(sys_flag: i32) -> bool {
    sys_flag & BORNHOST_V6_FLAG != 0
}

pub fn is_store_host_v6(sys_flag: i32) -> bool {
    sys_flag & STOREHOSTADDRESS_V6_FLAG != 0
}

pub fn set_born_host_v6(sys_flag: i32, v6: bool) -> i32 {
    set_bit(sys_flag, BORNHOST_V6_FLAG, v6)
}

pub fn set_store_host_v6(sys_flag: i32, v6: bool) -> i32 {
    set_bit(sys_flag, STOREHOSTADDRESS_V6_FLAG, v6)
}

/// The codec of the body: `None` if the COMPRESSED bit is clear. Type bits 0 mean ZLIB, because
/// clients before 4.9.4 set only the COMPRESSED bit and always used zlib.
pub fn compression_type(sys_flag: i32) -> Option<CompressionType> {
    if !is_compressed(sys_flag) {
        return None;
    }
    let bits = ((sys_flag & COMPRESSION_TYPE_MASK) >> 8) as u8;
    Some(match bits {
        0 | 3 => CompressionType::Zlib,
        1 => CompressionType::Lz4,
        2 => CompressionType::Zstd,
        other => CompressionType::Unknown(other),
    })
}

fn set_bit(sys_flag: i32, bit: i32, on: bool) -> i32 {
    if on {
        sys_flag | bit
    } else {
        sys_flag & !bit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_reference_values() {
        assert_eq!(COMPRESSED_FLAG, 0x1);
        assert_eq!(MULTI_TAGS_FLAG, 0x2);
        assert_eq!(TRANSACTION_PREPARED_TYPE, 0x4);
        assert_eq!(TRANSACTION_COMMIT_TYPE, 0x8);
        assert_eq!(TRANSACTION_ROLLBACK_TYPE, 0xC);
        assert_eq!(BORNHOST_V6_FLAG, 0x10);
        assert_eq!(STOREHOSTADDRESS_V6_FLAG, 0x20);
        assert_eq!(COMPRESSION_ZLIB_TYPE, 0x300);
        assert_eq!(COMPRESSION_TYPE_MASK, 0x700);
    }

    #[test]
    fn transaction_bits_round_trip_and_keep_other_bits() {
        let flag = COMPRESSED_FLAG | BORNHOST_V6_FLAG;
        for kind in [
            TransactionType::NotTransaction,
            TransactionType::Prepared,
            TransactionType::Commit,
            TransactionType::Rollback,
        ] {
            let f = reset_transaction_value(flag | TRANSACTION_ROLLBACK_TYPE, kind);
            assert_eq!(transaction_type(f), kind);
            assert_eq!(f & !TRANSACTION_TYPE_MASK, flag);
        }
    }

    #[test]
    fn compression_type_covers_old_and_new_clients() {
        assert_eq!(compression_type(0), None);
        assert_eq!(compression_type(COMPRESSION_ZLIB_TYPE), None);
        assert_eq!(compression_type(0x1), Some(CompressionType::Zlib));
        assert_eq!(compression_type(0x301), Some(CompressionType::Zlib));
        assert_eq!(compression_type(0x101), Some(CompressionType::Lz4));
        assert_eq!(compression_type(0x201), Some(CompressionType::Zstd));
        assert_eq!(compression_type(0x701), Some(CompressionType::Unknown(7)));
        assert_eq!(clear_compressed_flag(0x301), 0x300);
    }

    #[test]
    fn host_bits() {
        let f = set_store_host_v6(set_born_host_v6(0, true), true);
        assert!(is_born_host_v6(f) && is_store_host_v6(f));
        let f = set_born_host_v6(f, false);
        assert!(!is_born_host_v6(f) && is_store_host_v6(f));
        assert!(!is_multi_tags(f));
    }
}
