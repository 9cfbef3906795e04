//! The final drain: after every fault is healed and the groups have converged, read every
//! queue of every group from offset 0 to its end on every node (from the node's member of that
//! group). One history op per (node, queue) holds everything read there; the checker compares
//! acknowledged sends against it (lost writes) and the nodes against each other (divergence).

use std::time::Duration;

use ledgermq::client::{ClientOptions, MqClient};

use super::pull::{pull, PullRequest, Pulled};
use super::Workload;
use crate::history::{Func, Op, OpType};

/// Messages per pull during the drain.
const BATCH: i32 = 256;
/// Attempts per pull before the drain of that queue gives up.
const ATTEMPTS: u32 = 20;

/// Drains every queue on each `(node name, [its member's broker address per group])`.
pub async fn drain(w: &Workload, nodes: &[(String, Vec<String>)]) {
    let client = match MqClient::new(ClientOptions::new(w.namesrv.clone())) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot create the drain client");
            return;
        }
    };
    for (name, addrs) in nodes {
        let process = format!("drain-{name}");
        for q in 0..w.all_queues() {
            let g = (q / w.cfg.queues.max(1)) as usize;
            let Some(addr) = addrs.get(g) else {
                continue;
            };
            w.rec.record(
                Op::new(OpType::Invoke, Func::Drain, &process)
                    .node(name)
                    .queue(q)
                    .offset(0),
            );
            let done = match drain_queue(w, &client, addr, q).await {
                Ok((msgs, end)) => {
                    let mut op = Op::new(OpType::Ok, Func::Drain, &process)
                        .node(name)
                        .queue(q)
                        .offset(0);
                    op.msgs = Some(msgs);
                    op.next = Some(end);
                    op
                }
                Err(why) => Op::new(OpType::Info, Func::Drain, &process)
                    .node(name)
                    .queue(q)
                    .error(why),
            };
            w.rec.record(done);
        }
    }
    client.close_all();
}

async fn drain_queue(
    w: &Workload,
    client: &MqClient,
    addr: &str,
    q: u32,
) -> Result<(Vec<(i64, String)>, i64), String> {
    let (_, queue_id) = w.split(q);
    let mut all = Vec::new();
    let mut at = 0i64;
    let mut failures = 0;
    loop {
        let req = PullRequest {
            group: "jepsen-drain",
            topic: &w.cfg.topic,
            queue: queue_id,
            offset: at,
            max: BATCH,
            suspend: None,
            timeout: w.cfg.timeout,
        };
        let res = pull(client, addr, req).await;
        match res {
            Ok(Pulled::Found(msgs, next)) => {
                all.extend(msgs);
                if next <= at {
                    return Err(format!(
                        "the broker's next offset {next} does not advance from {at}"
                    ));
                }
                at = next;
            }
            Ok(Pulled::Empty(_)) => return Ok((all, at)),
            // Offset 0 of an empty queue, or the end of a queue, can also be reported as moved.
            Ok(Pulled::Moved(next)) if next <= at => return Ok((all, at)),
            Ok(other) => {
                failures += 1;
                if failures >= ATTEMPTS {
                    return Err(format!("queue {q} at {at}: {other:?}"));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                failures += 1;
                if failures >= ATTEMPTS {
                    return Err(format!("queue {q} at {at}: {e}"));
                }
                client.close_connection(addr);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
