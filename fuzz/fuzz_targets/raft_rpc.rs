//! The Raft peer port's frames (bincode): requests as a node receives them, responses as the
//! sender reads them. Payloads decode as slices of the frame.
#![no_main]
use bytes::Bytes;
use ledgermq::raft::rpc::{decode_frame, PeerRequest, PeerResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let _ = decode_frame::<PeerRequest>(&frame);
    let _ = decode_frame::<PeerResponse>(&frame);
});
