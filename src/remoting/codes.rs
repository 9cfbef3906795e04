//! Request and response codes, with RocketMQ's own names and numbers (4.9.x `RequestCode`,
//! `ResponseCode` and `RemotingSysResponseCode`).
//!
//! The numbers are wire facts shared with every RocketMQ client: never renumber or reuse one.
//! What a code *means* to the broker or the name server is decided by their processors, not here.

/// Declares a `pub mod` of `i32` constants and a name lookup over the same table, so the two can
/// never disagree. A duplicated value is an unreachable match arm, which `-D warnings` rejects.
macro_rules! code_table {
    (
        $(#[$mod_doc:meta])* mod $module:ident;
        $(#[$fn_doc:meta])* fn $lookup:ident;
        $( $(#[$doc:meta])* $name:ident = $value:literal, )*
    ) => {
        $(#[$mod_doc])*
        pub mod $module {
            $( $(#[$doc])* pub const $name: i32 = $value; )*

            /// Every `(name, code)` of this table, in declaration order.
            pub const ALL: &[(&str, i32)] = &[ $( (stringify!($name), $value), )* ];
        }

        $(#[$fn_doc])*
        pub fn $lookup(code: i32) -> Option<&'static str> {
            match code {
                $( $module::$name => Some(stringify!($name)), )*
                _ => None,
            }
        }
    };
}

code_table! {
    /// Request codes: what a request asks for (`RemotingCommand::code` when the response flag
    /// is clear).
    mod request_code;
    /// The RocketMQ name of a request code, for logs and spans; `None` for a code RocketMQ 4.9.x
    /// does not define.
    fn request_code_name;
    SEND_MESSAGE = 10,
    PULL_MESSAGE = 11,
    QUERY_MESSAGE = 12,
    QUERY_BROKER_OFFSET = 13,
    QUERY_CONSUMER_OFFSET = 14,
    UPDATE_CONSUMER_OFFSET = 15,
    UPDATE_AND_CREATE_TOPIC = 17,
    GET_ALL_TOPIC_CONFIG = 21,
    GET_TOPIC_CONFIG_LIST = 22,
    GET_TOPIC_NAME_LIST = 23,
    UPDATE_BROKER_CONFIG = 25,
    GET_BROKER_CONFIG = 26,
    TRIGGER_DELETE_FILES = 27,
    GET_BROKER_RUNTIME_INFO = 28,
    SEARCH_OFFSET_BY_TIMESTAMP = 29,
    GET_MAX_OFFSET = 30,
    GET_MIN_OFFSET = 31,
    GET_EARLIEST_MSG_STORETIME = 32,
    VIEW_MESSAGE_BY_ID = 33,
    HEART_BEAT = 34,
    UNREGISTER_CLIENT = 35,
    CONSUMER_SEND_MSG_BACK = 36,
    /// Producer → broker, sent oneway.
    END_TRANSACTION = 37,
    GET_CONSUMER_LIST_BY_GROUP = 38,
    /// Broker → producer, oneway, on the producer's own connection.
    CHECK_TRANSACTION_STATE = 39,
    /// Broker → consumer, oneway, on the consumer's own connection.
    NOTIFY_CONSUMER_IDS_CHANGED = 40,
    LOCK_BATCH_MQ = 41,
    UNLOCK_BATCH_MQ = 42,
    GET_ALL_CONSUMER_OFFSET = 43,
    GET_ALL_DELAY_OFFSET = 45,
    CHECK_CLIENT_CONFIG = 46,
    UPDATE_AND_CREATE_ACL_CONFIG = 50,
    DELETE_ACL_CONFIG = 51,
    GET_BROKER_CLUSTER_ACL_INFO = 52,
    UPDATE_GLOBAL_WHITE_ADDRS_CONFIG = 53,
    GET_BROKER_CLUSTER_ACL_CONFIG = 54,
    PUT_KV_CONFIG = 100,
    GET_KV_CONFIG = 101,
    DELETE_KV_CONFIG = 102,
    REGISTER_BROKER = 103,
    UNREGISTER_BROKER = 104,
    GET_ROUTEINFO_BY_TOPIC = 105,
    GET_BROKER_CLUSTER_INFO = 106,
    UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200,
    GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201,
    GET_TOPIC_STATS_INFO = 202,
    GET_CONSUMER_CONNECTION_LIST = 203,
    GET_PRODUCER_CONNECTION_LIST = 204,
    WIPE_WRITE_PERM_OF_BROKER = 205,
    GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206,
    DELETE_SUBSCRIPTIONGROUP = 207,
    GET_CONSUME_STATS = 208,
    SUSPEND_CONSUMER = 209,
    RESUME_CONSUMER = 210,
    RESET_CONSUMER_OFFSET_IN_CONSUMER = 211,
    RESET_CONSUMER_OFFSET_IN_BROKER = 212,
    ADJUST_CONSUMER_THREAD_POOL = 213,
    WHO_CONSUME_THE_MESSAGE = 214,
    DELETE_TOPIC_IN_BROKER = 215,
    DELETE_TOPIC_IN_NAMESRV = 216,
    GET_KVLIST_BY_NAMESPACE = 219,
    /// Broker → client.
    RESET_CONSUMER_CLIENT_OFFSET = 220,
    /// Broker → client.
    GET_CONSUMER_STATUS_FROM_CLIENT = 221,
    INVOKE_BROKER_TO_RESET_OFFSET = 222,
    INVOKE_BROKER_TO_GET_CONSUMER_STATUS = 223,
    GET_TOPICS_BY_CLUSTER = 224,
    QUERY_TOPIC_CONSUME_BY_WHO = 300,
    REGISTER_FILTER_SERVER = 301,
    REGISTER_MESSAGE_FILTER_CLASS = 302,
    QUERY_CONSUME_TIME_SPAN = 303,
    GET_SYSTEM_TOPIC_LIST_FROM_NS = 304,
    GET_SYSTEM_TOPIC_LIST_FROM_BROKER = 305,
    CLEAN_EXPIRED_CONSUMEQUEUE = 306,
    /// Admin → broker → client (forwarded on the client's connection).
    GET_CONSUMER_RUNNING_INFO = 307,
    QUERY_CORRECTION_OFFSET = 308,
    /// Admin → broker → client (forwarded on the client's connection).
    CONSUME_MESSAGE_DIRECTLY = 309,
    SEND_MESSAGE_V2 = 310,
    GET_UNIT_TOPIC_LIST = 311,
    GET_HAS_UNIT_SUB_TOPIC_LIST = 312,
    GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST = 313,
    CLONE_GROUP_OFFSET = 314,
    VIEW_BROKER_STATS_DATA = 315,
    CLEAN_UNUSED_TOPIC = 316,
    GET_BROKER_CONSUME_STATS = 317,
    UPDATE_NAMESRV_CONFIG = 318,
    GET_NAMESRV_CONFIG = 319,
    SEND_BATCH_MESSAGE = 320,
    QUERY_CONSUME_QUEUE = 321,
    QUERY_DATA_VERSION = 322,
    RESUME_CHECK_HALF_MESSAGE = 323,
    SEND_REPLY_MESSAGE = 324,
    SEND_REPLY_MESSAGE_V2 = 325,
    /// Broker → client.
    PUSH_REPLY_MESSAGE_TO_CLIENT = 326,
    ADD_WRITE_PERM_OF_BROKER = 327,
    GET_ALL_PRODUCER_INFO = 328,
    DELETE_EXPIRED_COMMITLOG = 329,
}

code_table! {
    /// Response codes: how a request went (`RemotingCommand::code` when the response flag is
    /// set). 0–4 are the transport-level `RemotingSysResponseCode`s, the rest `ResponseCode`.
    mod response_code;
    /// The RocketMQ name of a response code, for logs; `None` for an unknown code.
    fn response_code_name;
    SUCCESS = 0,
    /// A processor failed; the remark says why. Java producers retry a send on this code.
    SYSTEM_ERROR = 1,
    /// Flow control or overload; remark starts with `[REJECTREQUEST]` or `[OVERLOAD]`.
    SYSTEM_BUSY = 2,
    /// No processor for the request code; remark `" request type {code} not supported"`.
    REQUEST_CODE_NOT_SUPPORTED = 3,
    TRANSACTION_FAILED = 4,
    FLUSH_DISK_TIMEOUT = 10,
    SLAVE_NOT_AVAILABLE = 11,
    FLUSH_SLAVE_TIMEOUT = 12,
    MESSAGE_ILLEGAL = 13,
    SERVICE_NOT_AVAILABLE = 14,
    VERSION_NOT_SUPPORTED = 15,
    NO_PERMISSION = 16,
    TOPIC_NOT_EXIST = 17,
    TOPIC_EXIST_ALREADY = 18,
    PULL_NOT_FOUND = 19,
    PULL_RETRY_IMMEDIATELY = 20,
    PULL_OFFSET_MOVED = 21,
    QUERY_NOT_FOUND = 22,
    SUBSCRIPTION_PARSE_FAILED = 23,
    SUBSCRIPTION_NOT_EXIST = 24,
    SUBSCRIPTION_NOT_LATEST = 25,
    SUBSCRIPTION_GROUP_NOT_EXIST = 26,
    FILTER_DATA_NOT_EXIST = 27,
    FILTER_DATA_NOT_LATEST = 28,
    TRANSACTION_SHOULD_COMMIT = 200,
    TRANSACTION_SHOULD_ROLLBACK = 201,
    TRANSACTION_STATE_UNKNOW = 202,
    TRANSACTION_STATE_GROUP_WRONG = 203,
    NO_BUYER_ID = 204,
    NOT_IN_CURRENT_UNIT = 205,
    CONSUMER_NOT_ONLINE = 206,
    CONSUME_MSG_TIMEOUT = 207,
    NO_MESSAGE = 208,
    UPDATE_AND_CREATE_ACL_CONFIG_FAILED = 209,
    DELETE_ACL_CONFIG_FAILED = 210,
    UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED = 211,
    FLOW_CONTROL = 215,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_numbers_agree_and_are_unique() {
        for table in [request_code::ALL, response_code::ALL] {
            let codes: HashSet<i32> = table.iter().map(|(_, c)| *c).collect();
            assert_eq!(codes.len(), table.len(), "a code is listed twice");
        }
        for (name, code) in request_code::ALL {
            assert_eq!(request_code_name(*code), Some(*name));
        }
        for (name, code) in response_code::ALL {
            assert_eq!(response_code_name(*code), Some(*name));
        }
    }

    #[test]
    fn spot_check_against_rocketmq() {
        assert_eq!(request_code::SEND_MESSAGE_V2, 310);
        assert_eq!(request_code::GET_ROUTEINFO_BY_TOPIC, 105);
        assert_eq!(request_code::NOTIFY_CONSUMER_IDS_CHANGED, 40);
        assert_eq!(request_code::GET_TOPICS_BY_CLUSTER, 224);
        assert_eq!(request_code_name(34), Some("HEART_BEAT"));
        assert_eq!(request_code_name(9999), None);
        assert_eq!(response_code::REQUEST_CODE_NOT_SUPPORTED, 3);
        assert_eq!(response_code::FLOW_CONTROL, 215);
        assert_eq!(response_code_name(22), Some("QUERY_NOT_FOUND"));
        assert_eq!(request_code::ALL.len(), 96);
        assert_eq!(response_code::ALL.len(), 37);
    }
}
