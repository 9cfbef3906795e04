//! Every metric name, with its help text, in Prometheus style: `ledgermq_` prefix, the unit as
//! a suffix (`_seconds`, `_bytes`, `_messages`, `_entries`), `_total` on counters. Labels are
//! lower_snake_case and bounded: request and response codes use RocketMQ's names (an unknown
//! code is `other`), topics and groups are the broker's own (created through Raft).

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

// Broker requests.
pub const BROKER_REQUESTS: &str = "ledgermq_broker_requests_total";
pub const BROKER_REQUEST_DURATION: &str = "ledgermq_broker_request_duration_seconds";
pub const BROKER_RECEIVED_BYTES: &str = "ledgermq_broker_received_bytes_total";
pub const BROKER_SENT_BYTES: &str = "ledgermq_broker_sent_bytes_total";

// Messages.
pub const TOPIC_PUT_MESSAGES: &str = "ledgermq_broker_topic_put_messages_total";
pub const TOPIC_PUT_BYTES: &str = "ledgermq_broker_topic_put_bytes_total";
pub const GOT_MESSAGES: &str = "ledgermq_broker_got_messages_total";
pub const GOT_BYTES: &str = "ledgermq_broker_got_bytes_total";
pub const GROUP_LAG: &str = "ledgermq_consumer_group_lag_messages";
pub const SCHEDULE_BACKLOG: &str = "ledgermq_schedule_backlog_messages";
pub const SCHEDULE_DELIVERED: &str = "ledgermq_schedule_delivered_messages_total";
pub const SCHEDULE_LATENESS: &str = "ledgermq_schedule_delivery_lateness_seconds";

// Raft.
pub const RAFT_TERM: &str = "ledgermq_raft_term";
pub const RAFT_IS_LEADER: &str = "ledgermq_raft_is_leader";
pub const RAFT_LAST_LOG_INDEX: &str = "ledgermq_raft_last_log_index";
pub const RAFT_COMMIT_INDEX: &str = "ledgermq_raft_commit_index";
pub const RAFT_APPLIED_INDEX: &str = "ledgermq_raft_applied_index";
pub const RAFT_FOLLOWER_LAG: &str = "ledgermq_raft_follower_lag_entries";
pub const RAFT_LEADER_CHANGES: &str = "ledgermq_raft_leader_changes_total";
pub const RAFT_QUORUM_ACK_AGE: &str = "ledgermq_raft_quorum_ack_age_seconds";

// Store.
pub const FSYNC_DURATION: &str = "ledgermq_commitlog_fsync_duration_seconds";
pub const COMMITLOG_SEGMENTS: &str = "ledgermq_commitlog_segments";
pub const COMMITLOG_DISK_BYTES: &str = "ledgermq_commitlog_disk_bytes";
pub const DISK_USED_RATIO: &str = "ledgermq_store_disk_used_ratio";

// Name server.
pub const NAMESRV_REQUESTS: &str = "ledgermq_namesrv_requests_total";
pub const NAMESRV_BROKERS: &str = "ledgermq_namesrv_brokers";
pub const NAMESRV_TOPICS: &str = "ledgermq_namesrv_topics";

// Both.
pub const BUILD_INFO: &str = "ledgermq_build_info";

/// Registers the help text and unit of every metric (the `# HELP` lines).
pub(super) fn describe() {
    describe_gauge!(
        SCHEDULE_BACKLOG,
        Unit::Count,
        "Delayed messages waiting in the replicated schedule, by lane (delay level or timer)."
    );
    describe_counter!(
        SCHEDULE_DELIVERED,
        Unit::Count,
        "Delayed messages this node (as leader) moved to their real topic, by lane."
    );
    describe_histogram!(
        SCHEDULE_LATENESS,
        Unit::Seconds,
        "Time from a delayed message's due time to its delivery being committed, by lane."
    );
    describe_counter!(
        BROKER_REQUESTS,
        Unit::Count,
        "Requests answered by the broker, by request and response code."
    );
    describe_histogram!(
        BROKER_REQUEST_DURATION,
        Unit::Seconds,
        "Time from a send or pull request's arrival to its answer, by request and response code (a long-polling pull includes its hold)."
    );
    describe_counter!(
        BROKER_RECEIVED_BYTES,
        Unit::Bytes,
        "Request body bytes received by the broker."
    );
    describe_counter!(
        BROKER_SENT_BYTES,
        Unit::Bytes,
        "Response body bytes sent by the broker."
    );
    describe_counter!(
        TOPIC_PUT_MESSAGES,
        Unit::Count,
        "Messages acknowledged SEND_OK by this node (as leader), by topic."
    );
    describe_counter!(
        TOPIC_PUT_BYTES,
        Unit::Bytes,
        "Message bytes acknowledged by this node (as leader), by topic."
    );
    describe_counter!(
        GOT_MESSAGES,
        Unit::Count,
        "Messages delivered to consumers by this node's pulls."
    );
    describe_counter!(
        GOT_BYTES,
        Unit::Bytes,
        "Message bytes delivered to consumers by this node's pulls."
    );
    describe_gauge!(
        GROUP_LAG,
        Unit::Count,
        "Messages not yet consumed: queue max offset minus the group's committed offset, summed over the topic's queues."
    );
    describe_gauge!(RAFT_TERM, Unit::Count, "This node's current Raft term.");
    describe_gauge!(
        RAFT_IS_LEADER,
        Unit::Count,
        "1 while this node is the Raft leader, else 0; the state label names its role."
    );
    describe_gauge!(
        RAFT_LAST_LOG_INDEX,
        Unit::Count,
        "Index of the last entry in this node's log."
    );
    describe_gauge!(
        RAFT_COMMIT_INDEX,
        Unit::Count,
        "Highest log index this node knows to be committed."
    );
    describe_gauge!(
        RAFT_APPLIED_INDEX,
        Unit::Count,
        "Highest log index applied to this node's state machine."
    );
    describe_gauge!(
        RAFT_FOLLOWER_LAG,
        Unit::Count,
        "On the leader: its last log index minus the follower's matched index."
    );
    describe_counter!(
        RAFT_LEADER_CHANGES,
        Unit::Count,
        "Elections this node has seen since it started (a new leader, or a new term)."
    );
    describe_gauge!(
        RAFT_QUORUM_ACK_AGE,
        Unit::Seconds,
        "On the leader: time since a quorum last acknowledged it."
    );
    describe_histogram!(
        FSYNC_DURATION,
        Unit::Seconds,
        "Duration of each CommitLog fdatasync."
    );
    describe_gauge!(
        COMMITLOG_SEGMENTS,
        Unit::Count,
        "CommitLog segment files on disk."
    );
    describe_gauge!(
        COMMITLOG_DISK_BYTES,
        Unit::Bytes,
        "Disk space reserved by CommitLog segment files, the spare next segment included."
    );
    describe_gauge!(
        DISK_USED_RATIO,
        Unit::Percent,
        "Used fraction (0-1) of the file system holding the CommitLog."
    );
    describe_counter!(
        NAMESRV_REQUESTS,
        Unit::Count,
        "Requests answered by the name server, by request and response code."
    );
    describe_gauge!(
        NAMESRV_BROKERS,
        Unit::Count,
        "Broker nodes registered with the name server."
    );
    describe_gauge!(
        NAMESRV_TOPICS,
        Unit::Count,
        "Topics known to the name server."
    );
    describe_gauge!(
        BUILD_INFO,
        Unit::Count,
        "Always 1; the labels name the LedgerMQ version and the process's role."
    );
}

/// A request code's label: RocketMQ's name, or `other` (a hostile client must not be able to
/// mint label values).
pub fn request_label(code: i32) -> &'static str {
    crate::remoting::codes::request_code_name(code).unwrap_or("other")
}

/// A response code's label: RocketMQ's name, or `other`.
pub fn response_label(code: i32) -> &'static str {
    crate::remoting::codes::response_code_name(code).unwrap_or("other")
}
