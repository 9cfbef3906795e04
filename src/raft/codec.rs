//! Raft entry ⇄ CommitLog record.
//!
//! The record's `kind` byte says what the payload is. Message payloads are the store-format
//! bytes themselves, so a message's CommitLog offset is its record's payload offset and a pull
//! can read it without decoding anything else.

use bytes::Bytes;
use openraft::{EntryPayload, Membership};

use super::types::{Entry, LogCommand, LogId, NodeId, PeerNode};
use crate::store::{RecordMeta, StoredRecord};

pub const KIND_BLANK: u8 = 0;
pub const KIND_MEMBERSHIP: u8 = 1;
pub const KIND_MESSAGE: u8 = 2;
pub const KIND_BATCH: u8 = 3;
pub const KIND_META: u8 = 4;
pub const KIND_RAW: u8 = 5;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("record {index}: unknown kind {kind}")]
    UnknownKind { index: u64, kind: u8 },
    #[error("record {index}: cannot decode {what}: {source}")]
    Decode {
        index: u64,
        what: &'static str,
        #[source]
        source: bincode::Error,
    },
    #[error("entry {index}: cannot encode {what}: {source}")]
    Encode {
        index: u64,
        what: &'static str,
        #[source]
        source: bincode::Error,
    },
}

/// A payload ready to be written: message bytes are shared, not copied.
pub enum Payload {
    Empty,
    Shared(Bytes),
    Owned(Vec<u8>),
}

impl Payload {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Empty => &[],
            Payload::Shared(b) => b,
            Payload::Owned(v) => v,
        }
    }
}

pub fn record_meta(log_id: &LogId, kind: u8) -> RecordMeta {
    RecordMeta {
        term: log_id.leader_id.term,
        leader: log_id.leader_id.node_id,
        index: log_id.index,
        kind,
    }
}

/// Encodes an entry as a record's metadata and payload.
pub fn encode(entry: &Entry) -> Result<(RecordMeta, Payload), CodecError> {
    let index = entry.log_id.index;
    let (kind, payload) = match &entry.payload {
        EntryPayload::Blank => (KIND_BLANK, Payload::Empty),
        EntryPayload::Membership(m) => (
            KIND_MEMBERSHIP,
            Payload::Owned(bincode::serialize(m).map_err(|source| CodecError::Encode {
                index,
                what: "membership",
                source,
            })?),
        ),
        EntryPayload::Normal(cmd) => match cmd {
            LogCommand::PutMessage(b) => (KIND_MESSAGE, Payload::Shared(b.clone())),
            LogCommand::PutBatch(b) => (KIND_BATCH, Payload::Shared(b.clone())),
            LogCommand::Raw(b) => (KIND_RAW, Payload::Shared(b.clone())),
            LogCommand::Meta(m) => (
                KIND_META,
                Payload::Owned(bincode::serialize(m).map_err(|source| CodecError::Encode {
                    index,
                    what: "metadata command",
                    source,
                })?),
            ),
        },
    };
    Ok((record_meta(&entry.log_id, kind), payload))
}

pub fn log_id_of(meta: &RecordMeta) -> LogId {
    LogId::new(
        openraft::CommittedLeaderId::new(meta.term, meta.leader),
        meta.index,
    )
}

/// Decodes a record back into the entry it was made from.
pub fn decode(rec: StoredRecord) -> Result<Entry, CodecError> {
    let index = rec.meta.index;
    let log_id = log_id_of(&rec.meta);
    let payload = match rec.meta.kind {
        KIND_BLANK => EntryPayload::Blank,
        KIND_MEMBERSHIP => {
            let m: Membership<NodeId, PeerNode> =
                bincode::deserialize(&rec.payload).map_err(|source| CodecError::Decode {
                    index,
                    what: "membership",
                    source,
                })?;
            EntryPayload::Membership(m)
        }
        KIND_MESSAGE => EntryPayload::Normal(LogCommand::PutMessage(rec.payload)),
        KIND_BATCH => EntryPayload::Normal(LogCommand::PutBatch(rec.payload)),
        KIND_RAW => EntryPayload::Normal(LogCommand::Raw(rec.payload)),
        KIND_META => EntryPayload::Normal(LogCommand::Meta(
            bincode::deserialize(&rec.payload).map_err(|source| CodecError::Decode {
                index,
                what: "metadata command",
                source,
            })?,
        )),
        kind => return Err(CodecError::UnknownKind { index, kind }),
    };
    Ok(Entry { log_id, payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topic::TopicConfig;
    use crate::raft::types::MetaCommand;
    use std::collections::{BTreeMap, BTreeSet};

    fn round_trip(payload: EntryPayload<crate::raft::types::TypeConfig>) {
        let entry = Entry {
            log_id: log_id_of(&RecordMeta {
                term: 3,
                leader: 1,
                index: 9,
                kind: 0,
            }),
            payload,
        };
        let (meta, p) = encode(&entry).unwrap();
        let rec = StoredRecord {
            meta,
            offset: 0,
            payload: Bytes::copy_from_slice(p.as_slice()),
        };
        let back = decode(rec).unwrap();
        assert_eq!(back.log_id, entry.log_id);
        assert_eq!(
            format!("{:?}", back.payload),
            format!("{:?}", entry.payload)
        );
    }

    #[test]
    fn every_kind_round_trips() {
        round_trip(EntryPayload::Blank);
        let nodes: BTreeMap<u64, PeerNode> = (0..3)
            .map(|i| {
                (
                    i,
                    PeerNode {
                        addr: format!("127.0.0.1:{}", 40911 + i),
                    },
                )
            })
            .collect();
        let voters: BTreeSet<u64> = nodes.keys().copied().collect();
        round_trip(EntryPayload::Membership(Membership::new(
            vec![voters],
            nodes,
        )));
        round_trip(EntryPayload::Normal(LogCommand::PutMessage(
            Bytes::from_static(b"m"),
        )));
        round_trip(EntryPayload::Normal(LogCommand::PutBatch(
            Bytes::from_static(b"bb"),
        )));
        round_trip(EntryPayload::Normal(LogCommand::Raw(Bytes::from_static(
            b"raw",
        ))));
        round_trip(EntryPayload::Normal(LogCommand::Meta(
            MetaCommand::UpdateTopic(TopicConfig::new("TopicTest", 4)),
        )));
    }

    #[test]
    fn unknown_kind_is_an_error() {
        let rec = StoredRecord {
            meta: RecordMeta {
                term: 1,
                leader: 0,
                index: 1,
                kind: 99,
            },
            offset: 0,
            payload: Bytes::new(),
        };
        assert!(matches!(
            decode(rec),
            Err(CodecError::UnknownKind { kind: 99, .. })
        ));
    }
}
