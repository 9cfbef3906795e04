//! Cockpit, Cluster and Raft: the cluster's shape, each node's load, and every problem worth a
//! red line (a node down, a follower lagging, a group without a leader, a disk filling up).

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::topics::{system_topics, topic_kind};
use super::AppState;
use crate::client::admin::nodes_of;
use crate::dashboard::error::{ApiError, ApiResult};
use crate::dashboard::raft_watch::GroupView;

/// Disk use (CommitLog file system) shown as a warning: RocketMQ's `diskMaxUsedSpaceRatio`
/// default, where retention starts deleting early.
const DISK_WARN_RATIO: f64 = 0.75;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `error` (red) or `warn`.
    pub severity: &'static str,
    pub text: String,
}

/// Red lines from the Raft watcher: nodes down, lagging followers, groups without a leader.
fn raft_problems(groups: &[GroupView]) -> Vec<Problem> {
    let mut out = Vec::new();
    for g in groups {
        if g.leader.is_none() {
            out.push(Problem {
                severity: "error",
                text: format!("Raft group {} has no leader: writes are refused", g.group),
            });
        }
        for n in &g.nodes {
            if n.state == "down" {
                out.push(Problem {
                    severity: "error",
                    text: format!(
                        "{} {} ({}) is down: {}",
                        g.group,
                        n.name,
                        n.addr,
                        n.error.as_deref().unwrap_or("no answer")
                    ),
                });
            } else if n.lagging {
                out.push(Problem {
                    severity: "warn",
                    text: format!(
                        "{} {} lags the leader by {} entries",
                        g.group,
                        n.name,
                        n.lag_entries.unwrap_or(0)
                    ),
                });
            }
        }
    }
    out
}

/// `GET /api/cockpit`: counts, the TPS history, top topics and problems.
pub async fn cockpit(State(app): AppState) -> ApiResult<Json<Value>> {
    let info = app.admin.cluster_info().await?;
    let nodes = nodes_of(&info, None);
    let topics = app.admin.topic_list().await?;
    let system = system_topics(&app.admin).await;
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    for t in &topics.topic_list {
        *kinds.entry(topic_kind(t, &system).as_str()).or_default() += 1;
    }
    let groups = app.raft.views();
    let mut problems = raft_problems(&groups);
    if let Some(e) = app.raft.discover_error() {
        problems.push(Problem {
            severity: "error",
            text: e,
        });
    }
    let traffic = app.traffic.view();
    if let Some(e) = &traffic.error {
        problems.push(Problem {
            severity: "error",
            text: e.clone(),
        });
    }
    let infos = app.admin.runtime_infos(&nodes).await;
    for (n, info) in nodes.iter().zip(infos) {
        match info {
            Ok(kv) => {
                let ratio = kv
                    .table
                    .get("commitLogDiskRatio")
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
                if ratio >= DISK_WARN_RATIO {
                    problems.push(Problem {
                        severity: "warn",
                        text: format!(
                            "{} {} disk {:.0}% used",
                            n.broker_name,
                            n.addr,
                            ratio * 100.0
                        ),
                    });
                }
            }
            Err(e) => problems.push(Problem {
                severity: "error",
                text: format!("{} {} does not answer: {e}", n.broker_name, n.addr),
            }),
        }
    }
    Ok(Json(serde_json::json!({
        "counts": {
            "clusters": info.cluster_addr_table.len(),
            "brokerGroups": info.broker_addr_table.len(),
            "nodes": nodes.len(),
            "topics": kinds.get("normal").copied().unwrap_or(0),
            "groups": kinds.get("retry").copied().unwrap_or(0),
            "topicsByKind": kinds,
        },
        "traffic": traffic,
        "problems": problems,
        "raft": groups.iter().map(|g| serde_json::json!({
            "group": g.group,
            "leader": g.leader,
            "term": g.term,
            "nodes": g.nodes.iter().map(|n| serde_json::json!({"name": n.name, "state": n.state, "lagging": n.lagging})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })))
}

/// One node of the Cluster page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeRow {
    broker_id: Option<i64>,
    /// `MASTER`, `SLAVE` or `DOWN`.
    role: String,
    addr: String,
    raft_node: String,
    raft_state: String,
    version: String,
    put_tps: f64,
    get_tps: f64,
    put_today: u64,
    get_today: u64,
    disk_ratio: f64,
    error: Option<String>,
    /// Delayed messages waiting in the group's replicated schedule (the `scheduleBacklog_*`
    /// entries of its runtime info; every member holds the same schedule).
    scheduled: u64,
}

impl NodeRow {
    /// A node that does not answer, with no load figures.
    fn down(
        broker_id: Option<i64>,
        addr: String,
        raft_node: String,
        raft_state: String,
        error: Option<String>,
    ) -> NodeRow {
        NodeRow {
            broker_id,
            role: "DOWN".into(),
            addr,
            raft_node,
            raft_state,
            version: String::new(),
            put_tps: 0.0,
            get_tps: 0.0,
            put_today: 0,
            get_today: 0,
            disk_ratio: 0.0,
            error,
            scheduled: 0,
        }
    }
}

/// The first number of RocketMQ's `"a b c"` TPS triple (the 10 s window).
fn first_tps(v: Option<&String>) -> f64 {
    v.and_then(|s| s.split(' ').next())
        .and_then(|x| x.parse().ok())
        .unwrap_or(0.0)
}

/// `GET /api/cluster`: per cluster and broker name, every node with its role and load; Raft
/// members that no longer answer are listed as `DOWN`.
pub async fn cluster(State(app): AppState) -> ApiResult<Json<Value>> {
    let info = app.admin.cluster_info().await?;
    let nodes = nodes_of(&info, None);
    let infos = app.admin.runtime_infos(&nodes).await;
    let raft = app.raft.views();
    // cluster → broker name → rows
    let mut out: BTreeMap<String, BTreeMap<String, Vec<NodeRow>>> = BTreeMap::new();
    let mut seen_members: BTreeSet<(String, String)> = BTreeSet::new();
    for (n, kv) in nodes.iter().zip(infos) {
        let row = match kv {
            Ok(kv) => {
                let t = kv.table;
                let num = |k: &str| t.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                let raft_node = ["raftSelfId", "dLegerSelfId"]
                    .iter()
                    .find_map(|k| t.get(*k).filter(|v| !v.is_empty()).cloned())
                    .unwrap_or_default();
                seen_members.insert((n.broker_name.clone(), raft_node.clone()));
                NodeRow {
                    broker_id: Some(n.broker_id),
                    role: if n.broker_id == 0 { "MASTER" } else { "SLAVE" }.into(),
                    addr: n.addr.clone(),
                    raft_node,
                    raft_state: t.get("raftState").cloned().unwrap_or_default(),
                    version: t.get("brokerVersionDesc").cloned().unwrap_or_default(),
                    put_tps: first_tps(t.get("putTps")),
                    get_tps: first_tps(t.get("getTransferedTps")),
                    put_today: num("msgPutTotalTodayNow"),
                    get_today: num("msgGetTotalTodayNow"),
                    disk_ratio: t
                        .get("commitLogDiskRatio")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.0),
                    error: None,
                    scheduled: t
                        .iter()
                        .filter(|(k, _)| k.starts_with("scheduleBacklog_"))
                        .filter_map(|(_, v)| v.parse::<u64>().ok())
                        .sum(),
                }
            }
            Err(e) => NodeRow::down(
                Some(n.broker_id),
                n.addr.clone(),
                String::new(),
                String::new(),
                Some(e.to_string()),
            ),
        };
        out.entry(n.cluster.clone())
            .or_default()
            .entry(n.broker_name.clone())
            .or_default()
            .push(row);
    }
    for g in &raft {
        for m in g.nodes.iter().filter(|m| m.state == "down") {
            if seen_members.contains(&(g.broker_name.clone(), m.name.clone())) {
                continue;
            }
            out.entry(g.cluster.clone())
                .or_default()
                .entry(g.broker_name.clone())
                .or_default()
                .push(NodeRow::down(
                    None,
                    format!("(Raft peer {})", m.addr),
                    m.name.clone(),
                    "down".into(),
                    m.error.clone(),
                ));
        }
    }
    let clusters: Vec<Value> = out
        .into_iter()
        .map(|(cluster, brokers)| {
            serde_json::json!({
                "cluster": cluster,
                "brokers": brokers.into_iter().map(|(name, rows)| serde_json::json!({"brokerName": name, "nodes": rows})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "clusters": clusters })))
}

#[derive(Debug, Deserialize)]
pub struct NodeQuery {
    addr: Option<String>,
}

/// `GET /api/cluster/node?addr=`: one registered node's config and runtime info.
pub async fn node(State(app): AppState, Query(q): Query<NodeQuery>) -> ApiResult<Json<Value>> {
    let addr = q
        .addr
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::BadInput("addr is required".into()))?;
    let info = app.admin.cluster_info().await?;
    let Some(node) = nodes_of(&info, None).into_iter().find(|n| n.addr == addr) else {
        return Err(ApiError::NotFound(format!(
            "{addr} is not a node registered with the name server"
        )));
    };
    let runtime = app.admin.broker_runtime_info(&addr).await?;
    let config = app.admin.broker_config(&addr).await?;
    Ok(Json(serde_json::json!({
        "addr": addr,
        "cluster": node.cluster,
        "brokerName": node.broker_name,
        "brokerId": node.broker_id,
        "runtime": runtime.table,
        "config": config,
    })))
}

/// `GET /api/raft`: every group's members, leader, lag and events, as last polled.
pub async fn raft(State(app): AppState) -> ApiResult<Json<Value>> {
    let groups = app.raft.views();
    Ok(Json(serde_json::json!({
        "groups": groups,
        "problems": raft_problems(&groups),
        "error": app.raft.discover_error(),
        "nowMs": crate::time::now_ms(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_triples_read_their_first_window() {
        assert_eq!(first_tps(Some(&"12.50 3.00 1.00".to_string())), 12.5);
        assert_eq!(first_tps(Some(&"x".to_string())), 0.0);
        assert_eq!(first_tps(None), 0.0);
    }
}
