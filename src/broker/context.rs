//! What every broker processor shares: the config, the Raft node, and the managers built on it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::clients::ClientManager;
use super::offsets::ConsumerOffsetManager;
use super::stats::BrokerStats;
use super::topics::TopicManager;
use crate::config::BrokerConfig;
use crate::protocol::body::{DataVersion, TopicConfigSerializeWrapper};
use crate::protocol::topic::TopicConfig;
use crate::raft::NodeCore;
use crate::time::now_ms;

pub struct BrokerContext {
    pub cfg: BrokerConfig,
    pub core: Arc<NodeCore>,
    pub offsets: Arc<ConsumerOffsetManager>,
    pub clients: ClientManager,
    pub topics: TopicManager,
    pub stats: BrokerStats,
    /// `brokerIP1:listenPort`: the address clients use, and the store host in msgIds.
    pub store_host: SocketAddr,
    pub broker_addr: String,
    /// Poked to make the broker register with the name servers now.
    pub register_now: Arc<Notify>,
    pub boot_ms: i64,
    /// Whether the store disk is too full to take sends (`disk_guard.rs`).
    pub disk: super::disk_guard::DiskGuard,
    /// Turns true when a graceful stop begins (see [`BrokerContext::begin_stopping`]).
    stopping: tokio::sync::watch::Sender<bool>,
    /// The topic table's version: bumped whenever the table's content changes, so the name
    /// servers know when to re-read the queues.
    topic_version: Mutex<(u64, DataVersion)>,
}

impl BrokerContext {
    pub fn new(cfg: BrokerConfig, core: Arc<NodeCore>, store_host: SocketAddr) -> BrokerContext {
        let register_now = Arc::new(Notify::new());
        BrokerContext {
            offsets: Arc::new(ConsumerOffsetManager::new(core.clone())),
            clients: ClientManager::default(),
            topics: TopicManager::new(core.clone(), &cfg, register_now.clone()),
            stats: BrokerStats::new(cfg.d_leger_group.clone()),
            broker_addr: store_host.to_string(),
            store_host,
            register_now,
            boot_ms: now_ms(),
            disk: Default::default(),
            stopping: tokio::sync::watch::Sender::new(false),
            topic_version: Mutex::new((0, DataVersion::new(now_ms()))),
            cfg,
            core,
        }
    }

    /// The id this node registers with. Under DLedger: 0 while it leads the Raft group,
    /// otherwise its node number + 1 (n0 → 1), as RocketMQ-DLedger does. In master/slave mode
    /// the configured `brokerId`: roles are fixed, so is the id.
    pub fn broker_id(&self) -> i64 {
        if !self.cfg.enable_d_leger_commit_log {
            self.cfg.broker_id
        } else if self.core.is_leader() {
            0
        } else {
            self.cfg.self_node_id() as i64 + 1
        }
    }

    /// A graceful stop has begun: requests that wait (long-polling pulls) answer now.
    pub fn begin_stopping(&self) {
        self.stopping.send_replace(true);
    }

    /// Watches [`BrokerContext::begin_stopping`].
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub fn is_master(&self) -> bool {
        self.core.is_leader()
    }

    /// `host:port` of the current leader's client port, if known (for error messages).
    pub fn leader_hint(&self) -> String {
        match self.core.leader_id() {
            Some(id) => format!("n{id}"),
            None => "unknown".into(),
        }
    }

    /// Every topic with the table's data version (GET_ALL_TOPIC_CONFIG, REGISTER_BROKER).
    pub fn topic_wrapper(&self) -> TopicConfigSerializeWrapper {
        let table: BTreeMap<String, TopicConfig> = self
            .topics
            .all()
            .into_iter()
            .map(|t| (t.topic_name.clone(), t))
            .collect();
        let fingerprint = serde_json::to_vec(&table)
            .map(|b| crc32fast::hash(&b) as u64 | ((b.len() as u64) << 32))
            .unwrap_or(0);
        let mut v = self.topic_version.lock();
        if v.0 != fingerprint {
            v.0 = fingerprint;
            v.1.next_version(now_ms());
        }
        TopicConfigSerializeWrapper {
            data_version: v.1,
            topic_config_table: table,
        }
    }

    /// Whether the store disk is too full to take sends, read again if the last reading is
    /// older than [`super::disk_guard::RECHECK`].
    pub fn disk_full(&self) -> bool {
        self.disk.is_full_fresh(
            &self.cfg.store_path_commit_log,
            self.cfg.mapped_file_size_commit_log,
            super::disk_guard::RECHECK,
        )
    }
}
