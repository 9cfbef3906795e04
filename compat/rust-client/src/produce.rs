//! `produce`: sync-sends numbered messages and prints one JSON line per send.
//!
//! Body `Hello RocketMQ <i>`, tag `--tag`, keys `<prefix><i>` and `<prefix>-all` (so the
//! KEYS property carries two space-separated keys, as real applications send). A send that
//! fails or is not `SEND_OK` counts as failed: a DLedger broker acks a send only once it is
//! on a quorum, so anything else is a broker or compatibility problem worth seeing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rocketmq_client_rust::{ClientRuntime, DefaultMQProducer, SendStatus};
use rocketmq_model::common::message::message_single::Message;
use serde_json::json;

use crate::{CLIENT, EXIT_SETUP};

#[derive(Args)]
pub struct ProduceArgs {
    /// Name server address, host:port (several separated by ';').
    #[arg(long)]
    namesrv: String,
    #[arg(long)]
    topic: String,
    /// How many messages to send (i = 0..COUNT-1).
    #[arg(long)]
    count: u64,
    #[arg(long, default_value = "TagA")]
    tag: String,
    /// Keys of message i are "<K><i>" and "<K>-all".
    #[arg(long, default_value = "KEY")]
    key_prefix: String,
    #[arg(long, default_value = "compat_rust_producer")]
    group: String,
    /// Client-side timeout of one send, in ms (the client's own sendMsgTimeout).
    #[arg(long, default_value_t = 3000)]
    send_timeout_ms: u64,
    /// Give up after this many failed sends in a row (a dead server fails every send).
    #[arg(long, default_value_t = 5)]
    max_consecutive_failures: u64,
    /// Pause between sends, in ms (0: back to back). A paced run is how
    /// `scripts/client-failover-rto.sh` sees when sends resume after a leader is killed.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
    /// Deadline for the whole run; sends not made by then count as failed.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    #[command(flatten)]
    acl: crate::acl::AclArgs,
}

impl ProduceArgs {
    pub fn watchdog_limit(&self) -> Duration {
        Duration::from_secs(self.timeout_secs + 30)
    }
}

/// Body of message `i`; the consumers and the verifier check bodies against exactly this.
pub fn body_of(i: u64) -> String {
    format!("Hello RocketMQ {i}")
}

pub async fn run(client_runtime: Arc<ClientRuntime>, args: ProduceArgs) -> u8 {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let hook = match args.acl.rpc_hook() {
        Ok(hook) => hook,
        Err(e) => {
            eprintln!("rust-compat produce: {e}");
            return EXIT_SETUP;
        }
    };
    let mut builder = DefaultMQProducer::builder(client_runtime)
        .producer_group(args.group.clone())
        .name_server_addr(args.namesrv.clone())
        .send_msg_timeout(u32::try_from(args.send_timeout_ms).unwrap_or(u32::MAX));
    if let Some(hook) = hook {
        builder = builder.rpc_hook(hook);
    }
    let mut producer = builder.build();
    match tokio::time::timeout(Duration::from_secs(30), producer.start()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("rust-compat produce: producer start failed: {e}");
            return EXIT_SETUP;
        }
        Err(_) => {
            eprintln!("rust-compat produce: producer start did not finish within 30 s");
            return EXIT_SETUP;
        }
    }

    let (mut ok, mut failed, mut consecutive) = (0u64, 0u64, 0u64);
    let mut aborted: Option<String> = None;
    for i in 0..args.count {
        if Instant::now() >= deadline {
            aborted = Some(format!("deadline of {} s reached", args.timeout_secs));
            break;
        }
        let keys = vec![
            format!("{}{i}", args.key_prefix),
            format!("{}-all", args.key_prefix),
        ];
        let keys_prop = keys.join(" ");
        let msg = match Message::builder()
            .topic(args.topic.clone())
            .tags(args.tag.clone())
            .keys(keys)
            .body_slice(body_of(i).as_bytes())
            .build()
        {
            Ok(m) => m,
            Err(e) => {
                eprintln!("rust-compat produce: the client rejects message {i}: {e}");
                return EXIT_SETUP;
            }
        };
        let t0 = Instant::now();
        // The outer timeout guards against a send future that never resolves.
        let outer = Duration::from_millis(args.send_timeout_ms + 5000);
        let outcome =
            tokio::time::timeout(outer, producer.send_with_timeout(msg, args.send_timeout_ms))
                .await;
        let elapsed_ms = t0.elapsed().as_millis() as u64;
        let mut line = match outcome {
            Ok(Ok(Some(r))) => {
                let good = r.send_status == SendStatus::SendOk;
                if good {
                    ok += 1;
                    consecutive = 0;
                } else {
                    failed += 1;
                    consecutive += 1;
                }
                json!({
                    "i": i,
                    "msg_id": r.msg_id.as_ref().map(|s| s.to_string()),
                    "offset_msg_id": r.offset_msg_id,
                    "status": r.send_status.to_string(),
                    "queue_id": r.message_queue.as_ref().map(|q| q.queue_id()),
                    "queue_offset": r.queue_offset,
                    "broker": r.message_queue.as_ref().map(|q| q.broker_name().to_string()),
                    "tags": args.tag,
                    "keys": keys_prop,
                    "elapsed_ms": elapsed_ms,
                })
            }
            Ok(Ok(None)) => {
                failed += 1;
                consecutive += 1;
                error_line(
                    i,
                    "the client returned no send result for a sync send",
                    elapsed_ms,
                )
            }
            Ok(Err(e)) => {
                failed += 1;
                consecutive += 1;
                error_line(i, &e.to_string(), elapsed_ms)
            }
            Err(_) => {
                failed += 1;
                consecutive += 1;
                let error = format!("send did not complete within {} ms", outer.as_millis());
                error_line(i, &error, elapsed_ms)
            }
        };
        // Wall-clock completion time, to line sends up against faults injected from outside.
        line["t_ms"] = json!(unix_ms());
        println!("{line}");
        if args.interval_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
        if consecutive >= args.max_consecutive_failures {
            aborted = Some(format!("{consecutive} sends failed in a row"));
            break;
        }
    }

    let not_attempted = args.count - ok - failed;
    let summary = json!({
        "summary": "produce",
        "client": CLIENT,
        "topic": args.topic,
        "requested": args.count,
        "sent_ok": ok,
        "failed": failed,
        "not_attempted": not_attempted,
        "aborted": aborted,
        "elapsed_ms": started.elapsed().as_millis() as u64,
    });
    eprintln!("{summary}");
    if tokio::time::timeout(Duration::from_secs(10), producer.shutdown())
        .await
        .is_err()
    {
        eprintln!("rust-compat produce: producer shutdown did not finish within 10 s");
    }
    if ok == args.count {
        0
    } else {
        1
    }
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn error_line(i: u64, error: &str, elapsed_ms: u64) -> serde_json::Value {
    json!({"i": i, "status": "ERROR", "error": error, "elapsed_ms": elapsed_ms})
}
