//! Client registration: HEART_BEAT (34), UNREGISTER_CLIENT (35),
//! GET_CONSUMER_LIST_BY_GROUP (38), LOCK_BATCH_MQ (41), UNLOCK_BATCH_MQ (42).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{error, json_body, ok};
use crate::broker::context::BrokerContext;
use crate::protocol::body::{
    parse_fastjson, GetConsumerListByGroupResponseBody, HeartbeatData, LockBatchRequestBody,
    LockBatchResponseBody, MessageModel,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader,
};
use crate::remoting::codes::response_code as code;
use crate::remoting::{ChannelContext, RemotingCommand};

/// An orderly consumer's queue lock lapses after this long without renewal (RocketMQ: 60 s).
const LOCK_EXPIRY: Duration = Duration::from_secs(60);

pub async fn heartbeat(
    bc: &BrokerContext,
    ctx: &Arc<ChannelContext>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let hb: HeartbeatData = match parse_fastjson(&req.body) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, format!("bad HeartbeatData: {e}")),
    };
    let language = req.language.name().to_string();
    for p in &hb.producer_data_set {
        bc.clients
            .register_producer(ctx, &p.group_name, &hb.client_id, &language, req.version);
    }
    for c in &hb.consumer_data_set {
        // A clustering group consumes its retry topic too; the leader creates it on first sight.
        if c.message_model != Some(MessageModel::Broadcasting) && bc.is_master() {
            if let Err(e) = bc.topics.ensure_retry_topic(&c.group_name).await {
                tracing::warn!(group = %c.group_name, error = %e, "could not create the group's retry topic");
            }
        }
        if bc
            .clients
            .register_consumer(ctx, &hb.client_id, &language, req.version, c)
        {
            tracing::info!(group = %c.group_name, client = %hb.client_id, "consumer group membership changed");
            bc.clients.notify_ids_changed(&c.group_name);
        }
    }
    ok(req)
}

pub fn unregister(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match UnregisterClientRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    if let Some(g) = &h.producer_group {
        bc.clients.unregister_producer(g, &h.client_id);
    }
    if let Some(g) = &h.consumer_group {
        if bc.clients.unregister_consumer(g, &h.client_id) {
            bc.clients.notify_ids_changed(g);
        }
    }
    ok(req)
}

pub fn consumer_list(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match GetConsumerListByGroupRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    let ids = bc.clients.consumer_ids(&h.consumer_group);
    if ids.is_empty() {
        return error(
            req,
            code::SYSTEM_ERROR,
            format!("no consumer for this group, {}", h.consumer_group),
        );
    }
    json_body(
        req,
        &GetConsumerListByGroupResponseBody {
            consumer_id_list: ids,
        },
    )
}

pub fn lock_batch(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let body: LockBatchRequestBody = match parse_fastjson(&req.body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                req,
                code::SYSTEM_ERROR,
                format!("bad LockBatchRequestBody: {e}"),
            )
        }
    };
    let now = Instant::now();
    let mut locks = bc.locks.lock();
    let mut granted = std::collections::BTreeSet::new();
    for mq in body.mq_set {
        let key = (body.consumer_group.clone(), mq.clone());
        let free = match locks.get(&key) {
            None => true,
            Some((holder, at)) => {
                *holder == body.client_id || now.saturating_duration_since(*at) > LOCK_EXPIRY
            }
        };
        if free {
            locks.insert(key, (body.client_id.clone(), now));
            granted.insert(mq);
        }
    }
    json_body(
        req,
        &LockBatchResponseBody {
            lock_ok_mq_set: granted,
        },
    )
}

pub fn unlock_batch(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let body: LockBatchRequestBody = match parse_fastjson(&req.body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                req,
                code::SYSTEM_ERROR,
                format!("bad UnlockBatchRequestBody: {e}"),
            )
        }
    };
    let mut locks = bc.locks.lock();
    for mq in body.mq_set {
        let key = (body.consumer_group.clone(), mq);
        if locks
            .get(&key)
            .is_some_and(|(holder, _)| *holder == body.client_id)
        {
            locks.remove(&key);
        }
    }
    ok(req)
}
