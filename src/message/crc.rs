//! Java's `UtilAll.crc32`, the one CRC RocketMQ computes over payloads: a stored message's
//! BODYCRC and the `bodyCrc32` of a broker's registration body both use it.

/// CRC-32/ISO-HDLC (`java.util.zip.CRC32`) of `bytes` with the top bit cleared, as Java's
/// `UtilAll.crc32` returns it: a non-negative `int`.
pub fn java_crc32(bytes: &[u8]) -> i32 {
    (crc32fast::hash(bytes) & 0x7FFF_FFFF) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_crc32_with_the_sign_bit_cleared() {
        // The CRC-32/ISO-HDLC check value of "123456789" is 0xCBF43926.
        assert_eq!(java_crc32(b"123456789"), 0x4BF4_3926);
        assert_eq!(java_crc32(b""), 0);
    }
}
