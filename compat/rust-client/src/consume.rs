//! `consume`: a push consumer (CLUSTERING, CONSUME_FROM_FIRST_OFFSET) that prints one JSON
//! line per delivery and stops once `--expect` distinct msgIds arrived with intact bodies.
//!
//! The client calls the listener on its own tasks; the listener only forwards a copy of each
//! message over a channel, and this module's loop prints, counts and decides when to stop.
//! The listener always answers CONSUME_SUCCESS, so a redelivery is the broker's doing (or a
//! rebalance), never a retry the harness asked for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rocketmq_client_rust::{
    ClientResult, ClientRuntime, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
use serde_json::json;
use tokio::sync::mpsc;

use crate::tally::Tally;
use crate::{CLIENT, EXIT_SETUP};

#[derive(Args)]
pub struct ConsumeArgs {
    /// Name server address, host:port (several separated by ';').
    #[arg(long)]
    namesrv: String,
    #[arg(long)]
    topic: String,
    /// Consumer group; a new group starts from the first offset of every queue.
    #[arg(long)]
    group: String,
    /// Stop once this many distinct msgIds arrived with intact bodies.
    #[arg(long)]
    expect: u64,
    /// Give up (exit 1) if they have not all arrived by then.
    #[arg(long)]
    timeout_secs: u64,
    /// After the last expected message, keep listening this long to catch redeliveries.
    #[arg(long, default_value_t = 0)]
    settle_secs: u64,
    /// Subscription expression ("*" or "TagA || TagB").
    #[arg(long, default_value = "*")]
    subscription: String,
    #[command(flatten)]
    acl: crate::acl::AclArgs,
}

impl ConsumeArgs {
    pub fn watchdog_limit(&self) -> Duration {
        Duration::from_secs(self.timeout_secs + self.settle_secs + 60)
    }
}

/// The part of a delivered message the harness reports, copied out of the client's borrow.
struct Delivery {
    msg_id: String,
    body: Vec<u8>,
    tags: Option<String>,
    keys: Option<String>,
    queue_id: i32,
    queue_offset: i64,
    reconsume_times: i32,
    broker: String,
}

impl Delivery {
    fn from_ext(m: &MessageExt) -> Self {
        let inner = m.message_inner();
        // The id the producer got back is the client-made UNIQ_KEY; MessageExt's own msg_id
        // may be the broker's offsetMsgId, so prefer the property.
        let msg_id = inner
            .property("UNIQ_KEY")
            .map(str::to_string)
            .unwrap_or_else(|| m.msg_id().to_string());
        Self {
            msg_id,
            body: m.body().map(|b| b.to_vec()).unwrap_or_default(),
            tags: m.get_tags().map(|t| t.to_string()),
            keys: inner.property("KEYS").map(str::to_string),
            queue_id: m.queue_id(),
            queue_offset: m.queue_offset(),
            reconsume_times: m.reconsume_times(),
            broker: m.broker_name().to_string(),
        }
    }
}

struct Forwarder {
    tx: mpsc::UnboundedSender<Delivery>,
}

impl MessageListenerConcurrently for Forwarder {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            // The receiver lives until the consumer is shut down; a send error only means
            // the run is over.
            let _ = self.tx.send(Delivery::from_ext(m));
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

pub async fn run(client_runtime: Arc<ClientRuntime>, args: ConsumeArgs) -> u8 {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hook = match args.acl.rpc_hook() {
        Ok(hook) => hook,
        Err(e) => {
            eprintln!("rust-compat consume: {e}");
            return EXIT_SETUP;
        }
    };
    let mut consumer = DefaultMQPushConsumer::builder(client_runtime)
        .rpc_hook(hook)
        .consumer_group(args.group.clone())
        .name_server_addr(args.namesrv.clone())
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    if let Err(e) = consumer
        .subscribe(args.topic.clone(), args.subscription.clone())
        .await
    {
        eprintln!("rust-compat consume: subscribe failed: {e}");
        return EXIT_SETUP;
    }
    consumer.register_message_listener_concurrently(Forwarder { tx });
    match tokio::time::timeout(Duration::from_secs(30), consumer.start()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("rust-compat consume: consumer start failed: {e}");
            return EXIT_SETUP;
        }
        Err(_) => {
            eprintln!("rust-compat consume: consumer start did not finish within 30 s");
            return EXIT_SETUP;
        }
    }

    let mut tally = Tally::new(args.expect);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut settle_until: Option<tokio::time::Instant> = None;
    let mut first_ms: Option<u64> = None;
    let mut complete_ms: Option<u64> = None;
    if tally.complete() {
        complete_ms = Some(0);
        settle_until = Some(tokio::time::Instant::now() + Duration::from_secs(args.settle_secs));
    }
    loop {
        let until = settle_until.unwrap_or(deadline);
        let d = tokio::select! {
            d = rx.recv() => d,
            _ = tokio::time::sleep_until(until) => None,
        };
        let Some(d) = d else { break };
        let intact = tally.record(&d.msg_id, &d.body);
        first_ms.get_or_insert(started.elapsed().as_millis() as u64);
        let line = json!({
            "msg_id": d.msg_id,
            "body": String::from_utf8_lossy(&d.body),
            "tags": d.tags,
            "keys": d.keys,
            "queue_id": d.queue_id,
            "queue_offset": d.queue_offset,
            "reconsume_times": d.reconsume_times,
            "broker": d.broker,
            "intact": intact,
            // Wall clock when it reached the application, for the consumer-side failover
            // measurement of scripts/client-failover-rto.sh.
            "t_ms": crate::produce::unix_ms(),
        });
        println!("{line}");
        if settle_until.is_none() && tally.complete() {
            complete_ms = Some(started.elapsed().as_millis() as u64);
            settle_until =
                Some(tokio::time::Instant::now() + Duration::from_secs(args.settle_secs));
        }
    }

    let complete = tally.complete();
    let summary = json!({
        "summary": "consume",
        "client": CLIENT,
        "topic": args.topic,
        "group": args.group,
        "expected": args.expect,
        "distinct_intact": tally.distinct_intact(),
        "deliveries": tally.total,
        "duplicates": tally.duplicates,
        "corrupt": tally.corrupt,
        "missing_count": tally.missing_count(),
        "missing_bodies": tally.missing_bodies(),
        "timed_out": !complete,
        "first_message_ms": first_ms,
        "complete_ms": complete_ms,
        "elapsed_ms": started.elapsed().as_millis() as u64,
    });
    eprintln!("{summary}");
    if !complete {
        eprintln!(
            "rust-compat consume: timed out after {} s: {} of {} distinct messages received intact; \
             missing bodies (by i): {}",
            args.timeout_secs,
            tally.distinct_intact(),
            args.expect,
            truncate(&tally.missing_bodies(), 400)
        );
        if tally.total == 0 {
            eprintln!(
                "rust-compat consume: nothing at all arrived; check that the name server at {} \
                 answers and knows a route for topic {} (client log lines above)",
                args.namesrv, args.topic
            );
        }
    }
    // Shut down last (it persists offsets and unregisters the client): against a server that
    // does not answer it can take many seconds, and the verdict must be out before that.
    if tokio::time::timeout(Duration::from_secs(15), consumer.shutdown())
        .await
        .is_err()
    {
        eprintln!("rust-compat consume: consumer shutdown did not finish within 15 s");
    }
    if complete {
        0
    } else {
        1
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        s.to_string()
    } else {
        format!("{}…", &s[..max])
    }
}
