//! PULL_MESSAGE (11) with long polling.
//!
//! A pull reads committed messages from any node of the group. When nothing is there yet and
//! the request allows suspending, it is held until its queue grows (the state machine wakes the
//! queue's notifier when it applies a message), the consumer's timeout (`suspendTimeoutMillis`,
//! capped) passes, or its connection closes — so an idle consumer costs nothing and a new
//! message is delivered as soon as it commits.

use std::sync::Arc;
use std::time::Duration;

use super::{error, with_header};
use crate::broker::context::BrokerContext;
use crate::broker::message_store::{get_messages, GetMessageResult, GetRequest, GetStatus};
use crate::message::TagSubscription;
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{PullMessageRequestHeader, PullMessageResponseHeader};
use crate::protocol::topic::perm;
use crate::remoting::codes::response_code as code;
use crate::remoting::{ChannelContext, RemotingCommand};

/// Longest a pull is held, whatever the client asks (the Java client's socket timeout is 30 s).
const MAX_SUSPEND: Duration = Duration::from_secs(20);
/// Bytes of messages in one pull response (RocketMQ: 256 KiB from memory).
const MAX_PULL_BYTES: usize = 256 * 1024;

pub async fn pull(
    bc: &BrokerContext,
    ctx: &Arc<ChannelContext>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h = match PullMessageRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    tracing::Span::current().record("topic", h.topic.as_str());
    let Some(tc) = bc.topics.get(&h.topic) else {
        return error(
            req,
            code::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", h.topic),
        );
    };
    if tc.perm & perm::READ == 0 {
        return error(
            req,
            code::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", h.topic),
        );
    }
    if h.queue_id < 0 || h.queue_id as u32 >= tc.read_queue_nums {
        return error(
            req,
            code::SYSTEM_ERROR,
            format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                h.queue_id, h.topic, tc.read_queue_nums, ctx.peer
            ),
        );
    }
    let subscription = if h.has_subscription() {
        match TagSubscription::parse(h.subscription.as_deref().unwrap_or("*")) {
            Ok(s) => s,
            Err(e) => {
                return error(
                    req,
                    code::SUBSCRIPTION_PARSE_FAILED,
                    format!("parse the consumer's subscription failed: {e}"),
                )
            }
        }
    } else {
        let Some(sub) = bc.clients.subscription(&h.consumer_group, &h.topic) else {
            return error(
                req,
                code::SUBSCRIPTION_NOT_EXIST,
                format!(
                    "the consumer's subscription not exist, group: {} topic: {}",
                    h.consumer_group, h.topic
                ),
            );
        };
        if sub.sub_version < h.sub_version {
            return error(
                req,
                code::SUBSCRIPTION_NOT_LATEST,
                format!(
                    "the consumer's subscription not latest, group: {}",
                    h.consumer_group
                ),
            );
        }
        match TagSubscription::parse(&sub.sub_string) {
            Ok(s) => s,
            Err(e) => {
                return error(
                    req,
                    code::SUBSCRIPTION_PARSE_FAILED,
                    format!("parse the consumer's subscription failed: {e}"),
                )
            }
        }
    };
    let queue_id = h.queue_id as u32;
    let offset = h.queue_offset.max(0) as u64;
    let max_count = h.max_msg_nums.clamp(1, 1024) as usize;
    let filter = |code: i64| subscription.matches_tags_code(code);
    let suspend = h.has_suspend() && h.suspend_timeout_millis > 0;
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(h.suspend_timeout_millis.max(0) as u64).min(MAX_SUSPEND);
    let notify = bc.core.broker_state().queue_notify(&h.topic, queue_id);
    let mut stopping = bc.stopping();
    let result = loop {
        // Register for a wake-up before looking, so a message that commits in between is not
        // missed.
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let r = get_messages(
            bc.core.broker_state(),
            GetRequest {
                topic: &h.topic,
                queue_id,
                offset,
                max_count,
                max_bytes: MAX_PULL_BYTES,
            },
            &filter,
        );
        let nothing_yet = matches!(
            r.status,
            GetStatus::OffsetOverflowOne | GetStatus::NoMatchedLogicQueue
        ) || (r.status == GetStatus::NoMessageInQueue && offset == 0);
        if !(nothing_yet && suspend)
            || tokio::time::Instant::now() >= deadline
            || *stopping.borrow()
        {
            break r;
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = stopping.wait_for(|s| *s) => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = ctx.closed() => return error(req, code::SYSTEM_ERROR, "the consumer's connection closed"),
        }
    };
    if h.has_commit_offset() && h.commit_offset >= 0 && bc.is_master() {
        bc.offsets.commit(
            &h.consumer_group,
            &h.topic,
            queue_id,
            h.commit_offset as u64,
        );
    }
    respond(bc, req, &h.consumer_group, offset, result)
}

fn respond(
    bc: &BrokerContext,
    req: &RemotingCommand,
    group: &str,
    offset: u64,
    r: GetMessageResult,
) -> RemotingCommand {
    let c = match r.status {
        GetStatus::Found => code::SUCCESS,
        GetStatus::NoMatchedMessage => code::PULL_RETRY_IMMEDIATELY,
        GetStatus::NoMatchedLogicQueue | GetStatus::OffsetOverflowOne => code::PULL_NOT_FOUND,
        GetStatus::NoMessageInQueue if offset == 0 => code::PULL_NOT_FOUND,
        GetStatus::NoMessageInQueue
        | GetStatus::OffsetTooSmall
        | GetStatus::OffsetOverflowBadly => code::PULL_OFFSET_MOVED,
    };
    if c == code::PULL_OFFSET_MOVED {
        tracing::info!(
            requested = offset,
            next = r.next_begin_offset,
            min = r.min_offset,
            max = r.max_offset,
            "pull offset moved"
        );
    }
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: r.next_begin_offset as i64,
        min_offset: r.min_offset as i64,
        max_offset: r.max_offset as i64,
    };
    let mut resp = with_header(RemotingCommand::response_to(req, c), &header);
    if c == code::SUCCESS {
        bc.stats.on_get(group, r.count as u64, r.body_len as u64);
        resp = resp.with_body_parts(r.parts);
    }
    resp
}
