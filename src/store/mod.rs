//! The store: bytes on disk.
//!
//! It owns the CommitLog (fixed-size segment files, written with `pwritev` and read through
//! memmap2, one framed record per Raft entry), its checkpoint, the group-commit flusher, the
//! ConsumeQueues, and how full their file system is (`disk`). It knows a record's position
//! `(term, leader, index)` only as framing: indices are contiguous and terms never go down along
//! a valid log, which recovery uses to tell live records from stale bytes. It must never decide
//! what is committed or interpret a record's payload — that is the `raft` layer's job.

mod checkpoint;
mod commit_log;
mod consume_queue;
mod disk;
mod flush;
mod index;
mod record;
mod recovery;
mod segment;
mod zero_ahead;

pub use checkpoint::Checkpoint;
pub use commit_log::{CommitLog, CommitLogConfig, LogDigest, StoredRecord};
pub use consume_queue::{ConsumeQueue, CqEntry, CQ_ENTRY_SIZE};
pub use disk::{disk_space, disk_used_pct, DiskSpace};
pub use flush::{FlushCallback, FlushMode};
pub use index::KeyIndex;
pub use record::{RecordMeta, BLANK_MAGIC, RECORD_HEADER_LEN, RECORD_MAGIC};
/// Space reservation as for a segment, for tools that lay out files the same way.
pub(crate) use segment::reserve;

use std::path::PathBuf;

/// Errors of the storage layer. Every variant names the file or offset involved so that an
/// operator can act on the log line alone.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("commit log corrupt at offset {offset}: {reason}; refusing to start (restore this node's store from a peer or remove it to resync)")]
    Corrupt { offset: u64, reason: String },
    #[error("CRC mismatch in record at offset {offset} (index {index}): stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        offset: u64,
        index: u64,
        stored: u32,
        computed: u32,
    },
    #[error("record of {len} bytes does not fit in a segment of {segment_size} bytes")]
    RecordTooLarge { len: usize, segment_size: u64 },
    #[error("append out of order: expected index {expected}, got {got}")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("index {index} is not in the log (first {first:?}, last {last:?})")]
    NoSuchIndex {
        index: u64,
        first: Option<u64>,
        last: Option<u64>,
    },
    #[error("offset range {offset}+{len} is outside the commit log ({min}..{max})")]
    OutOfRange {
        offset: u64,
        len: usize,
        min: u64,
        max: u64,
    },
    #[error("consume queue {path}: {reason}")]
    ConsumeQueue { path: PathBuf, reason: String },
    #[error("injected failure at {0}")]
    Injected(&'static str),
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Evaluate a named failpoint (a no-op unless built with `--features failpoints`). When the
/// failpoint is configured with `return`, the enclosing function returns an injected error.
macro_rules! failpoint {
    ($name:expr) => {
        fail::fail_point!($name, |_| Err($crate::store::StoreError::Injected($name)));
    };
}
pub(crate) use failpoint;

#[cfg(test)]
mod tests;
