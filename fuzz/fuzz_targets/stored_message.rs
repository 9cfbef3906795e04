//! The stored-message format (a PULL response body, a CommitLog message payload): messages
//! back to back, walked by TOTALSIZE, with and without the body CRC check.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ledgermq::message::store_format::decode_all(data, true);
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok((msg, used)) = ledgermq::message::store_format::decode_stored_bytes(&bytes, false) {
        assert!(
            used <= data.len(),
            "TOTALSIZE {used} beyond the {} bytes given",
            data.len()
        );
        let _ = msg;
    }
});
