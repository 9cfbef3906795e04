//! A producer process: sends `p<id>-<seq>` values synchronously, one at a time, through
//! LedgerMQ's own [`Producer`] with its retries switched off (`max_attempts = 1`), so each
//! history op is exactly one attempt and a duplicate can never come from the client retrying.
//! After any failure it forgets the cached route, which is what the client's retry loop would
//! have done, so the next value goes to whichever master the name server knows then.

use std::sync::Arc;

use ledgermq::client::{ClientOptions, Message, Producer, ProducerConfig, SendStatus};
use ledgermq::message::decode_offset_msg_id;

use super::{Limiter, Workload};
use crate::history::{Func, Op, OpType};

pub async fn run(w: Arc<Workload>, id: usize, limiter: Arc<Limiter>) {
    let process = format!("p{id}");
    let mut cfg = ProducerConfig::new(format!("jepsen-producer-{id}"));
    cfg.max_attempts = 1;
    cfg.send_timeout = w.cfg.timeout;
    cfg.retry_timeout = w.cfg.timeout;
    cfg.default_topic_queue_nums = w.cfg.queues;
    let producer = match Producer::new(ClientOptions::new(w.namesrv.clone()), cfg) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot create producer {process}");
            return;
        }
    };
    let mut seq = 0u64;
    while !w.stopped() {
        if !limiter.acquire(&w).await {
            break;
        }
        seq += 1;
        let value = format!("p{id}-{seq}");
        w.rec
            .record(Op::new(OpType::Invoke, Func::Send, &process).value(&value));
        let msg = Message::new(w.cfg.topic.clone(), value.clone().into_bytes());
        let done = match producer.send(msg).await {
            Ok(r) => {
                let node = decode_offset_msg_id(&r.offset_msg_id)
                    .ok()
                    .and_then(|(addr, _)| w.node_of(&addr.to_string()));
                let kind = if r.status == SendStatus::SendOk {
                    OpType::Ok
                } else {
                    // Stored on the master but not flushed or replicated: durability unknown.
                    OpType::Info
                };
                let queue = w
                    .global(&r.queue.broker_name, r.queue.queue_id as u32)
                    .unwrap_or(r.queue.queue_id as u32);
                let mut op = Op::new(kind, Func::Send, &process)
                    .value(&value)
                    .queue(queue)
                    .offset(r.queue_offset);
                if kind != OpType::Ok {
                    op = op.error(r.status.to_string());
                }
                if let Some(n) = node {
                    op = op.node(n);
                }
                op
            }
            Err(e) => {
                let kind = super::outcome::classify(&e);
                let mut op = Op::new(kind, Func::Send, &process)
                    .value(&value)
                    .error(e.to_string());
                if let Some(n) = super::outcome::error_addr(&e).and_then(|a| w.node_of(a)) {
                    op = op.node(n);
                }
                // What the client's own retry would do: look the route up again next time.
                producer.forget_route(&w.cfg.topic);
                op
            }
        };
        w.rec.record(done);
    }
}
