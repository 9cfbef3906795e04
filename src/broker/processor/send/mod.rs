//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and, in
//! [`send_back`], CONSUMER_SEND_MSG_BACK (36).
//!
//! A send is validated, turned into RocketMQ's stored-message bytes (store time and store host
//! set here, on the leader), replicated through Raft, and answered SEND_OK only once a quorum
//! has committed it and this node has applied it — the answer carries the queue offset the
//! state machine assigned and the msgId (store host + CommitLog offset).
//!
//! [`send`] runs five named steps, each of which may answer early:
//! ```text
//! decode   the request header
//! route    this node may write; the topic exists (or is auto-created) and is writable; the
//!          queue; a retry past maxReconsumeTimes goes to the group's %DLQ% topic, queue 0
//! encode   the body's message(s), batch frames with the header's properties merged in,
//!          into stored-message bytes (maxMessageSize checked)     — pure, in `encode.rs`
//! write    one Raft entry; wait for commit and apply
//! answer   SEND_OK (or a SYNC_MASTER's slave status) with msgId, queue id and offset
//! ```
//! The order is RocketMQ's: a request to a topic it may not write is refused before its body
//! is looked at.

mod encode;
mod half;
mod send_back;

use std::sync::Arc;

use rand::Rng;

use super::{error, ok, with_header, write_error};
use crate::broker::context::BrokerContext;
use crate::config::BrokerRole;
use crate::message::create_offset_msg_id;
use crate::protocol::headers::{SendMessageRequestHeaderRef, SendMessageResponseHeader};
use crate::protocol::topic::{perm, TopicConfig};
use crate::protocol::topic_names::{retry_group, valid_topic_name, AUTO_CREATE_TOPIC_KEY};
use crate::raft::types::PutPosition;
use crate::raft::{ApplyResult, LogCommand, SlaveWait};
use crate::remoting::codes::{request_code, response_code as code};
use crate::remoting::{ChannelContext, RemotingCommand};
use crate::time::now_ms;
use encode::{dead_letter_group, encode_single, encode_stored_messages, outgoing_messages, Stamp};
pub use send_back::send_back;

/// SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE: see the module's steps.
pub async fn send(
    bc: &BrokerContext,
    ctx: &Arc<ChannelContext>,
    req: &RemotingCommand,
) -> RemotingCommand {
    match send_steps(bc, ctx, req).await {
        Ok(answer) | Err(answer) => answer,
    }
}

/// [`send`]'s steps; `Err` is an early answer.
async fn send_steps(
    bc: &BrokerContext,
    ctx: &Arc<ChannelContext>,
    req: &RemotingCommand,
) -> Result<RemotingCommand, RemotingCommand> {
    let h = decode(req)?;
    tracing::Span::current().record("topic", h.topic);
    let route = route(bc, req, &h).await?;
    let batch = req.code == request_code::SEND_BATCH_MESSAGE;
    let mut stamp = Stamp {
        topic: route.topic.clone(),
        queue_id: route.queue_id,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: ctx.peer,
        store_timestamp: now_ms(),
        store_host: bc.store_host,
        reconsume_times: route.reconsume_times,
    };
    // A half message's properties, which name its real topic and queue.
    let half = half::prepare_half(&h, batch, &mut stamp).map_err(|r| r.answer(req))?;
    if half.is_some() {
        crate::broker::transaction::ensure_topics(bc)
            .await
            .map_err(|e| write_error(req, bc, &e))?;
    }
    let max_body = bc.cfg.max_message_size as usize;
    let bytes = if batch {
        outgoing_messages(&h, batch, &req.body)
            .and_then(|messages| encode_stored_messages(&messages, &stamp, max_body))
    } else {
        let single = SendMessageRequestHeaderRef {
            properties: half.as_deref().or(h.properties),
            ..h
        };
        encode_single(&single, &req.body, &stamp, max_body)
    }
    .map_err(|refusal| refusal.answer(req))?;
    let bytes = crate::broker::schedule::divert_send(bc, h.topic, h.properties, bytes, batch)
        .map_err(|(c, remark)| error(req, c, remark))?;
    let total = bytes.len() as u64;
    let cmd = if batch {
        LogCommand::PutBatch(bytes)
    } else {
        LogCommand::PutMessage(bytes)
    };
    if bc.cfg.unsafe_ack_before_commit {
        return Ok(unsafe_ack_before_commit(bc, req, cmd, &route.topic, route.queue_id).await);
    }
    let written = write(bc, req, cmd).await?;
    bc.stats
        .on_put(&route.topic, written.positions.len() as u64, total);
    Ok(answer(bc, req, &route, &written).await)
}

/// Step 1: the request header, in whichever of its two wire forms the code says, borrowed
/// from the request: the steps after it copy only what they keep.
fn decode(req: &RemotingCommand) -> Result<SendMessageRequestHeaderRef<'_>, RemotingCommand> {
    SendMessageRequestHeaderRef::decode_for_code(req.code, &req.ext_fields)
        .map_err(|e| error(req, code::SYSTEM_ERROR, e.to_string()))
}

/// Where a send's messages are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    topic: String,
    queue_id: u32,
    /// The header's `reconsumeTimes` (0 if absent), stored in each message.
    reconsume_times: i32,
}

/// Step 2: where the messages go, if anywhere. A message re-sent to a retry topic after
/// `maxReconsumeTimes` deliveries goes to the group's dead-letter topic, queue 0, which is
/// created if missing (Java's `handleRetryAndDLQ`; it checks no permission on the DLQ).
async fn route(
    bc: &BrokerContext,
    req: &RemotingCommand,
    h: &SendMessageRequestHeaderRef<'_>,
) -> Result<Route, RemotingCommand> {
    if let Some(resp) = check_writable(bc, req) {
        return Err(resp);
    }
    let tc = writable_topic(bc, req, h).await?;
    let queue_id = pick_queue(req, &tc, h.queue_id)?;
    let reconsume_times = h.reconsume_times.unwrap_or(0);
    match dead_letter_group(h.topic, reconsume_times, h.max_reconsume_times) {
        None => Ok(Route {
            topic: h.topic.to_owned(),
            queue_id,
            reconsume_times,
        }),
        Some(group) => match bc.topics.ensure_dlq_topic(group).await {
            Ok(dlq) => Ok(Route {
                topic: dlq.topic_name,
                queue_id: 0,
                reconsume_times,
            }),
            Err(e) => Err(write_error(req, bc, &e)),
        },
    }
}

/// Checks shared by every write: this node leads a healthy group and has disk space.
pub(super) fn check_writable(bc: &BrokerContext, req: &RemotingCommand) -> Option<RemotingCommand> {
    if !bc.is_master() {
        let why = if bc.cfg.enable_d_leger_commit_log {
            format!(
                "broker {} is not the master of {} (Raft leader is {}); the client will retry on the master",
                bc.broker_addr,
                bc.cfg.broker_name,
                bc.leader_hint()
            )
        } else if bc.cfg.broker_role == BrokerRole::Slave {
            format!(
                "broker {} is a slave of {}; send to its master",
                bc.broker_addr, bc.cfg.broker_name
            )
        } else {
            format!("master {} is starting up", bc.broker_addr)
        };
        return Some(error(req, code::SERVICE_NOT_AVAILABLE, why));
    }
    if bc.disk_full() {
        return Some(error(
            req,
            code::SERVICE_NOT_AVAILABLE,
            format!(
                "service not available now: the broker's disk is full (more than {}% used, or less than two segments free)",
                crate::broker::DISK_WARNING_LEVEL_PCT
            ),
        ));
    }
    None
}

/// Finds (or auto-creates) the topic and checks it may be written.
async fn writable_topic(
    bc: &BrokerContext,
    req: &RemotingCommand,
    h: &SendMessageRequestHeaderRef<'_>,
) -> Result<TopicConfig, RemotingCommand> {
    if !valid_topic_name(h.topic) {
        return Err(error(
            req,
            code::SYSTEM_ERROR,
            format!("the topic[{}] is invalid: use letters, digits, %, |, - and _; at most 127 characters", h.topic),
        ));
    }
    if h.topic == AUTO_CREATE_TOPIC_KEY {
        return Err(error(
            req,
            code::NO_PERMISSION,
            format!("Sending message to topic[{}] is forbidden.", h.topic),
        ));
    }
    let tc = match bc.topics.get(h.topic) {
        Some(tc) => tc,
        None => {
            let created = if let Some(group) = retry_group(h.topic) {
                bc.topics.ensure_retry_topic(group).await.map(Some)
            } else {
                bc.topics
                    .auto_create(h.topic, h.default_topic, h.default_topic_queue_nums)
                    .await
            };
            match created {
                Ok(Some(tc)) => tc,
                Ok(None) => {
                    return Err(error(
                        req,
                        code::TOPIC_NOT_EXIST,
                        format!("topic[{}] not exist, apply first please!", h.topic),
                    ))
                }
                Err(e) => return Err(write_error(req, bc, &e)),
            }
        }
    };
    if tc.perm & perm::WRITE == 0 {
        return Err(error(
            req,
            code::NO_PERMISSION,
            format!("the topic[{}] sending message is forbidden", h.topic),
        ));
    }
    Ok(tc)
}

fn pick_queue(
    req: &RemotingCommand,
    tc: &TopicConfig,
    queue_id: i32,
) -> Result<u32, RemotingCommand> {
    let max = tc.read_queue_nums.max(tc.write_queue_nums) as i32;
    if queue_id < 0 {
        return Ok(rand::thread_rng().gen_range(0..tc.write_queue_nums.max(1)));
    }
    if queue_id >= max {
        return Err(error(
            req,
            code::SYSTEM_ERROR,
            format!("request queueId[{queue_id}] is illegal, {tc:?}"),
        ));
    }
    Ok(queue_id as u32)
}

/// What the state machine answered for a committed send.
struct Written {
    log_index: u64,
    /// One per message, in order; never empty.
    positions: Vec<PutPosition>,
}

/// Step 4: one Raft entry, answered once committed and applied on this node. A message the
/// state machine refused (every node refuses it alike) is MESSAGE_ILLEGAL.
async fn write(
    bc: &BrokerContext,
    req: &RemotingCommand,
    cmd: LogCommand,
) -> Result<Written, RemotingCommand> {
    let w = bc
        .core
        .write(cmd)
        .await
        .map_err(|e| write_error(req, bc, &e))?;
    let positions = match w.result {
        ApplyResult::Put(p) => vec![p],
        ApplyResult::Batch(v) if !v.is_empty() => v,
        ApplyResult::Rejected(why) => return Err(error(req, code::MESSAGE_ILLEGAL, why)),
        other => {
            return Err(error(
                req,
                code::SYSTEM_ERROR,
                format!("unexpected apply result {other:?}"),
            ))
        }
    };
    Ok(Written {
        log_index: w.log_id.index,
        positions,
    })
}

/// Step 5: the send's answer: msgIds (one per message, comma-separated, as Java's batch
/// answer has them), the queue and the first message's queue offset.
async fn answer(
    bc: &BrokerContext,
    req: &RemotingCommand,
    route: &Route,
    written: &Written,
) -> RemotingCommand {
    with_header(
        slave_ack(bc, req, written.log_index).await,
        &SendMessageResponseHeader {
            msg_id: msg_ids(bc.store_host, &written.positions),
            queue_id: route.queue_id as i32,
            queue_offset: written
                .positions
                .first()
                .map_or(-1, |p| p.queue_offset as i64),
            transaction_id: None,
            msg_region: Some("DefaultRegion".into()),
            trace_on: Some(true),
        },
    )
}

/// The offset msgIds of the stored messages, comma-separated.
fn msg_ids(store_host: std::net::SocketAddr, positions: &[PutPosition]) -> String {
    match positions {
        [one] => create_offset_msg_id(store_host, one.commit_log_offset as i64),
        many => many
            .iter()
            .map(|p| create_offset_msg_id(store_host, p.commit_log_offset as i64))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// The answer's code once the message is committed: SUCCESS, except on a `SYNC_MASTER`, which
/// first waits for a slave to hold it and otherwise answers FLUSH_SLAVE_TIMEOUT or
/// SLAVE_NOT_AVAILABLE. Those are RocketMQ send statuses, not errors: the message is stored on
/// the master and the answer still carries its msgId and offset.
async fn slave_ack(bc: &BrokerContext, req: &RemotingCommand, log_index: u64) -> RemotingCommand {
    if bc.cfg.enable_d_leger_commit_log || bc.cfg.broker_role != BrokerRole::SyncMaster {
        return ok(req);
    }
    let timeout = std::time::Duration::from_millis(bc.cfg.sync_flush_timeout);
    match bc.core.wait_slave(log_index, timeout).await {
        Ok(()) => ok(req),
        Err(SlaveWait::Timeout) => RemotingCommand::response_to(req, code::FLUSH_SLAVE_TIMEOUT)
            .with_remark("the message is stored on the master; no slave confirmed it in time"),
        Err(SlaveWait::NotAvailable) => {
            RemotingCommand::response_to(req, code::SLAVE_NOT_AVAILABLE)
                .with_remark("the message is stored on the master; no slave is connected")
        }
    }
}

/// TEST-ONLY, reached only with `unsafeAckBeforeCommit=true`, which the config refuses unless
/// `LEDGERMQ_UNSAFE=1`: answers SEND_OK once the leader has appended the message to its own
/// log, before any quorum commit, so a partitioned leader acknowledges writes the new leader
/// will truncate. The Jepsen suite runs against it to prove its checker reports lost writes.
/// The queue offset is not known before the entry is applied, so the answer carries -1 and a
/// msgId for CommitLog offset 0: a client must not take either as a real position.
async fn unsafe_ack_before_commit(
    bc: &BrokerContext,
    req: &RemotingCommand,
    cmd: LogCommand,
    topic: &str,
    queue_id: u32,
) -> RemotingCommand {
    if let Err(e) = bc.core.write_acked_on_append(cmd).await {
        return write_error(req, bc, &e);
    }
    tracing::debug!(
        topic,
        queue_id,
        "unsafeAckBeforeCommit: SEND_OK before commit"
    );
    with_header(
        ok(req),
        &SendMessageResponseHeader {
            msg_id: create_offset_msg_id(bc.store_host, 0),
            queue_id: queue_id as i32,
            queue_offset: -1,
            transaction_id: None,
            msg_region: Some("DefaultRegion".into()),
            trace_on: Some(true),
        },
    )
}

#[cfg(test)]
mod tests;
