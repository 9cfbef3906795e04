//! The drill's load: a producer sending `drill-<run>-<seq>` at a steady rate (open loop: a slow
//! answer does not slow the schedule, so an outage shows as failed or late sends, not as a
//! pause in the load), a live consumer group, and the final read of the topic from offset 0
//! by a fresh group.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::ledger::Ledger;
use crate::client::{
    ClientOptions, Consumer, ConsumerConfig, Message, MessageStream, Producer, ProducerConfig,
    SendStatus,
};
use crate::protocol::body::ConsumeFromWhere;

/// Sends still waiting for an answer at once, at most; beyond it the schedule waits.
const MAX_IN_FLIGHT: usize = 512;

pub struct TrafficConfig {
    pub namesrv: String,
    pub topic: String,
    pub run_id: String,
    pub rate: u32,
    /// How long one send keeps retrying (our client refreshes its route on every failure).
    pub retry_timeout: Duration,
}

/// The body of message `seq` of run `run_id`.
pub fn body(run_id: &str, seq: u64) -> String {
    format!("drill-{run_id}-{seq}")
}

/// The seq of a body of run `run_id`; `None` for anything else in the topic (earlier runs).
pub fn seq_of(run_id: &str, body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body)
        .ok()?
        .strip_prefix("drill-")?
        .strip_prefix(run_id)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// Starts the producer; it runs until `stop` turns true, then waits for its sends to finish.
pub fn start_producer(
    cfg: &TrafficConfig,
    ledger: Arc<Ledger>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut pcfg = ProducerConfig::new(format!("drill_producer_{}", cfg.run_id));
    pcfg.retry_timeout = cfg.retry_timeout;
    let producer = Arc::new(Producer::new(
        ClientOptions::new(cfg.namesrv.clone()),
        pcfg,
    )?);
    let (topic, run_id) = (cfg.topic.clone(), cfg.run_id.clone());
    let period = Duration::from_secs_f64(1.0 / f64::from(cfg.rate.max(1)));
    Ok(tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut seq = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (producer, ledger) = (producer.clone(), ledger.clone());
            let msg = Message::new(topic.clone(), body(&run_id, seq));
            ledger.on_send();
            let s = seq;
            tokio::spawn(async move {
                match producer.send(msg).await {
                    Ok(r) if r.status == SendStatus::SendOk => ledger.on_ack(s, Instant::now()),
                    Ok(r) => ledger.on_fail(s, Instant::now(), format!("status {}", r.status)),
                    Err(e) => ledger.on_fail(s, Instant::now(), e.to_string()),
                }
                drop(slot);
            });
            seq += 1;
        }
        // Let every send finish (each gives up after its retry timeout).
        let _ = slots.acquire_many(MAX_IN_FLIGHT as u32).await;
    }))
}

/// A consumer of the drill's topic from its first offset, in group `group`.
pub async fn start_consumer(
    cfg: &TrafficConfig,
    group: &str,
) -> anyhow::Result<(Consumer, MessageStream)> {
    let mut ccfg = ConsumerConfig::new(group).subscribe(cfg.topic.clone(), "*");
    ccfg.consume_from_where = ConsumeFromWhere::ConsumeFromFirstOffset;
    ccfg.rebalance_interval = Duration::from_secs(5);
    // A frozen (paused) master is noticed within a second, not after the default poll.
    ccfg.route_poll_interval = Duration::from_secs(1);
    Ok(Consumer::start(ClientOptions::new(cfg.namesrv.clone()), ccfg).await?)
}

/// Feeds the live consumer's deliveries into the ledger until the stream ends.
pub fn record_deliveries(
    run_id: String,
    mut stream: MessageStream,
    ledger: Arc<Ledger>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(m) = stream.next().await {
            if let Some(seq) = seq_of(&run_id, &m.message.body) {
                ledger.on_receive(seq, Instant::now());
            }
        }
    })
}

/// Reads the topic from offset 0 with a fresh group until every acknowledged message was seen
/// and nothing more arrives for a second (so duplicates further on are seen too), or `within`
/// passed; records where each message sits.
pub async fn final_read(
    cfg: &TrafficConfig,
    ledger: &Arc<Ledger>,
    within: Duration,
) -> anyhow::Result<()> {
    let (consumer, mut stream) =
        start_consumer(cfg, &format!("drill_final_{}", cfg.run_id)).await?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let until = if ledger.all_in_final_read() {
            deadline.min(tokio::time::Instant::now() + Duration::from_secs(1))
        } else {
            deadline
        };
        match tokio::time::timeout_at(until, stream.next()).await {
            Ok(Some(m)) => {
                if let Some(seq) = seq_of(&cfg.run_id, &m.message.body) {
                    let queue = format!("{}/{}", m.queue.broker_name, m.queue.queue_id);
                    ledger.on_final_read(seq, queue, m.message.queue_offset);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    consumer.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_other_runs_are_ignored() {
        assert_eq!(seq_of("r1", body("r1", 42).as_bytes()), Some(42));
        assert_eq!(seq_of("r1", body("r12", 42).as_bytes()), None);
        assert_eq!(seq_of("r1", b"Hello RocketMQ 1"), None);
        assert_eq!(seq_of("r1", b"drill-r1-x"), None);
    }
}
