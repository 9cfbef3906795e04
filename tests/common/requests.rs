//! RocketMQ requests the cluster tests build by hand, so that each test file does not carry
//! its own copy of the same header.

use ledgermq::protocol::header::CommandHeader;
use ledgermq::protocol::headers::{PullMessageRequestHeader, PullSysFlag};
use ledgermq::remoting::{request_code as rc, RemotingCommand};

/// PULL_MESSAGE of up to 32 messages of `topic` queue `queue_id` from `offset`, for consumer
/// group `G`, all tags, no long polling (the tests poll themselves).
pub fn pull_request(topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: "G".into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: PullSysFlag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
    };
    let mut req = RemotingCommand::request(rc::PULL_MESSAGE);
    req.ext_fields = h.to_ext();
    req
}
