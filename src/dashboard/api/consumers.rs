//! Consumer groups: subscriptions, connected clients, per-queue progress and lag, and moving a
//! group's offsets to a point in time.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::{millis, AppState, Form};
use crate::client::{ClientError, MqAdmin};
use crate::dashboard::error::{ApiError, ApiResult};
use crate::protocol::topic_names::retry_group;

/// Groups are named by their retry topics, as in `mqadmin consumerProgress`.
async fn group_names(admin: &MqAdmin) -> ApiResult<BTreeSet<String>> {
    let topics = admin.topic_list().await?;
    Ok(topics
        .topic_list
        .iter()
        .filter_map(|t| retry_group(t))
        .map(str::to_string)
        .collect())
}

/// One group's summary row.
async fn summary(admin: &MqAdmin, group: String) -> Value {
    let (conn, stats) = futures::join!(
        admin.consumer_connection(&group),
        admin.consume_stats(&group, None)
    );
    let clients = conn.as_ref().map_or(0, |c| c.connection_set.len());
    let (consume_type, model) = conn
        .as_ref()
        .map(|c| {
            (
                c.consume_type.map(|t| format!("{t:?}")),
                c.message_model.map(|m| format!("{m:?}")),
            )
        })
        .unwrap_or((None, None));
    serde_json::json!({
        "group": group,
        "online": clients > 0,
        "clients": clients,
        "consumeType": consume_type,
        "messageModel": model,
        "totalLag": stats.as_ref().map(|s| s.total_diff()).ok(),
        "consumeTps": stats.as_ref().map(|s| s.consume_tps).ok(),
        "topics": stats.as_ref().map(|s| s.offset_table.keys().map(|mq| mq.topic.clone()).collect::<BTreeSet<_>>()).unwrap_or_default(),
    })
}

/// `GET /api/consumers`: every group with clients, lag and TPS.
pub async fn list(State(app): AppState) -> ApiResult<Json<Value>> {
    let names: Vec<String> = group_names(&app.admin).await?.into_iter().collect();
    let mut rows = Vec::new();
    for chunk in names.chunks(8) {
        rows.extend(
            futures::future::join_all(chunk.iter().map(|g| summary(&app.admin, g.clone()))).await,
        );
    }
    Ok(Json(serde_json::json!({ "groups": rows })))
}

/// `GET /api/consumers/{group}`: subscriptions, clients and per-queue progress.
pub async fn detail(State(app): AppState, Path(group): Path<String>) -> ApiResult<Json<Value>> {
    let known = group_names(&app.admin).await?.contains(&group);
    let (conn, stats) = futures::join!(
        app.admin.consumer_connection(&group),
        app.admin.consume_stats(&group, None)
    );
    if !known && conn.is_err() && stats.is_err() {
        return Err(ApiError::NotFound(format!(
            "consumer group {group} is not known: it has no retry topic, no client online and no offsets"
        )));
    }
    let queues: Vec<Value> = stats
        .as_ref()
        .map(|s| {
            s.offset_table
                .iter()
                .map(|(mq, w)| {
                    serde_json::json!({
                        "topic": mq.topic,
                        "brokerName": mq.broker_name,
                        "queueId": mq.queue_id,
                        "brokerOffset": w.broker_offset,
                        "consumerOffset": w.consumer_offset,
                        "lag": (w.broker_offset - w.consumer_offset).max(0),
                        "lastTimestamp": w.last_timestamp,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let (clients, subscriptions, consume_type, model, from_where) = match &conn {
        Ok(c) => (
            c.connection_set
                .iter()
                .map(|x| {
                    serde_json::json!({
                        "clientId": x.client_id,
                        "clientAddr": x.client_addr,
                        "language": x.language,
                        "version": x.version,
                    })
                })
                .collect::<Vec<_>>(),
            c.subscription_table
                .iter()
                .map(|(t, s)| {
                    serde_json::json!({
                        "topic": t,
                        "expression": s.sub_string,
                        "expressionType": s.expression_type,
                    })
                })
                .collect::<Vec<_>>(),
            c.consume_type.map(|t| format!("{t:?}")),
            c.message_model.map(|m| format!("{m:?}")),
            c.consume_from_where.map(|w| format!("{w:?}")),
        ),
        Err(_) => (Vec::new(), Vec::new(), None, None, None),
    };
    Ok(Json(serde_json::json!({
        "group": group,
        "online": !clients.is_empty(),
        "offline": conn.as_ref().err().map(|e| e.to_string()),
        "clients": clients,
        "subscriptions": subscriptions,
        "consumeType": consume_type,
        "messageModel": model,
        "consumeFromWhere": from_where,
        "queues": queues,
        "totalLag": stats.as_ref().map(|s| s.total_diff()).unwrap_or(0),
        "consumeTps": stats.as_ref().map(|s| s.consume_tps).unwrap_or(0.0),
        "statsError": stats.as_ref().err().map(|e| e.to_string()),
    })))
}

/// `POST /api/consumers/{group}/reset` with `topic` and `timestamp` (ms): moves the group's
/// committed offsets on every queue of the topic to the first message stored at or after it.
pub async fn reset(
    State(app): AppState,
    Path(group): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let form = Form::parse(&body)?;
    let topic = form.required("topic", "Topic")?.to_string();
    let ts = millis(form.required("timestamp", "Time")?, "Time")?;
    if !group_names(&app.admin).await?.contains(&group)
        && app.admin.consume_stats(&group, None).await.is_err()
    {
        return Err(ApiError::BadInput(format!(
            "consumer group {group} is not known; nothing was reset"
        )));
    }
    match app.admin.topic_route(&topic).await {
        Ok(_) => {}
        Err(ClientError::TopicNotExist(_)) => {
            return Err(ApiError::BadInput(format!(
                "topic {topic} does not exist; nothing was reset"
            )))
        }
        Err(e) => return Err(e.into()),
    }
    let online = app
        .admin
        .consumer_connection(&group)
        .await
        .map(|c| c.connection_set.len())
        .unwrap_or(0);
    let done = app.admin.reset_offset_by_time(&group, &topic, ts).await?;
    tracing::info!(%group, %topic, timestamp = ts, queues = done.len(), "dashboard: consumer offsets reset");
    Ok(Json(serde_json::json!({
        "group": group,
        "topic": topic,
        "timestamp": ts,
        "onlineClients": online,
        "note": if online > 0 { "the group has clients online: they keep their own offsets and commit them again; restart them to start from the reset offsets" } else { "" },
        "queues": done.iter().map(|r| serde_json::json!({
            "brokerName": r.queue.broker_name,
            "queueId": r.queue.queue_id,
            "previous": r.previous,
            "offset": r.offset,
        })).collect::<Vec<_>>(),
    })))
}
