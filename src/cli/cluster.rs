//! A cluster described by its broker config files, and one observation of it: each node's Raft
//! status through its peer port and its registration with the name server. `status` prints
//! it; `drill` uses it to find the leader and to know when the group is whole again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::client::{MqAdmin, RaftAdminClient};
use crate::config::{self, BrokerConfig};
use crate::raft::NodeStatus;

/// One broker process as its config file describes it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSpec {
    /// The config file's stem (`broker-n0`, `broker-a-s`): the name of its log and pid files.
    pub name: String,
    pub conf: PathBuf,
    pub broker_name: String,
    /// The Raft node id: the DLedger peer number, or the brokerId in master/slave mode.
    pub node_id: u64,
    /// `brokerIP1:listenPort`, where clients connect.
    pub client_addr: String,
    /// The Raft (HA) peer port, where `raft status` and the drill ask.
    pub raft_addr: String,
    /// The node id of the group's `preferredLeaderId`, if set.
    pub preferred_leader: Option<u64>,
    /// `raftPeerSecret` (ACL on): proved to the peer port before asking anything.
    #[serde(skip)]
    pub peer_secret: Option<config::PeerSecret>,
}

impl NodeSpec {
    pub fn load(conf: &Path) -> anyhow::Result<NodeSpec> {
        let cfg = BrokerConfig::from_file(conf, config::unsafe_env_from_process())?;
        let raft_addr = match cfg.raft_addr() {
            Some(a) => a.to_string(),
            None => cfg
                .raft_peers()
                .first()
                .map(|p| p.addr.clone())
                .context("the config names no Raft peer")?,
        };
        Ok(NodeSpec {
            name: conf
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("broker")
                .to_string(),
            conf: conf.to_path_buf(),
            broker_name: cfg.broker_name.clone(),
            node_id: cfg.self_node_id(),
            client_addr: format!("{}:{}", cfg.broker_ip1, cfg.listen_port),
            raft_addr,
            preferred_leader: cfg
                .preferred_leader_id
                .as_deref()
                .and_then(|id| cfg.d_leger_peers.iter().find(|p| p.id == id))
                .map(|p| p.node_id),
            peer_secret: cfg.acl.raft_peer_secret.clone(),
        })
    }

    pub fn load_all(confs: &[PathBuf]) -> anyhow::Result<Vec<NodeSpec>> {
        confs
            .iter()
            .map(|c| NodeSpec::load(c).with_context(|| format!("reading {}", c.display())))
            .collect()
    }
}

/// One node as observed now.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub spec: NodeSpec,
    /// Its Raft status, or why it could not be read (down, not started, partitioned).
    pub status: Result<NodeStatus, String>,
    /// The broker id it is registered with at the name server, if any.
    pub registered_id: Option<i64>,
}

impl NodeView {
    pub fn is_leader(&self) -> bool {
        self.status.as_ref().is_ok_and(|s| s.state == "Leader")
    }

    /// RocketMQ's word for the node's role: the Raft leader is the master.
    pub fn role(&self) -> &'static str {
        match &self.status {
            Err(_) => "DOWN",
            Ok(s) if s.state == "Leader" => "MASTER",
            Ok(_) => "SLAVE",
        }
    }
}

/// How long one observation waits for a node (or the name server). A healthy node answers
/// in microseconds on loopback; one that is paused or partitioned must not stall the drill's
/// timings, so it counts as down after this.
const OBSERVE_TIMEOUT: Duration = Duration::from_millis(500);

/// Observes a cluster again and again over the same connections (a drill polls every few
/// milliseconds; a fresh client per look would open a connection per node each time).
pub struct Observer {
    raft: RaftAdminClient,
    admin: Option<MqAdmin>,
}

impl Observer {
    /// `admin` (the name server) adds each node's registration to what is observed.
    pub fn new(specs: &[NodeSpec], admin: Option<MqAdmin>) -> Observer {
        let raft = RaftAdminClient::new(specs.iter().map(|s| s.raft_addr.clone()).collect())
            .with_call_timeout(OBSERVE_TIMEOUT)
            .with_peer_secret(specs.iter().find_map(|s| s.peer_secret.clone()));
        Observer { raft, admin }
    }

    pub fn has_namesrv(&self) -> bool {
        self.admin.is_some()
    }

    /// Reads the status of every node in `specs` (and, with a name server, the registrations)
    /// once.
    pub async fn observe(&self, specs: &[NodeSpec]) -> Vec<NodeView> {
        let statuses = futures::future::join_all(specs.iter().map(|s| async {
            self.raft
                .status(&s.raft_addr)
                .await
                .map_err(|e| e.to_string())
        }))
        .await;
        let registered: BTreeMap<String, i64> = match &self.admin {
            Some(a) => tokio::time::timeout(OBSERVE_TIMEOUT, a.cluster_info())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|info| {
                    info.broker_addr_table
                        .values()
                        .flat_map(|bd| bd.broker_addrs.iter().map(|(id, addr)| (addr.clone(), *id)))
                        .collect()
                })
                .unwrap_or_default(),
            None => BTreeMap::new(),
        };
        specs
            .iter()
            .zip(statuses)
            .map(|(spec, status)| NodeView {
                registered_id: registered.get(&spec.client_addr).copied(),
                spec: spec.clone(),
                status,
            })
            .collect()
    }
}

/// True when every broker group has a leader, registered as master (BID 0) when
/// `need_registration`, and every node follows a leader: the cluster takes sends and
/// replicates them everywhere.
pub fn is_whole(views: &[NodeView], need_registration: bool) -> bool {
    let mut groups: BTreeMap<&str, bool> = BTreeMap::new();
    for v in views {
        let master = v.is_leader() && (!need_registration || v.registered_id == Some(0));
        *groups.entry(v.spec.broker_name.as_str()).or_default() |= master;
    }
    let all_follow = views
        .iter()
        .all(|v| v.status.as_ref().is_ok_and(|s| s.leader.is_some()));
    !groups.is_empty() && groups.values().all(|m| *m) && all_follow
}

/// Broker group → the node id of its leader, as the members that answer say.
pub fn leaders(views: &[NodeView]) -> BTreeMap<String, u64> {
    views
        .iter()
        .filter(|v| v.is_leader())
        .map(|v| (v.spec.broker_name.clone(), v.spec.node_id))
        .collect()
}

/// True when every group with a `preferredLeaderId` is led by that node (leadership has
/// returned after a restart) and every other group has a leader.
pub fn leaders_home(views: &[NodeView]) -> bool {
    let leaders = leaders(views);
    let mut groups: BTreeMap<&str, Option<u64>> = BTreeMap::new();
    for v in views {
        groups.insert(&v.spec.broker_name, v.spec.preferred_leader);
    }
    groups
        .iter()
        .all(|(g, pref)| match (leaders.get(*g), pref) {
            (Some(l), Some(p)) => l == p,
            (Some(_), None) => true,
            (None, _) => false,
        })
}

/// The status table: one row per node.
pub fn table(views: &[NodeView]) -> Vec<String> {
    let row = |c: [&str; 12]| {
        format!(
            "{:<12} {:<12} {:<6} {:<9} {:>5} {:>6} {:>8} {:>8} {:>8} {:<21} {:<21} {:>3}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]
        )
    };
    let mut out = vec![row([
        "#Node",
        "#Broker",
        "#Role",
        "#Raft",
        "#Term",
        "#Leader",
        "#Last",
        "#Commit",
        "#Applied",
        "#Client",
        "#RaftAddr",
        "#BID",
    ])];
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    for v in views {
        let bid = v
            .registered_id
            .map_or_else(|| "-".to_string(), |b| b.to_string());
        let line = match &v.status {
            Ok(s) => row([
                &v.spec.name,
                &v.spec.broker_name,
                v.role(),
                &s.state,
                &s.term.to_string(),
                &s.leader
                    .map_or_else(|| "-".to_string(), |l| format!("n{l}")),
                &opt(s.last_index),
                &opt(s.committed),
                &opt(s.applied),
                &v.spec.client_addr,
                &v.spec.raft_addr,
                &bid,
            ]),
            Err(e) => format!(
                "{} ({e})",
                row([
                    &v.spec.name,
                    &v.spec.broker_name,
                    "DOWN",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    &v.spec.client_addr,
                    &v.spec.raft_addr,
                    &bid,
                ])
            ),
        };
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, broker: &str, state: Option<&str>, bid: Option<i64>) -> NodeView {
        NodeView {
            spec: NodeSpec {
                name: name.into(),
                conf: PathBuf::from(format!("{name}.conf")),
                broker_name: broker.into(),
                node_id: 0,
                client_addr: format!("{name}:1"),
                raft_addr: format!("{name}:2"),
                preferred_leader: None,
                peer_secret: None,
            },
            status: match state {
                Some(s) => Ok(NodeStatus {
                    id: 0,
                    addr: String::new(),
                    state: s.into(),
                    term: 2,
                    leader: Some(0),
                    first_index: None,
                    last_index: Some(7),
                    committed: Some(7),
                    applied: Some(7),
                    commit_log_min_offset: 0,
                    commit_log_max_offset: 0,
                    replication: Vec::new(),
                    millis_since_quorum_ack: None,
                    leader_changes: 1,
                    millis_since_leader_change: Some(1000),
                }),
                None => Err("connection refused".into()),
            },
            registered_id: bid,
        }
    }

    #[test]
    fn whole_means_registered_leaders_and_everyone_following() {
        let a = view("a", "broker-a", Some("Leader"), Some(0));
        let a_s = view("a-s", "broker-a", Some("Learner"), Some(1));
        let b = view("b", "broker-b", Some("Leader"), None);
        assert!(is_whole(&[a.clone(), a_s.clone()], true));
        assert!(!is_whole(&[a.clone(), b.clone()], true), "b not registered");
        assert!(is_whole(&[a.clone(), b], false));
        let down = view("a", "broker-a", None, None);
        assert!(!is_whole(&[down, a_s.clone()], false));
        let mut detached = a_s;
        if let Ok(s) = &mut detached.status {
            s.leader = None;
        }
        assert!(
            !is_whole(&[a, detached], false),
            "a slave not following yet"
        );
        assert!(!is_whole(&[], false));
    }

    #[test]
    fn table_rows_show_roles_and_down_nodes() {
        let rows = table(&[
            view("broker-n0", "RaftNode00", Some("Leader"), Some(0)),
            view("broker-n1", "RaftNode00", None, None),
        ]);
        assert_eq!(rows.len(), 3);
        assert!(rows[0].starts_with("#Node"));
        assert!(rows[1].contains("MASTER") && rows[1].contains("Leader"));
        assert!(rows[2].contains("DOWN") && rows[2].ends_with("(connection refused)"));
    }
}
