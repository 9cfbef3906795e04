//! Consumer offsets and queue metadata: QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET
//! (15), SEARCH_OFFSET_BY_TIMESTAMP (29), GET_MAX_OFFSET (30), GET_MIN_OFFSET (31),
//! GET_EARLIEST_MSG_STORETIME (32).

use super::{error, ok, with_header};
use crate::broker::context::BrokerContext;
use crate::broker::message_store;
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    GetEarliestMsgStoretimeRequestHeader, GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader,
    OffsetResponseHeader, QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader,
    TimestampResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use crate::protocol::reply::header;
use crate::remoting::codes::response_code as code;
use crate::remoting::RemotingCommand;

fn offset_response(req: &RemotingCommand, offset: u64) -> RemotingCommand {
    with_header(
        ok(req),
        &OffsetResponseHeader {
            offset: offset as i64,
        },
    )
}

fn queue_id(req: &RemotingCommand, q: i32) -> Result<u32, RemotingCommand> {
    u32::try_from(q).map_err(|_| error(req, code::SYSTEM_ERROR, format!("queueId[{q}] is illegal")))
}

pub fn query_consumer_offset(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match QueryConsumerOffsetRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    let q = match queue_id(req, h.queue_id) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if let Some(o) = bc.offsets.query(&h.consumer_group, &h.topic, q) {
        return offset_response(req, o);
    }
    // A new group on a queue that still starts at 0 reads from 0, as the Java broker answers.
    let min = bc
        .core
        .broker_state()
        .consume_queue(&h.topic, q)
        .map(|cq| cq.min_offset())
        .unwrap_or(0);
    if min == 0 {
        offset_response(req, 0)
    } else {
        error(
            req,
            code::QUERY_NOT_FOUND,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        )
    }
}

pub fn update_consumer_offset(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match UpdateConsumerOffsetRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    let q = match queue_id(req, h.queue_id) {
        Ok(q) => q,
        Err(r) => return r,
    };
    // Only the leader's commits are replicated; a follower says so rather than dropping the
    // offset silently.
    if !bc.is_master() {
        return error(
            req,
            code::SERVICE_NOT_AVAILABLE,
            format!(
                "broker {} is not the master; commit consumer offsets to the master",
                bc.broker_addr
            ),
        );
    }
    if h.commit_offset >= 0 {
        bc.offsets
            .commit(&h.consumer_group, &h.topic, q, h.commit_offset as u64);
    }
    ok(req)
}

/// Decodes a (topic, queueId) request header and answers with `f(header, topic, queue)`.
fn per_queue<H: CommandHeader>(
    req: &RemotingCommand,
    topic_queue: impl Fn(&H) -> (&str, i32),
    f: impl Fn(&H, &str, u32) -> RemotingCommand,
) -> RemotingCommand {
    let h: H = match header(req) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let (topic, q) = topic_queue(&h);
    match queue_id(req, q) {
        Ok(q) => f(&h, topic, q),
        Err(r) => r,
    }
}

pub fn search_offset(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    per_queue::<SearchOffsetRequestHeader>(
        req,
        |h| (&h.topic, h.queue_id),
        |h, topic, q| {
            offset_response(
                req,
                message_store::search_offset_by_time(bc.core.broker_state(), topic, q, h.timestamp),
            )
        },
    )
}

fn queue_bound(bc: &BrokerContext, topic: &str, q: u32, max: bool) -> u64 {
    bc.core
        .broker_state()
        .consume_queue(topic, q)
        .map(|cq| {
            if max {
                cq.max_offset()
            } else {
                cq.min_offset()
            }
        })
        .unwrap_or(0)
}

pub fn max_offset(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    per_queue::<GetMaxOffsetRequestHeader>(
        req,
        |h| (&h.topic, h.queue_id),
        |_, t, q| offset_response(req, queue_bound(bc, t, q, true)),
    )
}

pub fn min_offset(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    per_queue::<GetMinOffsetRequestHeader>(
        req,
        |h| (&h.topic, h.queue_id),
        |_, t, q| offset_response(req, queue_bound(bc, t, q, false)),
    )
}

pub fn earliest_store_time(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    per_queue::<GetEarliestMsgStoretimeRequestHeader>(
        req,
        |h| (&h.topic, h.queue_id),
        |_, t, q| {
            let timestamp =
                message_store::earliest_store_time(bc.core.broker_state(), t, q).unwrap_or(0);
            with_header(ok(req), &TimestampResponseHeader { timestamp })
        },
    )
}
