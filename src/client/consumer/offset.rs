//! Consumer offsets: where a newly owned queue starts, and committing processed offsets.
//!
//! Reads may go to any node of the group (offsets are replicated through Raft); commits go to
//! the master only, since only the leader's commits are replicated.

use std::sync::Arc;

use super::process_queue::ProcessQueue;
use super::Shared;
use crate::client::error::ClientError;
use crate::client::mq::{expect_success, remote_error};
use crate::protocol::body::{ConsumeFromWhere, MessageQueue};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    GetMaxOffsetRequestHeader, OffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use crate::protocol::topic_names::is_retry_topic;
use crate::remoting::{request_code, response_code, RemotingCommand};

/// Nodes of the queue's broker group, master first.
pub(super) fn nodes(shared: &Shared, mq: &MessageQueue) -> Vec<String> {
    shared
        .client
        .broker_addrs(&mq.broker_name)
        .into_values()
        .collect()
}

fn offset_of(addr: &str, resp: &RemotingCommand) -> Result<i64, ClientError> {
    OffsetResponseHeader::from_ext(&resp.ext_fields)
        .map(|h| h.offset)
        .map_err(|e| ClientError::BadResponse {
            addr: addr.to_string(),
            what: e.to_string(),
        })
}

/// Asks the nodes in order until one answers; returns its address and answer.
async fn ask_any(
    shared: &Shared,
    mq: &MessageQueue,
    req: RemotingCommand,
) -> Result<(String, RemotingCommand), ClientError> {
    let mut last = ClientError::NoRoute {
        topic: mq.topic.clone(),
        why: format!("no known node of broker group {}", mq.broker_name),
    };
    for addr in nodes(shared, mq) {
        let mut attempt = req.clone();
        attempt.opaque = crate::remoting::next_opaque();
        match shared
            .client
            .invoke(&addr, attempt, shared.client.options().request_timeout)
            .await
        {
            Ok(resp) => return Ok((addr, resp)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The offset a newly owned queue starts at: the group's committed offset, or, when it has
/// none (QUERY_NOT_FOUND), the one `consumeFromWhere` names (Java's `computePullFromWhere`).
pub(super) async fn start_offset(shared: &Shared, mq: &MessageQueue) -> Result<i64, ClientError> {
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: shared.cfg.group.clone(),
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
    };
    let mut req = RemotingCommand::request(request_code::QUERY_CONSUMER_OFFSET);
    req.ext_fields = header.to_ext();
    let (addr, resp) = ask_any(shared, mq, req).await?;
    match resp.code {
        response_code::SUCCESS => return offset_of(&addr, &resp),
        response_code::QUERY_NOT_FOUND => {}
        _ => return Err(remote_error(&addr, &resp)),
    }
    let retry_topic = is_retry_topic(&mq.topic);
    match shared.cfg.consume_from_where {
        ConsumeFromWhere::ConsumeFromFirstOffset => Ok(0),
        ConsumeFromWhere::ConsumeFromTimestamp if !retry_topic => {
            let header = SearchOffsetRequestHeader {
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                timestamp: shared.cfg.consume_timestamp_ms,
            };
            let mut req = RemotingCommand::request(request_code::SEARCH_OFFSET_BY_TIMESTAMP);
            req.ext_fields = header.to_ext();
            let (addr, resp) = ask_any(shared, mq, req).await?;
            offset_of(&addr, &expect_success(&addr, resp)?)
        }
        _ if retry_topic => Ok(0),
        _ => {
            let header = GetMaxOffsetRequestHeader {
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
            };
            let mut req = RemotingCommand::request(request_code::GET_MAX_OFFSET);
            req.ext_fields = header.to_ext();
            let (addr, resp) = ask_any(shared, mq, req).await?;
            offset_of(&addr, &expect_success(&addr, resp)?)
        }
    }
}

/// Stores `offset` as the group's offset of `mq` on the group's master.
pub(super) async fn commit(
    shared: &Shared,
    mq: &MessageQueue,
    offset: i64,
) -> Result<(), ClientError> {
    let addr = shared
        .client
        .master_addr(&mq.broker_name)
        .ok_or_else(|| ClientError::NoRoute {
            topic: mq.topic.clone(),
            why: format!(
                "broker group {} has no master to commit offsets to",
                mq.broker_name
            ),
        })?;
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: shared.cfg.group.clone(),
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
        commit_offset: offset,
    };
    let mut req = RemotingCommand::request(request_code::UPDATE_CONSUMER_OFFSET);
    req.ext_fields = header.to_ext();
    shared.client.call(&addr, req).await.map(|_| ())
}

/// Commits `pq`'s processed offset if it moved since the last commit.
pub(super) async fn persist(shared: &Shared, pq: &Arc<ProcessQueue>) {
    let Some(offset) = pq.pending_commit() else {
        return;
    };
    match commit(shared, &pq.mq, offset).await {
        Ok(()) => pq.mark_committed(offset),
        Err(e) => {
            tracing::debug!(queue = ?pq.mq, offset, error = %e, "offset commit failed; will retry")
        }
    }
}

/// Commits every owned queue's processed offset (every `persist_interval`).
pub(super) async fn persist_all(shared: &Shared) {
    let pqs: Vec<Arc<ProcessQueue>> = shared
        .queues
        .lock()
        .values()
        .map(|q| q.pq.clone())
        .collect();
    futures::future::join_all(pqs.iter().map(|pq| persist(shared, pq))).await;
}
