//! The body of SEND_BATCH_MESSAGE (320): messages back to back, each with its own size, flag,
//! body and properties.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = bytes::Bytes::copy_from_slice(data);
    if let Ok(msgs) = ledgermq::message::decode_batch(&body) {
        let total: usize = msgs.iter().map(|m| m.body.len()).sum();
        assert!(total <= data.len());
    }
});
