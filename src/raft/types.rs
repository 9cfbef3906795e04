//! The openraft type configuration and the data that travels in Raft entries.
//!
//! Message payloads are `bytes::Bytes` in RocketMQ's store format: the leader builds them once,
//! the CommitLog stores them verbatim, and a pull serves the same bytes.

use std::fmt;
use std::io::Cursor;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::broker_state::queue_locks::QueueLockCommand;
use super::broker_state::transactions::TransactionCommand;
use crate::message::MessageError;
use crate::protocol::topic::TopicConfig;

openraft::declare_raft_types!(
    /// LedgerMQ's Raft types: node ids are the numbers in `dLegerPeers` ids (`n0` → 0).
    pub TypeConfig:
        D = LogCommand,
        R = ApplyResult,
        NodeId = u64,
        Node = PeerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, PeerNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerNode>;

/// A member of the Raft group: its peer-transport address from `dLegerPeers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    pub addr: String,
}

impl fmt::Display for PeerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

/// What a normal Raft entry asks the state machine to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogCommand {
    /// One message in RocketMQ store format; the state machine gives it the next offset of its
    /// (topic, queue).
    PutMessage(#[serde(with = "super::frame_bytes")] Bytes),
    /// The messages of one batch send, each in store format, concatenated; they get consecutive
    /// offsets of one queue.
    PutBatch(#[serde(with = "super::frame_bytes")] Bytes),
    /// Topic and consumer-offset metadata.
    Meta(MetaCommand),
    /// Opaque bytes with no effect on broker state: the raft test client and `bench raft`.
    Raw(#[serde(with = "super::frame_bytes")] Bytes),
    /// Several commands proposed as one entry by the write batcher, so that one append (and
    /// one fsync on each node) commits them all: group commit above openraft, whose core waits
    /// for each append's flush before the next. Never nested.
    Group(Vec<LogCommand>),
    /// A scheduled message that came due, stored in its real topic while its schedule slot is
    /// retired; ignored if the slot was already retired (see `raft/schedule.rs`).
    Deliver(super::schedule::Delivery),
    /// The resolution of one transactional half message: its op record (to
    /// `RMQ_SYS_TRANS_OP_HALF_TOPIC`) followed, on commit, by the real message, in store
    /// format, back to back. Applied only while the half message is unresolved, so a commit
    /// happens once however many END_TRANSACTIONs race (`broker_state::transactions`).
    EndTransaction(#[serde(with = "super::frame_bytes")] Bytes),
    /// Transaction bookkeeping without a message (a check-back counted).
    Transaction(TransactionCommand),
    /// An orderly consumer's LOCK_BATCH_MQ / UNLOCK_BATCH_MQ (`broker_state::queue_locks`).
    QueueLock(QueueLockCommand),
}

impl fmt::Display for LogCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogCommand::PutMessage(b) => write!(f, "PutMessage({} bytes)", b.len()),
            LogCommand::PutBatch(b) => write!(f, "PutBatch({} bytes)", b.len()),
            LogCommand::Meta(m) => write!(f, "Meta({m:?})"),
            LogCommand::Raw(b) => write!(f, "Raw({} bytes)", b.len()),
            LogCommand::Group(v) => write!(f, "Group({} commands)", v.len()),
            LogCommand::Deliver(d) => write!(f, "Deliver({:?}, {} bytes)", d.slot, d.message.len()),
            LogCommand::EndTransaction(b) => write!(f, "EndTransaction({} bytes)", b.len()),
            LogCommand::Transaction(t) => write!(f, "Transaction({t:?})"),
            LogCommand::QueueLock(l) => write!(f, "QueueLock({l:?})"),
        }
    }
}

/// Metadata changes, replicated like messages so that every node agrees on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaCommand {
    UpdateTopic(TopicConfig),
    DeleteTopic(String),
    CommitOffset {
        group: String,
        topic: String,
        queue_id: u32,
        offset: u64,
    },
}

/// Where one applied message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutPosition {
    pub queue_offset: u64,
    pub commit_log_offset: u64,
    pub size: u32,
}

/// The state machine's answer to one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyResult {
    #[default]
    None,
    Put(PutPosition),
    Batch(Vec<PutPosition>),
    /// Raw entry stored at this CommitLog offset.
    Raw {
        commit_log_offset: u64,
    },
    /// The command was well-formed Raft-wise but not applicable (e.g. a malformed message); every
    /// node reaches the same verdict.
    Rejected(RejectReason),
    /// One result per command of a `Group`, in order.
    Group(Vec<ApplyResult>),
}

/// Why the state machine refused a committed command. It decides from the entry's bytes alone,
/// so every node reaches the same verdict; the broker answers it as MESSAGE_ILLEGAL with this
/// text as the remark.
///
/// On the peer wire (inside `ApplyResult` and `WriteError`) a reason travels as its text, the
/// layout the peer protocol has always had, and a reason read from the wire is
/// [`RejectReason::Remote`] with the same text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum RejectReason {
    /// A message's bytes are not a stored message.
    #[error("malformed stored message: {0}")]
    MalformedMessage(MessageError),
    /// The message at byte `at` of a batch is not a stored message.
    #[error("malformed message in batch at byte {at}: {error}")]
    MalformedInBatch { at: usize, error: MessageError },
    #[error("empty message")]
    EmptyMessage,
    #[error("negative queue id {0}")]
    NegativeQueueId(i32),
    /// Not RocketMQ's topic charset or too long; topic names become directory names, so this
    /// also keeps a hostile name from escaping the store.
    #[error("invalid topic name {0:?}")]
    InvalidTopicName(String),
    /// The message at byte `at` of a batch was refused; the whole batch is.
    #[error("message at byte {at} of batch: {reason}")]
    InBatch {
        at: usize,
        reason: Box<RejectReason>,
    },
    /// A group inside a group (the batcher never builds one).
    #[error("nested group")]
    NestedGroup,
    /// openraft refused the proposal itself.
    #[error("{0}")]
    Raft(String),
    /// A reason another node sent, as its text.
    #[error("{0}")]
    Remote(String),
    /// A transaction resolution or check-back for a half message (by its queue offset) that
    /// is already resolved, or was never a half message.
    #[error("the transaction of half message {0} is already resolved or unknown")]
    TransactionResolved(u64),
    /// An `EndTransaction` entry that does not start with an op record.
    #[error("not a transaction op record: {0}")]
    NotAnOpRecord(String),
}

impl From<RejectReason> for String {
    fn from(r: RejectReason) -> String {
        r.to_string()
    }
}

impl From<String> for RejectReason {
    fn from(text: String) -> RejectReason {
        RejectReason::Remote(text)
    }
}
