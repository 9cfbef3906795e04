//! Parsing tests for `broker.conf`: defaults, a real RocketMQ DLedger file, derived paths, every
//! per-key error, the Raft group accessors and the `to_properties` round trip. Cross-key rules
//! are tested in `validate.rs`, store directories in `store_dirs.rs`.

use super::*;
use crate::config::properties::to_text;

const ORIGIN: &str = "broker-n0.conf";

fn parse(text: &str) -> Result<BrokerConfig, ConfigError> {
    BrokerConfig::parse(text, Path::new(ORIGIN), false)
}

fn home() -> PathBuf {
    values::home_dir().unwrap_or_else(|| PathBuf::from("."))
}

/// RocketMQ's `conf/dledger/broker-n0.conf`, as shipped with RocketMQ 4.x/5.x.
const DLEDGER_N0: &str = "\
brokerClusterName = RaftCluster
brokerName=RaftNode00
listenPort=30911
namesrvAddr=127.0.0.1:9876
storePathRootDir=/tmp/rmqstore/node00
storePathCommitLog=/tmp/rmqstore/node00/commitlog
enableDLegerCommitLog=true
dLegerGroup=RaftNode00
dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913
## must be unique
dLegerSelfId=n0
sendMessageThreadPoolNums=16
";

#[test]
fn empty_file_gives_every_default() {
    let cfg = parse("").unwrap();
    assert_eq!(
        cfg,
        BrokerConfig {
            origin: ORIGIN.into(),
            ..BrokerConfig::default()
        }
    );
    let root = home().join("store");
    assert_eq!(cfg.broker_cluster_name, "DefaultCluster");
    assert_eq!(cfg.broker_name, "broker-a");
    assert_eq!(cfg.broker_id, 0);
    assert_eq!(cfg.broker_role, BrokerRole::AsyncMaster);
    assert_eq!(cfg.broker_ip1, "127.0.0.1");
    assert_eq!(cfg.listen_port, 10911);
    assert_eq!(cfg.namesrv_addr, None);
    assert_eq!(cfg.store_path_root_dir, root);
    assert_eq!(cfg.store_path_commit_log, root.join("commitlog"));
    assert_eq!(cfg.store_path_consume_queue, root.join("consumequeue"));
    assert_eq!(cfg.store_path_index, root.join("index"));
    assert_eq!(cfg.store_checkpoint, root.join("checkpoint"));
    assert_eq!(cfg.abort_file, root.join("abort"));
    assert!(!cfg.enable_d_leger_commit_log);
    assert_eq!(cfg.d_leger_group, "broker-a");
    assert!(cfg.d_leger_peers.is_empty());
    assert_eq!(cfg.d_leger_self_id, None);
    assert_eq!(cfg.preferred_leader_id, None);
    assert_eq!(cfg.flush_disk_type, FlushDiskType::AsyncFlush);
    assert_eq!(cfg.flush_interval_commit_log, 500);
    assert_eq!(cfg.send_message_thread_pool_nums, 16);
    assert_eq!(cfg.file_reserved_time, 72);
    assert_eq!(cfg.delete_when, vec![4]);
    assert_eq!(cfg.mapped_file_size_commit_log, 1_073_741_824);
    assert_eq!(cfg.mapped_file_size_consume_queue, 6_000_000);
    assert_eq!(cfg.max_message_size, 4_194_304);
    assert!(cfg.auto_create_topic_enable);
    assert_eq!(cfg.default_topic_queue_nums, 8);
    assert_eq!(cfg.disk_max_used_space_ratio, 75);
    assert_eq!(cfg.raft_heartbeat_interval_ms, 100);
    assert_eq!(cfg.raft_election_timeout_ms, 800);
    assert_eq!(cfg.raft_snapshot_logs_since_last, 20_000);
    assert!(!cfg.unsafe_ack_before_commit);
    assert_eq!(cfg.metrics_port, None);
    assert_eq!(
        cfg.metrics_listen(),
        Some(MetricsListen {
            port: 10913,
            explicit: false
        })
    );
    assert!(cfg.unknown.is_empty());
}

#[test]
fn rocketmq_dledger_n0_config() {
    let cfg = parse(DLEDGER_N0).unwrap();
    assert_eq!(cfg.broker_cluster_name, "RaftCluster");
    assert_eq!(cfg.broker_name, "RaftNode00");
    assert_eq!(cfg.listen_port, 30911);
    assert_eq!(cfg.namesrv_addr, Some(vec!["127.0.0.1:9876".to_string()]));
    assert_eq!(
        cfg.store_path_root_dir,
        PathBuf::from("/tmp/rmqstore/node00")
    );
    assert_eq!(
        cfg.store_path_commit_log,
        PathBuf::from("/tmp/rmqstore/node00/commitlog")
    );
    assert_eq!(
        cfg.store_path_consume_queue,
        PathBuf::from("/tmp/rmqstore/node00/consumequeue")
    );
    assert!(cfg.enable_d_leger_commit_log);
    assert_eq!(cfg.d_leger_group, "RaftNode00");
    assert_eq!(cfg.d_leger_self_id.as_deref(), Some("n0"));
    let peers = cfg.raft_peers();
    let summary: Vec<_> = peers
        .iter()
        .map(|p| (p.id.as_str(), p.node_id, p.addr.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("n0", 0, "127.0.0.1:40911"),
            ("n1", 1, "127.0.0.1:40912"),
            ("n2", 2, "127.0.0.1:40913"),
        ]
    );
    assert_eq!(cfg.self_node_id(), 0);
    assert_eq!(cfg.raft_addr(), Some("127.0.0.1:40911"));
    assert!(cfg.unknown.is_empty(), "{:?}", cfg.unknown);

    // The same file for n2 differs only in the self id.
    let n2 = parse(&DLEDGER_N0.replace("dLegerSelfId=n0", "dLegerSelfId=n2")).unwrap();
    assert_eq!(n2.self_node_id(), 2);
    assert_eq!(n2.raft_addr(), Some("127.0.0.1:40913"));
}

#[test]
fn a_group_of_one_without_dledger() {
    let cfg = parse("brokerIP1=10.0.0.7\nlistenPort=10911").unwrap();
    assert_eq!(
        cfg.raft_peers(),
        vec![RaftPeer {
            id: "n0".into(),
            node_id: 0,
            addr: "10.0.0.7:10912".into(),
        }]
    );
    assert_eq!(cfg.self_node_id(), 0);
    assert_eq!(cfg.raft_addr(), None);
    // DLedger keys are ignored (with a warning) while DLedger is off.
    let cfg = parse("dLegerPeers=n3-h:1\ndLegerSelfId=n3").unwrap();
    assert_eq!(cfg.raft_peers()[0].node_id, 0);
    assert_eq!(cfg.self_node_id(), 0);
}

#[test]
fn store_paths_follow_the_root() {
    let cfg = parse("storePathRootDir=/data/mq").unwrap();
    assert_eq!(
        cfg.store_path_commit_log,
        PathBuf::from("/data/mq/commitlog")
    );
    assert_eq!(
        cfg.store_path_consume_queue,
        PathBuf::from("/data/mq/consumequeue")
    );
    assert_eq!(cfg.store_path_index, PathBuf::from("/data/mq/index"));
    assert_eq!(cfg.store_checkpoint, PathBuf::from("/data/mq/checkpoint"));
    assert_eq!(cfg.abort_file, PathBuf::from("/data/mq/abort"));

    // An explicit sub-path wins; the others still follow the root, in any key order.
    let cfg = parse("storePathCommitLog=/fast/commitlog\nstorePathRootDir=/data/mq").unwrap();
    assert_eq!(cfg.store_path_commit_log, PathBuf::from("/fast/commitlog"));
    assert_eq!(cfg.store_path_index, PathBuf::from("/data/mq/index"));

    // Only a sub-path: the root stays at its default.
    let cfg = parse("storePathIndex=/i").unwrap();
    assert_eq!(cfg.store_path_root_dir, home().join("store"));
    assert_eq!(cfg.store_path_index, PathBuf::from("/i"));
}

#[test]
fn store_root_defaults_to_home_or_the_working_directory() {
    assert_eq!(
        default_store_root(Some("/home/mq".into())),
        PathBuf::from("/home/mq/store")
    );
    assert_eq!(default_store_root(None), PathBuf::from("./store"));
}

#[test]
fn tilde_expands_to_home() {
    if let Some(home) = values::home_dir() {
        let cfg = parse("storePathRootDir=~/mq").unwrap();
        assert_eq!(cfg.store_path_root_dir, home.join("mq"));
        assert_eq!(cfg.store_path_commit_log, home.join("mq/commitlog"));
    }
}

#[test]
fn values_are_trimmed_and_case_insensitive_where_rocketmq_is_lenient() {
    let cfg = parse(
        "brokerName = b1   \nbrokerRole=sync_master\nflushDiskType=Sync_Flush\n\
         autoCreateTopicEnable=FALSE\ndeleteWhen=04;16\nnamesrvAddr=a:1; b:2;\n",
    )
    .unwrap();
    assert_eq!(cfg.broker_name, "b1");
    assert_eq!(cfg.d_leger_group, "b1", "dLegerGroup follows brokerName");
    assert_eq!(cfg.broker_role, BrokerRole::SyncMaster);
    assert_eq!(cfg.flush_disk_type, FlushDiskType::SyncFlush);
    assert!(!cfg.auto_create_topic_enable);
    assert_eq!(cfg.delete_when, vec![4, 16]);
    assert_eq!(cfg.namesrv_addr, Some(vec!["a:1".into(), "b:2".into()]));
}

#[test]
fn unknown_keys_are_kept_not_fatal() {
    let cfg = parse("brokerName=x\nhaSendHeartbeatInterval=5000\nbrokerNmae=typo\n").unwrap();
    let unknown: Vec<_> = cfg
        .unknown
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        unknown,
        vec![("brokerNmae", "typo"), ("haSendHeartbeatInterval", "5000")]
    );
}

#[test]
fn duplicate_keys_last_wins() {
    let cfg = parse("listenPort=1000\nlistenPort=2000").unwrap();
    assert_eq!(cfg.listen_port, 2000);
}

/// Each bad value is a `BadValue` whose one-line message names the file, line and key.
#[test]
fn bad_values_name_file_line_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "enableDLegerCommitLog=yes",
            "enableDLegerCommitLog",
            "\"yes\" is not a boolean",
        ),
        (
            "autoCreateTopicEnable=1",
            "autoCreateTopicEnable",
            "not a boolean",
        ),
        (
            "unsafeAckBeforeCommit=on",
            "unsafeAckBeforeCommit",
            "not a boolean",
        ),
        (
            "listenPort=abc",
            "listenPort",
            "\"abc\" is not a whole number",
        ),
        ("listenPort=-1", "listenPort", "negative"),
        ("listenPort=70000", "listenPort", "too large"),
        ("listenPort=0", "listenPort", "outside 1..=65534"),
        ("listenPort=65535", "listenPort", "HA/Raft port"),
        ("brokerId=1x", "brokerId", "not a whole number"),
        ("brokerId=99999999999999999999", "brokerId", "too large"),
        (
            "brokerRole=MASTER",
            "brokerRole",
            "not ASYNC_MASTER, SYNC_MASTER or SLAVE",
        ),
        (
            "flushDiskType=SYNC",
            "flushDiskType",
            "not ASYNC_FLUSH or SYNC_FLUSH",
        ),
        ("brokerName=", "brokerName", "is empty"),
        ("brokerClusterName=", "brokerClusterName", "is empty"),
        ("brokerIP1=", "brokerIP1", "not a host"),
        ("namesrvAddr=127.0.0.1", "namesrvAddr", "not host:port"),
        ("namesrvAddr=ns:9876;ns2:0", "namesrvAddr", "1-65535"),
        ("storePathRootDir=", "storePathRootDir", "is empty"),
        ("storePathCommitLog=", "storePathCommitLog", "is empty"),
        (
            "dLegerPeers=nx-127.0.0.1:40911",
            "dLegerPeers",
            "\"nx\" has no numeric suffix",
        ),
        ("dLegerPeers=n0-127.0.0.1", "dLegerPeers", "not host:port"),
        ("dLegerPeers=n0-:1", "dLegerPeers", "no valid host"),
        ("dLegerPeers=n0-h:99999", "dLegerPeers", "1-65535"),
        ("dLegerPeers=n0_h:1", "dLegerPeers", "id-host:port"),
        (
            "flushIntervalCommitLog=0",
            "flushIntervalCommitLog",
            "minimum of 1",
        ),
        (
            "sendMessageThreadPoolNums=0",
            "sendMessageThreadPoolNums",
            "minimum of 1",
        ),
        (
            "sendMessageThreadPoolNums=-4",
            "sendMessageThreadPoolNums",
            "negative",
        ),
        ("fileReservedTime=-1", "fileReservedTime", "negative"),
        (
            "fileReservedTime=72h",
            "fileReservedTime",
            "not a whole number",
        ),
        ("deleteWhen=24", "deleteWhen", "not an hour 00-23"),
        ("deleteWhen=", "deleteWhen", "lists no hour"),
        (
            "mappedFileSizeCommitLog=4095",
            "mappedFileSizeCommitLog",
            "minimum of 4096",
        ),
        (
            "mappedFileSizeCommitLog=1e9",
            "mappedFileSizeCommitLog",
            "not a whole number",
        ),
        (
            "mappedFileSizeConsumeQueue=6000001",
            "mappedFileSizeConsumeQueue",
            "multiple of 20",
        ),
        (
            "mappedFileSizeConsumeQueue=0",
            "mappedFileSizeConsumeQueue",
            "minimum of 20",
        ),
        ("maxMessageSize=0", "maxMessageSize", "minimum of 1"),
        ("maxMessageSize=4294967296", "maxMessageSize", "too large"),
        (
            "defaultTopicQueueNums=0",
            "defaultTopicQueueNums",
            "minimum of 1",
        ),
        (
            "diskMaxUsedSpaceRatio=96",
            "diskMaxUsedSpaceRatio",
            "outside 10..=95",
        ),
        (
            "diskMaxUsedSpaceRatio=9",
            "diskMaxUsedSpaceRatio",
            "outside 10..=95",
        ),
        (
            "raftHeartbeatIntervalMs=0",
            "raftHeartbeatIntervalMs",
            "minimum of 1",
        ),
        (
            "raftElectionTimeoutMs=x",
            "raftElectionTimeoutMs",
            "not a whole number",
        ),
        (
            "raftSnapshotLogsSinceLast=0",
            "raftSnapshotLogsSinceLast",
            "minimum of 1",
        ),
    ];
    for &(line, key, needle) in cases {
        // Put the bad line on line 3 to check the line number is reported.
        let text = format!("# header\nbrokerName=b\n{line}\n");
        let err = parse(&text).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::BadValue { .. }), "{line}: {msg}");
        assert_eq!(err.key(), Some(key), "{msg}");
        assert_eq!(err.line(), Some(3), "{msg}");
        assert!(msg.starts_with(&format!("{ORIGIN}:3: {key}: ")), "{msg}");
        assert!(msg.contains(needle), "{line}: {msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}

#[test]
fn cross_key_errors_from_a_file_name_it() {
    let text = DLEDGER_N0.replace("dLegerSelfId=n0", "dLegerSelfId=n5");
    let err = parse(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "broker-n0.conf: dLegerSelfId: \"n5\" is not among dLegerPeers (n0, n1, n2)"
    );
    let text = DLEDGER_N0.replace("n2-127.0.0.1:40913", "n1-127.0.0.1:40913");
    assert_eq!(parse(&text).unwrap_err().key(), Some("dLegerPeers"));
    let text = DLEDGER_N0.replace("n2-127.0.0.1:40913", "n2-127.0.0.1:40912");
    assert!(parse(&text)
        .unwrap_err()
        .to_string()
        .contains("used by two peers"));
    let text = format!("{DLEDGER_N0}preferredLeaderId=n7\n");
    assert_eq!(parse(&text).unwrap_err().key(), Some("preferredLeaderId"));
    let text = DLEDGER_N0.replace("listenPort=30911", "listenPort=40911");
    assert_eq!(parse(&text).unwrap_err().key(), Some("listenPort"));
    let text = DLEDGER_N0.replace("dLegerSelfId=n0", "");
    assert_eq!(parse(&text).unwrap_err().key(), Some("dLegerSelfId"));
}

#[test]
fn unsafe_ack_is_only_accepted_with_the_env_switch() {
    let err = parse("unsafeAckBeforeCommit=true").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("broker-n0.conf: unsafeAckBeforeCommit: "),
        "{msg}"
    );
    assert!(msg.contains("test-only") && msg.contains("lost"), "{msg}");
    let cfg = BrokerConfig::parse("unsafeAckBeforeCommit=true", Path::new(ORIGIN), true).unwrap();
    assert!(cfg.unsafe_ack_before_commit);
    // Off is always fine.
    parse("unsafeAckBeforeCommit=false").unwrap();
}

#[test]
fn namesrv_addr_env_applies_only_when_the_key_is_absent() {
    let mut cfg = parse("").unwrap();
    cfg.apply_namesrv_addr_env(Some("ns1:9876;ns2:9876"))
        .unwrap();
    assert_eq!(
        cfg.namesrv_addr,
        Some(vec!["ns1:9876".into(), "ns2:9876".into()])
    );

    let mut cfg = parse("namesrvAddr=file:9876").unwrap();
    cfg.apply_namesrv_addr_env(Some("env:9876")).unwrap();
    assert_eq!(cfg.namesrv_addr, Some(vec!["file:9876".into()]));

    let mut cfg = parse("").unwrap();
    cfg.apply_namesrv_addr_env(None).unwrap();
    assert_eq!(cfg.namesrv_addr, None);

    let err = parse("")
        .unwrap()
        .apply_namesrv_addr_env(Some("nope"))
        .unwrap_err();
    assert_eq!(err.key(), Some("namesrvAddr"));
    assert!(
        err.to_string()
            .starts_with("environment NAMESRV_ADDR: namesrvAddr: "),
        "{err}"
    );
}

#[test]
fn to_properties_lists_every_key_and_round_trips() {
    let defaults = parse("").unwrap();
    let props = defaults.to_properties();
    assert_eq!(
        props.len(),
        45,
        "one entry per known key (raftPeerSecret never listed)"
    );
    assert_eq!(
        get_value(&props, "messageDelayLevel"),
        Some(crate::config::delay_levels::DEFAULT_MESSAGE_DELAY_LEVEL)
    );
    let get = |key: &str| {
        props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("brokerRole"), Some("ASYNC_MASTER"));
    assert_eq!(get("deleteWhen"), Some("04"));
    assert_eq!(get("transactionTimeOut"), Some("6000"));
    assert_eq!(get("transactionCheckInterval"), Some("60000"));
    assert_eq!(get("transactionCheckMax"), Some("15"));
    assert_eq!(get("namesrvAddr"), Some(""));
    assert_eq!(get("mappedFileSizeConsumeQueue"), Some("6000000"));
    assert_eq!(parse(&to_text(&props)).unwrap(), defaults);

    let text = format!(
        "{DLEDGER_N0}preferredLeaderId=n1\ndeleteWhen=04;16\nbrokerRole=SLAVE\nbrokerId=3\n\
         flushDiskType=SYNC_FLUSH\ncustomKey=kept\n"
    );
    let cfg = parse(&text).unwrap();
    let again = parse(&to_text(&cfg.to_properties())).unwrap();
    assert_eq!(again, cfg);
    assert_eq!(
        again
            .to_properties()
            .iter()
            .find(|(k, _)| k == "dLegerPeers")
            .map(|(_, v)| v.as_str()),
        Some("n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913")
    );
}

#[test]
fn from_file_reads_the_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker-n0.conf");
    std::fs::write(&path, DLEDGER_N0).unwrap();
    let cfg = BrokerConfig::from_file(&path, false).unwrap();
    assert_eq!(cfg.origin, path);
    assert_eq!(cfg.self_node_id(), 0);

    std::fs::write(&path, "listenPort=x\n").unwrap();
    let err = BrokerConfig::from_file(&path, false).unwrap_err();
    assert_eq!(err.file(), path.as_path());
    assert!(err
        .to_string()
        .starts_with(&format!("{}:1: listenPort: ", path.display())));

    std::fs::write(&path, "a=1\nb=\\uZZZZ\n").unwrap();
    let err = BrokerConfig::from_file(&path, false).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { line: 2, .. }), "{err}");

    let err = BrokerConfig::from_file(&dir.path().join("missing.conf"), false).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err.to_string().contains("missing.conf"));
}

#[test]
fn master_slave_keys() {
    let cfg = parse("listenPort=20911\n").unwrap();
    assert_eq!(cfg.ha_listen_port, 20912, "haListenPort follows listenPort");
    assert_eq!(cfg.raft_peers()[0].addr, "127.0.0.1:20912");
    let cfg = parse(
        "brokerRole=SLAVE\nbrokerId=2\nhaListenPort=30000\nhaMasterAddress=10.0.0.1:10912\n\
         syncFlushTimeout=700\n",
    )
    .unwrap();
    assert_eq!(cfg.self_node_id(), 2, "a slave's node id is its brokerId");
    assert_eq!(cfg.raft_peers()[0].addr, "127.0.0.1:30000");
    assert_eq!(cfg.ha_master_address.as_deref(), Some("10.0.0.1:10912"));
    assert_eq!(cfg.sync_flush_timeout, 700);
    let err = parse("listenPort=10911\nhaListenPort=10911\n").unwrap_err();
    assert_eq!(err.key(), Some("haListenPort"), "{err}");
    let err = parse("haMasterAddress=nohost\n").unwrap_err();
    assert_eq!(err.key(), Some("haMasterAddress"), "{err}");
}

fn get_value<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
    props
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn delay_levels_and_the_timer_limit_are_read_and_checked() {
    let cfg = parse("messageDelayLevel=1s 2s\ntimerMaxDelaySec=60\n").unwrap();
    assert_eq!(cfg.message_delay_level, vec![1_000, 2_000]);
    assert_eq!(cfg.timer_max_delay_sec, 60);
    let defaults = parse("").unwrap();
    assert_eq!(defaults.message_delay_level.len(), 18);
    assert_eq!(defaults.timer_max_delay_sec, 259_200);
    let err = parse("messageDelayLevel=1s 5q\n").unwrap_err();
    assert_eq!(err.key(), Some("messageDelayLevel"));
}

#[test]
fn acl_keys_parse_and_acl_without_a_peer_secret_is_refused() {
    let defaults = parse("").unwrap();
    assert!(!defaults.acl.acl_enable);
    assert!(defaults.acl.acl_file.ends_with("plain_acl.yml"));

    let err = parse(&format!("{DLEDGER_N0}aclEnable=true\n")).unwrap_err();
    assert!(err.to_string().contains("raftPeerSecret"), "{err}");
    let err = parse("raftPeerSecret=short\n").unwrap_err();
    assert!(err.to_string().contains("at least 8"), "{err}");

    let cfg = BrokerConfig::parse(
        &format!(
            "{DLEDGER_N0}aclEnable=true\nraftPeerSecret=peer-secret-1\n\
             rocketmq.acl.plain.file=acl/my_acl.yml\n"
        ),
        Path::new("/etc/lmq/broker.conf"),
        false,
    )
    .unwrap();
    assert!(cfg.acl.acl_enable);
    assert_eq!(cfg.acl.acl_file, PathBuf::from("/etc/lmq/acl/my_acl.yml"));
    assert_eq!(
        cfg.acl
            .raft_peer_secret
            .as_ref()
            .map(|s| s.expose().to_vec()),
        Some(b"peer-secret-1".to_vec())
    );
    let shown = format!("{cfg:?} {:?}", cfg.to_properties());
    assert!(
        !shown.contains("peer-secret-1"),
        "the secret leaked: {shown}"
    );
}

#[test]
fn the_brokers_name_server_account_comes_in_pairs() {
    let cfg = parse("namesrvAccessKey=rocketmq2\nnamesrvSecretKey=12345678\n").unwrap();
    let account = cfg.acl.namesrv_account.clone().unwrap();
    assert_eq!(account.access_key, "rocketmq2");
    assert!(!format!("{cfg:?}").contains("12345678"));
    let err = parse("namesrvAccessKey=rocketmq2\n").unwrap_err();
    assert!(err.to_string().contains("go together"), "{err}");
}
