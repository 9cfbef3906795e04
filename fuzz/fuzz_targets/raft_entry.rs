//! A CommitLog record's payload back into a Raft entry (membership, group-committed batches,
//! puts, metadata commands): what a restart and a follower's read path decode from disk.
#![no_main]
use bytes::Bytes;
use ledgermq::store::{RecordMeta, StoredRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, payload)) = data.split_first() else {
        return;
    };
    let rec = StoredRecord {
        meta: RecordMeta {
            term: 2,
            leader: 1,
            index: 7,
            kind,
        },
        offset: 0,
        payload: Bytes::copy_from_slice(payload),
    };
    let _ = ledgermq::raft::codec::items(7, kind, &rec.payload);
    let _ = ledgermq::raft::codec::decode(rec);
});
