//! Client registration: HEART_BEAT (34), UNREGISTER_CLIENT (35),
//! GET_CONSUMER_LIST_BY_GROUP (38), LOCK_BATCH_MQ (41), UNLOCK_BATCH_MQ (42).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{error, json_body, ok, write_error};
use crate::broker::context::BrokerContext;
use crate::protocol::body::{
    parse_fastjson, GetConsumerListByGroupResponseBody, HeartbeatData, LockBatchRequestBody,
    LockBatchResponseBody, MessageModel, MessageQueue,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader,
};
use crate::raft::broker_state::queue_locks::{LockQueue, QueueLockCommand};
use crate::raft::LogCommand;
use crate::remoting::codes::response_code as code;
use crate::remoting::{ChannelContext, RemotingCommand};
use crate::time::now_ms;

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

/// LOCK_BATCH_MQ: one Raft entry asks for every queue of the body; the state machine grants
/// each one that is free, already the client's, or lapsed (60 s), on every node alike, so the
/// grants survive a leader change (`raft::broker_state::queue_locks`). The answer lists the
/// queues the client holds once the entry is applied.
pub async fn lock_batch(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
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
    let queues: Vec<LockQueue> = body
        .mq_set
        .iter()
        .map(|mq| (mq.topic.clone(), mq.broker_name.clone(), mq.queue_id))
        .collect();
    let cmd = QueueLockCommand::Lock {
        group: body.consumer_group.clone(),
        client_id: body.client_id.clone(),
        queues,
        at_ms: now_ms(),
    };
    if let Err(e) = bc.core.write(LogCommand::QueueLock(cmd)).await {
        return write_error(req, bc, &e);
    }
    let state = bc.core.broker_state();
    let granted: BTreeSet<MessageQueue> = body
        .mq_set
        .into_iter()
        .filter(|mq| {
            let q = (mq.topic.clone(), mq.broker_name.clone(), mq.queue_id);
            state
                .lock_holder(&body.consumer_group, &q)
                .is_some_and(|h| h.client_id == body.client_id)
        })
        .collect();
    json_body(
        req,
        &LockBatchResponseBody {
            lock_ok_mq_set: granted,
        },
    )
}

/// UNLOCK_BATCH_MQ: releases, through Raft, the queues of the body that the client holds.
pub async fn unlock_batch(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
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
    let cmd = QueueLockCommand::Unlock {
        group: body.consumer_group,
        client_id: body.client_id,
        queues: body
            .mq_set
            .into_iter()
            .map(|mq| (mq.topic, mq.broker_name, mq.queue_id))
            .collect(),
    };
    match bc.core.write(LogCommand::QueueLock(cmd)).await {
        Ok(_) => ok(req),
        Err(e) => write_error(req, bc, &e),
    }
}
