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
        .state
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

pub fn search_offset(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    match SearchOffsetRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => match queue_id(req, h.queue_id) {
            Ok(q) => offset_response(
                req,
                message_store::search_offset_by_time(
                    &bc.core.state,
                    &bc.core.log,
                    &h.topic,
                    q,
                    h.timestamp,
                ),
            ),
            Err(r) => r,
        },
        Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
    }
}

pub fn max_offset(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    match GetMaxOffsetRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => match queue_id(req, h.queue_id) {
            Ok(q) => offset_response(
                req,
                bc.core
                    .state
                    .consume_queue(&h.topic, q)
                    .map(|cq| cq.max_offset())
                    .unwrap_or(0),
            ),
            Err(r) => r,
        },
        Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
    }
}

pub fn min_offset(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    match GetMinOffsetRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => match queue_id(req, h.queue_id) {
            Ok(q) => offset_response(
                req,
                bc.core
                    .state
                    .consume_queue(&h.topic, q)
                    .map(|cq| cq.min_offset())
                    .unwrap_or(0),
            ),
            Err(r) => r,
        },
        Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
    }
}

pub fn earliest_store_time(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    match GetEarliestMsgStoretimeRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => match queue_id(req, h.queue_id) {
            Ok(q) => with_header(
                ok(req),
                &TimestampResponseHeader {
                    timestamp: message_store::earliest_store_time(
                        &bc.core.state,
                        &bc.core.log,
                        &h.topic,
                        q,
                    )
                    .unwrap_or(0),
                },
            ),
            Err(r) => r,
        },
        Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
    }
}
