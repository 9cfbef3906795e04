//! A producer process: sends `p<id>-<seq>` values synchronously, one at a time, through
//! LedgerMQ's own [`Producer`] with its retries switched off (`max_attempts = 1`), so each
//! history op is exactly one attempt and a duplicate can never come from the client retrying.
//! After any failure it forgets the cached route, which is what the client's retry loop would
//! have done, so the next value goes to whichever master the name server knows then.
//!
//! With `--delay-mix`, a share of the sends ask for a scheduled delivery, and their value
//! carries the earliest time they may be read: `p<id>-<seq>@<due ms since the epoch>`. Their
//! acknowledgement names the schedule queue, not the topic's, so it is recorded without a
//! position; the checker finds them where they are delivered.

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
        let delay = delay_for(w.cfg.delay_mix, id, seq);
        let now = ledgermq::time::now_ms();
        let value = match delay {
            Some(d) => format!("p{id}-{seq}@{}", now + d.wait_ms()),
            None => format!("p{id}-{seq}"),
        };
        w.rec
            .record(Op::new(OpType::Invoke, Func::Send, &process).value(&value));
        let mut msg = Message::new(w.cfg.topic.clone(), value.clone().into_bytes());
        let asked = match delay {
            Some(Delay::Level(l)) => msg.with_property("DELAY", &l.to_string()),
            Some(Delay::TimerMs(ms)) => {
                msg.with_property("TIMER_DELIVER_MS", &(now + ms).to_string())
            }
            None => Ok(msg),
        };
        msg = match asked {
            Ok(m) => m,
            Err(e) => {
                w.rec.record(
                    Op::new(OpType::Fail, Func::Send, &process)
                        .value(&value)
                        .error(e.to_string()),
                );
                continue;
            }
        };
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
                let mut op = Op::new(kind, Func::Send, &process).value(&value);
                if delay.is_none() {
                    op = op.queue(queue).offset(r.queue_offset);
                }
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

/// A scheduled delivery a send asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delay {
    /// RocketMQ 4.x delay level (1 = 1 s, 2 = 5 s with the default levels).
    Level(u32),
    /// RocketMQ 5 delivery time, this many ms after the send.
    TimerMs(i64),
}

impl Delay {
    /// The least time before the message may be read.
    fn wait_ms(self) -> i64 {
        match self {
            Delay::Level(1) => 1_000,
            Delay::Level(_) => 5_000,
            Delay::TimerMs(ms) => ms,
        }
    }
}

/// Whether send `seq` of producer `id` is delayed, and how: a fixed function of both, so a
/// seed's replay sends the same mix.
fn delay_for(mix: f64, id: usize, seq: u64) -> Option<Delay> {
    if mix <= 0.0 {
        return None;
    }
    let h = (id as u64)
        .wrapping_mul(1_000_003)
        .wrapping_add(seq)
        .wrapping_mul(2_654_435_761);
    if ((h >> 16) % 1000) as f64 >= mix * 1000.0 {
        return None;
    }
    Some(match seq % 3 {
        0 => Delay::Level(1),
        1 => Delay::Level(2),
        _ => Delay::TimerMs(200 + (seq as i64 * 37) % 2_800),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_delays_about_its_share_with_every_kind() {
        assert_eq!(delay_for(0.0, 1, 5), None);
        let delayed: Vec<Delay> = (1..=3000).filter_map(|s| delay_for(0.2, 2, s)).collect();
        assert!((450..750).contains(&delayed.len()), "{}", delayed.len());
        assert!(delayed.contains(&Delay::Level(1)));
        assert!(delayed.contains(&Delay::Level(2)));
        assert!(delayed.iter().any(|d| matches!(d, Delay::TimerMs(_))));
        assert!(delayed
            .iter()
            .all(|d| d.wait_ms() >= 200 && d.wait_ms() <= 5_000));
    }
}
