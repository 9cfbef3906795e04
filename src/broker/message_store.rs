//! Reading messages back: the pull path, offsets by time, and lookups by CommitLog offset,
//! all through the node's [`BrokerState`] (its ConsumeQueues and the CommitLog they point
//! into).
//!
//! Everything here reads committed data only: the ConsumeQueues hold entries for applied
//! (committed) messages, and the CommitLog bytes they point at never change. Queue offsets are
//! assigned when an entry commits, after its bytes were replicated, so the QUEUEOFFSET and
//! PHYSICALOFFSET fields of a stored message are filled in here, from the ConsumeQueue entry:
//! a pull copies the message's first [`PATCHED_HEAD`] bytes and patches them, and shares the
//! rest with the mapped CommitLog segment (no copy).

use bytes::{Buf, Bytes, BytesMut};

use crate::message::{patch_offsets, StoredMessageView, PHYSICAL_OFFSET_POS};
use crate::raft::broker_state::BrokerState;
use crate::store::{ConsumeQueue, CqEntry};

/// How a read of one queue ended (RocketMQ's GetMessageStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    Found,
    /// Entries were scanned but none matched the tag filter.
    NoMatchedMessage,
    /// The queue does not exist on this broker.
    NoMatchedLogicQueue,
    NoMessageInQueue,
    /// offset == max offset: nothing new yet.
    OffsetOverflowOne,
    /// offset > max offset.
    OffsetOverflowBadly,
    /// offset < min offset (retention deleted it).
    OffsetTooSmall,
}

#[derive(Debug)]
pub struct GetMessageResult {
    pub status: GetStatus,
    pub next_begin_offset: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    /// The found messages in store format: their concatenation is the answer's body. Each
    /// message is two parts, its patched head (a copy) and the rest (a slice of the mapped
    /// segment), so the writer sends them from the page cache without joining them.
    pub parts: Vec<Bytes>,
    /// Bytes of all `parts`.
    pub body_len: usize,
    pub count: usize,
}

impl GetMessageResult {
    /// The body as one buffer (a copy), for tests and tools; answers send the parts.
    pub fn joined_body(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.body_len);
        for part in &self.parts {
            b.extend_from_slice(part);
        }
        b.freeze()
    }
}

/// How many leading bytes of a stored message a pull rewrites: everything up to the end of
/// PHYSICALOFFSET (TOTALSIZE, MAGICCODE, BODYCRC, QUEUEID, FLAG, QUEUEOFFSET, PHYSICALOFFSET).
/// These are copied into the answer; the rest of the message is not.
pub const PATCHED_HEAD: usize = PHYSICAL_OFFSET_POS + 8;

/// At most this many ConsumeQueue entries are scanned per pull when a tag filter skips
/// entries (RocketMQ scans 16 000 bytes of queue, 800 entries).
const MAX_SCAN: usize = 800;

/// What to read from one queue.
#[derive(Debug, Clone, Copy)]
pub struct GetRequest<'a> {
    pub topic: &'a str,
    pub queue_id: u32,
    pub offset: u64,
    pub max_count: usize,
    pub max_bytes: usize,
}

/// Reads up to `max_count` messages from queue offset `offset` whose tags hash code passes
/// `filter`, stopping after `max_bytes` of messages (at least one is returned if any matches).
pub fn get_messages(
    state: &BrokerState,
    req: GetRequest<'_>,
    filter: &dyn Fn(i64) -> bool,
) -> GetMessageResult {
    let GetRequest {
        topic,
        queue_id,
        offset,
        max_count,
        max_bytes,
    } = req;
    let mut result = GetMessageResult {
        status: GetStatus::NoMatchedLogicQueue,
        next_begin_offset: 0,
        min_offset: 0,
        max_offset: 0,
        parts: Vec::new(),
        body_len: 0,
        count: 0,
    };
    let log = state.commit_log();
    let Some(cq) = state.consume_queue(topic, queue_id) else {
        return result;
    };
    let (min, max) = (cq.min_offset(), cq.max_offset());
    result.min_offset = min;
    result.max_offset = max;
    if max == 0 || min == max {
        result.status = GetStatus::NoMessageInQueue;
        result.next_begin_offset = if offset == max { offset } else { max };
        return result;
    }
    if offset < min {
        result.status = GetStatus::OffsetTooSmall;
        result.next_begin_offset = min;
        return result;
    }
    if offset == max {
        result.status = GetStatus::OffsetOverflowOne;
        result.next_begin_offset = offset;
        return result;
    }
    if offset > max {
        result.status = GetStatus::OffsetOverflowBadly;
        result.next_begin_offset = max;
        return result;
    }
    let scan = MAX_SCAN.max(max_count);
    let mut next = offset;
    let mut heads = BytesMut::new();
    for (queue_offset, e) in cq.read(offset, scan) {
        next = queue_offset + 1;
        if !filter(e.tags_code) {
            continue;
        }
        let size = e.size.max(0) as usize;
        if result.parts.capacity() == 0 {
            // One allocation each for the list and the heads in the usual case.
            let expected = max_count.min(max_bytes / size.max(1) + 1);
            result.parts.reserve(2 * expected);
            heads.reserve(PATCHED_HEAD * expected);
        }
        let Ok(mut message) = log.read_shared(e.commit_log_offset as u64, size) else {
            // Retention removed it between the queue read and this one.
            continue;
        };
        if message.len() < PATCHED_HEAD {
            // Too short to carry its offsets (patching it would fail): not a message.
            continue;
        }
        heads.extend_from_slice(&message[..PATCHED_HEAD]);
        if patch_offsets(&mut heads[..], queue_offset as i64, e.commit_log_offset).is_err() {
            heads.clear();
            continue;
        }
        result.body_len += message.len();
        result.parts.push(heads.split().freeze());
        message.advance(PATCHED_HEAD);
        if !message.is_empty() {
            result.parts.push(message);
        }
        result.count += 1;
        if result.count >= max_count || result.body_len >= max_bytes {
            break;
        }
    }
    result.next_begin_offset = next;
    result.status = if result.count > 0 {
        GetStatus::Found
    } else {
        GetStatus::NoMatchedMessage
    };
    result
}

/// The store timestamp of the message a queue entry points at.
pub fn store_time(state: &BrokerState, e: &CqEntry) -> Option<i64> {
    let bytes = state
        .commit_log()
        .read_at(e.commit_log_offset as u64, e.size as usize)
        .ok()?;
    StoredMessageView::parse(&bytes)
        .ok()
        .map(|v| v.store_timestamp())
}

/// The first queue offset whose message was stored at or after `timestamp` (ms); the max
/// offset if every message is older, the min offset if every message is newer.
pub fn search_offset_by_time(
    state: &BrokerState,
    topic: &str,
    queue_id: u32,
    timestamp: i64,
) -> u64 {
    let Some(cq) = state.consume_queue(topic, queue_id) else {
        return 0;
    };
    let (mut lo, mut hi) = (cq.min_offset(), cq.max_offset());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match cq.get(mid).and_then(|e| store_time(state, &e)) {
            Some(t) if t < timestamp => lo = mid + 1,
            Some(_) => hi = mid,
            // Unreadable (being purged): treat as older.
            None => lo = mid + 1,
        }
    }
    lo
}

/// Store time of the oldest retained message of a queue.
pub fn earliest_store_time(state: &BrokerState, topic: &str, queue_id: u32) -> Option<i64> {
    let cq = state.consume_queue(topic, queue_id)?;
    let e = cq.get(cq.min_offset())?;
    store_time(state, &e)
}

/// The queue offset of the message at `commit_log_offset` in `cq` (entries are sorted by
/// CommitLog offset), if the queue holds it.
pub fn queue_offset_of(cq: &ConsumeQueue, commit_log_offset: u64) -> Option<u64> {
    let (mut lo, mut hi) = (cq.min_offset(), cq.max_offset());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let e = cq.get(mid)?;
        match (e.commit_log_offset as u64).cmp(&commit_log_offset) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

/// Reads the stored message that starts at `commit_log_offset` (VIEW_MESSAGE_BY_ID), with its
/// queue offset filled in. `None` if no message starts there.
pub fn message_at(state: &BrokerState, commit_log_offset: u64) -> Option<BytesMut> {
    let log = state.commit_log();
    let head = log.read_at(commit_log_offset, 4).ok()?;
    let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if size <= 0 || size as usize > 64 << 20 {
        return None;
    }
    let bytes = log.read_at(commit_log_offset, size as usize).ok()?;
    let view = StoredMessageView::parse(&bytes).ok()?;
    if view.total_size() != size as usize || view.queue_id() < 0 {
        return None;
    }
    let cq = state.consume_queue(view.topic(), view.queue_id() as u32)?;
    let queue_offset = queue_offset_of(&cq, commit_log_offset)?;
    let mut out = BytesMut::from(&bytes[..]);
    patch_offsets(&mut out, queue_offset as i64, commit_log_offset as i64).ok()?;
    Some(out)
}
