//! The broker calls consumers and the final drain make, each one request: PULL_MESSAGE,
//! QUERY_CONSUMER_OFFSET and UPDATE_CONSUMER_OFFSET through [`MqClient`]. Kept apart from the
//! loops so every call is one history operation with nothing hidden inside.

use std::time::Duration;

use ledgermq::client::{ClientError, MqClient};
use ledgermq::message::decode_all;
use ledgermq::protocol::body::EXPRESSION_TYPE_TAG;
use ledgermq::protocol::header::CommandHeader;
use ledgermq::protocol::headers::{
    OffsetResponseHeader, PullMessageRequestHeader, PullMessageResponseHeader, PullSysFlag,
    QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use ledgermq::remoting::{request_code, response_code, RemotingCommand};

/// What one pull returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Pulled {
    /// Messages as (queue offset, value), and the offset to read next.
    Found(Vec<(i64, String)>, i64),
    /// Nothing at this offset yet (or filtered); read `next` later.
    Empty(i64),
    /// The broker says the offset is out of its range; it suggests `next`.
    Moved(i64),
    /// A refusal (any other code).
    Refused(i32, String),
}

/// One pull: which queue of which topic, from where, how much, and how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct PullRequest<'a> {
    pub group: &'a str,
    pub topic: &'a str,
    pub queue: u32,
    pub offset: i64,
    pub max: i32,
    /// Long polling: how long the broker may hold a pull that finds nothing.
    pub suspend: Option<Duration>,
    pub timeout: Duration,
}

/// One PULL_MESSAGE on the node at `addr`.
pub async fn pull(
    client: &MqClient,
    addr: &str,
    p: PullRequest<'_>,
) -> Result<Pulled, ClientError> {
    let header = PullMessageRequestHeader {
        consumer_group: p.group.to_string(),
        topic: p.topic.to_string(),
        queue_id: p.queue as i32,
        queue_offset: p.offset,
        max_msg_nums: p.max,
        sys_flag: PullSysFlag::build(false, p.suspend.is_some(), true, false),
        commit_offset: 0,
        suspend_timeout_millis: p.suspend.map_or(0, |d| d.as_millis() as i64),
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some(EXPRESSION_TYPE_TAG.to_string()),
    };
    let mut req = RemotingCommand::request(request_code::PULL_MESSAGE);
    req.ext_fields = header.to_ext();
    let resp = client.invoke(addr, req, p.timeout).await?;
    let h = || {
        PullMessageResponseHeader::from_ext(&resp.ext_fields).map_err(|e| {
            ClientError::BadResponse {
                addr: addr.to_string(),
                what: e.to_string(),
            }
        })
    };
    Ok(match resp.code {
        response_code::SUCCESS => {
            let next = h()?.next_begin_offset;
            let msgs = decode_all(&resp.body, true).map_err(|e| ClientError::BadResponse {
                addr: addr.to_string(),
                what: format!("undecodable messages: {e}"),
            })?;
            let values = msgs
                .into_iter()
                .map(|m| {
                    (
                        m.queue_offset,
                        String::from_utf8_lossy(&m.body).into_owned(),
                    )
                })
                .collect();
            Pulled::Found(values, next)
        }
        response_code::PULL_NOT_FOUND | response_code::PULL_RETRY_IMMEDIATELY => {
            Pulled::Empty(h()?.next_begin_offset)
        }
        response_code::PULL_OFFSET_MOVED => Pulled::Moved(h()?.next_begin_offset),
        code => Pulled::Refused(code, resp.remark.unwrap_or_default()),
    })
}

/// The group's committed offset of `queue` (0 when it has none).
pub async fn query_offset(
    client: &MqClient,
    addr: &str,
    group: &str,
    topic: &str,
    queue: u32,
) -> Result<i64, ClientError> {
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: topic.to_string(),
        queue_id: queue as i32,
    };
    let mut req = RemotingCommand::request(request_code::QUERY_CONSUMER_OFFSET);
    req.ext_fields = header.to_ext();
    let resp = client
        .invoke(addr, req, client.options().request_timeout)
        .await?;
    match resp.code {
        response_code::SUCCESS => OffsetResponseHeader::from_ext(&resp.ext_fields)
            .map(|h| h.offset)
            .map_err(|e| ClientError::BadResponse {
                addr: addr.to_string(),
                what: e.to_string(),
            }),
        response_code::QUERY_NOT_FOUND => Ok(0),
        _ => Err(ledgermq::client::mq::remote_error(addr, &resp)),
    }
}

/// Commits `offset` as the group's offset of `queue` on the master at `addr`.
pub async fn commit_offset(
    client: &MqClient,
    addr: &str,
    group: &str,
    topic: &str,
    queue: u32,
    offset: i64,
) -> Result<(), ClientError> {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: topic.to_string(),
        queue_id: queue as i32,
        commit_offset: offset,
    };
    let mut req = RemotingCommand::request(request_code::UPDATE_CONSUMER_OFFSET);
    req.ext_fields = header.to_ext();
    client.call(addr, req).await.map(|_| ())
}
