//! A consumer: owns a fixed set of queues (queue `q` belongs to consumer `q % consumers`, so no
//! rebalance ever explains a jump; with several groups the queues are numbered across them,
//! see [`super::WorkloadConfig::groups`]), pulls them in turn with short long-polls, follows the
//! broker's next offset, and commits its offsets to the master every second. It restarts now
//! and then — a new incarnation with a new client that resumes from the committed offset —
//! sometimes committing first (a clean stop), sometimes not (a crash).
//!
//! Each pull is one history op on process `c<id>.<incarnation>`. It reads from the master,
//! and from another node of the group while the master does not answer (every node serves
//! committed data). It never moves backwards: a node that lags answers OFFSET_MOVED with a
//! smaller offset, which is recorded and ignored; a forward move is followed, and the checker
//! reports it if it jumped over data.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledgermq::client::{ClientOptions, MqClient};
use rand::rngs::StdRng;
use rand::Rng;

use super::pull::{commit_offset, pull, query_offset, PullRequest, Pulled};
use super::Workload;
use crate::history::{Func, Op, OpType};

const GROUP: &str = "jepsen-consumer";
/// How long a pull may wait for new messages: short, so one consumer serves several queues.
const SUSPEND: Duration = Duration::from_millis(300);
const COMMIT_EVERY: Duration = Duration::from_secs(1);
const ROUTE_EVERY: Duration = Duration::from_secs(2);
/// A node that did not answer is avoided this long.
const AVOID: Duration = Duration::from_secs(3);

pub async fn run(w: Arc<Workload>, id: usize, queues: Vec<u32>, mut rng: StdRng) {
    let mut incarnation = 0;
    while !w.stopped() {
        incarnation += 1;
        let process = format!("c{id}.{incarnation}");
        let life = Duration::from_secs(rng.gen_range(10..=30));
        let clean_stop = rng.gen_bool(0.5);
        if let Err(e) = incarnation_loop(&w, &process, &queues, life, clean_stop).await {
            tracing::warn!(%process, error = %e, "consumer incarnation ended early");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

struct Reader {
    client: MqClient,
    avoid: HashMap<String, Instant>,
}

impl Reader {
    /// `broker`'s master if known and answering, else another node of the group.
    fn target(&self, broker: &str) -> Option<String> {
        let addrs: BTreeMap<i64, String> = self.client.broker_addrs(broker);
        let usable = |a: &String| self.avoid.get(a).is_none_or(|t| t.elapsed() >= AVOID);
        addrs
            .values()
            .find(|a| usable(a))
            .or_else(|| addrs.values().next())
            .cloned()
    }
}

async fn incarnation_loop(
    w: &Workload,
    process: &str,
    queues: &[u32],
    life: Duration,
    clean_stop: bool,
) -> Result<(), ledgermq::client::ClientError> {
    let client = MqClient::new(ClientOptions::new(w.namesrv.clone()))?;
    let mut r = Reader {
        client,
        avoid: HashMap::new(),
    };
    let topic = w.cfg.topic.as_str();
    // Where each queue starts: the group's committed offset.
    let mut next: BTreeMap<u32, i64> = BTreeMap::new();
    while next.len() < queues.len() {
        if w.stopped() {
            return Ok(());
        }
        let _ = r.client.fetch_route(topic).await;
        for &q in queues {
            if next.contains_key(&q) {
                continue;
            }
            let (broker, queue_id) = w.split(q);
            let Some(addr) = r.target(broker) else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                break;
            };
            match query_offset(&r.client, &addr, GROUP, topic, queue_id).await {
                Ok(o) => {
                    next.insert(q, o);
                }
                Err(e) => {
                    if e.is_unreachable() {
                        r.avoid.insert(addr.clone(), Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            }
        }
    }
    tracing::debug!(%process, ?next, "consumer starts");
    let born = Instant::now();
    let mut last_commit = Instant::now();
    let mut last_route = Instant::now();
    while !w.stopped() && born.elapsed() < life {
        // A master that lost its quorum still serves its (stale) committed data, so errors
        // alone would not move us to the new master; re-read the route now and then.
        if last_route.elapsed() >= ROUTE_EVERY {
            let _ = r.client.fetch_route(topic).await;
            last_route = Instant::now();
        }
        for &q in queues {
            let (broker, queue_id) = w.split(q);
            let Some(addr) = r.target(broker) else {
                let _ = r.client.fetch_route(topic).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let from = next.get(&q).copied().unwrap_or(0);
            let node = w.node_of(&addr).unwrap_or_else(|| addr.clone());
            w.rec.record(
                Op::new(OpType::Invoke, Func::Poll, process)
                    .node(&node)
                    .queue(q)
                    .offset(from),
            );
            let base = Op::new(OpType::Ok, Func::Poll, process)
                .node(&node)
                .queue(q)
                .offset(from);
            let req = PullRequest {
                group: GROUP,
                topic,
                queue: queue_id,
                offset: from,
                max: 32,
                suspend: Some(SUSPEND),
                timeout: w.cfg.timeout,
            };
            let res = pull(&r.client, &addr, req).await;
            let done = match res {
                Ok(Pulled::Found(msgs, n)) => {
                    next.insert(q, n.max(from));
                    let mut op = base;
                    op.msgs = Some(msgs);
                    op.next = Some(n);
                    op
                }
                Ok(Pulled::Empty(n)) => {
                    next.insert(q, n.max(from));
                    let mut op = base;
                    op.msgs = Some(Vec::new());
                    op.next = Some(n);
                    op
                }
                Ok(Pulled::Moved(n)) => {
                    if n > from {
                        next.insert(q, n);
                    }
                    let mut op = base.error(format!("offset moved to {n}"));
                    op.msgs = Some(Vec::new());
                    op.next = Some(n);
                    op
                }
                Ok(Pulled::Refused(code, remark)) => {
                    let mut op = base.error(format!("code {code}: {remark}"));
                    op.kind = OpType::Fail;
                    let _ = r.client.fetch_route(topic).await;
                    op
                }
                Err(e) => {
                    let mut op = base.error(e.to_string());
                    op.kind = if e.is_unreachable() {
                        OpType::Info
                    } else {
                        OpType::Fail
                    };
                    if e.is_unreachable() {
                        r.avoid.insert(addr.clone(), Instant::now());
                        r.client.close_connection(&addr);
                    }
                    let _ = r.client.fetch_route(topic).await;
                    op
                }
            };
            w.rec.record(done);
        }
        if last_commit.elapsed() >= COMMIT_EVERY {
            commit_all(w, &r.client, topic, &next).await;
            last_commit = Instant::now();
        }
    }
    if clean_stop {
        commit_all(w, &r.client, topic, &next).await;
    }
    r.client.close_all();
    Ok(())
}

/// Commits every queue's next offset to its group's master; failures are only logged (the
/// next incarnation then rereads a little, which is allowed).
async fn commit_all(w: &Workload, client: &MqClient, topic: &str, next: &BTreeMap<u32, i64>) {
    for (&q, &o) in next {
        let (broker, queue_id) = w.split(q);
        let Some(master) = client.master_addr(broker) else {
            continue;
        };
        if let Err(e) = commit_offset(client, &master, GROUP, topic, queue_id, o).await {
            tracing::debug!(queue = q, offset = o, error = %e, "offset commit failed");
        }
    }
}
