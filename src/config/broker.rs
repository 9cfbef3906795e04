//! `broker.conf`: the broker's identity, store layout, Raft group and tuning, with RocketMQ's key
//! names and defaults. Every default lives in [`BrokerConfig::default`]; derived defaults (the
//! store sub-paths follow `storePathRootDir`, `dLegerGroup` follows `brokerName`) are computed by
//! the same helpers in `default` and in `parse`, so they cannot drift apart.
//!
//! Parsing checks each key on its own (type, range, syntax), with the line number; relations
//! between keys are checked by [`BrokerConfig::validate`] (in `validate.rs`), which `parse` calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::acl::{self, AclSettings, PeerSecret};
use super::keys as k;
use super::metrics_port::{self, MetricsListen};
use super::peers::{self, RaftPeer};
use super::roles::{BrokerRole, FlushDiskType};
use super::values::{self, Source};
use super::ConfigError;

/// The broker's configuration. Field names are the snake_case forms of the RocketMQ keys in
/// [`keys`](super::keys); ranges noted here are enforced when parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Where this configuration came from, for error messages (`(defaults)` for `Default`).
    pub origin: PathBuf,
    pub broker_cluster_name: String,
    pub broker_name: String,
    /// 0 for a master; a slave's id is > 0. Signed because RocketMQ's is a Java `long`.
    pub broker_id: i64,
    pub broker_role: BrokerRole,
    /// The address advertised to name servers and clients.
    pub broker_ip1: String,
    /// Client port, 1–65534 (a single broker's HA/Raft port is `listenPort + 1`).
    pub listen_port: u16,
    /// Name servers to register with; `None` when neither the key nor `NAMESRV_ADDR` gave any.
    pub namesrv_addr: Option<Vec<String>>,
    /// Without DLedger: the port (on `brokerIP1`) where a master replicates to its slaves and a
    /// slave receives; `listenPort + 1` unless set, as in RocketMQ.
    pub ha_listen_port: u16,
    /// A slave's master HA address (`host:port`). Unset, the slave learns it from the name
    /// server's answer to its registration, as RocketMQ's slaves do.
    pub ha_master_address: Option<String>,
    /// How long a `SYNC_MASTER` waits for a slave to hold a message before answering
    /// FLUSH_SLAVE_TIMEOUT, ms, ≥ 1.
    pub sync_flush_timeout: u64,
    pub store_path_root_dir: PathBuf,
    pub store_path_commit_log: PathBuf,
    pub store_path_consume_queue: PathBuf,
    pub store_path_index: PathBuf,
    pub store_checkpoint: PathBuf,
    pub abort_file: PathBuf,
    /// Join the Raft group `dLegerGroup` as `dLegerSelfId` among `dLegerPeers`.
    pub enable_d_leger_commit_log: bool,
    pub d_leger_group: String,
    /// Empty unless set; required (with `dLegerSelfId`) when DLedger is enabled.
    pub d_leger_peers: Vec<RaftPeer>,
    /// No default: RocketMQ defaults it to `n0`, which lets a copied config make two nodes
    /// claim the same id; we require it explicitly when DLedger is enabled.
    pub d_leger_self_id: Option<String>,
    /// A peer that should hold leadership when healthy (leadership transfer is the raft layer's).
    pub preferred_leader_id: Option<String>,
    pub flush_disk_type: FlushDiskType,
    /// Background flush period under `ASYNC_FLUSH`, ms, ≥ 1.
    pub flush_interval_commit_log: u64,
    /// Threads (or tasks) serving sends, ≥ 1.
    pub send_message_thread_pool_nums: usize,
    /// Hours a CommitLog segment is kept before retention may delete it.
    pub file_reserved_time: u64,
    /// Hours of the day (0–23) at which expired segments are deleted.
    pub delete_when: Vec<u8>,
    /// CommitLog segment size in bytes, ≥ 4096.
    pub mapped_file_size_commit_log: u64,
    /// ConsumeQueue file size in bytes, a positive multiple of the 20-byte entry.
    pub mapped_file_size_consume_queue: u64,
    /// Largest message body accepted, bytes, ≥ 1 and below the segment size.
    pub max_message_size: u32,
    pub auto_create_topic_enable: bool,
    /// Queues of an auto-created topic, ≥ 1.
    pub default_topic_queue_nums: u32,
    /// Disk usage percentage (10–95) above which retention deletes segments at any hour and the
    /// oldest even before `fileReservedTime` (RocketMQ's meaning). Sends are refused only above
    /// the warning level, 90 %.
    pub disk_max_used_space_ratio: u8,
    /// `cleanResourceInterval`: how often retention checks for expired segments, ms, ≥ 1.
    pub clean_resource_interval: u64,
    /// `raftHeartbeatIntervalMs` (LedgerMQ): leader heartbeat period, ms, ≥ 1.
    pub raft_heartbeat_interval_ms: u64,
    /// `raftElectionTimeoutMs` (LedgerMQ): follower election timeout, ms, more than 3 heartbeats
    /// so that one or two delayed heartbeats do not depose a healthy leader.
    pub raft_election_timeout_ms: u64,
    /// `raftSnapshotLogsSinceLast` (LedgerMQ): applied entries between snapshots, ≥ 1.
    pub raft_snapshot_logs_since_last: u64,
    /// `unsafeAckBeforeCommit` (LedgerMQ, test-only): answer SEND_OK before the quorum commit.
    /// Breaks invariant 1, so it is refused unless `LEDGERMQ_UNSAFE=1`.
    pub unsafe_ack_before_commit: bool,
    /// `metricsPort` (LedgerMQ): the port of the Prometheus `/metrics` listener on `brokerIP1`.
    /// `None` (unset) means `listenPort + 2`; `Some(0)` switches the listener off. See
    /// [`super::metrics_port`] for why that default.
    pub metrics_port: Option<u16>,
    /// `messageDelayLevel`: each delay level's wait in ms, level 1 first.
    pub message_delay_level: Vec<u64>,
    /// `timerMaxDelaySec` (RocketMQ 5): the furthest a delivery time may lie ahead, seconds.
    pub timer_max_delay_sec: u64,
    /// `transactionTimeOut`: a half message is not checked back before it is this old, ms
    /// (RocketMQ: 6000; a producer's `CHECK_IMMUNITY_TIME_IN_SECONDS` overrides it).
    pub transaction_time_out: u64,
    /// `transactionCheckInterval`: how often the leader checks back unresolved half messages,
    /// ms, ≥ 1 (RocketMQ: 60000).
    pub transaction_check_interval: u64,
    /// `transactionCheckMax`: check-backs before a half message is discarded (RocketMQ: 15).
    pub transaction_check_max: u32,
    /// `aclEnable`, `rocketmq.acl.plain.file`, `raftPeerSecret` (see [`super::acl`]).
    pub acl: AclSettings,
    /// Keys this version does not know, kept for `getBrokerConfig` and warned about at load.
    pub unknown: BTreeMap<String, String>,
}

/// The store files and directories under a root, in RocketMQ's layout.
struct StorePaths {
    commit_log: PathBuf,
    consume_queue: PathBuf,
    index: PathBuf,
    checkpoint: PathBuf,
    abort: PathBuf,
}

impl StorePaths {
    fn under(root: &Path) -> Self {
        Self {
            commit_log: root.join("commitlog"),
            consume_queue: root.join("consumequeue"),
            index: root.join("index"),
            checkpoint: root.join("checkpoint"),
            abort: root.join("abort"),
        }
    }
}

impl Default for BrokerConfig {
    /// RocketMQ's defaults, except where noted on the field. The store root is `$HOME/store`
    /// (`./store` without `HOME`), as RocketMQ's `user.home/store`.
    fn default() -> Self {
        let root = default_store_root(values::home_dir());
        let sub = StorePaths::under(&root);
        let broker_name = "broker-a".to_string();
        Self {
            origin: PathBuf::from("(defaults)"),
            broker_cluster_name: "DefaultCluster".into(),
            d_leger_group: broker_name.clone(),
            broker_name,
            broker_id: 0,
            broker_role: BrokerRole::default(),
            broker_ip1: "127.0.0.1".into(),
            listen_port: 10911,
            namesrv_addr: None,
            ha_listen_port: 10912,
            ha_master_address: None,
            sync_flush_timeout: 5000,
            store_path_root_dir: root,
            store_path_commit_log: sub.commit_log,
            store_path_consume_queue: sub.consume_queue,
            store_path_index: sub.index,
            store_checkpoint: sub.checkpoint,
            abort_file: sub.abort,
            enable_d_leger_commit_log: false,
            d_leger_peers: Vec::new(),
            d_leger_self_id: None,
            preferred_leader_id: None,
            flush_disk_type: FlushDiskType::default(),
            flush_interval_commit_log: 500,
            send_message_thread_pool_nums: 16,
            file_reserved_time: 72,
            delete_when: vec![4],
            mapped_file_size_commit_log: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue: 300_000 * 20,
            max_message_size: 4 * 1024 * 1024,
            auto_create_topic_enable: true,
            default_topic_queue_nums: 8,
            disk_max_used_space_ratio: 75,
            raft_heartbeat_interval_ms: 100,
            raft_election_timeout_ms: 800,
            raft_snapshot_logs_since_last: 20_000,
            clean_resource_interval: 10_000,
            unsafe_ack_before_commit: false,
            metrics_port: None,
            message_delay_level: super::delay_levels::parse(
                super::delay_levels::DEFAULT_MESSAGE_DELAY_LEVEL,
            )
            .unwrap_or_default(),
            timer_max_delay_sec: super::delay_levels::DEFAULT_TIMER_MAX_DELAY_SEC,
            transaction_time_out: 6_000,
            transaction_check_interval: 60_000,
            transaction_check_max: 15,
            acl: AclSettings::defaults_for(Path::new("(defaults)")),
            unknown: BTreeMap::new(),
        }
    }
}

impl BrokerConfig {
    /// Reads and parses a `broker.conf`; see [`BrokerConfig::parse`].
    pub fn from_file(path: &Path, unsafe_env: bool) -> Result<Self, ConfigError> {
        Self::parse(&super::read_text(path)?, path, unsafe_env)
    }

    /// Parses `broker.conf` text; `origin` names it in errors and warnings. Absent keys take
    /// their defaults, unknown keys are kept in `unknown` with a warning, and the result is
    /// validated (`unsafe_env`: whether `LEDGERMQ_UNSAFE=1`, see
    /// [`super::unsafe_env_from_process`]).
    /// Reads no environment variable except `HOME`; call [`Self::apply_env_defaults`] after.
    pub fn parse(text: &str, origin: &Path, unsafe_env: bool) -> Result<Self, ConfigError> {
        let mut src = Source::new(text, origin)?;
        let home = values::home_dir();
        let path = |v: &str| values::path(v, home.as_deref());
        let text_opt = |v: &str| values::optional(v, values::text);
        let dleger_only = [
            k::D_LEGER_GROUP,
            k::D_LEGER_PEERS,
            k::D_LEGER_SELF_ID,
            k::PREFERRED_LEADER_ID,
        ];
        let dleger_keys_set: Vec<&str> = dleger_only
            .into_iter()
            .filter(|key| src.contains(key))
            .collect();

        let mut cfg = Self {
            origin: origin.to_path_buf(),
            ..Self::default()
        };
        let c = &mut cfg;
        src.set(
            &mut c.broker_cluster_name,
            k::BROKER_CLUSTER_NAME,
            values::text,
        )?;
        src.set(&mut c.broker_name, k::BROKER_NAME, values::text)?;
        c.d_leger_group.clone_from(&c.broker_name);
        src.set(&mut c.d_leger_group, k::D_LEGER_GROUP, values::text)?;
        src.set(&mut c.broker_id, k::BROKER_ID, values::int)?;
        src.set(&mut c.broker_role, k::BROKER_ROLE, BrokerRole::parse)?;
        src.set(&mut c.broker_ip1, k::BROKER_IP1, peers::host)?;
        src.set(&mut c.listen_port, k::LISTEN_PORT, listen_port)?;
        src.set(&mut c.namesrv_addr, k::NAMESRV_ADDR, |v| {
            values::optional(v, peers::addr_list)
        })?;
        c.ha_listen_port = c.listen_port.saturating_add(1);
        src.set(&mut c.ha_listen_port, k::HA_LISTEN_PORT, |v| {
            values::int_in(v, 1, u16::MAX)
        })?;
        src.set(&mut c.ha_master_address, k::HA_MASTER_ADDRESS, |v| {
            values::optional(v, peers::addr_of)
        })?;

        // The sub-paths follow the root unless set themselves; `Default` derives them the same way.
        src.set(&mut c.store_path_root_dir, k::STORE_PATH_ROOT_DIR, path)?;
        let sub = StorePaths::under(&c.store_path_root_dir);
        (
            c.store_path_commit_log,
            c.store_path_consume_queue,
            c.store_path_index,
        ) = (sub.commit_log, sub.consume_queue, sub.index);
        (c.store_checkpoint, c.abort_file) = (sub.checkpoint, sub.abort);
        src.set(&mut c.store_path_commit_log, k::STORE_PATH_COMMIT_LOG, path)?;
        src.set(
            &mut c.store_path_consume_queue,
            k::STORE_PATH_CONSUME_QUEUE,
            path,
        )?;
        src.set(&mut c.store_path_index, k::STORE_PATH_INDEX, path)?;
        src.set(&mut c.store_checkpoint, k::STORE_CHECKPOINT, path)?;
        src.set(&mut c.abort_file, k::ABORT_FILE, path)?;

        let enable_dleger = &mut c.enable_d_leger_commit_log;
        src.set(enable_dleger, k::ENABLE_D_LEGER_COMMIT_LOG, values::boolean)?;
        src.set(&mut c.d_leger_peers, k::D_LEGER_PEERS, peers::parse_peers)?;
        src.set(&mut c.d_leger_self_id, k::D_LEGER_SELF_ID, text_opt)?;
        src.set(&mut c.preferred_leader_id, k::PREFERRED_LEADER_ID, text_opt)?;

        src.set(
            &mut c.flush_disk_type,
            k::FLUSH_DISK_TYPE,
            FlushDiskType::parse,
        )?;
        let positive = values::positive::<u64>;
        src.set(
            &mut c.flush_interval_commit_log,
            k::FLUSH_INTERVAL_COMMIT_LOG,
            positive,
        )?;
        src.set(&mut c.sync_flush_timeout, k::SYNC_FLUSH_TIMEOUT, positive)?;
        let threads = &mut c.send_message_thread_pool_nums;
        src.set(threads, k::SEND_MESSAGE_THREAD_POOL_NUMS, values::positive)?;
        src.set(
            &mut c.file_reserved_time,
            k::FILE_RESERVED_TIME,
            values::int,
        )?;
        src.set(&mut c.delete_when, k::DELETE_WHEN, values::hours)?;
        src.set(
            &mut c.mapped_file_size_commit_log,
            k::MAPPED_FILE_SIZE_COMMIT_LOG,
            |v| values::int_in(v, 4096, u64::MAX),
        )?;
        let cq_size = &mut c.mapped_file_size_consume_queue;
        src.set(
            cq_size,
            k::MAPPED_FILE_SIZE_CONSUME_QUEUE,
            consume_queue_size,
        )?;
        src.set(
            &mut c.max_message_size,
            k::MAX_MESSAGE_SIZE,
            values::positive,
        )?;
        let auto_create = &mut c.auto_create_topic_enable;
        src.set(auto_create, k::AUTO_CREATE_TOPIC_ENABLE, values::boolean)?;
        let queues = &mut c.default_topic_queue_nums;
        src.set(queues, k::DEFAULT_TOPIC_QUEUE_NUMS, values::positive)?;
        src.set(
            &mut c.disk_max_used_space_ratio,
            k::DISK_MAX_USED_SPACE_RATIO,
            |v| values::int_in(v, 10, 95),
        )?;

        src.set(
            &mut c.raft_heartbeat_interval_ms,
            k::RAFT_HEARTBEAT_INTERVAL_MS,
            positive,
        )?;
        src.set(
            &mut c.raft_election_timeout_ms,
            k::RAFT_ELECTION_TIMEOUT_MS,
            values::int,
        )?;
        src.set(
            &mut c.clean_resource_interval,
            k::CLEAN_RESOURCE_INTERVAL,
            positive,
        )?;
        let snapshot_every = &mut c.raft_snapshot_logs_since_last;
        src.set(snapshot_every, k::RAFT_SNAPSHOT_LOGS_SINCE_LAST, positive)?;
        let unsafe_ack = &mut c.unsafe_ack_before_commit;
        src.set(unsafe_ack, k::UNSAFE_ACK_BEFORE_COMMIT, values::boolean)?;
        src.set(&mut c.metrics_port, k::METRICS_PORT, metrics_port::parse)?;
        let levels = &mut c.message_delay_level;
        src.set(levels, k::MESSAGE_DELAY_LEVEL, super::delay_levels::parse)?;
        src.set(&mut c.timer_max_delay_sec, k::TIMER_MAX_DELAY_SEC, positive)?;
        src.set(
            &mut c.transaction_time_out,
            k::TRANSACTION_TIME_OUT,
            values::int,
        )?;
        let check_every = &mut c.transaction_check_interval;
        src.set(check_every, k::TRANSACTION_CHECK_INTERVAL, positive)?;
        let check_max = &mut c.transaction_check_max;
        src.set(check_max, k::TRANSACTION_CHECK_MAX, values::int)?;
        c.acl = AclSettings::defaults_for(origin);
        src.set(&mut c.acl.acl_enable, k::ACL_ENABLE, values::boolean)?;
        src.set(&mut c.acl.acl_file, k::ACL_PLAIN_FILE, |v| {
            path(v).map(|p| acl::resolve(origin, &p))
        })?;
        src.set(&mut c.acl.raft_peer_secret, k::RAFT_PEER_SECRET, |v| {
            values::optional(v, |s| PeerSecret::new(s))
        })?;
        let mut ns_access_key: Option<String> = None;
        let mut ns_secret_key: Option<String> = None;
        src.set(&mut ns_access_key, k::NAMESRV_ACCESS_KEY, text_opt)?;
        src.set(&mut ns_secret_key, k::NAMESRV_SECRET_KEY, text_opt)?;
        c.acl.namesrv_account = match (ns_access_key, ns_secret_key) {
            (None, None) => None,
            (Some(access_key), Some(secret_key)) => Some(acl::AccountKeys {
                access_key,
                secret_key,
            }),
            _ => {
                return Err(ConfigError::Inconsistent {
                    file: origin.to_path_buf(),
                    key: k::NAMESRV_SECRET_KEY.into(),
                    message: "namesrvAccessKey and namesrvSecretKey go together".into(),
                })
            }
        };
        cfg.unknown = src.finish();
        if !cfg.enable_d_leger_commit_log {
            for key in dleger_keys_set {
                tracing::warn!(
                    file = %origin.display(),
                    key,
                    "config key ignored because enableDLegerCommitLog is not true"
                );
            }
        }
        cfg.validate(unsafe_env)?;
        Ok(cfg)
    }

    /// Fills `namesrvAddr` from the `NAMESRV_ADDR` environment variable when the file did not
    /// set it, as RocketMQ's `mqbroker` does. Separate from parsing so tests stay pure.
    pub fn apply_env_defaults(&mut self) -> Result<(), ConfigError> {
        let value = std::env::var("NAMESRV_ADDR").ok();
        self.apply_namesrv_addr_env(value.as_deref())
    }

    /// [`Self::apply_env_defaults`] with the variable's value passed in.
    pub fn apply_namesrv_addr_env(&mut self, value: Option<&str>) -> Result<(), ConfigError> {
        let Some(value) = value.map(str::trim) else {
            return Ok(());
        };
        if self.namesrv_addr.is_some() {
            return Ok(());
        }
        self.namesrv_addr =
            values::optional(value, peers::addr_list).map_err(|reason| ConfigError::BadValue {
                file: PathBuf::from("environment NAMESRV_ADDR"),
                line: None,
                key: k::NAMESRV_ADDR.into(),
                value: value.into(),
                reason,
            })?;
        Ok(())
    }

    /// The Raft group this broker belongs to: the `dLegerPeers` with DLedger enabled, otherwise
    /// a group of one, node 0 at `brokerIP1:listenPort+1` (RocketMQ's HA port), so that one
    /// replication engine serves every mode (DESIGN: "One node, one Raft group").
    pub fn raft_peers(&self) -> Vec<RaftPeer> {
        if self.enable_d_leger_commit_log {
            return self.d_leger_peers.clone();
        }
        // Master/slave: each broker is its own node of the brokerName's group, numbered by
        // brokerId (the master is 0), on its HA port.
        let node_id = self.broker_id.max(0) as u64;
        vec![RaftPeer {
            id: format!("n{node_id}"),
            node_id,
            addr: peers::join_addr(&self.broker_ip1, self.ha_listen_port),
        }]
    }

    /// This node's openraft node id: its peer's number with DLedger, else its brokerId. A
    /// validated config always has its self id among the peers; an unvalidated one falls back
    /// to 0.
    pub fn self_node_id(&self) -> u64 {
        if !self.enable_d_leger_commit_log {
            return self.broker_id.max(0) as u64;
        }
        self.self_peer().map_or(0, |p| p.node_id)
    }

    /// This node's entry in `dLegerPeers`; `None` without DLedger (or before validation).
    pub fn self_peer(&self) -> Option<&RaftPeer> {
        if !self.enable_d_leger_commit_log {
            return None;
        }
        let id = self.d_leger_self_id.as_deref()?;
        self.d_leger_peers.iter().find(|p| p.id == id)
    }

    /// The address this node's Raft server listens on, from `dLegerPeers`. `None` for a group of
    /// one, which has no peers to talk to (its nominal address is in [`Self::raft_peers`]).
    pub fn raft_addr(&self) -> Option<&str> {
        self.self_peer().map(|p| p.addr.as_str())
    }

    /// Where `/metrics` listens on `brokerIP1`, or `None` when it is switched off.
    pub fn metrics_listen(&self) -> Option<MetricsListen> {
        metrics_port::resolve(self.metrics_port, self.listen_port)
    }

    /// Every known key with its effective value (defaults included), in a stable order, for
    /// `mqadmin getBrokerConfig`; unknown keys follow. `None` is written as an empty value, which
    /// parses back to `None`, so `parse(to_text(to_properties()))` reproduces the config.
    pub fn to_properties(&self) -> Vec<(String, String)> {
        let path = |p: &Path| p.display().to_string();
        let joined = |items: Vec<String>| items.join(";");
        let mut out: Vec<(&str, String)> = vec![
            (k::BROKER_CLUSTER_NAME, self.broker_cluster_name.clone()),
            (k::BROKER_NAME, self.broker_name.clone()),
            (k::BROKER_ID, self.broker_id.to_string()),
            (k::BROKER_ROLE, self.broker_role.to_string()),
            (k::BROKER_IP1, self.broker_ip1.clone()),
            (k::LISTEN_PORT, self.listen_port.to_string()),
            (
                k::NAMESRV_ADDR,
                self.namesrv_addr.clone().map(joined).unwrap_or_default(),
            ),
            (k::HA_LISTEN_PORT, self.ha_listen_port.to_string()),
            (
                k::HA_MASTER_ADDRESS,
                self.ha_master_address.clone().unwrap_or_default(),
            ),
            (k::SYNC_FLUSH_TIMEOUT, self.sync_flush_timeout.to_string()),
            (k::STORE_PATH_ROOT_DIR, path(&self.store_path_root_dir)),
            (k::STORE_PATH_COMMIT_LOG, path(&self.store_path_commit_log)),
            (
                k::STORE_PATH_CONSUME_QUEUE,
                path(&self.store_path_consume_queue),
            ),
            (k::STORE_PATH_INDEX, path(&self.store_path_index)),
            (k::STORE_CHECKPOINT, path(&self.store_checkpoint)),
            (k::ABORT_FILE, path(&self.abort_file)),
            (
                k::ENABLE_D_LEGER_COMMIT_LOG,
                self.enable_d_leger_commit_log.to_string(),
            ),
            (k::D_LEGER_GROUP, self.d_leger_group.clone()),
            (
                k::D_LEGER_PEERS,
                joined(
                    self.d_leger_peers
                        .iter()
                        .map(|p| format!("{}-{}", p.id, p.addr))
                        .collect(),
                ),
            ),
            (
                k::D_LEGER_SELF_ID,
                self.d_leger_self_id.clone().unwrap_or_default(),
            ),
            (
                k::PREFERRED_LEADER_ID,
                self.preferred_leader_id.clone().unwrap_or_default(),
            ),
            (k::FLUSH_DISK_TYPE, self.flush_disk_type.to_string()),
            (
                k::FLUSH_INTERVAL_COMMIT_LOG,
                self.flush_interval_commit_log.to_string(),
            ),
            (
                k::SEND_MESSAGE_THREAD_POOL_NUMS,
                self.send_message_thread_pool_nums.to_string(),
            ),
            (k::FILE_RESERVED_TIME, self.file_reserved_time.to_string()),
            (
                k::CLEAN_RESOURCE_INTERVAL,
                self.clean_resource_interval.to_string(),
            ),
            (
                k::DELETE_WHEN,
                joined(self.delete_when.iter().map(|h| format!("{h:02}")).collect()),
            ),
            (
                k::MAPPED_FILE_SIZE_COMMIT_LOG,
                self.mapped_file_size_commit_log.to_string(),
            ),
            (
                k::MAPPED_FILE_SIZE_CONSUME_QUEUE,
                self.mapped_file_size_consume_queue.to_string(),
            ),
            (k::MAX_MESSAGE_SIZE, self.max_message_size.to_string()),
            (
                k::AUTO_CREATE_TOPIC_ENABLE,
                self.auto_create_topic_enable.to_string(),
            ),
            (
                k::DEFAULT_TOPIC_QUEUE_NUMS,
                self.default_topic_queue_nums.to_string(),
            ),
            (
                k::DISK_MAX_USED_SPACE_RATIO,
                self.disk_max_used_space_ratio.to_string(),
            ),
            (
                k::RAFT_HEARTBEAT_INTERVAL_MS,
                self.raft_heartbeat_interval_ms.to_string(),
            ),
            (
                k::RAFT_ELECTION_TIMEOUT_MS,
                self.raft_election_timeout_ms.to_string(),
            ),
            (
                k::RAFT_SNAPSHOT_LOGS_SINCE_LAST,
                self.raft_snapshot_logs_since_last.to_string(),
            ),
            (
                k::UNSAFE_ACK_BEFORE_COMMIT,
                self.unsafe_ack_before_commit.to_string(),
            ),
            (
                k::METRICS_PORT,
                self.metrics_port.map(|p| p.to_string()).unwrap_or_default(),
            ),
            (
                k::MESSAGE_DELAY_LEVEL,
                super::delay_levels::format(&self.message_delay_level),
            ),
            (k::TIMER_MAX_DELAY_SEC, self.timer_max_delay_sec.to_string()),
            (
                k::TRANSACTION_TIME_OUT,
                self.transaction_time_out.to_string(),
            ),
            (
                k::TRANSACTION_CHECK_INTERVAL,
                self.transaction_check_interval.to_string(),
            ),
            (
                k::TRANSACTION_CHECK_MAX,
                self.transaction_check_max.to_string(),
            ),
            // `raftPeerSecret` is never listed: this answers `getBrokerConfig` on the wire.
            (k::ACL_ENABLE, self.acl.acl_enable.to_string()),
            (k::ACL_PLAIN_FILE, path(&self.acl.acl_file)),
        ];
        out.extend(self.unknown.iter().map(|(k, v)| (k.as_str(), v.clone())));
        out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// `$HOME/store`, or `./store` when `HOME` is unset (a service account without a home).
fn default_store_root(home: Option<PathBuf>) -> PathBuf {
    home.unwrap_or_else(|| PathBuf::from(".")).join("store")
}

/// `listenPort`: 1–65534, because a single broker's HA/Raft port is `listenPort + 1`.
fn listen_port(v: &str) -> Result<u16, String> {
    values::int_in(v, 1, u16::MAX - 1).map_err(|e| {
        format!("{e} (listenPort+1 is this broker's HA/Raft port when it is a group of one)")
    })
}

/// `mappedFileSizeConsumeQueue`: a positive multiple of the 20-byte ConsumeQueue entry, so an
/// entry never straddles two files.
fn consume_queue_size(v: &str) -> Result<u64, String> {
    let n = values::int_in(v, 20, u64::MAX)?;
    if n % 20 != 0 {
        return Err(format!(
            "{v:?} is not a multiple of 20 (the ConsumeQueue entry size)"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
