//! CONSUMER_SEND_MSG_BACK (36): a consumer could not process a message, so the broker stores
//! it again in the group's retry topic, or past `maxReconsumeTimes` (or for a negative delay
//! level) in its dead-letter topic. A retry waits its delay level, as RocketMQ 4.9's does: the
//! client's level, or `3 + reconsumeTimes` when it passes 0, through the replicated schedule
//! (`broker/schedule`).

use std::sync::Arc;

use bytes::BytesMut;

use super::encode::{Refusal, DEFAULT_MAX_RECONSUME_TIMES};
use super::{check_writable, error, ok, write_error};
use crate::broker::context::BrokerContext;
use crate::broker::message_store::message_at;
use crate::message::properties as keys;
use crate::message::{
    create_offset_msg_id, decode_stored, encode_stored_into, MessageExt, MessageProperties,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::ConsumerSendMsgBackRequestHeader;
use crate::raft::{ApplyResult, LogCommand};
use crate::remoting::codes::response_code as code;
use crate::remoting::{ChannelContext, RemotingCommand};
use crate::time::now_ms;

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
        .and_then(|o| message_at(bc.core.broker_state(), o))
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
        bc.topics.ensure_dlq_topic(&h.group).await
    } else {
        bc.topics.ensure_retry_topic(&h.group).await
    };
    let target = match target {
        Ok(tc) => tc,
        Err(e) => return write_error(req, bc, &e),
    };
    let mut properties = match retry_properties(&orig, h.origin_msg_id.as_deref()) {
        Ok(p) => p,
        Err(refusal) => return refusal.answer(req),
    };
    if to_dlq {
        properties.remove(keys::DELAY);
    } else {
        let level = retry_delay_level(h.delay_level, reconsume);
        if let Err(e) = properties.insert(keys::DELAY, level.to_string()) {
            return Refusal::illegal(e.to_string()).answer(req);
        }
    }
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
    let scheduled = if to_dlq {
        None
    } else {
        match crate::broker::schedule::schedule_message(bc, msg.clone()) {
            Ok(s) => s,
            Err(remark) => return Refusal::illegal(remark).answer(req),
        }
    };
    let bytes = match scheduled {
        Some(b) => b,
        None => {
            let mut bytes = BytesMut::new();
            if let Err(e) = encode_stored_into(&msg, &mut bytes) {
                return Refusal::illegal(e.to_string()).answer(req);
            }
            bytes.freeze()
        }
    };
    match bc.core.write(LogCommand::PutMessage(bytes)).await {
        Ok(w) if !matches!(w.result, ApplyResult::Rejected(_)) => {
            bc.stats.on_put(&target.topic_name, 1, 0);
            ok(req)
        }
        Ok(w) => error(req, code::SYSTEM_ERROR, format!("{:?}", w.result)),
        Err(e) => write_error(req, bc, &e),
    }
}

/// The delay level of a retry: the client's, or `3 + reconsumeTimes` when it leaves the
/// choice to the broker (0), as RocketMQ 4.9's `consumerSendMsgBack` has it.
fn retry_delay_level(client_level: i32, reconsume_times: i32) -> i32 {
    if client_level > 0 {
        client_level
    } else {
        3i32.saturating_add(reconsume_times.max(0))
    }
}

/// The re-stored message's properties: the original's, with `RETRY_TOPIC` (the topic it was
/// first sent to, kept across retries) and `ORIGIN_MESSAGE_ID` (the client's `originMsgId`,
/// else the original's UNIQ_KEY, else its offset msgId). An empty `originMsgId` counts as
/// absent, as Java's `isBlank` has it; one the properties string cannot carry (it holds
/// `\u{2}`) is MESSAGE_ILLEGAL rather than silently dropped.
fn retry_properties(
    orig: &MessageExt,
    origin_msg_id: Option<&str>,
) -> Result<MessageProperties, Refusal> {
    let mut properties = orig.properties.clone();
    let illegal = |e: crate::message::MessageError| Refusal::illegal(e.to_string());
    if properties.get(keys::RETRY_TOPIC).is_none() {
        properties
            .insert(keys::RETRY_TOPIC, orig.topic.clone())
            .map_err(illegal)?;
    }
    let origin_id = origin_msg_id
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .or_else(|| orig.properties.get(keys::UNIQ_KEY).map(str::to_string))
        .unwrap_or_else(|| create_offset_msg_id(orig.store_host, orig.commit_log_offset));
    properties
        .insert(keys::ORIGIN_MESSAGE_ID, origin_id)
        .map_err(illegal)?;
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orig(props: &str) -> MessageExt {
        MessageExt {
            topic: "TopicTest".into(),
            store_host: "127.0.0.1:10911".parse().expect("addr"),
            commit_log_offset: 4096,
            properties: MessageProperties::decode(props),
            ..MessageExt::default()
        }
    }

    #[test]
    fn a_retry_waits_the_clients_level_or_three_plus_its_reconsume_times() {
        assert_eq!(retry_delay_level(0, 0), 3);
        assert_eq!(retry_delay_level(0, 1), 4);
        assert_eq!(retry_delay_level(0, 15), 18);
        assert_eq!(retry_delay_level(2, 7), 2);
    }

    #[test]
    fn retry_properties_name_the_first_topic_and_the_origin() {
        let p = retry_properties(&orig("UNIQ_KEY\u{1}U1"), Some("CLIENT")).expect("ok");
        assert_eq!(p.get(keys::RETRY_TOPIC), Some("TopicTest"));
        assert_eq!(p.get(keys::ORIGIN_MESSAGE_ID), Some("CLIENT"));
        // A retry of a retry keeps the first topic.
        let again = retry_properties(&orig("RETRY_TOPIC\u{1}First"), None).expect("ok");
        assert_eq!(again.get(keys::RETRY_TOPIC), Some("First"));
    }

    #[test]
    fn an_absent_or_empty_origin_falls_back_to_uniq_key_then_offset_msg_id() {
        let p = retry_properties(&orig("UNIQ_KEY\u{1}U1"), Some("")).expect("ok");
        assert_eq!(p.get(keys::ORIGIN_MESSAGE_ID), Some("U1"));
        let p = retry_properties(&orig(""), None).expect("ok");
        let offset_id = create_offset_msg_id("127.0.0.1:10911".parse().expect("addr"), 4096);
        assert_eq!(p.get(keys::ORIGIN_MESSAGE_ID), Some(offset_id.as_str()));
    }

    #[test]
    fn an_origin_the_properties_cannot_carry_is_message_illegal() {
        let refused = retry_properties(&orig(""), Some("a\u{2}b")).expect_err("refused");
        assert_eq!(refused.code, code::MESSAGE_ILLEGAL);
        assert!(
            refused.remark.contains("ORIGIN_MESSAGE_ID"),
            "{}",
            refused.remark
        );
    }
}
