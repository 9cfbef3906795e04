//! More [`MqAdmin`] calls, for the dashboard: read a topic's messages in a time range without
//! consuming them, and move a group's committed offsets to a point in time.
//!
//! Reads go to any node of a broker group (each serves committed data), master first. Offset
//! writes go to the master only, since only the Raft leader's commits are replicated.

use std::collections::BTreeMap;

use super::admin::MqAdmin;
use super::error::ClientError;
use super::mq::{expect_success, remote_error};
use crate::message::{decode_all, MessageExt};
use crate::protocol::body::{MessageQueue, EXPRESSION_TYPE_TAG};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    OffsetResponseHeader, PullMessageRequestHeader, PullMessageResponseHeader, PullSysFlag,
    SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use crate::remoting::{next_opaque, request_code, response_code, RemotingCommand};

/// The group name browsing pulls carry. Pulls without the commit flag record nothing for it.
const BROWSE_GROUP: &str = "LEDGERMQ_DASHBOARD_BROWSE";
/// Messages asked for per pull while browsing.
const PULL_BATCH: i32 = 32;

/// One queue's offsets before and after a reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOffset {
    pub queue: MessageQueue,
    pub previous: Option<i64>,
    pub offset: i64,
}

impl MqAdmin {
    /// Nodes of a broker group (master first), from the newest route or cluster info seen.
    async fn group_nodes(&self, topic: &str, broker_name: &str) -> Vec<String> {
        let mut nodes: Vec<String> = self
            .client()
            .broker_addrs(broker_name)
            .into_values()
            .collect();
        if nodes.is_empty() {
            if let Ok(route) = self.client().fetch_route(topic).await {
                if let Some(bd) = route
                    .broker_datas
                    .iter()
                    .find(|b| b.broker_name == broker_name)
                {
                    nodes = bd.broker_addrs.values().cloned().collect();
                }
            }
        }
        nodes
    }

    /// Sends `req` to the nodes in order until one answers (any code).
    async fn ask_nodes(
        &self,
        nodes: &[String],
        req: RemotingCommand,
    ) -> Result<(String, RemotingCommand), ClientError> {
        let mut last = ClientError::NoRoute {
            topic: String::new(),
            why: "no node of the broker group is known".into(),
        };
        for addr in nodes {
            let mut attempt = req.clone();
            attempt.opaque = next_opaque();
            match self
                .client()
                .invoke(addr, attempt, self.client().options().request_timeout)
                .await
            {
                Ok(resp) => return Ok((addr.clone(), resp)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP: the first queue offset stored at or after `timestamp_ms`.
    pub async fn search_offset(
        &self,
        mq: &MessageQueue,
        timestamp_ms: i64,
    ) -> Result<i64, ClientError> {
        let mut req = RemotingCommand::request(request_code::SEARCH_OFFSET_BY_TIMESTAMP);
        req.ext_fields = SearchOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            timestamp: timestamp_ms,
        }
        .to_ext();
        let nodes = self.group_nodes(&mq.topic, &mq.broker_name).await;
        let (addr, resp) = self.ask_nodes(&nodes, req).await?;
        let resp = expect_success(&addr, resp)?;
        OffsetResponseHeader::from_ext(&resp.ext_fields)
            .map(|h| h.offset)
            .map_err(|e| ClientError::BadResponse {
                addr,
                what: e.to_string(),
            })
    }

    /// Up to `max` messages of one queue from `offset` on, without consuming them (no offset
    /// is committed, no consumer registers).
    pub async fn peek_queue(
        &self,
        mq: &MessageQueue,
        offset: i64,
        max: usize,
    ) -> Result<Vec<MessageExt>, ClientError> {
        let nodes = self.group_nodes(&mq.topic, &mq.broker_name).await;
        let mut out = Vec::new();
        let mut next = offset;
        while out.len() < max {
            let header = PullMessageRequestHeader {
                consumer_group: BROWSE_GROUP.to_string(),
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                queue_offset: next,
                max_msg_nums: PULL_BATCH.min((max - out.len()) as i32),
                sys_flag: PullSysFlag::build(false, false, true, false),
                commit_offset: 0,
                suspend_timeout_millis: 0,
                subscription: Some("*".to_string()),
                sub_version: 0,
                expression_type: Some(EXPRESSION_TYPE_TAG.to_string()),
            };
            let mut req = RemotingCommand::request(request_code::PULL_MESSAGE);
            req.ext_fields = header.to_ext();
            let (addr, resp) = self.ask_nodes(&nodes, req).await?;
            match resp.code {
                response_code::SUCCESS => {
                    let h = PullMessageResponseHeader::from_ext(&resp.ext_fields).map_err(|e| {
                        ClientError::BadResponse {
                            addr: addr.clone(),
                            what: e.to_string(),
                        }
                    })?;
                    let batch = decode_all(&resp.body, true)?;
                    if batch.is_empty() || h.next_begin_offset <= next {
                        break;
                    }
                    out.extend(batch.into_iter().map(super::inflate_body));
                    next = h.next_begin_offset;
                }
                response_code::PULL_NOT_FOUND
                | response_code::PULL_RETRY_IMMEDIATELY
                | response_code::PULL_OFFSET_MOVED => break,
                _ => return Err(remote_error(&addr, &resp)),
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// Messages of `topic` stored in `[begin_ms, end_ms]`, oldest first, at most `max`
    /// (RocketMQ's dashboard "query by topic"): each queue is searched for the offset of
    /// `begin_ms` and read forward until a message is newer than `end_ms`.
    pub async fn messages_by_time(
        &self,
        topic: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> Result<Vec<MessageExt>, ClientError> {
        if begin_ms > end_ms {
            return Err(ClientError::InvalidArgument(
                "the time range ends before it begins".into(),
            ));
        }
        let stats = self.topic_stats(topic).await?;
        let mut found = Vec::new();
        for (mq, range) in &stats.offset_table {
            if range.max_offset <= range.min_offset {
                continue;
            }
            let from = self
                .search_offset(mq, begin_ms)
                .await?
                .max(range.min_offset);
            if from >= range.max_offset {
                continue;
            }
            let msgs = self.peek_queue(mq, from, max).await?;
            found.extend(
                msgs.into_iter()
                    .take_while(|m| m.store_timestamp <= end_ms)
                    .filter(|m| m.store_timestamp >= begin_ms),
            );
        }
        found.sort_by_key(|m| (m.store_timestamp, m.queue_id, m.queue_offset));
        found.truncate(max);
        Ok(found)
    }

    /// UPDATE_CONSUMER_OFFSET on the master of the queue's broker group.
    pub async fn update_consumer_offset(
        &self,
        group: &str,
        mq: &MessageQueue,
        offset: i64,
    ) -> Result<(), ClientError> {
        let addr =
            self.client()
                .master_addr(&mq.broker_name)
                .ok_or_else(|| ClientError::NoRoute {
                    topic: mq.topic.clone(),
                    why: format!(
                        "broker group {} has no master now (an election in progress?); try again",
                        mq.broker_name
                    ),
                })?;
        let mut req = RemotingCommand::request(request_code::UPDATE_CONSUMER_OFFSET);
        req.ext_fields = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.to_string(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            commit_offset: offset,
        }
        .to_ext();
        self.client().call(&addr, req).await.map(|_| ())
    }

    /// Moves `group`'s committed offset of every queue of `topic` to the first message stored
    /// at or after `timestamp_ms` (mqadmin's `resetOffsetByTime` for offline consumers).
    /// A consumer that is online keeps its in-memory offsets and commits them again, so stop
    /// the group's consumers first, as with RocketMQ's old reset.
    pub async fn reset_offset_by_time(
        &self,
        group: &str,
        topic: &str,
        timestamp_ms: i64,
    ) -> Result<Vec<ResetOffset>, ClientError> {
        let stats = self.topic_stats(topic).await?;
        let previous: BTreeMap<MessageQueue, i64> =
            match self.consume_stats(group, Some(topic)).await {
                Ok(s) => s
                    .offset_table
                    .into_iter()
                    .map(|(mq, w)| (mq, w.consumer_offset))
                    .collect(),
                Err(_) => BTreeMap::new(),
            };
        let mut out = Vec::new();
        for mq in stats.offset_table.keys() {
            let offset = self.search_offset(mq, timestamp_ms).await?;
            self.update_consumer_offset(group, mq, offset).await?;
            out.push(ResetOffset {
                queue: mq.clone(),
                previous: previous.get(mq).copied(),
                offset,
            });
        }
        Ok(out)
    }
}

impl MqAdmin {
    /// GET_BROKER_CONFIG from one node: its effective `broker.conf` keys and values.
    pub async fn broker_config(&self, addr: &str) -> Result<BTreeMap<String, String>, ClientError> {
        let req = RemotingCommand::request(request_code::GET_BROKER_CONFIG);
        let resp = self.client().call(addr, req).await?;
        let text = String::from_utf8_lossy(&resp.body);
        let props =
            crate::config::Properties::parse(&text).map_err(|e| ClientError::BadResponse {
                addr: addr.to_string(),
                what: format!("the broker config is not properties text: {e}"),
            })?;
        Ok(props
            .into_entries()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect())
    }
}
