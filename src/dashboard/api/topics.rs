//! Topics: the list by kind, one topic's route, queues and consumers, create/update, delete.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::{AppState, Form};
use crate::client::{ClientError, MqAdmin};
use crate::dashboard::error::{ApiError, ApiResult};
use crate::protocol::body::BrokerData;
use crate::protocol::topic::{perm, TopicConfig};
use crate::protocol::topic_names::{
    is_dlq_topic, is_retry_topic, is_system_topic, valid_topic_name,
};

/// Most queues a topic may have; the broker refuses more (its `MAX_QUEUES`).
pub const MAX_QUEUES: i64 = 1024;

/// The Topics page's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    Normal,
    Retry,
    Dlq,
    System,
}

impl TopicKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Normal => "normal",
            TopicKind::Retry => "retry",
            TopicKind::Dlq => "dlq",
            TopicKind::System => "system",
        }
    }
}

/// What kind of topic `t` is; `system` holds the cluster's own names (see [`system_topics`]).
pub fn topic_kind(t: &str, system: &BTreeSet<String>) -> TopicKind {
    if is_retry_topic(t) {
        TopicKind::Retry
    } else if is_dlq_topic(t) {
        TopicKind::Dlq
    } else if system.contains(t) || is_system_topic(t) {
        TopicKind::System
    } else {
        TopicKind::Normal
    }
}

/// The cluster and broker names, which brokers register as topics of their own.
pub async fn system_topics(admin: &MqAdmin) -> BTreeSet<String> {
    match admin.cluster_info().await {
        Ok(info) => info
            .cluster_addr_table
            .keys()
            .chain(info.broker_addr_table.keys())
            .cloned()
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
}

/// `GET /api/topics?kind=normal|retry|dlq|system`: topic names with their kind.
pub async fn list(State(app): AppState, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let want = match q.kind.as_deref().map(str::trim) {
        None | Some("") | Some("all") => None,
        Some(k @ ("normal" | "retry" | "dlq" | "system")) => Some(k.to_string()),
        Some(other) => {
            return Err(ApiError::BadInput(format!(
                "kind must be all, normal, retry, dlq or system, not {other:?}"
            )))
        }
    };
    let list = app.admin.topic_list().await?;
    let system = system_topics(&app.admin).await;
    let topics: Vec<Value> = list
        .topic_list
        .iter()
        .map(|t| (t, topic_kind(t, &system).as_str()))
        .filter(|(_, k)| want.as_deref().is_none_or(|w| w == *k))
        .map(|(t, k)| serde_json::json!({"topic": t, "kind": k}))
        .collect();
    Ok(Json(serde_json::json!({ "topics": topics })))
}

/// `GET /api/topics/{topic}`: route, queue settings, per-queue offsets, consumer groups.
pub async fn detail(State(app): AppState, Path(topic): Path<String>) -> ApiResult<Json<Value>> {
    let route = app.admin.topic_route(&topic).await?;
    let stats = app.admin.topic_stats(&topic).await?;
    let groups = app.admin.consumed_by(&topic).await.unwrap_or_default();
    let system = system_topics(&app.admin).await;
    let queues: Vec<Value> = stats
        .offset_table
        .iter()
        .map(|(mq, o)| {
            serde_json::json!({
                "brokerName": mq.broker_name,
                "queueId": mq.queue_id,
                "minOffset": o.min_offset,
                "maxOffset": o.max_offset,
                "messages": (o.max_offset - o.min_offset).max(0),
                "lastUpdated": o.last_update_timestamp,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "topic": topic,
        "kind": topic_kind(&topic, &system).as_str(),
        "route": route,
        "queueDatas": route.queue_datas,
        "queues": queues,
        "groups": groups.into_iter().filter(|g| !g.is_empty()).collect::<Vec<_>>(),
    })))
}

/// The broker groups of `cluster` (or of the only cluster), each with its master's address;
/// an error if any group has no master, so a change is made everywhere or nowhere.
async fn masters_of_cluster(
    admin: &MqAdmin,
    cluster: Option<&str>,
) -> ApiResult<(String, Vec<(BrokerData, String)>)> {
    let info = admin.cluster_info().await?;
    let cluster = match cluster {
        Some(c) => {
            if !info.cluster_addr_table.contains_key(c) {
                return Err(ApiError::BadInput(format!(
                    "cluster {c} is not known to the name server"
                )));
            }
            c.to_string()
        }
        None => match info
            .cluster_addr_table
            .keys()
            .collect::<Vec<_>>()
            .as_slice()
        {
            [only] => (*only).clone(),
            [] => return Err(ApiError::Cluster("no broker is registered".into())),
            _ => {
                return Err(ApiError::BadInput(
                    "several clusters: choose the cluster to create the topic in".into(),
                ))
            }
        },
    };
    let groups = admin.cluster_brokers(&cluster).await?;
    with_masters(groups).map(|g| (cluster, g))
}

fn with_masters(groups: Vec<BrokerData>) -> ApiResult<Vec<(BrokerData, String)>> {
    let mut out = Vec::new();
    for bd in groups {
        let Some(master) = bd.master_addr().map(str::to_string) else {
            return Err(ApiError::Cluster(format!(
                "broker group {} has no master now (an election in progress?); nothing was changed, try again",
                bd.broker_name
            )));
        };
        out.push((bd, master));
    }
    Ok(out)
}

/// The create/update form, validated; nothing is sent before this passes.
fn topic_config_from(form: &Form, system: &BTreeSet<String>) -> ApiResult<TopicConfig> {
    let name = form.required("topic", "Topic name")?;
    if !valid_topic_name(name) {
        return Err(ApiError::BadInput(format!(
            "topic name {name:?} is not valid: use letters, digits, %, |, - and _, at most 127 characters"
        )));
    }
    if topic_kind(name, system) == TopicKind::System {
        return Err(ApiError::BadInput(format!(
            "{name} is a system topic; it cannot be changed here"
        )));
    }
    let read = form.int_in("readQueueNums", "Read queue number", 1, MAX_QUEUES)?;
    let write = form.int_in("writeQueueNums", "Write queue number", 1, MAX_QUEUES)?;
    let p = form.int_in("perm", "Permission", 0, 7)?;
    let p = u32::try_from(p).unwrap_or(0);
    if ![perm::WRITE, perm::READ, perm::READ | perm::WRITE].contains(&p) {
        return Err(ApiError::BadInput(format!(
            "permission must be 2 (write only), 4 (read only) or 6 (read and write), not {p}"
        )));
    }
    Ok(TopicConfig {
        read_queue_nums: read as u32,
        write_queue_nums: write as u32,
        perm: p,
        ..TopicConfig::new(name, 8)
    })
}

/// `POST /api/topics`: create or update a topic on every broker group of a cluster.
pub async fn create(State(app): AppState, body: Bytes) -> ApiResult<Json<Value>> {
    let form = Form::parse(&body)?;
    let system = system_topics(&app.admin).await;
    let tc = topic_config_from(&form, &system)?;
    let (cluster, masters) = masters_of_cluster(&app.admin, form.opt("cluster")).await?;
    let mut done = Vec::new();
    for (bd, master) in &masters {
        app.admin.create_topic(master, &tc).await.map_err(|e| {
            ApiError::Cluster(format!(
                "creating {} on {} ({master}) failed: {e}",
                tc.topic_name, bd.broker_name
            ))
        })?;
        done.push(bd.broker_name.clone());
    }
    app.admin.client().invalidate_route(&tc.topic_name);
    tracing::info!(topic = %tc.topic_name, %cluster, read = tc.read_queue_nums, write = tc.write_queue_nums, perm = tc.perm, "dashboard: topic created or updated");
    Ok(Json(serde_json::json!({
        "topic": tc.topic_name,
        "cluster": cluster,
        "brokers": done,
        "readQueueNums": tc.read_queue_nums,
        "writeQueueNums": tc.write_queue_nums,
        "perm": tc.perm,
    })))
}

/// `POST /api/topics/{topic}/delete`: delete on every broker group that holds it, then from
/// the name servers.
pub async fn delete(State(app): AppState, Path(topic): Path<String>) -> ApiResult<Json<Value>> {
    let system = system_topics(&app.admin).await;
    if topic_kind(&topic, &system) == TopicKind::System {
        return Err(ApiError::BadInput(format!(
            "{topic} is a system topic; it cannot be deleted here"
        )));
    }
    let route = match app.admin.topic_route(&topic).await {
        Ok(r) => r,
        Err(ClientError::TopicNotExist(_)) => {
            return Err(ApiError::NotFound(format!("topic {topic} does not exist")))
        }
        Err(e) => return Err(e.into()),
    };
    let masters = with_masters(route.broker_datas.clone())?;
    let mut done = BTreeMap::new();
    for (bd, master) in &masters {
        app.admin
            .delete_topic_in_broker(master, &topic)
            .await
            .map_err(|e| {
                ApiError::Cluster(format!(
                    "deleting {topic} on {} ({master}) failed: {e}",
                    bd.broker_name
                ))
            })?;
        done.insert(bd.broker_name.clone(), master.clone());
    }
    app.admin.delete_topic_in_namesrv(&topic).await?;
    tracing::info!(%topic, "dashboard: topic deleted");
    Ok(Json(serde_json::json!({ "topic": topic, "brokers": done })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(json: &str) -> Form {
        Form::parse(&Bytes::copy_from_slice(json.as_bytes())).unwrap()
    }

    #[test]
    fn kinds() {
        let system: BTreeSet<String> = ["RaftCluster".to_string()].into();
        assert_eq!(topic_kind("%RETRY%g", &system), TopicKind::Retry);
        assert_eq!(topic_kind("%DLQ%g", &system), TopicKind::Dlq);
        assert_eq!(topic_kind("TBW102", &system), TopicKind::System);
        assert_eq!(topic_kind("RaftCluster", &system), TopicKind::System);
        assert_eq!(topic_kind("TopicTest", &system), TopicKind::Normal);
    }

    #[test]
    fn bad_topic_forms_say_what_is_wrong() {
        let system = BTreeSet::new();
        let ok = topic_config_from(
            &form(r#"{"topic":"T1","readQueueNums":"4","writeQueueNums":"4","perm":"6"}"#),
            &system,
        )
        .unwrap();
        assert_eq!(
            (ok.read_queue_nums, ok.write_queue_nums, ok.perm),
            (4, 4, 6)
        );
        for (json, needle) in [
            (
                r#"{"topic":"T1","readQueueNums":"0","writeQueueNums":"4","perm":"6"}"#,
                "Read queue number must be a whole number from 1 to 1024",
            ),
            (
                r#"{"topic":"T1","readQueueNums":"4","writeQueueNums":"2000","perm":"6"}"#,
                "Write queue number must be a whole number from 1 to 1024",
            ),
            (
                r#"{"topic":"T 1","readQueueNums":"4","writeQueueNums":"4","perm":"6"}"#,
                "is not valid",
            ),
            (
                r#"{"topic":"TBW102","readQueueNums":"4","writeQueueNums":"4","perm":"6"}"#,
                "system topic",
            ),
            (
                r#"{"topic":"T1","readQueueNums":"4","writeQueueNums":"4","perm":"5"}"#,
                "permission must be 2",
            ),
            (r#"{"readQueueNums":"4"}"#, "Topic name is required"),
        ] {
            let e = topic_config_from(&form(json), &system).unwrap_err();
            assert!(matches!(e, ApiError::BadInput(_)), "{e}");
            assert!(e.to_string().contains(needle), "{e} / {needle}");
        }
    }
}
