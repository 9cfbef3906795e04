//! Configuration key names, spelled once.
//!
//! The names are RocketMQ's (camelCase, including its quirks such as `brokerIP1` and the `dLeger`
//! spelling) so existing `broker.conf` files work unchanged; parsing, validation messages,
//! [`to_properties`](super::BrokerConfig::to_properties) and later `mqadmin updateBrokerConfig`
//! all refer to these constants, so a key cannot be spelt two ways.
//! The `raft*` and `unsafeAckBeforeCommit` keys are LedgerMQ's own.

// Identity and network.
pub const BROKER_CLUSTER_NAME: &str = "brokerClusterName";
pub const BROKER_NAME: &str = "brokerName";
pub const BROKER_ID: &str = "brokerId";
pub const BROKER_ROLE: &str = "brokerRole";
pub const BROKER_IP1: &str = "brokerIP1";
/// Shared by `broker.conf` and `namesrv.conf`.
pub const LISTEN_PORT: &str = "listenPort";
pub const NAMESRV_ADDR: &str = "namesrvAddr";

// Master/slave replication (without DLedger).
pub const HA_LISTEN_PORT: &str = "haListenPort";
pub const HA_MASTER_ADDRESS: &str = "haMasterAddress";
pub const SYNC_FLUSH_TIMEOUT: &str = "syncFlushTimeout";

// Store paths.
pub const STORE_PATH_ROOT_DIR: &str = "storePathRootDir";
pub const STORE_PATH_COMMIT_LOG: &str = "storePathCommitLog";
pub const STORE_PATH_CONSUME_QUEUE: &str = "storePathConsumeQueue";
pub const STORE_PATH_INDEX: &str = "storePathIndex";
pub const STORE_CHECKPOINT: &str = "storeCheckpoint";
pub const ABORT_FILE: &str = "abortFile";

// DLedger (the Raft group).
pub const ENABLE_D_LEGER_COMMIT_LOG: &str = "enableDLegerCommitLog";
pub const D_LEGER_GROUP: &str = "dLegerGroup";
pub const D_LEGER_PEERS: &str = "dLegerPeers";
pub const D_LEGER_SELF_ID: &str = "dLegerSelfId";
pub const PREFERRED_LEADER_ID: &str = "preferredLeaderId";

// Store tuning and retention.
pub const FLUSH_DISK_TYPE: &str = "flushDiskType";
pub const FLUSH_INTERVAL_COMMIT_LOG: &str = "flushIntervalCommitLog";
pub const SEND_MESSAGE_THREAD_POOL_NUMS: &str = "sendMessageThreadPoolNums";
pub const FILE_RESERVED_TIME: &str = "fileReservedTime";
pub const CLEAN_RESOURCE_INTERVAL: &str = "cleanResourceInterval";
pub const DELETE_WHEN: &str = "deleteWhen";
pub const MAPPED_FILE_SIZE_COMMIT_LOG: &str = "mappedFileSizeCommitLog";
pub const MAPPED_FILE_SIZE_CONSUME_QUEUE: &str = "mappedFileSizeConsumeQueue";
pub const MAX_MESSAGE_SIZE: &str = "maxMessageSize";
pub const AUTO_CREATE_TOPIC_ENABLE: &str = "autoCreateTopicEnable";
pub const DEFAULT_TOPIC_QUEUE_NUMS: &str = "defaultTopicQueueNums";
pub const DISK_MAX_USED_SPACE_RATIO: &str = "diskMaxUsedSpaceRatio";
pub const MESSAGE_DELAY_LEVEL: &str = "messageDelayLevel";
pub const TIMER_MAX_DELAY_SEC: &str = "timerMaxDelaySec";

// LedgerMQ's own Raft tuning.
pub const RAFT_HEARTBEAT_INTERVAL_MS: &str = "raftHeartbeatIntervalMs";
pub const RAFT_ELECTION_TIMEOUT_MS: &str = "raftElectionTimeoutMs";
pub const RAFT_SNAPSHOT_LOGS_SINCE_LAST: &str = "raftSnapshotLogsSinceLast";
pub const UNSAFE_ACK_BEFORE_COMMIT: &str = "unsafeAckBeforeCommit";

/// LedgerMQ's own, in `broker.conf` and `namesrv.conf`: the HTTP port serving Prometheus
/// `/metrics` (see [`crate::config::metrics_port`]).
pub const METRICS_PORT: &str = "metricsPort";

// Transactional messages (RocketMQ's names and defaults).
pub const TRANSACTION_TIME_OUT: &str = "transactionTimeOut";
pub const TRANSACTION_CHECK_INTERVAL: &str = "transactionCheckInterval";
pub const TRANSACTION_CHECK_MAX: &str = "transactionCheckMax";
// ACL (see `acl.rs`). `rocketmq.acl.plain.file` is RocketMQ's system property name; the
// peer secret is LedgerMQ's own.
pub const ACL_ENABLE: &str = "aclEnable";
pub const ACL_PLAIN_FILE: &str = "rocketmq.acl.plain.file";
pub const RAFT_PEER_SECRET: &str = "raftPeerSecret";
pub const NAMESRV_ACCESS_KEY: &str = "namesrvAccessKey";
pub const NAMESRV_SECRET_KEY: &str = "namesrvSecretKey";

// Name server.
pub const ROCKETMQ_HOME: &str = "rocketmqHome";
pub const KV_CONFIG_PATH: &str = "kvConfigPath";
