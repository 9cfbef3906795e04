//! Messages: find them by topic and time range, by key, or by msgId; show one with its
//! properties, body and which groups consumed it; send a test message.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::topics::{system_topics, topic_kind, TopicKind};
use super::{millis, AppState, Form};
use crate::client::admin::nodes_of;
use crate::client::{ClientError, Message, MqAdmin};
use crate::dashboard::error::{ApiError, ApiResult};
use crate::message::{decode_offset_msg_id, MessageExt};

/// Messages one search returns by default, and at most.
const DEFAULT_MAX: usize = 64;
const MAX_MAX: usize = 512;
/// Body bytes shown as hex (the page says when a body was longer).
const HEX_LIMIT: usize = 64 * 1024;
/// Longest test message body accepted from the form.
const MAX_TEST_BODY: usize = 256 * 1024;

fn row(m: &MessageExt) -> Value {
    serde_json::json!({
        "msgId": m.uniq_key().unwrap_or_default(),
        "offsetMsgId": m.offset_msg_id(),
        "topic": m.topic,
        "tags": m.tags(),
        "keys": m.keys(),
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "storeTimestamp": m.store_timestamp,
        "bornTimestamp": m.born_timestamp,
        "storeHost": m.store_host.to_string(),
        "bodySize": m.body.len(),
        "delay": super::schedule_state::delay_state(m),
        "transaction": super::transaction_state::transaction_state(m),
    })
}

fn required_topic(v: Option<&str>) -> ApiResult<String> {
    v.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::BadInput("Topic is required".into()))
}

fn topic_missing(topic: &str) -> impl FnOnce(ClientError) -> ApiError + '_ {
    move |e| match e {
        ClientError::TopicNotExist(_) => {
            ApiError::NotFound(format!("topic {topic} does not exist"))
        }
        other => other.into(),
    }
}

#[derive(Debug, Deserialize)]
pub struct TimeQuery {
    topic: Option<String>,
    begin: Option<String>,
    end: Option<String>,
    max: Option<String>,
}

/// `GET /api/messages?topic=&begin=&end=[&max=]`: messages stored in a time range.
pub async fn by_time(State(app): AppState, Query(q): Query<TimeQuery>) -> ApiResult<Json<Value>> {
    let topic = required_topic(q.topic.as_deref())?;
    let begin = millis(q.begin.as_deref().unwrap_or(""), "Begin")?;
    let end = match q.end.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(e) => millis(e, "End")?,
        None => crate::time::now_ms(),
    };
    if end < begin {
        return Err(ApiError::BadInput(
            "the time range ends before it begins".into(),
        ));
    }
    let max = match q.max.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=MAX_MAX).contains(m))
            .ok_or_else(|| {
                ApiError::BadInput(format!("max must be from 1 to {MAX_MAX}, not {m:?}"))
            })?,
        None => DEFAULT_MAX,
    };
    let msgs = app
        .admin
        .messages_by_time(&topic, begin, end, max)
        .await
        .map_err(topic_missing(&topic))?;
    Ok(Json(serde_json::json!({
        "messages": msgs.iter().map(row).collect::<Vec<_>>(),
        "limit": max,
    })))
}

#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    topic: Option<String>,
    key: Option<String>,
}

/// `GET /api/messages/by-key?topic=&key=`: messages indexed under a key (KEYS or UNIQ_KEY).
pub async fn by_key(State(app): AppState, Query(q): Query<KeyQuery>) -> ApiResult<Json<Value>> {
    let topic = required_topic(q.topic.as_deref())?;
    let key = q
        .key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::BadInput("Key is required".into()))?;
    let msgs = match app
        .admin
        .query_message(&topic, key, DEFAULT_MAX as i32, 0, i64::MAX)
        .await
    {
        Ok(m) => m,
        Err(ClientError::NotFound(_)) => Vec::new(),
        Err(e) => return Err(topic_missing(&topic)(e)),
    };
    Ok(Json(serde_json::json!({
        "messages": msgs.iter().map(row).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
pub struct IdQuery {
    id: Option<String>,
    topic: Option<String>,
}

/// Checks a msgId's shape: 32 hex digits (IPv4 store host or a client's UNIQ_KEY) or 56 (IPv6).
fn check_msg_id(id: &str) -> ApiResult<()> {
    if (id.len() == 32 || id.len() == 56) && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::BadInput(format!(
            "{id:?} is not a message id: a msgId is 32 hexadecimal digits (56 for an IPv6 store host)"
        )))
    }
}

/// The message an offsetMsgId names, if its store host is a node of this cluster. Any other
/// host is never contacted: a client's UNIQ_KEY decodes to an arbitrary address.
async fn by_offset_msg_id(admin: &MqAdmin, id: &str) -> ApiResult<Option<(MessageExt, String)>> {
    let Ok((host, _)) = decode_offset_msg_id(id) else {
        return Ok(None);
    };
    let host = host.to_string();
    let info = admin.cluster_info().await?;
    let Some(node) = nodes_of(&info, None).into_iter().find(|n| n.addr == host) else {
        return Ok(None);
    };
    match admin.view_message(id).await {
        Ok(m) => Ok(Some((m, node.broker_name))),
        Err(_) => Ok(None),
    }
}

/// `GET /api/messages/by-id?id=[&topic=]`: one message in full. An offsetMsgId is read from
/// the node it names; a client msgId (UNIQ_KEY) is looked up in `topic`'s key index.
pub async fn by_id(State(app): AppState, Query(q): Query<IdQuery>) -> ApiResult<Json<Value>> {
    let id =
        q.id.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::BadInput("Message id is required".into()))?;
    check_msg_id(id)?;
    let id = id.to_ascii_uppercase();
    let topic = q.topic.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let mut found = by_offset_msg_id(&app.admin, &id).await?;
    if found.is_none() {
        if let Some(topic) = topic {
            match app.admin.query_message(topic, &id, 1, 0, i64::MAX).await {
                Ok(msgs) => {
                    if let Some(m) = msgs.into_iter().next() {
                        let store_host = m.store_host.to_string();
                        let info = app.admin.cluster_info().await?;
                        let broker = nodes_of(&info, None)
                            .into_iter()
                            .find(|n| n.addr == store_host)
                            .map(|n| n.broker_name)
                            .unwrap_or_default();
                        found = Some((m, broker));
                    }
                }
                Err(ClientError::NotFound(_)) => {}
                Err(e) => return Err(topic_missing(topic)(e)),
            }
        }
    }
    let Some((m, broker_name)) = found else {
        return Err(ApiError::NotFound(match topic {
            Some(t) => format!("no message {id} in topic {t}"),
            None => format!(
                "no message {id}: it is not an offsetMsgId of this cluster; for a client msgId (UNIQ_KEY) give its topic too"
            ),
        }));
    };
    let tracks = if broker_name.is_empty() {
        Vec::new()
    } else {
        app.admin
            .message_track(&m, &broker_name)
            .await
            .unwrap_or_default()
    };
    let properties: BTreeMap<&str, &str> = m.properties.iter().collect();
    let shown = &m.body[..m.body.len().min(HEX_LIMIT)];
    let mut detail = row(&m);
    if let Value::Object(o) = &mut detail {
        o.insert("brokerName".into(), broker_name.clone().into());
        o.insert(
            "properties".into(),
            serde_json::to_value(&properties).unwrap_or_default(),
        );
        o.insert(
            "bodyText".into(),
            std::str::from_utf8(&m.body).ok().map(str::to_string).into(),
        );
        o.insert(
            "bodyHex".into(),
            shown
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        );
        o.insert("bodyTruncated".into(), (m.body.len() > HEX_LIMIT).into());
        o.insert("bornHost".into(), m.born_host.to_string().into());
        o.insert("commitLogOffset".into(), m.commit_log_offset.into());
        o.insert("reconsumeTimes".into(), m.reconsume_times.into());
        o.insert("sysFlag".into(), m.sys_flag.into());
        o.insert(
            "tracks".into(),
            tracks
                .iter()
                .map(|t| serde_json::json!({"group": t.consumer_group, "trackType": t.track_type}))
                .collect::<Vec<_>>()
                .into(),
        );
    }
    Ok(Json(detail))
}

/// `POST /api/messages` with `topic`, `tags`, `keys`, `body`: sends one test message.
pub async fn send(State(app): AppState, body: Bytes) -> ApiResult<Json<Value>> {
    let form = Form::parse(&body)?;
    let topic = form.required("topic", "Topic")?.to_string();
    let text = form.raw("body").unwrap_or_default();
    if text.is_empty() {
        return Err(ApiError::BadInput("Message body is required".into()));
    }
    if text.len() > MAX_TEST_BODY {
        return Err(ApiError::BadInput(format!(
            "a test message body may be at most {} KiB",
            MAX_TEST_BODY / 1024
        )));
    }
    let system = system_topics(&app.admin).await;
    if topic_kind(&topic, &system) != TopicKind::Normal {
        return Err(ApiError::BadInput(format!(
            "{topic} is not a normal topic; test messages go to normal topics only"
        )));
    }
    // A send to an unknown topic would auto-create it; the form must not.
    match app.admin.topic_route(&topic).await {
        Ok(_) => {}
        Err(ClientError::TopicNotExist(_)) => {
            return Err(ApiError::BadInput(format!(
                "topic {topic} does not exist: create it on the Topics page first"
            )))
        }
        Err(e) => return Err(e.into()),
    }
    let mut msg = Message::new(topic.clone(), Bytes::copy_from_slice(text.as_bytes()));
    if let Some(tags) = form.opt("tags") {
        msg = msg
            .with_tags(tags)
            .map_err(|e| ApiError::BadInput(format!("tags: {e}")))?;
    }
    if let Some(keys) = form.opt("keys") {
        msg = msg
            .with_keys(keys.split_whitespace())
            .map_err(|e| ApiError::BadInput(format!("keys: {e}")))?;
    }
    let r = app.producer.send(msg).await?;
    tracing::info!(%topic, msg_id = %r.msg_id, "dashboard: test message sent");
    Ok(Json(serde_json::json!({
        "status": r.status.to_string(),
        "msgId": r.msg_id,
        "offsetMsgId": r.offset_msg_id,
        "brokerName": r.queue.broker_name,
        "queueId": r.queue.queue_id,
        "queueOffset": r.queue_offset,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_ids_are_checked_before_any_lookup() {
        assert!(check_msg_id("7F00B401000078BF000000000000047A").is_ok());
        assert!(check_msg_id(&"a".repeat(56)).is_ok());
        for bad in [
            "",
            "xyz",
            "7F00B401000078BF00000000000004",
            "7F00B401000078BF000000000000047G",
        ] {
            let e = check_msg_id(bad).unwrap_err();
            assert!(e.to_string().contains("is not a message id"), "{e}");
        }
    }
}
