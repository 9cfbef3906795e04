//! VIEW_MESSAGE_BY_ID (33) and QUERY_MESSAGE (12, by key or UNIQ_KEY).

use bytes::BytesMut;

use super::{error, ok, with_header};
use crate::broker::context::BrokerContext;
use crate::broker::message_store::message_at;
use crate::message::StoredMessageView;
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use crate::remoting::codes::response_code as code;
use crate::remoting::RemotingCommand;
use crate::time::now_ms;

/// Most messages one QUERY_MESSAGE returns (RocketMQ's `defaultQueryMaxNum`).
const QUERY_MAX: usize = 32;

pub fn view_message(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match ViewMessageRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    match u64::try_from(h.offset)
        .ok()
        .and_then(|o| message_at(bc.core.broker_state(), o))
    {
        Some(bytes) => ok(req).with_body(bytes.freeze()),
        None => error(
            req,
            code::SYSTEM_ERROR,
            format!("can not find message by the offset, {}", h.offset),
        ),
    }
}

pub fn query_message(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match QueryMessageRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    let max = if h.unique_key_query {
        QUERY_MAX
    } else {
        (h.max_num.max(1) as usize).min(QUERY_MAX)
    };
    let end = if h.end_timestamp <= 0 {
        i64::MAX
    } else {
        h.end_timestamp
    };
    let mut body = BytesMut::new();
    let mut found = 0;
    for offset in bc.core.broker_state().index().get(&h.key, max * 4) {
        let Some(bytes) = message_at(bc.core.broker_state(), offset) else {
            continue;
        };
        let Ok(view) = StoredMessageView::parse(&bytes) else {
            continue;
        };
        let t = view.store_timestamp();
        if view.topic() != h.topic || t < h.begin_timestamp || t > end {
            continue;
        }
        body.extend_from_slice(&bytes);
        found += 1;
        if found >= max {
            break;
        }
    }
    if found == 0 {
        return error(
            req,
            code::QUERY_NOT_FOUND,
            format!(
                "can not find message, maybe time range not correct (topic {}, key {})",
                h.topic, h.key
            ),
        );
    }
    with_header(
        ok(req).with_body(body.freeze()),
        &QueryMessageResponseHeader {
            index_last_update_timestamp: now_ms(),
            index_last_update_phyoffset: bc.core.commit_log_max_offset() as i64,
        },
    )
}
