//! Watches every Raft group of the cluster for the Raft page and the cockpit's warnings.
//!
//! Groups are found through the name server (cluster info), then each registered node's runtime
//! info, which names its group and every member's peer address (`dLegerGroup`, `raftPeers`).
//! Members are remembered once seen, so a node that died and left the name server's table is
//! still shown, as down. Once a second every member's status is read over its peer port (with
//! a short timeout, so one dead or partitioned node does not slow the others); leader changes
//! and nodes going down or coming back are kept as events.
//!
//! The watcher only reads: it never writes through Raft or changes a node.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;

use crate::client::{MqAdmin, RaftAdminClient};
use crate::config::PeerSecret;
use crate::raft::NodeStatus;
use crate::time::now_ms;

/// How often members are asked for their status.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long one status call may take before the node counts as down.
const STATUS_TIMEOUT: Duration = Duration::from_millis(800);
/// How often the name server is asked for new groups and members.
const DISCOVER_EVERY: Duration = Duration::from_secs(5);
/// A follower this many entries behind the leader is shown as lagging.
pub const LAGGING_ENTRIES: u64 = 1000;
/// Events kept per group.
const MAX_EVENTS: usize = 100;

/// One member as the Raft page shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub id: u64,
    pub name: String,
    pub addr: String,
    /// `leader`, `follower`, `candidate`, `learner`, `shutdown`, or `down` (no answer).
    pub state: String,
    pub term: Option<u64>,
    pub leader_id: Option<u64>,
    pub last_index: Option<u64>,
    pub committed: Option<u64>,
    pub applied: Option<u64>,
    /// The leader's matched index for this follower.
    pub matched: Option<u64>,
    /// The leader's last index minus `matched`.
    pub lag_entries: Option<u64>,
    pub lagging: bool,
    pub millis_since_leader_change: Option<u64>,
    pub leader_changes: Option<u64>,
    /// Why the node counts as down.
    pub error: Option<String>,
}

/// Something that happened to a group.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RaftEvent {
    pub at_ms: i64,
    /// `leader`, `down` or `up`.
    pub kind: &'static str,
    pub term: Option<u64>,
    pub text: String,
}

/// One Raft group as the Raft page shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub group: String,
    pub broker_name: String,
    pub cluster: String,
    pub leader: Option<u64>,
    pub term: Option<u64>,
    /// How long the current leader has led (its own count), if there is one.
    pub millis_since_election: Option<u64>,
    pub nodes: Vec<NodeView>,
    /// Newest first.
    pub events: Vec<RaftEvent>,
    pub polled_at_ms: i64,
}

struct Group {
    broker_name: String,
    cluster: String,
    /// node id → peer address.
    peers: BTreeMap<u64, String>,
    client: Arc<RaftAdminClient>,
    view: Option<GroupView>,
    leader: Option<(u64, u64)>,
    events: VecDeque<RaftEvent>,
}

/// The watcher's shared state; see the module comment.
pub struct RaftWatch {
    admin: Arc<MqAdmin>,
    /// `raftPeerSecret` of the cluster, when its ACL is on.
    peer_secret: Option<PeerSecret>,
    groups: Mutex<BTreeMap<String, Group>>,
    discover_error: Mutex<Option<String>>,
}

impl RaftWatch {
    pub fn new(admin: Arc<MqAdmin>) -> Arc<RaftWatch> {
        RaftWatch::with_peer_secret(admin, None)
    }

    /// [`Self::new`] for a cluster with ACL on: proves `peer_secret` to the peer ports.
    pub fn with_peer_secret(
        admin: Arc<MqAdmin>,
        peer_secret: Option<PeerSecret>,
    ) -> Arc<RaftWatch> {
        Arc::new(RaftWatch {
            admin,
            peer_secret,
            groups: Mutex::new(BTreeMap::new()),
            discover_error: Mutex::new(None),
        })
    }

    /// Every group's latest view, by group name.
    pub fn views(&self) -> Vec<GroupView> {
        self.groups
            .lock()
            .values()
            .filter_map(|g| g.view.clone())
            .collect()
    }

    /// Why the last discovery failed, if it did.
    pub fn discover_error(&self) -> Option<String> {
        self.discover_error.lock().clone()
    }

    /// Polls until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut last_discover: Option<tokio::time::Instant> = None;
        loop {
            if last_discover.is_none_or(|t| t.elapsed() >= DISCOVER_EVERY) {
                self.discover().await;
                last_discover = Some(tokio::time::Instant::now());
            }
            self.poll().await;
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Learns groups and members from the name server and the nodes' runtime info.
    pub async fn discover(&self) {
        let nodes = match self.admin.nodes().await {
            Ok(n) => {
                *self.discover_error.lock() = None;
                n
            }
            Err(e) => {
                *self.discover_error.lock() =
                    Some(format!("cannot read the cluster from the name server: {e}"));
                return;
            }
        };
        let infos = self.admin.runtime_infos(&nodes).await;
        let mut groups = self.groups.lock();
        for (node, info) in nodes.iter().zip(infos) {
            let Ok(kv) = info else { continue };
            let t = &kv.table;
            let group = t
                .get("dLegerGroup")
                .filter(|g| !g.is_empty())
                .cloned()
                .unwrap_or_else(|| node.broker_name.clone());
            let mut peers = parse_peers(t.get("raftPeers").map(String::as_str).unwrap_or(""));
            if let (Some(id), Some(addr)) =
                (self_id(t), t.get("raftPeerAddr").filter(|a| !a.is_empty()))
            {
                peers.entry(id).or_insert_with(|| addr.clone());
            }
            if peers.is_empty() {
                continue;
            }
            let g = groups.entry(group).or_insert_with(|| Group {
                broker_name: node.broker_name.clone(),
                cluster: node.cluster.clone(),
                peers: BTreeMap::new(),
                client: Arc::new(RaftAdminClient::new(Vec::new())),
                view: None,
                leader: None,
                events: VecDeque::new(),
            });
            let before = g.peers.clone();
            g.peers.extend(peers);
            if g.peers != before {
                g.client = Arc::new(
                    RaftAdminClient::new(g.peers.values().cloned().collect())
                        .with_peer_secret(self.peer_secret.clone()),
                );
            }
        }
    }

    /// Reads every member's status and updates the views and events.
    pub async fn poll(&self) {
        let targets: Vec<(String, Arc<RaftAdminClient>, BTreeMap<u64, String>)> = self
            .groups
            .lock()
            .iter()
            .map(|(name, g)| (name.clone(), g.client.clone(), g.peers.clone()))
            .collect();
        for (name, client, peers) in targets {
            let answers = futures::future::join_all(peers.iter().map(|(id, addr)| {
                let client = client.clone();
                async move {
                    let r = tokio::time::timeout(STATUS_TIMEOUT, client.status(addr)).await;
                    let r = match r {
                        Ok(Ok(s)) => Ok(s),
                        Ok(Err(e)) => Err(short_error(&e.to_string())),
                        Err(_) => Err(format!(
                            "no answer within {} ms",
                            STATUS_TIMEOUT.as_millis()
                        )),
                    };
                    (*id, addr.clone(), r)
                }
            }))
            .await;
            let mut groups = self.groups.lock();
            if let Some(g) = groups.get_mut(&name) {
                update_group(&name, g, answers);
            }
        }
    }
}

/// The transport's "peer n0 at ADDR is unreachable: why" without the parts the page already
/// shows in other columns.
fn short_error(e: &str) -> String {
    match e.split_once(" is unreachable: ") {
        Some((_, why)) => format!("unreachable: {why}"),
        None => e.to_string(),
    }
}

/// `n0-host:port;n1-host:port` → id → address.
fn parse_peers(s: &str) -> BTreeMap<u64, String> {
    s.split(';')
        .filter_map(|e| e.trim().split_once('-'))
        .filter_map(|(id, addr)| node_number(id).map(|n| (n, addr.trim().to_string())))
        .filter(|(_, a)| !a.is_empty())
        .collect()
}

/// This node's Raft id from its runtime info: `raftSelfId`, or (older brokers) `dLegerSelfId`.
fn self_id(t: &BTreeMap<String, String>) -> Option<u64> {
    ["raftSelfId", "dLegerSelfId"]
        .iter()
        .find_map(|k| t.get(*k).and_then(|s| node_number(s)))
}

/// `n12` → 12.
fn node_number(id: &str) -> Option<u64> {
    id.trim()
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

fn push_event(g: &mut Group, kind: &'static str, term: Option<u64>, text: String) {
    push_event_at(g, now_ms(), kind, term, text);
}

/// Adds an event that happened at `at_ms`, keeping the list newest first: a leader change is
/// dated by the leader's own clock of how long it has led, which can be before a node-down
/// event the same poll found.
fn push_event_at(g: &mut Group, at_ms: i64, kind: &'static str, term: Option<u64>, text: String) {
    let pos = g
        .events
        .iter()
        .position(|e| e.at_ms <= at_ms)
        .unwrap_or(g.events.len());
    g.events.insert(
        pos,
        RaftEvent {
            at_ms,
            kind,
            term,
            text,
        },
    );
    g.events.truncate(MAX_EVENTS);
}

fn update_group(
    name: &str,
    g: &mut Group,
    answers: Vec<(u64, String, Result<NodeStatus, String>)>,
) {
    let leader_status = answers
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().ok())
        .filter(|s| s.state == "Leader")
        .max_by_key(|s| s.term)
        .cloned();
    let was_down: BTreeMap<u64, bool> = g
        .view
        .as_ref()
        .map(|v| v.nodes.iter().map(|n| (n.id, n.state == "down")).collect())
        .unwrap_or_default();
    let mut nodes = Vec::new();
    let mut transitions = Vec::new();
    for (id, addr, r) in answers {
        let down_before = was_down.get(&id).copied();
        let view = match r {
            Ok(s) => {
                let matched = leader_status.as_ref().and_then(|l| {
                    l.replication
                        .iter()
                        .find(|(f, _)| *f == id)
                        .map(|(_, m)| m.unwrap_or(0))
                });
                let lag = leader_status
                    .as_ref()
                    .filter(|l| l.id != id)
                    .zip(matched)
                    .map(|(l, m)| l.last_index.unwrap_or(0).saturating_sub(m));
                if down_before == Some(true) {
                    transitions.push((
                        "up",
                        Some(s.term),
                        format!("n{id} answers again ({})", s.state.to_ascii_lowercase()),
                    ));
                }
                NodeView {
                    id,
                    name: format!("n{id}"),
                    addr,
                    state: s.state.to_ascii_lowercase(),
                    term: Some(s.term),
                    leader_id: s.leader,
                    last_index: s.last_index,
                    committed: s.committed,
                    applied: s.applied,
                    matched,
                    lag_entries: lag,
                    lagging: lag.is_some_and(|l| l > LAGGING_ENTRIES),
                    millis_since_leader_change: s.millis_since_leader_change,
                    leader_changes: Some(s.leader_changes),
                    error: None,
                }
            }
            Err(e) => {
                if down_before == Some(false) {
                    transitions.push(("down", None, format!("n{id} at {addr} is down: {e}")));
                }
                NodeView {
                    id,
                    name: format!("n{id}"),
                    addr,
                    state: "down".into(),
                    term: None,
                    leader_id: None,
                    last_index: None,
                    committed: None,
                    applied: None,
                    matched: None,
                    lag_entries: None,
                    lagging: false,
                    millis_since_leader_change: None,
                    leader_changes: None,
                    error: Some(e),
                }
            }
        };
        nodes.push(view);
    }
    for (kind, term, text) in transitions {
        push_event(g, kind, term, text);
    }
    let now_leader = leader_status.as_ref().map(|l| (l.id, l.term));
    if now_leader.is_some() && now_leader != g.leader {
        let text = match (g.leader, now_leader) {
            (Some((old, _)), Some((new, term))) if old != new => {
                format!("n{new} became leader in term {term} (was n{old})")
            }
            (Some(_), Some((new, term))) => format!("n{new} leads again, in term {term}"),
            (_, Some((new, term))) => format!("n{new} is leader in term {term}"),
            _ => String::new(),
        };
        // When it became leader, by its own account (a dashboard started later still dates
        // the election right); else when this poll saw it.
        let now = now_ms();
        let at = leader_status
            .as_ref()
            .and_then(|l| l.millis_since_leader_change)
            .map_or(now, |ms| now.saturating_sub(i64::try_from(ms).unwrap_or(0)));
        push_event_at(g, at, "leader", now_leader.map(|(_, t)| t), text);
        g.leader = now_leader;
    }
    g.view = Some(GroupView {
        group: name.to_string(),
        broker_name: g.broker_name.clone(),
        cluster: g.cluster.clone(),
        leader: leader_status.as_ref().map(|l| l.id),
        term: nodes.iter().filter_map(|n| n.term).max(),
        millis_since_election: leader_status
            .as_ref()
            .and_then(|l| l.millis_since_leader_change),
        nodes,
        events: g.events.iter().cloned().collect(),
        polled_at_ms: now_ms(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: u64, state: &str, term: u64, last: u64) -> NodeStatus {
        NodeStatus {
            id,
            state: state.into(),
            term,
            last_index: Some(last),
            ..NodeStatus::default()
        }
    }

    fn group() -> Group {
        Group {
            broker_name: "RaftNode00".into(),
            cluster: "C".into(),
            peers: BTreeMap::new(),
            client: Arc::new(RaftAdminClient::new(Vec::new())),
            view: None,
            leader: None,
            events: VecDeque::new(),
        }
    }

    #[test]
    fn peers_parse_from_runtime_info() {
        let p = parse_peers("n0-127.0.0.1:40911;n1-127.0.0.1:40912; ;bad");
        assert_eq!(p.len(), 2);
        assert_eq!(p[&1], "127.0.0.1:40912");
        assert_eq!(node_number("n12"), Some(12));
        assert_eq!(
            short_error("peer n0 at 127.0.0.1:1 is unreachable: Connection refused"),
            "unreachable: Connection refused"
        );
    }

    #[test]
    fn leader_changes_lag_and_down_nodes_become_events() {
        let mut g = group();
        let mut leader = status(0, "Leader", 1, 5000);
        leader.replication = vec![(0, Some(5000)), (1, Some(4990)), (2, Some(100))];
        update_group(
            "G",
            &mut g,
            vec![
                (0, "a".into(), Ok(leader)),
                (1, "b".into(), Ok(status(1, "Follower", 1, 4990))),
                (2, "c".into(), Ok(status(2, "Follower", 1, 100))),
            ],
        );
        let v = g.view.clone().unwrap();
        assert_eq!(v.leader, Some(0));
        assert_eq!(v.nodes[1].lag_entries, Some(10));
        assert!(!v.nodes[1].lagging);
        assert!(v.nodes[2].lagging);
        assert_eq!(v.events.len(), 1);

        update_group(
            "G",
            &mut g,
            vec![
                (0, "a".into(), Err("connection refused".into())),
                (1, "b".into(), Ok(status(1, "Leader", 2, 4990))),
                (2, "c".into(), Ok(status(2, "Follower", 2, 4990))),
            ],
        );
        let v = g.view.clone().unwrap();
        assert_eq!(v.leader, Some(1));
        assert_eq!(v.nodes[0].state, "down");
        assert_eq!(v.events[0].kind, "leader");
        assert!(v.events[0]
            .text
            .contains("n1 became leader in term 2 (was n0)"));
        assert_eq!(v.events[1].kind, "down");
    }

    #[test]
    fn leader_events_are_dated_by_the_leaders_own_clock() {
        let mut g = group();
        let mut leader = status(0, "Leader", 3, 10);
        leader.millis_since_leader_change = Some(60_000);
        let before = now_ms();
        update_group("G", &mut g, vec![(0, "a".into(), Ok(leader))]);
        let v = g.view.clone().unwrap();
        assert!(v.events[0].at_ms <= before - 59_000, "{:?}", v.events);

        // n0 is found down in the same poll that finds n1 leading for 5 s already: the list
        // stays newest first, the election before the down event.
        let mut next = status(1, "Leader", 4, 11);
        next.millis_since_leader_change = Some(5_000);
        update_group(
            "G",
            &mut g,
            vec![
                (0, "a".into(), Err("connection refused".into())),
                (1, "b".into(), Ok(next)),
            ],
        );
        let kinds: Vec<&str> = g.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["down", "leader", "leader"]);
        assert!(g
            .events
            .iter()
            .zip(g.events.iter().skip(1))
            .all(|(a, b)| a.at_ms >= b.at_ms));
    }
}
