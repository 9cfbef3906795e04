//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and
//! CONSUMER_SEND_MSG_BACK (36).
//!
//! A send is validated, turned into RocketMQ's stored-message bytes (store time and store host
//! set here, on the leader), replicated through Raft, and answered SEND_OK only once a quorum
//! has committed it and this node has applied it — the answer carries the queue offset the
//! state machine assigned and the msgId (store host + CommitLog offset).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rand::Rng;

use super::{error, ok, with_header, write_error};
use crate::broker::context::{now_ms, BrokerContext};
use crate::broker::message_store::message_at;
use crate::broker::topics::{dlq_topic, AUTO_CREATE_TOPIC_KEY, RETRY_PREFIX};
use crate::config::BrokerRole;
use crate::message::properties as keys;
use crate::message::{
    create_offset_msg_id, decode_batch, decode_stored, encode_stored_into, encode_stored_parts,
    MessageExt, MessageProperties, StoredFields,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    ConsumerSendMsgBackRequestHeader, SendMessageRequestHeader, SendMessageResponseHeader,
};
use crate::protocol::topic::{perm, TopicConfig};
use crate::raft::broker_state::valid_topic_name;
use crate::raft::{ApplyResult, LogCommand, SlaveWait};
use crate::remoting::codes::{request_code, response_code as code};
use crate::remoting::{ChannelContext, RemotingCommand};

const DEFAULT_MAX_RECONSUME_TIMES: i32 = 16;

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
    h: &SendMessageRequestHeader,
) -> Result<TopicConfig, RemotingCommand> {
    if !valid_topic_name(&h.topic) {
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
    let tc = match bc.topics.get(&h.topic) {
        Some(tc) => tc,
        None => {
            let created = if h.topic.starts_with(RETRY_PREFIX) {
                bc.topics
                    .ensure_retry_topic(&h.topic[RETRY_PREFIX.len()..])
                    .await
                    .map(Some)
            } else {
                bc.topics
                    .auto_create(&h.topic, &h.default_topic, h.default_topic_queue_nums)
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

fn message_illegal(req: &RemotingCommand, why: impl Into<String>) -> RemotingCommand {
    error(req, code::MESSAGE_ILLEGAL, why)
}

pub async fn send(
    bc: &BrokerContext,
    ctx: &Arc<ChannelContext>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h = match SendMessageRequestHeader::decode_for_code(req.code, &req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    tracing::Span::current().record("topic", h.topic.as_str());
    if let Some(resp) = check_writable(bc, req) {
        return resp;
    }
    let mut topic = h.topic.clone();
    let mut tc = match writable_topic(bc, req, &h).await {
        Ok(tc) => tc,
        Err(resp) => return resp,
    };
    let mut queue_id = match pick_queue(req, &tc, h.queue_id) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    let reconsume_times = h.reconsume_times.unwrap_or(0);
    // A retry that failed too often goes to the group's dead-letter queue.
    if let Some(group) = topic.strip_prefix(RETRY_PREFIX).map(str::to_string) {
        let max = h.max_reconsume_times.unwrap_or(DEFAULT_MAX_RECONSUME_TIMES);
        if reconsume_times >= max {
            match ensure_dlq(bc, &group).await {
                Ok(dlq) => {
                    topic = dlq.topic_name.clone();
                    tc = dlq;
                    queue_id = 0;
                }
                Err(e) => return write_error(req, bc, &e),
            }
        }
    }
    let batch = req.code == request_code::SEND_BATCH_MESSAGE;
    let max_size = bc.cfg.max_message_size as usize;
    let now = now_ms();
    let fields = StoredFields {
        queue_id: queue_id as i32,
        flag: h.flag,
        queue_offset: 0,
        commit_log_offset: 0,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: ctx.peer,
        store_timestamp: now,
        store_host: bc.store_host,
        reconsume_times,
        prepared_transaction_offset: 0,
    };
    let oversize = || {
        message_illegal(
            req,
            format!("the message body size over max value, MAX: {max_size}"),
        )
    };
    let mut bytes = BytesMut::new();
    if batch {
        let header_props = MessageProperties::decode(h.properties.as_deref().unwrap_or(""));
        let messages: Vec<(i32, Bytes, MessageProperties)> = match decode_batch(&req.body) {
            Ok(list) if !list.is_empty() => list
                .into_iter()
                .map(|m| {
                    let mut props = m.properties;
                    for (k, v) in header_props.iter() {
                        if props.get(k).is_none() {
                            let _ = props.insert(k, v);
                        }
                    }
                    (m.flag, m.body, props)
                })
                .collect(),
            Ok(_) => return message_illegal(req, "the batch is empty"),
            Err(e) => return message_illegal(req, format!("bad batch body: {e}")),
        };
        for (flag, body, properties) in &messages {
            if body.len() > max_size {
                return oversize();
            }
            let fields = StoredFields {
                flag: *flag,
                ..fields
            };
            let properties = properties.encode();
            if let Err(e) = encode_stored_parts(&fields, &topic, &properties, body, &mut bytes) {
                return message_illegal(req, e.to_string());
            }
        }
    } else {
        if req.body.len() > max_size {
            return oversize();
        }
        // The producer's properties string is stored as it came when it is already in the form
        // the broker would re-encode it to; the body goes from the frame into the entry.
        let properties = keys::canonical(h.properties.as_deref().unwrap_or(""));
        if let Err(e) = encode_stored_parts(&fields, &topic, &properties, &req.body, &mut bytes) {
            return message_illegal(req, e.to_string());
        }
    }
    let total = bytes.len() as u64;
    let cmd = if batch {
        LogCommand::PutBatch(bytes.freeze())
    } else {
        LogCommand::PutMessage(bytes.freeze())
    };
    if bc.cfg.unsafe_ack_before_commit {
        return unsafe_ack_before_commit(bc, req, cmd, &topic, queue_id).await;
    }
    let (log_index, positions) = match bc.core.write(cmd).await {
        Ok(w) => (
            w.log_id.index,
            match w.result {
                ApplyResult::Put(p) => vec![p],
                ApplyResult::Batch(v) if !v.is_empty() => v,
                ApplyResult::Rejected(why) => return message_illegal(req, why),
                other => {
                    return error(
                        req,
                        code::SYSTEM_ERROR,
                        format!("unexpected apply result {other:?}"),
                    )
                }
            },
        ),
        Err(e) => return write_error(req, bc, &e),
    };
    bc.stats.on_put(&topic, positions.len() as u64, total);
    let msg_id = match positions.as_slice() {
        [one] => create_offset_msg_id(bc.store_host, one.commit_log_offset as i64),
        many => many
            .iter()
            .map(|p| create_offset_msg_id(bc.store_host, p.commit_log_offset as i64))
            .collect::<Vec<_>>()
            .join(","),
    };
    let _ = tc;
    with_header(
        slave_ack(bc, req, log_index).await,
        &SendMessageResponseHeader {
            msg_id,
            queue_id: queue_id as i32,
            queue_offset: positions[0].queue_offset as i64,
            transaction_id: None,
            msg_region: Some("DefaultRegion".into()),
            trace_on: Some(true),
        },
    )
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

async fn ensure_dlq(
    bc: &BrokerContext,
    group: &str,
) -> Result<TopicConfig, crate::raft::WriteError> {
    let name = dlq_topic(group);
    if let Some(tc) = bc.topics.get(&name) {
        return Ok(tc);
    }
    let tc = TopicConfig::new(name, 1);
    bc.topics.put(tc.clone()).await?;
    Ok(tc)
}

/// A consumer could not process a message: store it again in the group's retry topic (or, past
/// `maxReconsumeTimes`, its dead-letter topic). Delay levels are not scheduled yet: the retry
/// is delivered at once.
pub async fn send_back(
    bc: &BrokerContext,
    _ctx: &Arc<ChannelContext>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h = match ConsumerSendMsgBackRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    if let Some(resp) = check_writable(bc, req) {
        return resp;
    }
    let Some(stored) = u64::try_from(h.offset)
        .ok()
        .and_then(|o| message_at(&bc.core.state, &bc.core.log, o))
    else {
        return error(
            req,
            code::SYSTEM_ERROR,
            format!("look message by offset failed, {}", h.offset),
        );
    };
    let (orig, _) = match decode_stored(&stored, false) {
        Ok(m) => m,
        Err(e) => {
            return error(
                req,
                code::SYSTEM_ERROR,
                format!("stored message unreadable: {e}"),
            )
        }
    };
    let reconsume = orig.reconsume_times;
    let max = h.max_reconsume_times.unwrap_or(DEFAULT_MAX_RECONSUME_TIMES);
    let to_dlq = reconsume >= max || h.delay_level < 0;
    let target = if to_dlq {
        ensure_dlq(bc, &h.group).await
    } else {
        bc.topics.ensure_retry_topic(&h.group).await
    };
    let target = match target {
        Ok(tc) => tc,
        Err(e) => return write_error(req, bc, &e),
    };
    let mut properties = orig.properties.clone();
    if properties.get(keys::RETRY_TOPIC).is_none() {
        let _ = properties.insert(keys::RETRY_TOPIC, orig.topic.clone());
    }
    let origin_id = h
        .origin_msg_id
        .clone()
        .or_else(|| orig.properties.get(keys::UNIQ_KEY).map(str::to_string))
        .unwrap_or_else(|| create_offset_msg_id(orig.store_host, orig.commit_log_offset));
    let _ = properties.insert(keys::ORIGIN_MESSAGE_ID, origin_id);
    let msg = MessageExt {
        topic: target.topic_name.clone(),
        queue_id: 0,
        store_timestamp: now_ms(),
        store_host: bc.store_host,
        reconsume_times: reconsume + 1,
        properties,
        queue_offset: 0,
        commit_log_offset: 0,
        ..orig
    };
    let mut bytes = BytesMut::new();
    if let Err(e) = encode_stored_into(&msg, &mut bytes) {
        return message_illegal(req, e.to_string());
    }
    match bc.core.write(LogCommand::PutMessage(bytes.freeze())).await {
        Ok(w) if !matches!(w.result, ApplyResult::Rejected(_)) => {
            bc.stats.on_put(&target.topic_name, 1, 0);
            ok(req)
        }
        Ok(w) => error(req, code::SYSTEM_ERROR, format!("{:?}", w.result)),
        Err(e) => write_error(req, bc, &e),
    }
}
