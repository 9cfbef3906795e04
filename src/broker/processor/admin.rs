//! Admin requests: topics (17, 21, 215), runtime info (28), broker config (26), topic stats
//! (202), consumer connections (203), consume stats (208), all offsets (43), who consumes (300).

use std::collections::{BTreeMap, BTreeSet};

use super::{error, json_body, ok, with_header, write_error};
use crate::broker::context::BrokerContext;
use crate::broker::processor::send::check_writable;
use crate::config::properties::to_text;
use crate::protocol::body::{
    Connection, ConsumeStats, ConsumerConnection, KVTable, MessageQueue, OffsetWrapper,
    TopicOffset, TopicStatsTable,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, GetBrokerConfigResponseHeader,
    GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
};
use crate::protocol::topic_names::valid_topic_name;
use crate::remoting::codes::response_code as code;
use crate::remoting::RemotingCommand;
use crate::store::disk_used_pct;
use crate::time::now_ms;

/// Most queues a topic may have.
const MAX_QUEUES: u32 = 1024;

pub async fn update_topic(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match CreateTopicRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    if !valid_topic_name(&h.topic) {
        return error(
            req,
            code::SYSTEM_ERROR,
            format!(
                "The specified topic[{}] contains illegal characters or is too long",
                h.topic
            ),
        );
    }
    let tc = match h.to_topic_config() {
        Ok(tc) => tc,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    if tc.read_queue_nums == 0
        || tc.write_queue_nums == 0
        || tc.read_queue_nums > MAX_QUEUES
        || tc.write_queue_nums > MAX_QUEUES
    {
        return error(
            req,
            code::SYSTEM_ERROR,
            format!(
                "queue numbers must be 1..={MAX_QUEUES}, got read {} write {}",
                tc.read_queue_nums, tc.write_queue_nums
            ),
        );
    }
    if let Some(resp) = check_writable(bc, req) {
        return resp;
    }
    match bc.topics.put(tc).await {
        Ok(()) => ok(req),
        Err(e) => write_error(req, bc, &e),
    }
}

pub async fn delete_topic(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match DeleteTopicRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    if let Some(resp) = check_writable(bc, req) {
        return resp;
    }
    match bc.topics.delete(&h.topic).await {
        Ok(()) => ok(req),
        Err(e) => write_error(req, bc, &e),
    }
}

pub fn all_topic_config(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    json_body(req, &bc.topic_wrapper())
}

fn human_bytes(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
}

pub fn runtime_info(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let (put_tps, get_tps) = bc.stats.tps_triple();
    let s = bc.core.status();
    let up = (now_ms() - bc.boot_ms).max(0) / 1000;
    let disk = disk_used_pct(&bc.cfg.store_path_commit_log).unwrap_or(0);
    let (segments, reserved) = bc.core.commit_log_usage();
    let earliest = bc.core.earliest_message_time().unwrap_or_else(now_ms);
    let mut t = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        t.insert(k.to_string(), v);
    };
    put("brokerVersionDesc", "V4_9_7".into());
    put(
        "brokerVersion",
        crate::remoting::command::LEDGERMQ_VERSION.to_string(),
    );
    put("ledgermqVersion", env!("CARGO_PKG_VERSION").into());
    put("putTps", put_tps);
    put("getTransferedTps", get_tps.clone());
    put("getTotalTps", get_tps);
    put(
        "msgPutTotalTodayNow",
        bc.stats
            .put_msgs
            .load(std::sync::atomic::Ordering::Relaxed)
            .to_string(),
    );
    put(
        "msgGetTotalTodayNow",
        bc.stats
            .get_msgs
            .load(std::sync::atomic::Ordering::Relaxed)
            .to_string(),
    );
    put("msgPutTotalTodayMorning", "0".into());
    put("msgGetTotalTodayMorning", "0".into());
    put("msgPutTotalYesterdayMorning", "0".into());
    put("msgGetTotalYesterdayMorning", "0".into());
    put("pageCacheLockTimeMills", "0".into());
    // Java's clusterList prints these as the TPS columns' load; LedgerMQ has no send/pull
    // thread-pool queues (requests are tasks), so they are always 0.
    put("sendThreadPoolQueueSize", "0".into());
    put("sendThreadPoolQueueHeadWaitTimeMills", "0".into());
    put("pullThreadPoolQueueSize", "0".into());
    put("pullThreadPoolQueueHeadWaitTimeMills", "0".into());
    put("earliestMessageTimeStamp", earliest.to_string());
    put("commitLogDiskRatio", format!("{:.4}", disk as f64 / 100.0));
    put(
        "commitLogDirCapacity",
        format!("{} reserved in {segments} segments", human_bytes(reserved)),
    );
    put("commitLogMinOffset", s.commit_log_min_offset.to_string());
    put("commitLogMaxOffset", s.commit_log_max_offset.to_string());
    put("bootTimestamp", bc.boot_ms.to_string());
    for (k, v) in crate::broker::schedule::runtime_entries(bc) {
        put(&k, v);
    }
    put(
        "runtime",
        format!(
            "[ {} days, {} hours, {} minutes, {} seconds ]",
            up / 86400,
            up / 3600 % 24,
            up / 60 % 60,
            up % 60
        ),
    );
    put(
        "brokerRole",
        if bc.is_master() {
            "MASTER".into()
        } else {
            "SLAVE".into()
        },
    );
    put("raftState", s.state.clone());
    put("raftTerm", s.term.to_string());
    put(
        "raftLeader",
        s.leader.map(|l| format!("n{l}")).unwrap_or_default(),
    );
    put(
        "raftLastIndex",
        s.last_index.map(|i| i.to_string()).unwrap_or_default(),
    );
    put(
        "raftCommitIndex",
        s.committed.map(|i| i.to_string()).unwrap_or_default(),
    );
    put(
        "raftAppliedIndex",
        s.applied.map(|i| i.to_string()).unwrap_or_default(),
    );
    put("dLegerGroup", bc.cfg.d_leger_group.clone());
    put(
        "dLegerSelfId",
        bc.cfg.d_leger_self_id.clone().unwrap_or_default(),
    );
    // Where this node and its group answer Raft status (the peer port), so a dashboard that
    // found the node through the name server can watch every member, also those that are
    // down and no longer registered.
    // The effective membership with its learners (a master/slave group's slaves); before a new
    // node has learnt it, the configured peers. `raftSelfId` names this node also where
    // `dLegerSelfId` is unset (master/slave: the Raft id is the brokerId).
    put("raftPeerAddr", bc.core.addr().to_string());
    put("raftSelfId", format!("n{}", bc.core.id()));
    let mut members = bc.core.members();
    if members.is_empty() {
        members = bc
            .cfg
            .raft_peers()
            .into_iter()
            .map(|p| (p.node_id, p.addr))
            .collect();
    }
    put(
        "raftPeers",
        members
            .iter()
            .map(|(id, addr)| format!("n{id}-{addr}"))
            .collect::<Vec<_>>()
            .join(";"),
    );
    json_body(req, &KVTable { table: t })
}

pub fn broker_config(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let text = to_text(&bc.cfg.to_properties());
    let version = serde_json::to_string(&bc.topic_wrapper().data_version).unwrap_or_default();
    with_header(
        ok(req).with_body(text.into_bytes()),
        &GetBrokerConfigResponseHeader { version },
    )
}

fn mq(bc: &BrokerContext, topic: &str, q: u32) -> MessageQueue {
    MessageQueue::new(topic, bc.cfg.broker_name.clone(), q as i32)
}

/// Store time of the message just before queue offset `before` (0 if none).
fn store_time_before(bc: &BrokerContext, topic: &str, q: u32, before: u64) -> i64 {
    let Some(cq) = bc.core.broker_state().consume_queue(topic, q) else {
        return 0;
    };
    if before == 0 || before <= cq.min_offset() || before > cq.max_offset() {
        return 0;
    }
    cq.get(before - 1)
        .and_then(|e| crate::broker::message_store::store_time(bc.core.broker_state(), &e))
        .unwrap_or(0)
}

fn body_text(req: &RemotingCommand, text: Result<String, serde_json::Error>) -> RemotingCommand {
    match text {
        Ok(t) => ok(req).with_body(t.into_bytes()),
        Err(e) => error(
            req,
            code::SYSTEM_ERROR,
            format!("cannot encode response: {e}"),
        ),
    }
}

pub fn topic_stats(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match GetTopicStatsInfoRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    let Some(tc) = bc.topics.get(&h.topic) else {
        return error(
            req,
            code::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist", h.topic),
        );
    };
    let mut table = TopicStatsTable::default();
    for q in 0..tc.write_queue_nums {
        let (min, max) = bc
            .core
            .broker_state()
            .consume_queue(&h.topic, q)
            .map(|cq| (cq.min_offset(), cq.max_offset()))
            .unwrap_or((0, 0));
        table.offset_table.insert(
            mq(bc, &h.topic, q),
            TopicOffset {
                min_offset: min as i64,
                max_offset: max as i64,
                last_update_timestamp: store_time_before(bc, &h.topic, q, max),
            },
        );
    }
    body_text(req, table.to_fastjson())
}

pub fn consumer_connections(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match GetConsumerConnectionListRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    let Some(info) = bc.clients.consumer_group(&h.consumer_group) else {
        return error(
            req,
            code::CONSUMER_NOT_ONLINE,
            format!("the consumer group[{}] not online", h.consumer_group),
        );
    };
    let body = ConsumerConnection {
        connection_set: info
            .channels
            .values()
            .map(|c| Connection {
                client_addr: c.ctx.peer.to_string(),
                client_id: c.client_id.clone(),
                language: c.language.clone(),
                version: c.version,
            })
            .collect(),
        consume_from_where: info.consume_from_where,
        consume_type: info.consume_type,
        message_model: info.message_model,
        subscription_table: info.subscriptions.clone(),
    };
    json_body(req, &body)
}

pub fn consume_stats(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h = match GetConsumeStatsRequestHeader::from_ext(&req.ext_fields) {
        Ok(h) => h,
        Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
    };
    let offsets = bc.offsets.offsets_of_group(&h.consumer_group);
    let mut topics: BTreeSet<String> = offsets.keys().map(|(t, _)| t.clone()).collect();
    if let Some(info) = bc.clients.consumer_group(&h.consumer_group) {
        topics.extend(info.subscriptions.keys().cloned());
    }
    if let Some(t) = &h.topic {
        topics.retain(|x| x == t);
    }
    let mut stats = ConsumeStats {
        consume_tps: bc.stats.group_tps(&h.consumer_group),
        ..ConsumeStats::default()
    };
    for topic in topics {
        let Some(tc) = bc.topics.get(&topic) else {
            continue;
        };
        for q in 0..tc.read_queue_nums {
            let broker_offset = bc
                .core
                .broker_state()
                .consume_queue(&topic, q)
                .map(|cq| cq.max_offset())
                .unwrap_or(0);
            let consumer_offset = offsets.get(&(topic.clone(), q)).copied().unwrap_or(0);
            // When the group last consumed: the store time of the message before its offset.
            let last_timestamp = store_time_before(bc, &topic, q, consumer_offset);
            stats.offset_table.insert(
                mq(bc, &topic, q),
                OffsetWrapper {
                    broker_offset: broker_offset as i64,
                    consumer_offset: consumer_offset as i64,
                    last_timestamp,
                },
            );
        }
    }
    body_text(req, stats.to_fastjson())
}

pub fn all_consumer_offsets(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let meta = bc.core.broker_state().metadata();
    json_body(
        req,
        &serde_json::json!({ "offsetTable": meta.consumer_offsets }),
    )
}

pub fn consumed_by(bc: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let Some(topic) = req.ext("topic") else {
        return error(req, code::SYSTEM_ERROR, "missing required field `topic`");
    };
    let mut groups: BTreeSet<String> = bc.offsets.groups_of_topic(topic).into_iter().collect();
    groups.extend(bc.clients.groups_subscribing(topic));
    json_body(req, &serde_json::json!({ "groupList": groups }))
}
