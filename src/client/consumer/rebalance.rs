//! Group membership and queue ownership: heartbeats, the group's consumer ids, RocketMQ's
//! AllocateMessageQueueAveragely, and starting or stopping pull loops as ownership changes.
//!
//! Every consumer of a group computes the same allocation from the same sorted inputs (all
//! readable queues, all consumer ids), so each queue has one owner once their views agree;
//! while they disagree (a rebalance in progress) a queue may briefly have two, which
//! at-least-once delivery tolerates.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::process_queue::ProcessQueue;
use super::{offset, pull, OwnedQueue, Shared, Subscription};
use crate::client::error::ClientError;
use crate::client::mq::parse_body;
use crate::client::route::subscribe_queues;
use crate::protocol::body::{
    ConsumeType, ConsumerData, GetConsumerListByGroupResponseBody, HeartbeatData, MessageModel,
    MessageQueue, TopicRouteData,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader,
};
use crate::protocol::topic_names::is_retry_topic;
use crate::remoting::{request_code, RemotingCommand};

/// RocketMQ's `AllocateMessageQueueAveragely`: consumer i of n gets a contiguous block of the
/// sorted queues, the first `queues % n` consumers one more. A consumer not in `cid_all` gets
/// nothing (its heartbeat has not reached the broker yet).
pub fn allocate_averagely(
    mq_all: &[MessageQueue],
    cid_all: &[String],
    current: &str,
) -> Vec<MessageQueue> {
    let Some(index) = cid_all.iter().position(|c| c == current) else {
        return Vec::new();
    };
    if mq_all.is_empty() {
        return Vec::new();
    }
    let (len, n) = (mq_all.len(), cid_all.len());
    let rem = len % n;
    let average = if len <= n {
        1
    } else if rem > 0 && index < rem {
        len / n + 1
    } else {
        len / n
    };
    let start = if rem > 0 && index < rem {
        index * average
    } else {
        index * average + rem
    };
    let range = average.min(len.saturating_sub(start));
    (0..range)
        .map(|i| mq_all[(start + i) % len].clone())
        .collect()
}

fn heartbeat_body(shared: &Shared) -> HeartbeatData {
    HeartbeatData {
        client_id: shared.client.client_id().to_string(),
        consumer_data_set: vec![ConsumerData {
            consume_from_where: Some(shared.cfg.consume_from_where),
            consume_type: Some(ConsumeType::ConsumePassively),
            group_name: shared.cfg.group.clone(),
            message_model: Some(MessageModel::Clustering),
            subscription_data_set: shared.subs.iter().map(|s| s.data.clone()).collect(),
            unit_mode: false,
        }],
        producer_data_set: Vec::new(),
    }
}

/// Node addresses of every broker group in `route`.
fn route_addrs(route: &TopicRouteData) -> BTreeSet<String> {
    route
        .broker_datas
        .iter()
        .flat_map(|b| b.broker_addrs.values().cloned())
        .collect()
}

/// Sends HEART_BEAT to every node of every broker group our topics live on (masters and
/// slaves: a follower then knows the group too and can answer GET_CONSUMER_LIST_BY_GROUP).
pub(super) async fn heartbeat(shared: &Shared) {
    let mut addrs = BTreeSet::new();
    for sub in &shared.subs {
        if let Ok(route) = shared.client.route(&sub.topic).await {
            addrs.extend(route_addrs(&route));
        }
    }
    let body = match serde_json::to_vec(&heartbeat_body(shared)) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the heartbeat");
            return;
        }
    };
    let calls = addrs.iter().map(|addr| {
        let req = RemotingCommand::request(request_code::HEART_BEAT).with_body(body.clone());
        async move { (addr, shared.client.call(addr, req).await) }
    });
    let mut reached = BTreeSet::new();
    for (addr, r) in futures::future::join_all(calls).await {
        match r {
            Ok(_) => {
                reached.insert(addr.clone());
            }
            Err(e) => tracing::debug!(broker = %addr, error = %e, "heartbeat failed"),
        }
    }
    *shared.heartbeat_addrs.lock() = reached;
}

/// The group's consumer ids, sorted, from the first node of the route that answers (masters
/// first). Every node that got our heartbeats knows the group.
async fn consumer_ids(shared: &Shared, route: &TopicRouteData) -> Result<Vec<String>, ClientError> {
    let mut masters = Vec::new();
    let mut others = Vec::new();
    for bd in &route.broker_datas {
        for (id, addr) in &bd.broker_addrs {
            if *id == 0 {
                masters.push(addr.clone());
            } else {
                others.push(addr.clone());
            }
        }
    }
    let header = GetConsumerListByGroupRequestHeader {
        consumer_group: shared.cfg.group.clone(),
    };
    let mut last = ClientError::NoRoute {
        topic: String::new(),
        why: "the route names no broker".into(),
    };
    for addr in masters.iter().chain(others.iter()) {
        let mut req = RemotingCommand::request(request_code::GET_CONSUMER_LIST_BY_GROUP);
        req.ext_fields = header.to_ext();
        match shared.client.call(addr, req).await {
            Ok(resp) => {
                let body: GetConsumerListByGroupResponseBody = parse_body(addr, &resp.body)?;
                let mut ids = body.consumer_id_list;
                ids.sort();
                ids.dedup();
                return Ok(ids);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Recomputes which queues of each subscribed topic this consumer owns and starts or stops
/// pull loops accordingly. A topic whose route or consumer list cannot be read keeps its
/// current queues until the next round.
///
/// Returns true when the round was incomplete — a subscribed topic does not exist yet, or
/// the broker did not list us — so the caller should try again soon rather than in 20 s.
pub(super) async fn rebalance(shared: &Arc<Shared>) -> bool {
    let mut incomplete = false;
    for sub in &shared.subs {
        let route = match shared.client.fetch_route(&sub.topic).await {
            Ok(r) => r,
            Err(ClientError::TopicNotExist(_)) => {
                tracing::debug!(topic = %sub.topic, "subscribed topic does not exist yet");
                // The group's retry topic only appears once a send-back creates it.
                incomplete |= !is_retry_topic(&sub.topic);
                continue;
            }
            Err(e) => {
                tracing::warn!(topic = %sub.topic, error = %e, "cannot read the route; keeping the current queues");
                incomplete = true;
                continue;
            }
        };
        let addrs = route_addrs(&route);
        let known = shared.heartbeat_addrs.lock().clone();
        if !addrs.is_subset(&known) {
            heartbeat(shared).await;
        }
        let ids = match consumer_ids(shared, &route).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(topic = %sub.topic, error = %e, "cannot read the group's consumer ids; keeping the current queues");
                incomplete = true;
                continue;
            }
        };
        if !ids.iter().any(|id| id == shared.client.client_id()) {
            tracing::debug!(topic = %sub.topic, "the broker does not list this consumer yet");
            // Make the next round heartbeat again (the broker may have expired us).
            shared.heartbeat_addrs.lock().clear();
            incomplete = true;
            continue;
        }
        let mq_all = subscribe_queues(&sub.topic, &route);
        let mine = allocate_averagely(&mq_all, &ids, shared.client.client_id());
        update_queues(shared, sub, mine).await;
    }
    incomplete
}

/// Makes the owned queues of `sub.topic` exactly `wanted`.
async fn update_queues(shared: &Arc<Shared>, sub: &Arc<Subscription>, wanted: Vec<MessageQueue>) {
    let wanted: HashSet<MessageQueue> = wanted.into_iter().collect();
    let mut removed = Vec::new();
    {
        let mut queues = shared.queues.lock();
        let gone: Vec<MessageQueue> = queues
            .keys()
            .filter(|mq| mq.topic == sub.topic && !wanted.contains(*mq))
            .cloned()
            .collect();
        for mq in gone {
            if let Some(q) = queues.remove(&mq) {
                q.pq.drop_queue();
                q.task.abort();
                removed.push(q.pq);
            }
        }
        for mq in &wanted {
            if queues.contains_key(mq) {
                continue;
            }
            let pq = Arc::new(ProcessQueue::new(mq.clone()));
            let task = tokio::spawn(pull::run(shared.clone(), pq.clone(), sub.clone()));
            queues.insert(mq.clone(), OwnedQueue { pq, task });
        }
    }
    if !removed.is_empty() || !wanted.is_empty() {
        tracing::debug!(topic = %sub.topic, owned = wanted.len(), released = removed.len(), "rebalanced");
    }
    for pq in removed {
        offset::persist(shared, &pq).await;
    }
}

/// Tells every broker we heartbeated that this consumer leaves the group, so the others
/// rebalance at once.
pub(super) async fn unregister(shared: &Shared) {
    let addrs: Vec<String> = shared.heartbeat_addrs.lock().iter().cloned().collect();
    let header = UnregisterClientRequestHeader {
        client_id: shared.client.client_id().to_string(),
        producer_group: None,
        consumer_group: Some(shared.cfg.group.clone()),
    };
    let calls = addrs.iter().map(|addr| {
        let mut req = RemotingCommand::request(request_code::UNREGISTER_CLIENT);
        req.ext_fields = header.to_ext();
        async move { (addr, shared.client.call(addr, req).await) }
    });
    for (addr, r) in futures::future::join_all(calls).await {
        if let Err(e) = r {
            tracing::debug!(broker = %addr, error = %e, "unregister failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: i32) -> Vec<MessageQueue> {
        (0..n).map(|i| MessageQueue::new("T", "b", i)).collect()
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    fn qids(v: &[MessageQueue]) -> Vec<i32> {
        v.iter().map(|q| q.queue_id).collect()
    }

    #[test]
    fn averagely_matches_rocketmq() {
        let mqs = queues(8);
        let cids = ids(3);
        assert_eq!(qids(&allocate_averagely(&mqs, &cids, "c0")), vec![0, 1, 2]);
        assert_eq!(qids(&allocate_averagely(&mqs, &cids, "c1")), vec![3, 4, 5]);
        assert_eq!(qids(&allocate_averagely(&mqs, &cids, "c2")), vec![6, 7]);
        let cids = ids(5);
        let two = queues(2);
        assert_eq!(qids(&allocate_averagely(&two, &cids, "c0")), vec![0]);
        assert_eq!(qids(&allocate_averagely(&two, &cids, "c1")), vec![1]);
        assert!(allocate_averagely(&two, &cids, "c2").is_empty());
        assert!(allocate_averagely(&mqs, &cids, "stranger").is_empty());
        assert!(allocate_averagely(&[], &cids, "c0").is_empty());
        assert_eq!(allocate_averagely(&mqs, &ids(1), "c0"), mqs);
    }

    #[test]
    fn every_queue_has_exactly_one_owner() {
        for nq in 0..20 {
            for nc in 1..7 {
                let mqs = queues(nq);
                let cids = ids(nc);
                let mut all: Vec<MessageQueue> = cids
                    .iter()
                    .flat_map(|c| allocate_averagely(&mqs, &cids, c))
                    .collect();
                all.sort();
                assert_eq!(all, mqs, "{nq} queues, {nc} consumers");
            }
        }
    }
}
