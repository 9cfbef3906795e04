//! [`MqAdmin`]: the calls `mqadmin` needs (Java's `DefaultMQAdminExt`), returning data; the
//! command line decides how to print it.
//!
//! Where Java reads from "the master" of a broker group, this reads from the master and falls
//! back to the group's other nodes: in LedgerMQ every node holds the same committed data, so
//! a group in the middle of an election can still be inspected.

use std::collections::BTreeMap;

use super::error::ClientError;
use super::mq::{parse_body, ClientOptions, MqClient};
use crate::message::{decode_all, decode_offset_msg_id, decode_stored, MessageExt};
use crate::protocol::body::{
    BrokerData, ClusterInfo, ConsumeStats, ConsumerConnection, KVTable, TopicList, TopicRouteData,
    TopicStatsTable,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, GetConsumeStatsRequestHeader,
    GetConsumerConnectionListRequestHeader, GetTopicStatsInfoRequestHeader,
    QueryMessageRequestHeader, ViewMessageRequestHeader,
};
use crate::protocol::topic::TopicConfig;
use crate::remoting::{next_opaque, request_code, response_code, RemotingCommand};

/// Admin operations against the name servers and brokers.
pub struct MqAdmin {
    client: MqClient,
}

/// One node of a broker group as the name server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNode {
    pub cluster: String,
    pub broker_name: String,
    /// 0 for the master (the Raft leader), else a slave id.
    pub broker_id: i64,
    pub addr: String,
}

impl MqAdmin {
    pub fn new(options: ClientOptions) -> Result<MqAdmin, ClientError> {
        Ok(MqAdmin {
            client: MqClient::new(options)?,
        })
    }

    pub fn client(&self) -> &MqClient {
        &self.client
    }

    /// GET_BROKER_CLUSTER_INFO from the name servers.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, ClientError> {
        let req = RemotingCommand::request(request_code::GET_BROKER_CLUSTER_INFO);
        let (addr, resp) = self.client.invoke_namesrv(req).await?;
        let resp = super::mq::expect_success(&addr, resp)?;
        let info: ClusterInfo = parse_body(&addr, &resp.body)?;
        for bd in info.broker_addr_table.values() {
            self.client.remember_broker(bd);
        }
        Ok(info)
    }

    /// Every node of every broker group, by cluster, broker name and id.
    pub async fn nodes(&self) -> Result<Vec<BrokerNode>, ClientError> {
        let info = self.cluster_info().await?;
        Ok(nodes_of(&info, None))
    }

    /// The broker groups of `cluster`; an unknown cluster is an error.
    pub async fn cluster_brokers(&self, cluster: &str) -> Result<Vec<BrokerData>, ClientError> {
        let info = self.cluster_info().await?;
        let names = info.cluster_addr_table.get(cluster).ok_or_else(|| {
            ClientError::InvalidArgument(format!(
                "cluster {cluster} is not known to the name server"
            ))
        })?;
        Ok(names
            .iter()
            .filter_map(|n| info.broker_addr_table.get(n).cloned())
            .collect())
    }

    /// GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
    pub async fn topic_list(&self) -> Result<TopicList, ClientError> {
        let req = RemotingCommand::request(request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER);
        let (addr, resp) = self.client.invoke_namesrv(req).await?;
        let resp = super::mq::expect_success(&addr, resp)?;
        parse_body(&addr, &resp.body)
    }

    /// GET_ROUTEINFO_BY_TOPIC; an unknown topic is [`ClientError::TopicNotExist`].
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        Ok((*self.client.fetch_route(topic).await?).clone())
    }

    /// GET_BROKER_RUNTIME_INFO from one node.
    pub async fn broker_runtime_info(&self, addr: &str) -> Result<KVTable, ClientError> {
        let req = RemotingCommand::request(request_code::GET_BROKER_RUNTIME_INFO);
        let resp = self.client.call(addr, req).await?;
        parse_body(addr, &resp.body)
    }

    /// GET_BROKER_RUNTIME_INFO from every node at once, in the order given.
    pub async fn runtime_infos(&self, nodes: &[BrokerNode]) -> Vec<Result<KVTable, ClientError>> {
        futures::future::join_all(nodes.iter().map(|n| self.broker_runtime_info(&n.addr))).await
    }

    /// UPDATE_AND_CREATE_TOPIC on one node (it must be its group's master).
    pub async fn create_topic(&self, addr: &str, tc: &TopicConfig) -> Result<(), ClientError> {
        let header = CreateTopicRequestHeader {
            topic: tc.topic_name.clone(),
            default_topic: crate::protocol::topic_names::AUTO_CREATE_TOPIC_KEY.to_string(),
            read_queue_nums: tc.read_queue_nums as i32,
            write_queue_nums: tc.write_queue_nums as i32,
            perm: tc.perm as i32,
            topic_filter_type: tc.topic_filter_type.clone(),
            topic_sys_flag: Some(tc.topic_sys_flag as i32),
            order: tc.order,
        };
        let mut req = RemotingCommand::request(request_code::UPDATE_AND_CREATE_TOPIC);
        req.ext_fields = header.to_ext();
        self.client.call(addr, req).await.map(|_| ())
    }

    /// DELETE_TOPIC_IN_BROKER on one node (its group's master).
    pub async fn delete_topic_in_broker(&self, addr: &str, topic: &str) -> Result<(), ClientError> {
        let mut req = RemotingCommand::request(request_code::DELETE_TOPIC_IN_BROKER);
        req.ext_fields = DeleteTopicRequestHeader {
            topic: topic.to_string(),
        }
        .to_ext();
        self.client.call(addr, req).await.map(|_| ())
    }

    /// DELETE_TOPIC_IN_NAMESRV on every name server.
    pub async fn delete_topic_in_namesrv(&self, topic: &str) -> Result<(), ClientError> {
        for addr in self.client.namesrv_addrs().to_vec() {
            let mut req = RemotingCommand::request(request_code::DELETE_TOPIC_IN_NAMESRV);
            req.ext_fields = DeleteTopicRequestHeader {
                topic: topic.to_string(),
            }
            .to_ext();
            self.client.call(&addr, req).await?;
        }
        self.client.invalidate_route(topic);
        Ok(())
    }

    /// Sends `req` to a group's master, else to its other nodes in id order; the first node
    /// that answers SUCCESS wins, else the last failure is returned.
    async fn call_group(
        &self,
        bd: &BrokerData,
        req: RemotingCommand,
    ) -> Result<(String, RemotingCommand), ClientError> {
        let mut last = ClientError::NoRoute {
            topic: String::new(),
            why: format!("broker group {} has no node", bd.broker_name),
        };
        for addr in bd.broker_addrs.values() {
            let mut attempt = req.clone();
            attempt.opaque = next_opaque();
            match self.client.call(addr, attempt).await {
                Ok(resp) => return Ok((addr.clone(), resp)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// GET_TOPIC_STATS_INFO from every broker group of the topic's route, merged.
    pub async fn topic_stats(&self, topic: &str) -> Result<TopicStatsTable, ClientError> {
        let route = self.client.fetch_route(topic).await?;
        let mut merged = TopicStatsTable::default();
        for bd in &route.broker_datas {
            let mut req = RemotingCommand::request(request_code::GET_TOPIC_STATS_INFO);
            req.ext_fields = GetTopicStatsInfoRequestHeader {
                topic: topic.to_string(),
            }
            .to_ext();
            let (addr, resp) = self.call_group(bd, req).await?;
            let table: TopicStatsTable = parse_body(&addr, &resp.body)?;
            merged.offset_table.extend(table.offset_table);
        }
        Ok(merged)
    }

    /// GET_CONSUME_STATS from every broker group of the cluster(s), merged. A group with no
    /// offsets anywhere is an error, as in Java.
    pub async fn consume_stats(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeStats, ClientError> {
        let info = self.cluster_info().await?;
        let mut merged = ConsumeStats::default();
        let mut last_err = None;
        for bd in info.broker_addr_table.values() {
            let mut req = RemotingCommand::request(request_code::GET_CONSUME_STATS);
            req.ext_fields = GetConsumeStatsRequestHeader {
                consumer_group: group.to_string(),
                topic: topic.map(str::to_string),
            }
            .to_ext();
            match self.call_group(bd, req).await {
                Ok((addr, resp)) => {
                    let stats: ConsumeStats = parse_body(&addr, &resp.body)?;
                    merged.consume_tps += stats.consume_tps;
                    merged.offset_table.extend(stats.offset_table);
                }
                Err(e) => last_err = Some(e),
            }
        }
        if merged.offset_table.is_empty() {
            return Err(last_err.unwrap_or_else(|| {
                ClientError::NotFound(format!(
                    "no consume stats for group {group}: the offset table is empty, maybe the group has not consumed any message"
                ))
            }));
        }
        Ok(merged)
    }

    /// GET_CONSUMER_CONNECTION_LIST from the first broker group that knows the group online.
    pub async fn consumer_connection(
        &self,
        group: &str,
    ) -> Result<ConsumerConnection, ClientError> {
        let info = self.cluster_info().await?;
        let mut last = ClientError::Remote {
            addr: String::new(),
            code: response_code::CONSUMER_NOT_ONLINE,
            remark: format!("the consumer group[{group}] not online"),
        };
        for bd in info.broker_addr_table.values() {
            let mut req = RemotingCommand::request(request_code::GET_CONSUMER_CONNECTION_LIST);
            req.ext_fields = GetConsumerConnectionListRequestHeader {
                consumer_group: group.to_string(),
            }
            .to_ext();
            match self.call_group(bd, req).await {
                Ok((addr, resp)) => return parse_body(&addr, &resp.body),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// VIEW_MESSAGE_BY_ID: the offsetMsgId names the node that stored the message and the
    /// CommitLog offset. Every node of a Raft group has the same CommitLog, so if that node
    /// is down the others of its group are asked.
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt, ClientError> {
        let (host, offset) = decode_offset_msg_id(offset_msg_id.trim()).map_err(|e| {
            ClientError::InvalidArgument(format!("{offset_msg_id:?} is not an offsetMsgId: {e}"))
        })?;
        let stored_on = host.to_string();
        let mut candidates = vec![stored_on.clone()];
        if let Ok(info) = self.cluster_info().await {
            if let Some(bd) = info
                .broker_addr_table
                .values()
                .find(|bd| bd.broker_addrs.values().any(|a| *a == stored_on))
            {
                candidates.extend(
                    bd.broker_addrs
                        .values()
                        .filter(|a| **a != stored_on)
                        .cloned(),
                );
            }
        }
        let mut last = None;
        for addr in candidates {
            let mut req = RemotingCommand::request(request_code::VIEW_MESSAGE_BY_ID);
            req.ext_fields = ViewMessageRequestHeader { offset }.to_ext();
            match self.client.call(&addr, req).await {
                Ok(resp) => {
                    let (msg, _) = decode_stored(&resp.body, true)?;
                    return Ok(msg);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ClientError::NoRoute {
            topic: String::new(),
            why: format!("no node to ask for {offset_msg_id}"),
        }))
    }

    /// QUERY_MESSAGE by key on every broker group of the topic's route, merged. Nothing found
    /// anywhere is an error, as in Java.
    pub async fn query_message(
        &self,
        topic: &str,
        key: &str,
        max_num: i32,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<MessageExt>, ClientError> {
        let route = self.client.fetch_route(topic).await?;
        let mut found: BTreeMap<(String, i64), MessageExt> = BTreeMap::new();
        for bd in &route.broker_datas {
            let mut req = RemotingCommand::request(request_code::QUERY_MESSAGE);
            req.ext_fields = QueryMessageRequestHeader {
                topic: topic.to_string(),
                key: key.to_string(),
                max_num,
                begin_timestamp: begin_ms,
                end_timestamp: end_ms,
                unique_key_query: false,
            }
            .to_ext();
            match self.call_group(bd, req).await {
                Ok((_, resp)) => {
                    for m in decode_all(&resp.body, true)? {
                        // A KEYS entry may name several keys; the index matches any of them.
                        found.insert((m.offset_msg_id(), m.commit_log_offset), m);
                    }
                }
                Err(e) if e.code() == Some(response_code::QUERY_NOT_FOUND) => {}
                Err(e) => return Err(e),
            }
        }
        if found.is_empty() {
            return Err(ClientError::NotFound(format!(
                "query message by key finished, but no message: topic {topic}, key {key}"
            )));
        }
        Ok(found.into_values().collect())
    }
}

/// QUERY_TOPIC_CONSUME_BY_WHO's body (Java's `GroupList`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GroupList {
    group_list: Vec<String>,
}

/// How far a consumer group got with one message (Java's `MessageTrack`), for queryMsgById.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTrack {
    pub consumer_group: String,
    /// `CONSUMED`, `NOT_CONSUME_YET`, `NOT_ONLINE` or `UNKNOWN`, as Java's `TrackType`.
    pub track_type: &'static str,
    pub exception_desc: Option<String>,
}

impl std::fmt::Display for MessageTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MessageTrack [consumerGroup={}, trackType={}, exceptionDesc={}]",
            self.consumer_group,
            self.track_type,
            self.exception_desc.as_deref().unwrap_or("null")
        )
    }
}

impl MqAdmin {
    /// QUERY_TOPIC_CONSUME_BY_WHO on every broker group of the topic's route, merged.
    pub async fn consumed_by(&self, topic: &str) -> Result<Vec<String>, ClientError> {
        let route = self.client.fetch_route(topic).await?;
        let mut groups = std::collections::BTreeSet::new();
        for bd in &route.broker_datas {
            let req = RemotingCommand::request(request_code::QUERY_TOPIC_CONSUME_BY_WHO)
                .with_ext("topic", topic);
            let (addr, resp) = self.call_group(bd, req).await?;
            let list: GroupList = parse_body(&addr, &resp.body)?;
            groups.extend(list.group_list);
        }
        Ok(groups.into_iter().collect())
    }

    /// For each group that consumes `msg`'s topic: has it consumed the message? A group's
    /// committed offset past the message's queue offset means yes.
    pub async fn message_track(
        &self,
        msg: &MessageExt,
        broker_name: &str,
    ) -> Result<Vec<MessageTrack>, ClientError> {
        let mut tracks = Vec::new();
        for group in self.consumed_by(&msg.topic).await? {
            if group.is_empty() {
                continue;
            }
            let online = self.consumer_connection(&group).await.is_ok();
            let track = match self.consume_stats(&group, Some(&msg.topic)).await {
                Ok(stats) => {
                    let mq = crate::protocol::body::MessageQueue::new(
                        msg.topic.clone(),
                        broker_name,
                        msg.queue_id,
                    );
                    match stats.offset_table.get(&mq) {
                        Some(w) if w.consumer_offset > msg.queue_offset => "CONSUMED",
                        _ if !online => "NOT_ONLINE",
                        Some(_) => "NOT_CONSUME_YET",
                        None => "UNKNOWN",
                    }
                }
                Err(_) if !online => "NOT_ONLINE",
                Err(_) => "UNKNOWN",
            };
            tracks.push(MessageTrack {
                consumer_group: group,
                track_type: track,
                exception_desc: None,
            });
        }
        Ok(tracks)
    }
}

/// Every node listed in `info`, optionally of one cluster: clusters sorted, broker names
/// sorted, ids ascending (so the master, id 0, comes first in each group).
pub fn nodes_of(info: &ClusterInfo, cluster: Option<&str>) -> Vec<BrokerNode> {
    let mut out = Vec::new();
    for (cluster_name, names) in &info.cluster_addr_table {
        if cluster.is_some_and(|c| c != cluster_name) {
            continue;
        }
        for name in names {
            let Some(bd) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &bd.broker_addrs {
                out.push(BrokerNode {
                    cluster: cluster_name.clone(),
                    broker_name: name.clone(),
                    broker_id: *id,
                    addr: addr.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn nodes_are_listed_master_first() {
        let info = ClusterInfo {
            broker_addr_table: BTreeMap::from([(
                "RaftNode00".to_string(),
                BrokerData {
                    broker_addrs: BTreeMap::from([(2, "b:1".to_string()), (0, "a:1".to_string())]),
                    broker_name: "RaftNode00".into(),
                    cluster: "C".into(),
                    ..BrokerData::default()
                },
            )]),
            cluster_addr_table: BTreeMap::from([(
                "C".to_string(),
                BTreeSet::from(["RaftNode00".to_string(), "gone".to_string()]),
            )]),
        };
        let nodes = nodes_of(&info, None);
        assert_eq!(nodes.len(), 2);
        assert_eq!((nodes[0].broker_id, nodes[0].addr.as_str()), (0, "a:1"));
        assert_eq!(nodes[1].broker_id, 2);
        assert!(nodes_of(&info, Some("other")).is_empty());
    }

    #[tokio::test]
    async fn a_bad_msg_id_is_a_readable_error() {
        let admin = MqAdmin::new(ClientOptions::new("127.0.0.1:1")).unwrap();
        let e = admin.view_message("nonsense").await.unwrap_err();
        assert!(e.to_string().contains("is not an offsetMsgId"), "{e}");
    }
}
