//! Raft entry ⇄ CommitLog record.
//!
//! The record's `kind` byte says what the payload is. Message payloads are the store-format
//! bytes themselves, so a message's CommitLog offset is its record's payload offset and a pull
//! can read it without decoding anything else. A group entry (several commands batched into one
//! entry) is laid out by [`group_entry`](super::group_entry): items `[kind][length][payload]`,
//! each payload again stored verbatim.
//!
//! Encoding produces a list of byte parts rather than one buffer, so message bytes are copied
//! exactly once: from the request into the segment file, by the CommitLog's `pwritev`.

use bytes::{Bytes, BytesMut};
use openraft::{EntryPayload, Membership};

use super::group_entry::{self, Items, ITEM_HEADER};
use super::types::{Entry, LogCommand, LogId, NodeId, PeerNode};
use crate::store::{RecordMeta, StoredRecord};

pub const KIND_BLANK: u8 = 0;
pub const KIND_MEMBERSHIP: u8 = 1;
pub const KIND_MESSAGE: u8 = 2;
pub const KIND_BATCH: u8 = 3;
pub const KIND_META: u8 = 4;
pub const KIND_RAW: u8 = 5;
pub const KIND_GROUP: u8 = 6;
/// A scheduled message's delivery (`raft/schedule.rs`); numbered apart from the kinds above
/// so that kinds added for other features meanwhile do not collide.
pub const KIND_DELIVER: u8 = 16;
/// A transaction resolution: store-format messages back to back, like a batch.
pub const KIND_END_TRANSACTION: u8 = 20;
/// A bincode `TransactionCommand`.
pub const KIND_TRANSACTION: u8 = 21;
/// A bincode `QueueLockCommand`.
pub const KIND_QUEUE_LOCK: u8 = 22;

/// Why an entry cannot become a record or a record cannot become an entry. (Named apart from
/// the remoting layer's `CodecError`, which is about RocketMQ frames.)
#[derive(Debug, thiserror::Error)]
pub enum EntryCodecError {
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
    #[error("entry {index}: a group item of {len} bytes exceeds the 4 GiB item limit")]
    ItemTooLarge { index: u64, len: usize },
    #[error("record {index}: a scheduled delivery shorter than its header")]
    ShortDelivery { index: u64 },
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
fn encode_command(index: u64, cmd: &LogCommand) -> Result<(u8, Bytes), EntryCodecError> {
    Ok(match cmd {
        LogCommand::PutMessage(b) => (KIND_MESSAGE, b.clone()),
        LogCommand::PutBatch(b) => (KIND_BATCH, b.clone()),
        LogCommand::Raw(b) => (KIND_RAW, b.clone()),
        LogCommand::Meta(m) => (
            KIND_META,
            Bytes::from(
                bincode::serialize(m).map_err(|source| EntryCodecError::Encode {
                    index,
                    what: "metadata command",
                    source,
                })?,
            ),
        ),
        LogCommand::EndTransaction(b) => (KIND_END_TRANSACTION, b.clone()),
        LogCommand::Transaction(t) => (
            KIND_TRANSACTION,
            Bytes::from(
                bincode::serialize(t).map_err(|source| EntryCodecError::Encode {
                    index,
                    what: "transaction command",
                    source,
                })?,
            ),
        ),
        LogCommand::QueueLock(l) => (
            KIND_QUEUE_LOCK,
            Bytes::from(
                bincode::serialize(l).map_err(|source| EntryCodecError::Encode {
                    index,
                    what: "queue lock command",
                    source,
                })?,
            ),
        ),
        LogCommand::Group(_) => return Err(EntryCodecError::NestedGroup { index }),
        LogCommand::Deliver(d) => (KIND_DELIVER, d.encode()),
    })
}

/// Encodes an entry as a record's metadata and the parts whose concatenation is its payload.
pub fn encode(entry: &Entry) -> Result<(RecordMeta, Vec<Bytes>), EntryCodecError> {
    let index = entry.log_id.index;
    let (kind, parts) = match &entry.payload {
        EntryPayload::Blank => (KIND_BLANK, Vec::new()),
        EntryPayload::Membership(m) => (
            KIND_MEMBERSHIP,
            vec![Bytes::from(bincode::serialize(m).map_err(|source| {
                EntryCodecError::Encode {
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
            let mut headers = BytesMut::with_capacity(cmds.len() * ITEM_HEADER);
            for cmd in cmds {
                let (kind, payload) = encode_command(index, cmd)?;
                let header = group_entry::item_header(kind, payload.len()).ok_or(
                    EntryCodecError::ItemTooLarge {
                        index,
                        len: payload.len(),
                    },
                )?;
                headers.extend_from_slice(&header);
                items.push(payload);
            }
            let headers = headers.freeze();
            let mut parts = Vec::with_capacity(items.len() * 2);
            for (i, payload) in items.into_iter().enumerate() {
                let at = i * ITEM_HEADER;
                parts.push(headers.slice(at..at + ITEM_HEADER));
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

/// Bytes `cmd` occupies as a record's payload: exactly what [`encode`] writes for it. The
/// batcher's and the entry cache's byte limits count with it.
pub fn payload_len(cmd: &LogCommand) -> u64 {
    match cmd {
        LogCommand::PutMessage(b) | LogCommand::PutBatch(b) | LogCommand::Raw(b) => b.len() as u64,
        LogCommand::Meta(m) => bincode::serialized_size(m).unwrap_or(0),
        LogCommand::EndTransaction(b) => b.len() as u64,
        LogCommand::Transaction(t) => bincode::serialized_size(t).unwrap_or(0),
        LogCommand::QueueLock(l) => bincode::serialized_size(l).unwrap_or(0),
        LogCommand::Group(cmds) => group_entry::encoded_len(cmds.iter().map(payload_len)),
        LogCommand::Deliver(d) => d.encoded_len(),
    }
}

/// Where each command of a group entry starts, relative to the record's payload.
pub fn group_offsets(cmds: &[LogCommand]) -> Vec<u64> {
    group_entry::payload_offsets(cmds.iter().map(payload_len))
}

pub fn log_id_of(meta: &RecordMeta) -> LogId {
    LogId::new(
        openraft::CommittedLeaderId::new(meta.term, meta.leader),
        meta.index,
    )
}

fn decode_command(index: u64, kind: u8, payload: Bytes) -> Result<LogCommand, EntryCodecError> {
    Ok(match kind {
        KIND_MESSAGE => LogCommand::PutMessage(payload),
        KIND_BATCH => LogCommand::PutBatch(payload),
        KIND_RAW => LogCommand::Raw(payload),
        KIND_META => LogCommand::Meta(bincode::deserialize(&payload).map_err(|source| {
            EntryCodecError::Decode {
                index,
                what: "metadata command",
                source,
            }
        })?),
        KIND_DELIVER => LogCommand::Deliver(
            super::schedule::Delivery::decode(&payload)
                .ok_or(EntryCodecError::ShortDelivery { index })?,
        ),
        KIND_END_TRANSACTION => LogCommand::EndTransaction(payload),
        KIND_TRANSACTION => {
            LogCommand::Transaction(bincode::deserialize(&payload).map_err(|source| {
                EntryCodecError::Decode {
                    index,
                    what: "transaction command",
                    source,
                }
            })?)
        }
        KIND_QUEUE_LOCK => {
            LogCommand::QueueLock(bincode::deserialize(&payload).map_err(|source| {
                EntryCodecError::Decode {
                    index,
                    what: "queue lock command",
                    source,
                }
            })?)
        }
        kind => return Err(EntryCodecError::UnknownKind { index, kind }),
    })
}

/// The commands of a record as items: the record itself, or each item of a group.
pub fn record_items(kind: u8, payload: &Bytes) -> Items {
    if kind == KIND_GROUP {
        Items::group(payload)
    } else {
        Items::single(kind, payload)
    }
}

/// The (kind, payload) items of a record, collected; a malformed group is an error.
pub fn items(index: u64, kind: u8, payload: &Bytes) -> Result<Vec<(u8, Bytes)>, EntryCodecError> {
    record_items(kind, payload)
        .map(|item| {
            item.map(|i| (i.kind, i.payload))
                .map_err(|e| EntryCodecError::Group { index, at: e.at })
        })
        .collect()
}

/// Decodes a record back into the entry it was made from.
pub fn decode(rec: StoredRecord) -> Result<Entry, EntryCodecError> {
    let index = rec.meta.index;
    let log_id = log_id_of(&rec.meta);
    let payload = match rec.meta.kind {
        KIND_BLANK => EntryPayload::Blank,
        KIND_MEMBERSHIP => {
            let m: Membership<NodeId, PeerNode> =
                bincode::deserialize(&rec.payload).map_err(|source| EntryCodecError::Decode {
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
        let meta = LogCommand::Meta(MetaCommand::UpdateTopic(TopicConfig::new("TopicTest", 4)));
        let (_, bytes) = encode_decode(EntryPayload::Normal(meta.clone()));
        assert_eq!(bytes.len() as u64, payload_len(&meta));
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
        assert_eq!(
            bytes.len() as u64,
            payload_len(&LogCommand::Group(cmds.clone())),
            "payload_len counts what encode writes"
        );
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
            Err(EntryCodecError::NestedGroup { .. })
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
            Err(EntryCodecError::UnknownKind { kind: 99, .. })
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
        assert!(matches!(
            decode(bad_group),
            Err(EntryCodecError::Group { .. })
        ));
    }
}
