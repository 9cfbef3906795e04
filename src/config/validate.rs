//! Relations between broker keys that no single key can check: the Raft group must contain this
//! node, ports must not collide, timeouts must leave room for heartbeats, and test-only switches
//! must be unlocked explicitly. Each rule here prevents a start-up that would look healthy and
//! then split the group, fail to bind, or acknowledge messages that are not durable.

use super::keys as k;
use super::peers;
use super::{BrokerConfig, BrokerRole, ConfigError};

impl BrokerConfig {
    /// Checks the relations between keys. `parse` calls it; call it again after changing fields
    /// in code. `unsafe_env` is whether `LEDGERMQ_UNSAFE=1` (see
    /// [`unsafe_env_from_process`](super::unsafe_env_from_process)); it is a parameter so that
    /// tests never touch the process environment.
    pub fn validate(&self, unsafe_env: bool) -> Result<(), ConfigError> {
        let fail = |key: &str, message: String| ConfigError::Inconsistent {
            file: self.origin.clone(),
            key: key.to_string(),
            message,
        };
        if self.unsafe_ack_before_commit {
            if !unsafe_env {
                return Err(fail(
                    k::UNSAFE_ACK_BEFORE_COMMIT,
                    "true is a test-only option that answers SEND_OK before a quorum commits, \
                     so acknowledged messages can be lost; it is refused unless LEDGERMQ_UNSAFE=1"
                        .into(),
                ));
            }
            tracing::warn!(
                file = %self.origin.display(),
                "unsafeAckBeforeCommit=true: sends are acknowledged before commit; \
                 acknowledged messages can be lost (test-only)"
            );
        }
        let (heartbeat, election) = (
            self.raft_heartbeat_interval_ms,
            self.raft_election_timeout_ms,
        );
        if election <= heartbeat.saturating_mul(3) {
            return Err(fail(
                k::RAFT_ELECTION_TIMEOUT_MS,
                format!(
                    "{election} must be more than 3 x raftHeartbeatIntervalMs ({heartbeat}), \
                     or a few late heartbeats start needless elections"
                ),
            ));
        }
        if u64::from(self.max_message_size) >= self.mapped_file_size_commit_log {
            return Err(fail(
                k::MAX_MESSAGE_SIZE,
                format!(
                    "{} must be smaller than mappedFileSizeCommitLog ({}): \
                     a message cannot span segments",
                    self.max_message_size, self.mapped_file_size_commit_log
                ),
            ));
        }
        self.validate_metrics_port(&fail)?;
        if self.acl.acl_enable && self.acl.raft_peer_secret.is_none() {
            return Err(fail(
                k::RAFT_PEER_SECRET,
                "is required with aclEnable=true: without it anyone who reaches the Raft peer \
                 port could append to the log or vote (use the same secret on every node)"
                    .into(),
            ));
        }
        if self.enable_d_leger_commit_log {
            self.validate_group(fail)
        } else {
            self.validate_fixed_role(fail)
        }
    }

    /// A written `metricsPort` must not be a port this broker already binds: the client port, or
    /// its Raft port (`haListenPort` without DLedger, else this node's `dLegerPeers` port,
    /// compared by port alone since the Raft host may be a name or a wildcard).
    fn validate_metrics_port(
        &self,
        fail: &impl Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let Some(m) = self.metrics_listen().filter(|m| m.explicit) else {
            return Ok(());
        };
        if m.port == self.listen_port {
            return Err(fail(
                k::METRICS_PORT,
                format!("{} is also listenPort; they must differ", m.port),
            ));
        }
        let raft_port = if self.enable_d_leger_commit_log {
            self.self_peer().and_then(|p| p.port())
        } else {
            Some(self.ha_listen_port)
        };
        if raft_port == Some(m.port) {
            return Err(fail(
                k::METRICS_PORT,
                format!("{} is also this node's Raft port; they must differ", m.port),
            ));
        }
        Ok(())
    }

    /// RocketMQ's master/slave rule: a master is broker 0, a slave has an id above 0. RocketMQ
    /// silently rewrites a master's id to 0; we refuse instead, since a wrong id in a copied file
    /// usually means the wrong file.
    fn validate_fixed_role(
        &self,
        fail: impl Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if self.ha_listen_port == self.listen_port {
            return Err(fail(
                k::HA_LISTEN_PORT,
                format!(
                    "{} is also listenPort; the HA (replication) port must differ",
                    self.ha_listen_port
                ),
            ));
        }
        match self.broker_role {
            BrokerRole::Slave if self.broker_id <= 0 => Err(fail(
                k::BROKER_ID,
                format!(
                    "{} must be above 0 for brokerRole=SLAVE (0 is the master)",
                    self.broker_id
                ),
            )),
            BrokerRole::AsyncMaster | BrokerRole::SyncMaster if self.broker_id != 0 => Err(fail(
                k::BROKER_ID,
                format!(
                    "{} must be 0 for brokerRole={}",
                    self.broker_id, self.broker_role
                ),
            )),
            _ => Ok(()),
        }
    }

    fn validate_group(
        &self,
        fail: impl Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let peers = &self.d_leger_peers;
        if peers.is_empty() {
            return Err(fail(
                k::D_LEGER_PEERS,
                "is required when enableDLegerCommitLog=true \
                 (e.g. n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913)"
                    .into(),
            ));
        }
        peers::check_unique(peers).map_err(|m| fail(k::D_LEGER_PEERS, m))?;
        let ids = || {
            peers
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(self_id) = &self.d_leger_self_id else {
            return Err(fail(
                k::D_LEGER_SELF_ID,
                format!(
                    "is required when enableDLegerCommitLog=true; one of {}",
                    ids()
                ),
            ));
        };
        let Some(me) = peers.iter().find(|p| &p.id == self_id) else {
            return Err(fail(
                k::D_LEGER_SELF_ID,
                format!("{self_id:?} is not among dLegerPeers ({})", ids()),
            ));
        };
        if let Some(preferred) = &self.preferred_leader_id {
            if !peers.iter().any(|p| &p.id == preferred) {
                return Err(fail(
                    k::PREFERRED_LEADER_ID,
                    format!("{preferred:?} is not among dLegerPeers ({})", ids()),
                ));
            }
        }
        if me.port() == Some(self.listen_port) {
            return Err(fail(
                k::LISTEN_PORT,
                format!(
                    "{} is also this node's Raft port in dLegerPeers ({}-{}); they must differ",
                    self.listen_port, me.id, me.addr
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RaftPeer;
    use std::path::PathBuf;

    fn group() -> BrokerConfig {
        let peer = |i: u64| RaftPeer {
            id: format!("n{i}"),
            node_id: i,
            addr: format!("127.0.0.1:{}", 40911 + i),
        };
        BrokerConfig {
            origin: PathBuf::from("broker-n0.conf"),
            enable_d_leger_commit_log: true,
            d_leger_peers: (0..3).map(peer).collect(),
            d_leger_self_id: Some("n0".into()),
            ..BrokerConfig::default()
        }
    }

    /// Asserts the error is an inconsistency about `key` whose one-line message names the file
    /// and the key and contains `needle`.
    fn assert_err(cfg: &BrokerConfig, key: &str, needle: &str) {
        let err = cfg.validate(false).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Inconsistent { .. }), "{text}");
        assert_eq!(err.key(), Some(key), "{text}");
        assert!(
            text.starts_with(&format!("{}: {key}: ", cfg.origin.display())),
            "{text}"
        );
        assert!(text.contains(needle), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn a_written_metrics_port_must_not_be_a_port_the_broker_binds() {
        let with = |port: u16, cfg: BrokerConfig| BrokerConfig {
            metrics_port: Some(port),
            ..cfg
        };
        assert_err(
            &with(10911, BrokerConfig::default()),
            "metricsPort",
            "is also listenPort",
        );
        assert_err(
            &with(10912, BrokerConfig::default()),
            "metricsPort",
            "Raft port",
        );
        assert_err(&with(40911, group()), "metricsPort", "Raft port");
        with(9100, group()).validate(false).unwrap();
        with(0, group()).validate(false).unwrap();
    }

    #[test]
    fn defaults_and_a_good_group_are_valid() {
        BrokerConfig::default().validate(false).unwrap();
        group().validate(false).unwrap();
    }

    #[test]
    fn self_id_must_be_among_peers() {
        let cfg = BrokerConfig {
            d_leger_self_id: Some("n5".into()),
            ..group()
        };
        let err = cfg.validate(false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "broker-n0.conf: dLegerSelfId: \"n5\" is not among dLegerPeers (n0, n1, n2)"
        );
        let cfg = BrokerConfig {
            d_leger_self_id: None,
            ..group()
        };
        assert_err(&cfg, "dLegerSelfId", "is required");
    }

    #[test]
    fn peers_are_required_and_unique() {
        let mut cfg = group();
        cfg.d_leger_peers.clear();
        assert_err(&cfg, "dLegerPeers", "is required");

        let mut cfg = group();
        cfg.d_leger_peers[1].id = "n0".into();
        assert_err(&cfg, "dLegerPeers", "\"n0\" appears twice");

        let mut cfg = group();
        cfg.d_leger_peers[2].id = "n01".into();
        cfg.d_leger_peers[2].node_id = 1;
        assert_err(&cfg, "dLegerPeers", "both have node number 1");

        let mut cfg = group();
        cfg.d_leger_peers[2].addr = "127.0.0.1:40912".into();
        assert_err(&cfg, "dLegerPeers", "used by two peers");
    }

    #[test]
    fn preferred_leader_must_be_among_peers() {
        let cfg = BrokerConfig {
            preferred_leader_id: Some("n1".into()),
            ..group()
        };
        cfg.validate(false).unwrap();
        let cfg = BrokerConfig {
            preferred_leader_id: Some("n9".into()),
            ..group()
        };
        assert_err(
            &cfg,
            "preferredLeaderId",
            "\"n9\" is not among dLegerPeers (n0, n1, n2)",
        );
    }

    #[test]
    fn listen_port_must_not_be_the_raft_port() {
        let cfg = BrokerConfig {
            listen_port: 40911,
            ..group()
        };
        assert_err(&cfg, "listenPort", "also this node's Raft port");
        // Another peer's port is fine: it may be on another host.
        let cfg = BrokerConfig {
            listen_port: 40912,
            ..group()
        };
        cfg.validate(false).unwrap();
    }

    #[test]
    fn election_timeout_must_exceed_three_heartbeats() {
        let cfg = BrokerConfig {
            raft_heartbeat_interval_ms: 100,
            raft_election_timeout_ms: 300,
            ..BrokerConfig::default()
        };
        assert_err(
            &cfg,
            "raftElectionTimeoutMs",
            "more than 3 x raftHeartbeatIntervalMs (100)",
        );
        let cfg = BrokerConfig {
            raft_election_timeout_ms: 301,
            ..cfg
        };
        cfg.validate(false).unwrap();
    }

    #[test]
    fn unsafe_ack_needs_the_env_switch() {
        let cfg = BrokerConfig {
            unsafe_ack_before_commit: true,
            ..BrokerConfig::default()
        };
        assert_err(&cfg, "unsafeAckBeforeCommit", "test-only");
        assert_err(&cfg, "unsafeAckBeforeCommit", "LEDGERMQ_UNSAFE=1");
        cfg.validate(true).unwrap();
    }

    #[test]
    fn message_must_fit_a_segment() {
        let cfg = BrokerConfig {
            mapped_file_size_commit_log: 4096,
            ..BrokerConfig::default()
        };
        assert_err(
            &cfg,
            "maxMessageSize",
            "smaller than mappedFileSizeCommitLog (4096)",
        );
        let cfg = BrokerConfig {
            max_message_size: 1024,
            ..cfg
        };
        cfg.validate(false).unwrap();
    }

    #[test]
    fn fixed_roles_need_matching_broker_ids() {
        let slave = BrokerConfig {
            broker_role: BrokerRole::Slave,
            ..BrokerConfig::default()
        };
        assert_err(&slave, "brokerId", "must be above 0 for brokerRole=SLAVE");
        BrokerConfig {
            broker_id: 1,
            ..slave
        }
        .validate(false)
        .unwrap();
        let master = BrokerConfig {
            broker_role: BrokerRole::SyncMaster,
            broker_id: 2,
            ..BrokerConfig::default()
        };
        assert_err(&master, "brokerId", "must be 0 for brokerRole=SYNC_MASTER");
        // With DLedger the role is elected, so brokerId/brokerRole are not checked.
        BrokerConfig {
            broker_role: BrokerRole::Slave,
            ..group()
        }
        .validate(false)
        .unwrap();
    }
}
