//! The broker's request processors, one file per area, each `decode header → handle → encode
//! response`; `BrokerHandler` dispatches by request code.

// Helpers return `Err(response)` to answer early; a response is built once per request, so
// its size does not matter.
#![allow(clippy::result_large_err)]

mod admin;
mod client;
mod offset;
mod pull;
mod query;
mod send;

use std::sync::Arc;

use super::context::BrokerContext;
use crate::acl::PlainAccessValidator;
use crate::raft::WriteError;
use crate::remoting::codes::{request_code as rc, response_code as code};
use crate::remoting::{not_supported, ChannelContext, RemotingCommand, RequestHandler};

pub struct BrokerHandler {
    pub bc: Arc<BrokerContext>,
    /// Set with `aclEnable=true`: every request is checked before it is dispatched.
    pub acl: Option<Arc<PlainAccessValidator>>,
}

pub(crate) use crate::protocol::reply::{error, json_body, ok, with_header};

/// A failed Raft write as a RocketMQ answer. Every retryable failure is SERVICE_NOT_AVAILABLE,
/// which makes clients retry on another broker and refresh routes; never a code the Java
/// client would count as a completed send.
pub(crate) fn write_error(
    req: &RemotingCommand,
    bc: &BrokerContext,
    e: &WriteError,
) -> RemotingCommand {
    match e {
        WriteError::Rejected(why) => error(req, code::MESSAGE_ILLEGAL, why.clone()),
        other => error(
            req,
            code::SERVICE_NOT_AVAILABLE,
            format!(
                "service not available now: {other}; broker {} is not able to commit (leader {})",
                bc.broker_addr,
                bc.leader_hint()
            ),
        ),
    }
}

impl RequestHandler for BrokerHandler {
    async fn handle(
        &self,
        ctx: Arc<ChannelContext>,
        req: RemotingCommand,
    ) -> Option<RemotingCommand> {
        let bc = &self.bc;
        let started = std::time::Instant::now();
        let received = req.body.len();
        if let Some(denied) = self
            .acl
            .as_ref()
            .and_then(|acl| acl.validate(&req, ctx.peer.ip()).err())
        {
            tracing::warn!(peer = %ctx.peer, code = req.code, reason = %denied, "request refused by ACL");
            let resp = denied.response(&req);
            crate::broker::metrics::on_request(
                &bc.cfg.d_leger_group,
                req.code,
                resp.code,
                received,
                resp.body_len(),
                started.elapsed(),
            );
            return Some(resp);
        }
        let resp = match req.code {
            rc::SEND_MESSAGE | rc::SEND_MESSAGE_V2 | rc::SEND_BATCH_MESSAGE => {
                send::send(bc, &ctx, &req).await
            }
            rc::PULL_MESSAGE => pull::pull(bc, &ctx, &req).await,
            rc::QUERY_CONSUMER_OFFSET => offset::query_consumer_offset(bc, &req),
            rc::UPDATE_CONSUMER_OFFSET => offset::update_consumer_offset(bc, &req),
            rc::SEARCH_OFFSET_BY_TIMESTAMP => offset::search_offset(bc, &req),
            rc::GET_MAX_OFFSET => offset::max_offset(bc, &req),
            rc::GET_MIN_OFFSET => offset::min_offset(bc, &req),
            rc::GET_EARLIEST_MSG_STORETIME => offset::earliest_store_time(bc, &req),
            rc::HEART_BEAT => client::heartbeat(bc, &ctx, &req).await,
            rc::UNREGISTER_CLIENT => client::unregister(bc, &req),
            rc::GET_CONSUMER_LIST_BY_GROUP => client::consumer_list(bc, &req),
            rc::LOCK_BATCH_MQ => client::lock_batch(bc, &req).await,
            rc::UNLOCK_BATCH_MQ => client::unlock_batch(bc, &req).await,
            rc::CONSUMER_SEND_MSG_BACK => send::send_back(bc, &ctx, &req).await,
            rc::VIEW_MESSAGE_BY_ID => query::view_message(bc, &req),
            rc::QUERY_MESSAGE => query::query_message(bc, &req),
            rc::UPDATE_AND_CREATE_TOPIC => admin::update_topic(bc, &req).await,
            rc::DELETE_TOPIC_IN_BROKER => admin::delete_topic(bc, &req).await,
            rc::GET_ALL_TOPIC_CONFIG => admin::all_topic_config(bc, &req),
            rc::GET_BROKER_RUNTIME_INFO => admin::runtime_info(bc, &req),
            rc::GET_BROKER_CONFIG => admin::broker_config(bc, &req),
            rc::GET_TOPIC_STATS_INFO => admin::topic_stats(bc, &req),
            rc::GET_CONSUMER_CONNECTION_LIST => admin::consumer_connections(bc, &req),
            rc::GET_CONSUME_STATS => admin::consume_stats(bc, &req),
            rc::GET_ALL_CONSUMER_OFFSET => admin::all_consumer_offsets(bc, &req),
            rc::QUERY_TOPIC_CONSUME_BY_WHO => admin::consumed_by(bc, &req),
            rc::END_TRANSACTION => crate::broker::transaction::end::end_transaction(bc, &req).await,
            _ => not_supported(&req),
        };
        crate::broker::metrics::on_request(
            &bc.cfg.d_leger_group,
            req.code,
            resp.code,
            received,
            resp.body_len(),
            started.elapsed(),
        );
        Some(resp)
    }

    fn on_close(&self, ctx: &ChannelContext) {
        for group in self.bc.clients.on_close(ctx.id) {
            self.bc.clients.notify_ids_changed(&group);
        }
    }
}
