//! RocketMQ's rules for topic names, and the names it reserves: Java's `TopicValidator` and the
//! `%RETRY%`/`%DLQ%` prefixes of `MixAll`.
//!
//! One home for them because every layer applies them: the state machine refuses an invalid
//! name (topic names become directory names), the send processor and the admin processor
//! answer one, our producer checks before it sends, the dashboard and `mqadmin` sort topics by
//! kind, and the broker creates the system topics. Pure functions of a name; no I/O.

/// The topic whose route and config seed an auto-created topic (`TopicValidator
/// .AUTO_CREATE_TOPIC_KEY_TOPIC`): it carries the inherit permission, and producers name it as
/// the `defaultTopic` of a send to an unknown topic. Nobody may send to it.
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";
/// A topic every broker creates for `mqadmin`'s self test (`RMQ_SYS_SELF_TEST_TOPIC`).
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
/// Where a Java broker records a consumer's offset that moved (`RMQ_SYS_OFFSET_MOVED_EVENT`).
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
/// RocketMQ's benchmark topic (`RMQ_SYS_BENCHMARK_TOPIC`).
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
/// Delayed messages wait here, one queue per delay level (`RMQ_SYS_SCHEDULE_TOPIC`).
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Transactional half messages wait here until committed or rolled back.
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// The op records that resolve half messages.
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Half messages checked back too often go here.
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// The default topic of message traces.
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
/// Prefix of every topic RocketMQ 5 reserves for itself (`TopicValidator.SYSTEM_TOPIC_PREFIX`).
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";

/// The topics RocketMQ creates or reserves for itself, by exact name. A cluster's and a
/// broker's own names are system topics too, but they are only known at run time.
pub const SYSTEM_TOPICS: &[&str] = &[
    AUTO_CREATE_TOPIC_KEY,
    SELF_TEST_TOPIC,
    OFFSET_MOVED_EVENT,
    BENCHMARK_TOPIC,
    SCHEDULE_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
    TRACE_TOPIC,
];

/// Prefix of a consumer group's retry topic (`MixAll.RETRY_GROUP_TOPIC_PREFIX`), which every
/// clustering consumer of the group also consumes.
pub const RETRY_PREFIX: &str = "%RETRY%";
/// Prefix of a consumer group's dead-letter topic (`MixAll.DLQ_GROUP_TOPIC_PREFIX`).
pub const DLQ_PREFIX: &str = "%DLQ%";

/// Longest topic name, in bytes (`TopicValidator.TOPIC_MAX_LENGTH`).
pub const TOPIC_MAX_LEN: usize = 127;

/// RocketMQ's topic charset: letters, digits, `%`, `|`, `-`, `_`; at most 127 bytes.
pub fn valid_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= TOPIC_MAX_LEN
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'-' | b'_'))
}

/// `group`'s retry topic: `%RETRY%group`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_PREFIX}{group}")
}

/// `group`'s dead-letter topic: `%DLQ%group`.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_PREFIX}{group}")
}

/// The consumer group whose retry topic `topic` is, if it is one.
pub fn retry_group(topic: &str) -> Option<&str> {
    topic.strip_prefix(RETRY_PREFIX)
}

/// Whether `topic` is a consumer group's retry topic.
pub fn is_retry_topic(topic: &str) -> bool {
    topic.starts_with(RETRY_PREFIX)
}

/// Whether `topic` is a consumer group's dead-letter topic.
pub fn is_dlq_topic(topic: &str) -> bool {
    topic.starts_with(DLQ_PREFIX)
}

/// Whether RocketMQ reserves `topic` for itself: one of [`SYSTEM_TOPICS`] or a name under
/// [`SYSTEM_TOPIC_PREFIX`]. (Retry and dead-letter topics belong to their groups.)
pub fn is_system_topic(topic: &str) -> bool {
    SYSTEM_TOPICS.contains(&topic) || topic.starts_with(SYSTEM_TOPIC_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charset_and_length_are_rocketmqs() {
        assert!(valid_topic_name("TopicTest"));
        assert!(valid_topic_name("%RETRY%g-1|x_y"));
        assert!(valid_topic_name(&"a".repeat(127)));
        assert!(!valid_topic_name(&"a".repeat(128)));
        assert!(!valid_topic_name(""));
        for bad in ["a b", "a/b", "a.b", "../x", "ü", "a\u{0}"] {
            assert!(!valid_topic_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn retry_and_dlq_topics_name_their_group() {
        assert_eq!(retry_topic("G1"), "%RETRY%G1");
        assert_eq!(dlq_topic("G1"), "%DLQ%G1");
        assert_eq!(retry_group("%RETRY%G1"), Some("G1"));
        assert_eq!(retry_group("%DLQ%G1"), None);
        assert!(is_retry_topic(&retry_topic("g")) && !is_retry_topic("g"));
        assert!(is_dlq_topic(&dlq_topic("g")) && !is_dlq_topic(&retry_topic("g")));
        // Every generated name is a valid topic when the group is.
        assert!(valid_topic_name(&retry_topic(
            "please_rename_unique_group_name"
        )));
    }

    #[test]
    fn system_topics_by_name_and_by_prefix() {
        for t in SYSTEM_TOPICS {
            assert!(is_system_topic(t), "{t}");
            assert!(valid_topic_name(t), "{t}");
        }
        assert!(is_system_topic("rmq_sys_wheel_timer"));
        assert!(!is_system_topic("TopicTest"));
        assert!(!is_system_topic(&retry_topic("g")));
    }
}
