//! Raft entry ⇄ CommitLog record.
//!
//! The record's `kind` byte says what the payload is. Message payloads are the store-format
//! bytes themselves, so a message's CommitLog offset is its record's payload offset and a pull
//! can read it without decoding anything else. A group entry (several commands batched into one
//! entry) is a sequence of `[kind u8][length u32 BE][payload]` items, each payload again stored
//! verbatim.
//!
//! Encoding produces a list of byte parts rather than one buffer, so message bytes are copied
//! exactly once: from the request into the mapped segment.

use bytes::{Bytes, BytesMut};
use openraft::{EntryPayload, Membership};

use super::types::{Entry, LogCommand, LogId, NodeId, PeerNode};
use crate::store::{RecordMeta, StoredRecord};

pub const KIND_BLANK: u8 = 0;
pub const KIND_MEMBERSHIP: u8 = 1;
pub const KIND_MESSAGE: u8 = 2;
pub const KIND_BATCH: u8 = 3;
pub const KIND_META: u8 = 4;
pub const KIND_RAW: u8 = 5;
pub const KIND_GROUP: u8 = 6;

/// Bytes before each item's payload in a group entry.
pub const GROUP_ITEM_HEADER: usize = 5;

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
    #[error("record {index}: malformed group item at byte {at}")]
    Group { index: u64, at: usize },
    #[error("entry {index}: a group cannot contain a group")]
    NestedGroup { index: u64 },
}

pub fn record_meta(log_id: &LogId, kind: u8) -> RecordMeta {
    RecordMeta {
        term: log_id.leader_id.term,
        leader: log_id.leader_id.node_id,
        index: log_id.index,
        kind,
    }
}

/// A single (non-group) command as a kind and its payload.
fn encode_command(index: u64, cmd: &LogCommand) -> Result<(u8, Bytes), CodecError> {
    Ok(match cmd {
        LogCommand::PutMessage(b) => (KIND_MESSAGE, b.clone()),
        LogCommand::PutBatch(b) => (KIND_BATCH, b.clone()),
        LogCommand::Raw(b) => (KIND_RAW, b.clone()),
        LogCommand::Meta(m) => (
            KIND_META,
            Bytes::from(bincode::serialize(m).map_err(|source| CodecError::Encode {
                index,
                what: "metadata command",
                source,
            })?),
        ),
        LogCommand::Group(_) => return Err(CodecError::NestedGroup { index }),
    })
}

/// Encodes an entry as a record's metadata and the parts whose concatenation is its payload.
pub fn encode(entry: &Entry) -> Result<(RecordMeta, Vec<Bytes>), CodecError> {
    let index = entry.log_id.index;
    let (kind, parts) = match &entry.payload {
        EntryPayload::Blank => (KIND_BLANK, Vec::new()),
        EntryPayload::Membership(m) => (
            KIND_MEMBERSHIP,
            vec![Bytes::from(bincode::serialize(m).map_err(|source| {
                CodecError::Encode {
                    index,
                    what: "membership",
                    source,
                }
            })?)],
        ),
        EntryPayload::Normal(LogCommand::Group(cmds)) => {
            // Every item header lives in one buffer, sliced per item: one allocation per
            // entry rather than one per command.
            let mut items = Vec::with_capacity(cmds.len());
            let mut headers = BytesMut::with_capacity(cmds.len() * GROUP_ITEM_HEADER);
            for cmd in cmds {
                let (kind, payload) = encode_command(index, cmd)?;
                headers.extend_from_slice(&[kind]);
                headers.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                items.push(payload);
            }
            let headers = headers.freeze();
            let mut parts = Vec::with_capacity(items.len() * 2);
            for (i, payload) in items.into_iter().enumerate() {
                let at = i * GROUP_ITEM_HEADER;
                parts.push(headers.slice(at..at + GROUP_ITEM_HEADER));
                parts.push(payload);
            }
            (KIND_GROUP, parts)
        }
        EntryPayload::Normal(cmd) => {
            let (kind, payload) = encode_command(index, cmd)?;
            (kind, vec![payload])
        }
    };
    Ok((record_meta(&entry.log_id, kind), parts))
}

/// Where each command of a group entry starts, relative to the record's payload.
pub fn group_offsets(cmds: &[LogCommand]) -> Vec<u64> {
    let mut at = 0u64;
    let mut out = Vec::with_capacity(cmds.len());
    for cmd in cmds {
        let len = match cmd {
            LogCommand::PutMessage(b) | LogCommand::PutBatch(b) | LogCommand::Raw(b) => {
                b.len() as u64
            }
            LogCommand::Meta(m) => bincode::serialized_size(m).unwrap_or(0),
            LogCommand::Group(_) => 0,
        };
        out.push(at + GROUP_ITEM_HEADER as u64);
        at += GROUP_ITEM_HEADER as u64 + len;
    }
    out
}

pub fn log_id_of(meta: &RecordMeta) -> LogId {
    LogId::new(
        openraft::CommittedLeaderId::new(meta.term, meta.leader),
        meta.index,
    )
}

fn decode_command(index: u64, kind: u8, payload: Bytes) -> Result<LogCommand, CodecError> {
    Ok(match kind {
        KIND_MESSAGE => LogCommand::PutMessage(payload),
        KIND_BATCH => LogCommand::PutBatch(payload),
        KIND_RAW => LogCommand::Raw(payload),
        KIND_META => LogCommand::Meta(bincode::deserialize(&payload).map_err(|source| {
            CodecError::Decode {
                index,
                what: "metadata command",
                source,
            }
        })?),
        kind => return Err(CodecError::UnknownKind { index, kind }),
    })
}

/// The (kind, payload) items of a record: the record itself, or each item of a group.
pub fn items(index: u64, kind: u8, payload: &Bytes) -> Result<Vec<(u8, Bytes)>, CodecError> {
    if kind != KIND_GROUP {
        return Ok(vec![(kind, payload.clone())]);
    }
    let b = payload;
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < b.len() {
        if at + GROUP_ITEM_HEADER > b.len() {
            return Err(CodecError::Group { index, at });
        }
        let item_kind = b[at];
        let len = u32::from_be_bytes([b[at + 1], b[at + 2], b[at + 3], b[at + 4]]) as usize;
        let start = at + GROUP_ITEM_HEADER;
        if start + len > b.len() {
            return Err(CodecError::Group { index, at });
        }
        out.push((item_kind, b.slice(start..start + len)));
        at = start + len;
    }
    Ok(out)
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
        KIND_GROUP => {
            let cmds = items(index, KIND_GROUP, &rec.payload)?
                .into_iter()
                .map(|(kind, payload)| decode_command(index, kind, payload))
                .collect::<Result<Vec<_>, _>>()?;
            EntryPayload::Normal(LogCommand::Group(cmds))
        }
        kind => EntryPayload::Normal(decode_command(index, kind, rec.payload)?),
    };
    Ok(Entry { log_id, payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topic::TopicConfig;
    use crate::raft::types::MetaCommand;
    use std::collections::{BTreeMap, BTreeSet};

    fn encode_decode(payload: EntryPayload<crate::raft::types::TypeConfig>) -> (Entry, Bytes) {
        let entry = Entry {
            log_id: log_id_of(&RecordMeta {
                term: 3,
                leader: 1,
                index: 9,
                kind: 0,
            }),
            payload,
        };
        let (meta, parts) = encode(&entry).unwrap();
        let bytes: Bytes = parts.concat().into();
        let rec = StoredRecord {
            meta,
            offset: 0,
            payload: bytes.clone(),
        };
        let back = decode(rec).unwrap();
        assert_eq!(back.log_id, entry.log_id);
        assert_eq!(
            format!("{:?}", back.payload),
            format!("{:?}", entry.payload)
        );
        (back, bytes)
    }

    #[test]
    fn every_kind_round_trips() {
        encode_decode(EntryPayload::Blank);
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
        encode_decode(EntryPayload::Membership(Membership::new(
            vec![voters],
            nodes,
        )));
        encode_decode(EntryPayload::Normal(LogCommand::PutMessage(
            Bytes::from_static(b"m"),
        )));
        encode_decode(EntryPayload::Normal(LogCommand::PutBatch(
            Bytes::from_static(b"bb"),
        )));
        encode_decode(EntryPayload::Normal(LogCommand::Raw(Bytes::from_static(
            b"raw",
        ))));
        encode_decode(EntryPayload::Normal(LogCommand::Meta(
            MetaCommand::UpdateTopic(TopicConfig::new("TopicTest", 4)),
        )));
    }

    #[test]
    fn group_items_sit_at_the_offsets_group_offsets_reports() {
        let cmds = vec![
            LogCommand::PutMessage(Bytes::from_static(b"first message")),
            LogCommand::Meta(MetaCommand::DeleteTopic("T".into())),
            LogCommand::Raw(Bytes::from_static(b"raw")),
            LogCommand::PutMessage(Bytes::from_static(b"last")),
        ];
        let (_, bytes) = encode_decode(EntryPayload::Normal(LogCommand::Group(cmds.clone())));
        let offsets = group_offsets(&cmds);
        assert_eq!(
            &bytes[offsets[0] as usize..offsets[0] as usize + 13],
            b"first message"
        );
        assert_eq!(&bytes[offsets[2] as usize..offsets[2] as usize + 3], b"raw");
        assert_eq!(&bytes[offsets[3] as usize..], b"last");
    }

    #[test]
    fn nested_groups_and_unknown_kinds_are_errors() {
        let entry = Entry {
            log_id: LogId::default(),
            payload: EntryPayload::Normal(LogCommand::Group(vec![LogCommand::Group(vec![])])),
        };
        assert!(matches!(
            encode(&entry),
            Err(CodecError::NestedGroup { .. })
        ));
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
        let bad_group = StoredRecord {
            meta: RecordMeta {
                term: 1,
                leader: 0,
                index: 1,
                kind: KIND_GROUP,
            },
            offset: 0,
            payload: Bytes::from_static(&[KIND_RAW, 0, 0, 0, 9, b'x']),
        };
        assert!(matches!(decode(bad_group), Err(CodecError::Group { .. })));
    }
}
