//! `delay` and `retry`: scheduled delivery as rocketmq-client-rust 1.0.0 uses it.
//!
//! `delay`: a probe message makes sure the topic exists and a push consumer is pulling; then a
//! message with delay level 2 (5 s) and one with a delivery time 3 s ahead are sent, and each
//! must reach the consumer within `--tolerance-ms` of its due time.
//!
//! `retry`: a consumer (maxReconsumeTimes 2) answers RECONSUME_LATER to everything; the
//! message must come back after about 10 s and 30 s (levels 3 and 4), and then, once its
//! retries are spent, be found by a consumer of `%DLQ%<group>`.
//!
//! One JSON line per delivery, one summary line on stderr; exit 0 only if every check held.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use rocketmq_client_rust::{
    ClientResult, ClientRuntime, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently,
    SendStatus,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
use serde_json::json;
use tokio::sync::mpsc;

use crate::produce::unix_ms;
use crate::{CLIENT, EXIT_SETUP};

#[derive(Args)]
pub struct DelayArgs {
    #[arg(long)]
    namesrv: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    group: String,
    /// How far from its due time a delivery may reach the consumer.
    #[arg(long, default_value_t = 500)]
    tolerance_ms: i64,
}

#[derive(Args)]
pub struct RetryArgs {
    #[arg(long)]
    namesrv: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    group: String,
    /// The consumer's maxReconsumeTimes.
    #[arg(long, default_value_t = 2)]
    max_reconsume_times: i32,
}

impl DelayArgs {
    pub fn watchdog_limit(&self) -> Duration {
        Duration::from_secs(180)
    }
}

impl RetryArgs {
    pub fn watchdog_limit(&self) -> Duration {
        Duration::from_secs(240)
    }
}

/// What the listener saw, copied out of the client's borrow.
struct Seen {
    key: String,
    reconsume_times: i32,
    t_ms: i64,
}

struct Listener {
    tx: mpsc::UnboundedSender<Seen>,
    answer: ConsumeConcurrentlyStatus,
}

impl MessageListenerConcurrently for Listener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let t_ms = unix_ms() as i64;
        for m in msgs {
            let key = m
                .message_inner()
                .property("KEYS")
                .map(str::to_string)
                .unwrap_or_default();
            let _ = self.tx.send(Seen {
                key,
                reconsume_times: m.reconsume_times(),
                t_ms,
            });
        }
        Ok(self.answer)
    }
}

async fn start_consumer(
    rt: Arc<ClientRuntime>,
    namesrv: &str,
    topic: &str,
    group: &str,
    max_reconsume_times: Option<i32>,
    answer: ConsumeConcurrentlyStatus,
) -> Result<(DefaultMQPushConsumer, mpsc::UnboundedReceiver<Seen>), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut b = DefaultMQPushConsumer::builder(rt)
        .consumer_group(group.to_string())
        .name_server_addr(namesrv.to_string())
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset);
    if let Some(max) = max_reconsume_times {
        b = b.max_reconsume_times(max);
    }
    let mut consumer = b.build();
    consumer
        .subscribe(topic.to_string(), "*".to_string())
        .await
        .map_err(|e| format!("subscribe {topic}: {e}"))?;
    consumer.register_message_listener_concurrently(Listener { tx, answer });
    match tokio::time::timeout(Duration::from_secs(30), consumer.start()).await {
        Ok(Ok(())) => Ok((consumer, rx)),
        Ok(Err(e)) => Err(format!("consumer start failed: {e}")),
        Err(_) => Err("consumer start did not finish within 30 s".into()),
    }
}

async fn start_producer(
    rt: Arc<ClientRuntime>,
    namesrv: &str,
) -> Result<DefaultMQProducer, String> {
    let mut producer = DefaultMQProducer::builder(rt)
        .producer_group("compat_delay_producer".to_string())
        .name_server_addr(namesrv.to_string())
        .send_msg_timeout(3000)
        .build();
    match tokio::time::timeout(Duration::from_secs(30), producer.start()).await {
        Ok(Ok(())) => Ok(producer),
        Ok(Err(e)) => Err(format!("producer start failed: {e}")),
        Err(_) => Err("producer start did not finish within 30 s".into()),
    }
}

/// Sends `msg`; the time just before the send that succeeded. A send the broker refused (for
/// example SERVICE_NOT_AVAILABLE while the group elects a new leader under load) stored
/// nothing, so it is tried again, up to five times: these checks are about when a stored
/// message is delivered, and the produce checks already count refused sends.
async fn send(producer: &mut DefaultMQProducer, msg: Message) -> Result<i64, String> {
    let mut last = String::new();
    for attempt in 1..=5 {
        let t = unix_ms() as i64;
        let outcome = tokio::time::timeout(
            Duration::from_secs(8),
            producer.send_with_timeout(msg.clone(), 3000),
        )
        .await;
        match outcome {
            Ok(Ok(Some(r))) if r.send_status == SendStatus::SendOk => return Ok(t),
            // Answered but not SEND_OK, or no answer: the message may be stored; never resend.
            Ok(Ok(Some(r))) => return Err(format!("send status {}", r.send_status)),
            Err(_) => return Err("send did not complete within 8 s".into()),
            Ok(Ok(None)) => last = "no send result".into(),
            Ok(Err(e)) => last = format!("send failed: {e}"),
        }
        eprintln!("rust-compat: send attempt {attempt} failed ({last}); retrying in 0.5 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last)
}

fn message(
    topic: &str,
    key: &str,
) -> rocketmq_model::common::message::message_builder::MessageBuilder {
    Message::builder()
        .topic(topic.to_string())
        .tags("TagD".to_string())
        .keys(vec![key.to_string()])
        .body_slice(format!("scheduled {key}").as_bytes())
}

/// Waits for the delivery of `key`; `None` after `within`.
async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    key: &str,
    within: Duration,
) -> Option<Seen> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = tokio::select! {
            s = rx.recv() => s?,
            _ = tokio::time::sleep_until(deadline) => return None,
        };
        println!(
            "{}",
            json!({"key": seen.key, "reconsume_times": seen.reconsume_times, "t_ms": seen.t_ms})
        );
        if seen.key == key {
            return Some(seen);
        }
    }
}

pub async fn run_delay(rt: Arc<ClientRuntime>, args: DelayArgs) -> u8 {
    let mut producer = match start_producer(rt.clone(), &args.namesrv).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rust-compat delay: {e}");
            return EXIT_SETUP;
        }
    };
    let build = |b: rocketmq_model::common::message::message_builder::MessageBuilder| b.build();
    let Ok(probe) = build(message(&args.topic, "probe")) else {
        return EXIT_SETUP;
    };
    if let Err(e) = send(&mut producer, probe).await {
        eprintln!("rust-compat delay: probe: {e}");
        return 1;
    }
    let (mut consumer, mut rx) = match start_consumer(
        rt.clone(),
        &args.namesrv,
        &args.topic,
        &args.group,
        None,
        ConsumeConcurrentlyStatus::ConsumeSuccess,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rust-compat delay: {e}");
            return EXIT_SETUP;
        }
    };
    let mut checks = Vec::new();
    if wait_for(&mut rx, "probe", Duration::from_secs(60))
        .await
        .is_none()
    {
        checks.push(json!({"check": "probe", "ok": false, "error": "the probe never arrived"}));
    } else {
        let deliver_at = unix_ms() as i64 + 3_000;
        let level = build(message(&args.topic, "level2").delay_level(2));
        let timer = build(message(&args.topic, "timer3s").deliver_time_ms(deliver_at as u64));
        let (Ok(level), Ok(timer)) = (level, timer) else {
            return EXIT_SETUP;
        };
        let sent_level = send(&mut producer, level).await;
        let sent_timer = send(&mut producer, timer).await;
        let mut expected = Vec::new();
        match sent_level {
            Ok(t) => expected.push(("level2", t + 5_000)),
            Err(e) => checks.push(json!({"check": "level2", "ok": false, "error": e})),
        }
        match sent_timer {
            Ok(_) => expected.push(("timer3s", deliver_at)),
            Err(e) => checks.push(json!({"check": "timer3s", "ok": false, "error": e})),
        }
        // Whichever comes first; the timer (3 s) is due before the level (5 s).
        expected.sort_by_key(|(_, due)| *due);
        for (key, due) in expected {
            match wait_for(&mut rx, key, Duration::from_secs(20)).await {
                Some(s) => {
                    let off = s.t_ms - due;
                    checks.push(json!({"check": key, "ok": off.abs() <= args.tolerance_ms,
                        "due_ms": due, "received_ms": s.t_ms, "off_ms": off}));
                }
                None => checks.push(json!({"check": key, "ok": false, "error": "never delivered"})),
            }
        }
    }
    let ok = checks.iter().all(|c| c["ok"] == json!(true));
    eprintln!(
        "{}",
        json!({"summary": "delay", "client": CLIENT, "topic": args.topic, "ok": ok,
               "tolerance_ms": args.tolerance_ms, "checks": checks})
    );
    let _ = tokio::time::timeout(Duration::from_secs(15), consumer.shutdown()).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), producer.shutdown()).await;
    if ok {
        0
    } else {
        1
    }
}

pub async fn run_retry(rt: Arc<ClientRuntime>, args: RetryArgs) -> u8 {
    let mut producer = match start_producer(rt.clone(), &args.namesrv).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rust-compat retry: {e}");
            return EXIT_SETUP;
        }
    };
    let Ok(msg) = message(&args.topic, "retry-me").build() else {
        return EXIT_SETUP;
    };
    if let Err(e) = send(&mut producer, msg).await {
        eprintln!("rust-compat retry: send: {e}");
        return 1;
    }
    let (mut consumer, mut rx) = match start_consumer(
        rt.clone(),
        &args.namesrv,
        &args.topic,
        &args.group,
        Some(args.max_reconsume_times),
        ConsumeConcurrentlyStatus::ReconsumeLater,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rust-compat retry: {e}");
            return EXIT_SETUP;
        }
    };
    // Deliveries 0..=max: the first at once, then one per delay level 3, 4, ...
    let mut deliveries: Vec<Seen> = Vec::new();
    let waits = [60u64, 25, 45, 75, 90];
    for i in 0..=(args.max_reconsume_times as usize) {
        match wait_for(&mut rx, "retry-me", Duration::from_secs(waits[i.min(4)])).await {
            Some(s) => deliveries.push(s),
            None => break,
        }
    }
    // Level 3 is 10 s, level 4 30 s (RocketMQ's default levels).
    let level_ms = [10_000i64, 30_000, 60_000, 120_000];
    let mut checks = Vec::new();
    for (i, pair) in deliveries.windows(2).enumerate() {
        let gap = pair[1].t_ms - pair[0].t_ms;
        let want = level_ms[i.min(3)];
        checks.push(json!({"check": format!("retry {}", i + 1), "gap_ms": gap, "want_ms": want,
            "reconsume_times": pair[1].reconsume_times,
            "ok": gap >= want - 100 && gap <= want + 1_500 && pair[1].reconsume_times == i as i32 + 1}));
    }
    if deliveries.len() != args.max_reconsume_times as usize + 1 {
        checks.push(
            json!({"check": "deliveries", "ok": false, "got": deliveries.len(),
            "want": args.max_reconsume_times + 1}),
        );
    }
    // Anything more on the retry topic within a few seconds would be a retry past the max.
    if let Some(extra) = wait_for(&mut rx, "retry-me", Duration::from_secs(5)).await {
        checks.push(json!({"check": "no retry past max", "ok": false,
            "reconsume_times": extra.reconsume_times}));
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), consumer.shutdown()).await;
    // The dead-letter topic exists now; a consumer of it must find the message.
    let dlq = format!("%DLQ%{}", args.group);
    match start_consumer(
        rt.clone(),
        &args.namesrv,
        &dlq,
        &format!("{}_dlq_reader", args.group),
        None,
        ConsumeConcurrentlyStatus::ConsumeSuccess,
    )
    .await
    {
        Ok((mut dlq_consumer, mut dlq_rx)) => {
            let found = wait_for(&mut dlq_rx, "retry-me", Duration::from_secs(60)).await;
            checks.push(
                json!({"check": "in DLQ", "topic": dlq, "ok": found.is_some(),
                "reconsume_times": found.map(|s| s.reconsume_times)}),
            );
            let _ = tokio::time::timeout(Duration::from_secs(15), dlq_consumer.shutdown()).await;
        }
        Err(e) => checks.push(json!({"check": "in DLQ", "ok": false, "error": e})),
    }
    let ok = checks.iter().all(|c| c["ok"] == json!(true));
    eprintln!(
        "{}",
        json!({"summary": "retry", "client": CLIENT, "topic": args.topic, "group": args.group,
               "ok": ok, "checks": checks})
    );
    let _ = tokio::time::timeout(Duration::from_secs(10), producer.shutdown()).await;
    if ok {
        0
    } else {
        1
    }
}
