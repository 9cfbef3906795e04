//! What a Raft node needs, mapped once from `broker.conf`: the group and its peers, this
//! node's role in it, the store paths, timing, flushing, retention and group commit. Nothing
//! here opens a file or a port; [`super::RaftNode::start`] does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{BrokerConfig, BrokerRole, FlushDiskType, PeerSecret};
use crate::raft::batcher::BatchLimits;
use crate::raft::retention::RetentionPolicy;
use crate::raft::types::NodeId;
use crate::store::FlushMode;

/// How a node takes part in its group. One replication engine serves RocketMQ's DLedger mode and
/// its fixed master/slave modes; only who may vote and who forms the group differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRole {
    /// DLedger: one of the voters in `peers`; elections decide who leads.
    Voter,
    /// A RocketMQ master (`ASYNC_MASTER`/`SYNC_MASTER`): the only voter, so it commits alone and
    /// never fails over; slaves that ask are added as learners.
    Master,
    /// A RocketMQ slave: a learner that asks its master to replicate to it and never leads.
    Slave,
}

/// Everything a Raft node needs, independent of how it was configured.
#[derive(Debug, Clone)]
pub struct RaftNodeConfig {
    pub node_id: NodeId,
    /// Voters of the group, this node included: id → peer address.
    pub peers: BTreeMap<NodeId, String>,
    pub group: String,
    pub commit_log_dir: PathBuf,
    pub checkpoint_path: PathBuf,
    pub raft_dir: PathBuf,
    pub consume_queue_dir: PathBuf,
    pub abort_file: PathBuf,
    pub segment_size: u64,
    pub consume_queue_file_size: u64,
    pub flush: FlushMode,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_logs_since_last: u64,
    pub preferred_leader: Option<NodeId>,
    /// How long a write may wait for its commit before the caller gets `Timeout`.
    pub write_timeout: Duration,
    pub retention: RetentionPolicy,
    /// Group commit: how writes are gathered into entries.
    pub batch: BatchLimits,
    pub role: GroupRole,
    /// A slave's master HA (Raft) address when configured (`haMasterAddress`); otherwise the
    /// broker learns it from the name server and calls
    /// [`NodeCore::set_master_hint`](super::NodeCore::set_master_hint).
    pub master_hint: Option<String>,
    /// `raftPeerSecret`: peers must prove it before anything on the peer port is served, and
    /// this node proves it to them (see `raft::peer_auth`).
    pub peer_secret: Option<PeerSecret>,
}

impl RaftNodeConfig {
    /// The Raft part of a validated `broker.conf`.
    pub fn from_broker_config(c: &BrokerConfig) -> RaftNodeConfig {
        let peers = c
            .raft_peers()
            .into_iter()
            .map(|p| (p.node_id, p.addr))
            .collect();
        let preferred_leader = c
            .preferred_leader_id
            .as_deref()
            .and_then(|id| c.d_leger_peers.iter().find(|p| p.id == id))
            .map(|p| p.node_id);
        let role = match (c.enable_d_leger_commit_log, c.broker_role) {
            (true, _) => GroupRole::Voter,
            (false, BrokerRole::Slave) => GroupRole::Slave,
            (false, BrokerRole::AsyncMaster | BrokerRole::SyncMaster) => GroupRole::Master,
        };
        RaftNodeConfig {
            role,
            master_hint: c.ha_master_address.clone(),
            peer_secret: c.acl.raft_peer_secret.clone(),
            node_id: c.self_node_id(),
            peers,
            group: c.d_leger_group.clone(),
            commit_log_dir: c.store_path_commit_log.clone(),
            checkpoint_path: c.store_checkpoint.clone(),
            raft_dir: c.store_path_root_dir.join("raft"),
            consume_queue_dir: c.store_path_consume_queue.clone(),
            abort_file: c.abort_file.clone(),
            segment_size: c.mapped_file_size_commit_log,
            consume_queue_file_size: c.mapped_file_size_consume_queue,
            flush: match c.flush_disk_type {
                FlushDiskType::SyncFlush => FlushMode::Sync,
                FlushDiskType::AsyncFlush => FlushMode::Async {
                    interval: Duration::from_millis(c.flush_interval_commit_log),
                },
            },
            heartbeat_ms: c.raft_heartbeat_interval_ms,
            election_timeout_ms: c.raft_election_timeout_ms,
            snapshot_logs_since_last: c.raft_snapshot_logs_since_last,
            preferred_leader,
            write_timeout: Duration::from_secs(3),
            batch: BatchLimits::default(),
            retention: RetentionPolicy {
                reserved: Duration::from_secs(c.file_reserved_time.saturating_mul(3600)),
                delete_hours: c.delete_when.clone(),
                max_used_ratio: c.disk_max_used_space_ratio,
                interval: Duration::from_millis(c.clean_resource_interval),
            },
        }
    }

    pub fn self_addr(&self) -> Option<&str> {
        self.peers.get(&self.node_id).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> RaftNodeConfig {
        let broker = BrokerConfig::parse(text, Path::new("broker.conf"), false)
            .unwrap_or_else(|e| panic!("broker.conf does not parse: {e}"));
        RaftNodeConfig::from_broker_config(&broker)
    }

    #[test]
    fn a_dledger_node_is_a_voter_among_its_peers_with_its_preferred_leader() {
        let c = parse(
            "brokerName = RaftNode00\n\
             storePathRootDir = /data/n1\n\
             enableDLegerCommitLog = true\n\
             dLegerGroup = RaftNode00\n\
             dLegerPeers = n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913\n\
             dLegerSelfId = n1\n\
             preferredLeaderId = n2\n\
             flushDiskType = SYNC_FLUSH\n\
             fileReservedTime = 48\n\
             deleteWhen = 04\n",
        );
        assert_eq!(c.role, GroupRole::Voter);
        assert_eq!(c.node_id, 1);
        assert_eq!(c.group, "RaftNode00");
        assert_eq!(
            c.peers,
            BTreeMap::from([
                (0, "127.0.0.1:40911".to_string()),
                (1, "127.0.0.1:40912".to_string()),
                (2, "127.0.0.1:40913".to_string()),
            ])
        );
        assert_eq!(c.self_addr(), Some("127.0.0.1:40912"));
        assert_eq!(c.preferred_leader, Some(2));
        assert_eq!(c.flush, FlushMode::Sync);
        assert_eq!(c.raft_dir, Path::new("/data/n1/raft"));
        assert!(c.commit_log_dir.starts_with("/data/n1"));
        assert!(c.consume_queue_dir.starts_with("/data/n1"));
        assert_eq!(c.retention.reserved, Duration::from_secs(48 * 3600));
        assert_eq!(c.master_hint, None);
    }

    #[test]
    fn without_preferred_leader_id_no_node_is_preferred() {
        let c = parse(
            "enableDLegerCommitLog = true\n\
             dLegerPeers = n0-127.0.0.1:40911;n1-127.0.0.1:40912\n\
             dLegerSelfId = n0\n",
        );
        assert_eq!(
            (c.role, c.node_id, c.preferred_leader),
            (GroupRole::Voter, 0, None)
        );
        // (An id outside dLegerPeers never gets here: validation refuses it.)
        let err = BrokerConfig::parse(
            "enableDLegerCommitLog = true\n\
             dLegerPeers = n0-127.0.0.1:40911\n\
             dLegerSelfId = n0\n\
             preferredLeaderId = n7\n",
            Path::new("broker.conf"),
            false,
        );
        assert!(err.is_err());
    }

    #[test]
    fn masters_and_slaves_are_a_group_of_one_numbered_by_broker_id() {
        let master = parse(
            "brokerName = broker-a\n\
             brokerId = 0\n\
             brokerRole = SYNC_MASTER\n\
             brokerIP1 = 127.0.0.1\n\
             listenPort = 10911\n\
             flushDiskType = ASYNC_FLUSH\n",
        );
        assert_eq!(master.role, GroupRole::Master);
        assert_eq!(master.node_id, 0);
        assert_eq!(master.peers.len(), 1);
        // The peer port is RocketMQ's HA port, listenPort + 1.
        assert_eq!(master.self_addr(), Some("127.0.0.1:10912"));
        assert!(matches!(master.flush, FlushMode::Async { .. }));

        let async_master = parse("brokerRole = ASYNC_MASTER\n");
        assert_eq!(async_master.role, GroupRole::Master);

        let slave = parse(
            "brokerName = broker-a\n\
             brokerId = 1\n\
             brokerRole = SLAVE\n\
             brokerIP1 = 127.0.0.1\n\
             listenPort = 10921\n\
             haMasterAddress = 127.0.0.1:10912\n",
        );
        assert_eq!(slave.role, GroupRole::Slave);
        assert_eq!(slave.node_id, 1);
        assert_eq!(slave.self_addr(), Some("127.0.0.1:10922"));
        assert_eq!(slave.master_hint.as_deref(), Some("127.0.0.1:10912"));
        assert_eq!(slave.preferred_leader, None);
    }
}
