//! The pull loop of one owned queue: long polling (the broker holds a pull that finds nothing
//! for up to `suspendTimeoutMillis`), from the master, or from any other node of the group
//! while the master cannot be reached — every node serves committed data, so a consumer keeps
//! reading through a failover instead of waiting for the new master's registration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::process_queue::ProcessQueue;
use super::{offset, Delivery, Shared, Subscription};
use crate::client::error::ClientError;
use crate::message::decode_all;
use crate::protocol::body::EXPRESSION_TYPE_TAG;
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{PullMessageRequestHeader, PullMessageResponseHeader, PullSysFlag};
use crate::remoting::{request_code, response_code, RemotingCommand};

/// Java's `pullTimeDelayMillsWhenException`: wait after an error answer before pulling again.
const DELAY_ON_ERROR: Duration = Duration::from_secs(3);
/// Wait after FLOW_CONTROL / SYSTEM_BUSY (Java: 20 ms for flow control).
const DELAY_ON_BUSY: Duration = Duration::from_millis(50);
/// How often a held pull checks that its node is still in the route.
const ROUTE_CHECK: Duration = Duration::from_millis(500);
/// A node that did not answer is avoided this long (unless no other node is left).
const AVOID_UNREACHABLE: Duration = Duration::from_secs(5);
/// A "nothing new" answer faster than this means the broker did not hold the pull; wait a
/// little rather than spin.
const MIN_EMPTY_PULL: Duration = Duration::from_millis(20);

/// Which node to pull from next: the broker's suggestion, else the master, else any other
/// node, skipping nodes that recently failed unless every node did.
fn pick_node(
    shared: &Shared,
    pq: &ProcessQueue,
    suggested: i64,
    avoid: &HashMap<String, Instant>,
) -> Option<(i64, String)> {
    let addrs = shared.client.broker_addrs(&pq.mq.broker_name);
    let usable = |addr: &String| {
        avoid
            .get(addr)
            .is_none_or(|t| t.elapsed() >= AVOID_UNREACHABLE)
    };
    if let Some(a) = addrs.get(&suggested).filter(|a| usable(a)) {
        return Some((suggested, a.clone()));
    }
    if let Some((id, a)) = addrs.iter().find(|(_, a)| usable(a)) {
        return Some((*id, a.clone()));
    }
    addrs.into_iter().next()
}

/// Runs until the queue is dropped (rebalanced away, shutdown) or the stream is gone.
pub(super) async fn run(shared: Arc<Shared>, pq: Arc<ProcessQueue>, sub: Arc<Subscription>) {
    let mut next = loop {
        if pq.is_dropped() {
            return;
        }
        match offset::start_offset(&shared, &pq.mq).await {
            Ok(o) => break o,
            Err(e) => {
                tracing::warn!(queue = ?pq.mq, error = %e, "cannot read the start offset; retrying");
                refresh_route(&shared, &pq).await;
                tokio::time::sleep(DELAY_ON_ERROR).await;
            }
        }
    };
    pq.reset(next);
    tracing::debug!(queue = ?pq.mq, offset = next, "pulling");
    let mut suggested = 0i64;
    let mut avoid: HashMap<String, Instant> = HashMap::new();
    while !pq.is_dropped() {
        let Some((broker_id, addr)) = pick_node(&shared, &pq, suggested, &avoid) else {
            tracing::debug!(queue = ?pq.mq, "no known node of the broker group; refreshing the route");
            refresh_route(&shared, &pq).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        // Only the master records offsets; tell it what we have processed as we pull.
        let commit = if broker_id == 0 {
            pq.committable().filter(|c| *c > 0)
        } else {
            None
        };
        let header = PullMessageRequestHeader {
            consumer_group: shared.cfg.group.clone(),
            topic: pq.mq.topic.clone(),
            queue_id: pq.mq.queue_id,
            queue_offset: next,
            max_msg_nums: shared.cfg.pull_batch_size,
            sys_flag: PullSysFlag::build(commit.is_some(), true, true, false),
            commit_offset: commit.unwrap_or(0),
            suspend_timeout_millis: shared.cfg.suspend_timeout.as_millis() as i64,
            subscription: Some(sub.expression.clone()),
            sub_version: sub.data.sub_version,
            expression_type: Some(EXPRESSION_TYPE_TAG.to_string()),
        };
        let mut req = RemotingCommand::request(request_code::PULL_MESSAGE);
        req.ext_fields = header.to_ext();
        let sent = Instant::now();
        let pull = shared.client.invoke(&addr, req, shared.cfg.pull_timeout);
        let resp = match tokio::select! {
            r = pull => r,
            gone = left_route(&shared, &pq, &addr) => Err(gone),
        } {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(queue = ?pq.mq, broker = %addr, error = %e, "pull failed; trying another node of the group");
                avoid.insert(addr.clone(), Instant::now());
                shared.client.close_connection(&addr);
                suggested = 0;
                refresh_route(&shared, &pq).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        avoid.remove(&addr);
        let h = match resp.code {
            response_code::SUCCESS
            | response_code::PULL_NOT_FOUND
            | response_code::PULL_RETRY_IMMEDIATELY
            | response_code::PULL_OFFSET_MOVED => {
                match PullMessageResponseHeader::from_ext(&resp.ext_fields) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::warn!(queue = ?pq.mq, broker = %addr, error = %e, "bad pull response header");
                        tokio::time::sleep(DELAY_ON_ERROR).await;
                        continue;
                    }
                }
            }
            response_code::FLOW_CONTROL | response_code::SYSTEM_BUSY => {
                tokio::time::sleep(DELAY_ON_BUSY).await;
                continue;
            }
            code => {
                let remark = resp.remark.unwrap_or_default();
                tracing::warn!(queue = ?pq.mq, broker = %addr, code, %remark, "pull refused; retrying later");
                if code == response_code::SERVICE_NOT_AVAILABLE
                    || code == response_code::TOPIC_NOT_EXIST
                {
                    refresh_route(&shared, &pq).await;
                }
                suggested = 0;
                tokio::time::sleep(DELAY_ON_ERROR).await;
                continue;
            }
        };
        suggested = h.suggest_which_broker_id;
        match resp.code {
            response_code::SUCCESS => {
                let messages = match decode_all(&resp.body, false) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(queue = ?pq.mq, broker = %addr, error = %e, "undecodable pull body; pulling again later");
                        tokio::time::sleep(DELAY_ON_ERROR).await;
                        continue;
                    }
                };
                // The broker filters by tag hash; hash collisions are filtered here by string.
                let kept: Vec<_> = messages
                    .into_iter()
                    .filter(|m| sub.filter.matches_tags(m.tags()))
                    .map(crate::client::inflate_body)
                    .collect();
                if pq.is_dropped() {
                    return;
                }
                pq.on_pulled(kept.iter().map(|m| m.queue_offset), h.next_begin_offset);
                next = h.next_begin_offset;
                for message in kept {
                    let d = Delivery {
                        message,
                        pq: pq.clone(),
                        broker_addr: addr.clone(),
                    };
                    if shared.tx.send(d).await.is_err() {
                        return;
                    }
                }
            }
            response_code::PULL_OFFSET_MOVED => {
                tracing::warn!(queue = ?pq.mq, requested = next, next = h.next_begin_offset,
                    min = h.min_offset, max = h.max_offset, "pull offset moved; continuing from the broker's offset");
                next = h.next_begin_offset;
                pq.reset(next);
                if let Err(e) = offset::commit(&shared, &pq.mq, next).await {
                    tracing::debug!(queue = ?pq.mq, error = %e, "could not store the moved offset yet");
                }
            }
            code => {
                // PULL_NOT_FOUND (after long polling) or PULL_RETRY_IMMEDIATELY (filtered out).
                next = h.next_begin_offset;
                pq.on_pulled([], next);
                if code == response_code::PULL_NOT_FOUND && sent.elapsed() < MIN_EMPTY_PULL {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// Resolves once `addr` is no longer a node of the queue's broker group in the client's newest
/// route (a master replaced after it froze): the pull held there will not be answered.
async fn left_route(shared: &Shared, pq: &ProcessQueue, addr: &str) -> ClientError {
    loop {
        tokio::time::sleep(ROUTE_CHECK).await;
        let addrs = shared.client.broker_addrs(&pq.mq.broker_name);
        if !addrs.is_empty() && !addrs.values().any(|a| a == addr) {
            return ClientError::Remoting(crate::remoting::RemotingError::ConnectionClosed {
                addr: addr.to_string(),
                reason: format!("it left the route of {}", pq.mq.broker_name),
            });
        }
    }
}

/// Re-reads the topic's route so a new master (or a node that left) is seen at once.
async fn refresh_route(shared: &Shared, pq: &ProcessQueue) {
    match shared.client.fetch_route(&pq.mq.topic).await {
        Ok(_) => {}
        Err(ClientError::TopicNotExist(_)) => {}
        Err(e) => tracing::debug!(topic = %pq.mq.topic, error = %e, "route refresh failed"),
    }
}
