//! The peer protocol: what Raft nodes (and the admin/test client) send each other over the peer
//! port, and its framing.
//!
//! Frame: a 4-byte big-endian length, then a bincode-encoded [`Frame`]. Every frame carries a
//! request id, so many requests can be in flight on one connection and answers can come back in
//! any order: a heartbeat or a vote never waits behind a large AppendEntries.

use bytes::{Bytes, BytesMut};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::frame_bytes::FrameScope;
use super::types::{ApplyResult, LogCommand, LogId, NodeId, RejectReason, TypeConfig};
use crate::store::LogDigest;

/// Largest frame accepted; an AppendEntries batch is bounded well below this.
pub const MAX_FRAME: usize = 64 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub struct Frame<T> {
    pub id: u64,
    pub body: T,
}

/// Asks "would you vote for me if I started an election?" without disturbing anyone (Raft
/// thesis §9.6): no term changes, no vote is recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreVoteRequest {
    pub candidate: NodeId,
    pub next_term: u64,
    pub last_log_id: Option<LogId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreVoteResponse {
    pub granted: bool,
    pub reason: String,
}

/// A node's Raft view, for `status` and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub addr: String,
    /// Leader, Follower, Candidate, Learner or Shutdown.
    pub state: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    pub committed: Option<u64>,
    pub applied: Option<u64>,
    pub commit_log_min_offset: u64,
    pub commit_log_max_offset: u64,
    /// Leader only: matched index per follower.
    pub replication: Vec<(NodeId, Option<u64>)>,
    pub millis_since_quorum_ack: Option<u64>,
    /// Leader elections this node has seen since it started (a new leader, or a new term).
    pub leader_changes: u64,
    /// How long ago this node last saw the leader change; on the leader, how long it has led.
    pub millis_since_leader_change: Option<u64>,
}

/// A successful write through Raft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOk {
    pub log_id: LogId,
    pub result: ApplyResult,
}

/// Why a write was not acknowledged. Every variant except `Fatal` and `Rejected` is worth
/// retrying, on this node or on the leader it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum WriteError {
    #[error("not the leader (leader: {})", leader.as_ref().map(|(id, a)| format!("n{id} at {a}")).unwrap_or_else(|| "unknown".into()))]
    NotLeader { leader: Option<(NodeId, String)> },
    #[error("leadership is moving to the preferred leader; retry shortly")]
    Transferring,
    #[error("the leader has not heard from a quorum for {millis} ms; it may be partitioned")]
    NoQuorum { millis: u64 },
    #[error("no commit within {millis} ms; the write may or may not be applied")]
    Timeout { millis: u64 },
    #[error("raft stopped: {0}")]
    Fatal(FatalError),
    #[error("rejected: {0}")]
    Rejected(RejectReason),
}

/// Why this node cannot commit anything until it is restarted (or why a write's outcome is
/// lost with the stopped machinery). Not worth retrying here; a client goes to another node.
///
/// On the peer wire it travels as its text, the layout the peer protocol has always had; a
/// cause read from the wire is [`FatalError::Remote`] with the same text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(into = "String", from = "String")]
pub enum FatalError {
    /// openraft's core stopped: a storage error, a panic, or a shutdown.
    #[error("{0}")]
    Raft(Box<openraft::error::Fatal<NodeId>>),
    /// An fsync of the CommitLog failed: what the kernel kept of the written pages is unknown,
    /// so only recovery at start-up may decide what the log holds.
    #[error(
        "an fsync of the commit log failed; restart this node so recovery re-verifies its log"
    )]
    FsyncFailed,
    /// The write batcher's task is gone (the node is shutting down).
    #[error("write batcher stopped")]
    BatcherStopped,
    /// openraft dropped the write's answer (it stopped while the write was in flight).
    #[error("raft stopped before answering")]
    NoAnswer,
    /// openraft's metrics ended while a write waited for its append.
    #[error("raft stopped")]
    Stopped,
    /// A group entry's result is not one result per command: the state machine and the
    /// batcher disagree, which is a bug; no caller can learn its own outcome.
    #[error("group entry {log_id} applied as {applied}")]
    GroupMismatch { log_id: LogId, applied: String },
    /// A cause another node sent, as its text.
    #[error("{0}")]
    Remote(String),
}

impl From<openraft::error::Fatal<NodeId>> for FatalError {
    fn from(f: openraft::error::Fatal<NodeId>) -> FatalError {
        FatalError::Raft(Box::new(f))
    }
}

impl From<FatalError> for String {
    fn from(e: FatalError) -> String {
        e.to_string()
    }
}

impl From<String> for FatalError {
    fn from(text: String) -> FatalError {
        FatalError::Remote(text)
    }
}

impl WriteError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, WriteError::Fatal(_) | WriteError::Rejected(_))
    }
}

/// One committed entry as the admin/test client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadEntry {
    pub log_id: LogId,
    /// The record's kind and payload as stored.
    pub kind: u8,
    pub payload: bytes::Bytes,
    /// The commands in the entry as (kind, payload): one for a plain entry, several for a
    /// group-committed one.
    pub items: Vec<(u8, bytes::Bytes)>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    PreVote(PreVoteRequest),
    /// Leadership transfer: the leader asks the preferred node to start an election now.
    TimeoutNow {
        from: NodeId,
        term: u64,
    },
    /// Admin/test: write through Raft on this node (it must be the leader).
    Write(LogCommand),
    /// Admin/test: this node's Raft status.
    Status,
    /// Admin/test: committed entries from `from`, at most `max`.
    Read {
        from: u64,
        max: u32,
    },
    /// Admin/test: CRC of this node's CommitLog bytes for indices `from..=upto`.
    Digest {
        from: u64,
        upto: u64,
    },
    /// Master/slave mode: a slave asks its master to replicate to it as a learner.
    JoinLearner {
        id: NodeId,
        addr: String,
    },
    /// `raftPeerSecret` handshake, step 1 (see `peer_auth`). Appended last: bincode numbers
    /// variants by position, so the variants above keep their wire tags.
    AuthHello {
        client_nonce: Vec<u8>,
    },
    /// `raftPeerSecret` handshake, step 3.
    AuthProof {
        proof: Vec<u8>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    PreVote(PreVoteResponse),
    TimeoutNow(bool),
    Write(Result<WriteOk, WriteError>),
    Status(NodeStatus),
    Read(Result<Vec<ReadEntry>, String>),
    Digest(Result<LogDigest, String>),
    JoinLearner(Result<(), String>),
    /// `raftPeerSecret` handshake, step 2 (an empty proof: this node has no secret).
    AuthChallenge {
        server_nonce: Vec<u8>,
        server_proof: Vec<u8>,
    },
    /// `raftPeerSecret` handshake, step 4.
    AuthResult(bool),
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed frame: {0}")]
    Decode(#[from] bincode::Error),
}

/// Encodes a frame into `out` (length prefix included).
pub fn encode_frame<T: Serialize>(frame: &Frame<T>, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    bincode::serialize_into(&mut *out, frame)?;
    let len = out.len() - start - 4;
    if len > MAX_FRAME {
        out.truncate(start);
        return Err(FrameError::TooLarge(len));
    }
    out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    frame: &Frame<T>,
) -> Result<(), FrameError> {
    let mut buf = Vec::new();
    encode_frame(frame, &mut buf)?;
    w.write_all(&buf).await?;
    Ok(())
}

/// How far ahead of the bytes received a frame's buffer may grow.
const RESERVE_STEP: usize = 1 << 20;

/// Reads one frame. A clean EOF before the length prefix is `Closed`.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> Result<Frame<T>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    // Read into spare capacity (no zero-fill), then decode payloads as slices of the frame.
    // Room grows with the bytes that really arrive, at most RESERVE_STEP ahead: a peer that
    // announces MAX_FRAME and trickles (or sends nothing) does not get it allocated up front.
    let mut buf = BytesMut::with_capacity(len.min(RESERVE_STEP));
    while buf.len() < len {
        if buf.capacity() == buf.len() {
            buf.reserve((len - buf.len()).min(RESERVE_STEP));
        }
        let want = (len - buf.len()) as u64;
        if (&mut *r).take(want).read_buf(&mut buf).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    decode_frame(&buf.freeze())
}

/// Decodes one frame's bytes (without its length prefix); payloads are slices of `frame`.
/// What [`read_frame`] does once the bytes are in, and what the fuzz target drives.
pub fn decode_frame<T: DeserializeOwned>(frame: &Bytes) -> Result<Frame<T>, FrameError> {
    let _scope = FrameScope::enter(frame);
    Ok(bincode::deserialize(frame)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::PutPosition;

    /// The write outcome's layout before its reasons were typed: what every node and tool of
    /// an older build sends and expects.
    #[derive(Debug, Serialize, Deserialize)]
    enum LegacyWriteError {
        NotLeader { leader: Option<(NodeId, String)> },
        Transferring,
        NoQuorum { millis: u64 },
        Timeout { millis: u64 },
        Fatal(String),
        Rejected(String),
    }

    #[derive(Debug, Serialize, Deserialize)]
    enum LegacyApplyResult {
        None,
        Put(PutPosition),
        Batch(Vec<PutPosition>),
        Raw { commit_log_offset: u64 },
        Rejected(String),
        Group(Vec<LegacyApplyResult>),
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct LegacyWriteOk {
        log_id: LogId,
        result: LegacyApplyResult,
    }

    fn bytes<T: Serialize>(v: &T) -> Vec<u8> {
        bincode::serialize(v).unwrap()
    }

    #[test]
    fn typed_write_outcomes_keep_the_peer_wire_layout() {
        let cases = [
            (
                WriteError::NotLeader {
                    leader: Some((2, "127.0.0.1:40913".into())),
                },
                LegacyWriteError::NotLeader {
                    leader: Some((2, "127.0.0.1:40913".into())),
                },
            ),
            (WriteError::Transferring, LegacyWriteError::Transferring),
            (
                WriteError::NoQuorum { millis: 7 },
                LegacyWriteError::NoQuorum { millis: 7 },
            ),
            (
                WriteError::Timeout { millis: 3000 },
                LegacyWriteError::Timeout { millis: 3000 },
            ),
            (
                WriteError::Fatal(FatalError::FsyncFailed),
                LegacyWriteError::Fatal(FatalError::FsyncFailed.to_string()),
            ),
            (
                WriteError::Fatal(openraft::error::Fatal::Stopped.into()),
                LegacyWriteError::Fatal("raft stopped".into()),
            ),
            (
                WriteError::Rejected(RejectReason::InvalidTopicName("../x".into())),
                LegacyWriteError::Rejected("invalid topic name \"../x\"".into()),
            ),
        ];
        for (typed, legacy) in cases {
            let wire = bytes(&typed);
            assert_eq!(wire, bytes(&legacy), "{typed:?}");
            // An older peer reads it, and a reason read back keeps its text and its kind of
            // failure (retryable or not).
            let back: WriteError = bincode::deserialize(&wire).unwrap();
            assert_eq!(back.to_string(), typed.to_string());
            assert_eq!(back.is_retryable(), typed.is_retryable());
            let _: LegacyWriteError = bincode::deserialize(&wire).unwrap();
        }

        let log_id = LogId::new(openraft::CommittedLeaderId::new(3, 1), 9);
        let pos = PutPosition {
            queue_offset: 1,
            commit_log_offset: 2,
            size: 3,
        };
        let typed = WriteOk {
            log_id,
            result: ApplyResult::Group(vec![
                ApplyResult::Put(pos),
                ApplyResult::Rejected(RejectReason::NegativeQueueId(-1)),
                ApplyResult::Raw {
                    commit_log_offset: 5,
                },
            ]),
        };
        let legacy = LegacyWriteOk {
            log_id,
            result: LegacyApplyResult::Group(vec![
                LegacyApplyResult::Put(pos),
                LegacyApplyResult::Rejected("negative queue id -1".into()),
                LegacyApplyResult::Raw {
                    commit_log_offset: 5,
                },
            ]),
        };
        assert_eq!(bytes(&typed), bytes(&legacy));
        let back: WriteOk = bincode::deserialize(&bytes(&legacy)).unwrap();
        let ApplyResult::Group(results) = back.result else {
            panic!("{back:?}");
        };
        assert_eq!(
            results[1],
            ApplyResult::Rejected(RejectReason::Remote("negative queue id -1".into()))
        );
    }

    #[tokio::test]
    async fn frames_round_trip_and_hostile_lengths_are_refused() {
        let mut buf = Vec::new();
        encode_frame(
            &Frame {
                id: 7,
                body: PeerRequest::Status,
            },
            &mut buf,
        )
        .unwrap();
        let mut r = &buf[..];
        let f: Frame<PeerRequest> = read_frame(&mut r).await.unwrap();
        assert_eq!(f.id, 7);
        assert!(matches!(f.body, PeerRequest::Status));

        let huge = (u32::MAX).to_be_bytes();
        let mut r = &huge[..];
        assert!(matches!(
            read_frame::<_, PeerRequest>(&mut r).await,
            Err(FrameError::TooLarge(_))
        ));

        let mut garbage = 3u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0xFF, 0xFF, 0xFF]);
        let mut r = &garbage[..];
        assert!(matches!(
            read_frame::<_, PeerRequest>(&mut r).await,
            Err(FrameError::Decode(_))
        ));

        let mut r: &[u8] = &[];
        assert!(matches!(
            read_frame::<_, PeerRequest>(&mut r).await,
            Err(FrameError::Closed)
        ));

        // A frame several times the reserve step, arriving in small pieces, still reads whole.
        let big = Frame {
            id: 9,
            body: vec![7u8; 3 * RESERVE_STEP + 5],
        };
        let mut buf = Vec::new();
        encode_frame(&big, &mut buf).unwrap();
        let (mut tx, mut rx) = tokio::io::duplex(4096);
        let writer = tokio::spawn(async move {
            for piece in buf.chunks(1000) {
                tx.write_all(piece).await.unwrap();
            }
        });
        let f: Frame<Vec<u8>> = read_frame(&mut rx).await.unwrap();
        writer.await.unwrap();
        assert_eq!((f.id, f.body.len()), (9, 3 * RESERVE_STEP + 5));
        assert!(f.body.iter().all(|b| *b == 7));

        // A connection that ends inside a frame body is an I/O error, not a short frame.
        let mut cut = 100u32.to_be_bytes().to_vec();
        cut.extend_from_slice(&[0u8; 10]);
        let mut r = &cut[..];
        assert!(matches!(
            read_frame::<_, PeerRequest>(&mut r).await,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof
        ));
    }
}
