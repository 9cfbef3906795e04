//! `bench`: sync sends from several tasks sharing one producer, to show what a real client
//! gets from the broker (BENCHMARKS.md, issue 16): messages per second and latency
//! percentiles, printed as one JSON line on stdout.
//!
//! `--inflight` tasks each send one message at a time with `send_with_timeout`, so at most
//! that many sends are outstanding; every body is `--size` bytes. A send that fails or is not
//! `SEND_OK` is counted, not retried by this program (the client retries as configured).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rocketmq_client_rust::{ClientRuntime, DefaultMQProducer, SendStatus};
use rocketmq_model::common::message::message_single::Message;
use serde_json::json;

use crate::{CLIENT, EXIT_SETUP};

#[derive(Args)]
pub struct BenchArgs {
    /// Name server address, host:port (several separated by ';').
    #[arg(long)]
    namesrv: String,
    #[arg(long, default_value = "BenchTopic")]
    topic: String,
    /// Messages to send in the measured phase.
    #[arg(long, default_value_t = 50_000)]
    count: u64,
    /// Messages sent (and not measured) first, to open connections and learn routes.
    #[arg(long, default_value_t = 1_000)]
    warmup: u64,
    /// Body size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Sends outstanding at once (tasks sharing the producer).
    #[arg(long, default_value_t = 16)]
    inflight: usize,
    #[arg(long, default_value = "compat_rust_bench")]
    group: String,
    #[arg(long, default_value_t = 3000)]
    send_timeout_ms: u64,
    /// Deadline for the whole run.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

impl BenchArgs {
    pub fn watchdog_limit(&self) -> Duration {
        Duration::from_secs(self.timeout_secs + 30)
    }
}

/// Sends `count` messages from `inflight` tasks; returns each send's latency in µs (successful
/// sends only) and the number that failed.
async fn phase(producer: &Arc<DefaultMQProducer>, args: &BenchArgs, count: u64) -> (Vec<u32>, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let body = vec![b'x'; args.size];
    let mut tasks = Vec::new();
    for _ in 0..args.inflight.max(1) {
        let (producer, next, failed, body) =
            (producer.clone(), next.clone(), failed.clone(), body.clone());
        let topic = args.topic.clone();
        let timeout = args.send_timeout_ms;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let msg = match Message::builder()
                    .topic(topic.clone())
                    .tags("bench")
                    .body_slice(&body)
                    .build()
                {
                    Ok(m) => m,
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let t0 = Instant::now();
                let outer = Duration::from_millis(timeout + 5000);
                match tokio::time::timeout(outer, producer.send_with_timeout(msg, timeout)).await {
                    Ok(Ok(Some(r))) if r.send_status == SendStatus::SendOk => {
                        lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(lat) = t.await {
            all.extend(lat);
        }
    }
    (all, failed.load(Ordering::Relaxed))
}

fn quantile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[at]) / 1000.0
}

pub async fn run(client_runtime: Arc<ClientRuntime>, args: BenchArgs) -> u8 {
    let mut producer = DefaultMQProducer::builder(client_runtime)
        .producer_group(args.group.clone())
        .name_server_addr(args.namesrv.clone())
        .send_msg_timeout(u32::try_from(args.send_timeout_ms).unwrap_or(u32::MAX))
        .build();
    match tokio::time::timeout(Duration::from_secs(30), producer.start()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("rust-compat bench: producer start failed: {e}");
            return EXIT_SETUP;
        }
        Err(_) => {
            eprintln!("rust-compat bench: producer start did not finish within 30 s");
            return EXIT_SETUP;
        }
    }
    let producer = Arc::new(producer);
    let budget = Duration::from_secs(args.timeout_secs);
    let run = async {
        phase(&producer, &args, args.warmup).await;
        let started = Instant::now();
        let (mut lat, failed) = phase(&producer, &args, args.count).await;
        (started.elapsed(), lat.len() as u64, failed, {
            lat.sort_unstable();
            lat
        })
    };
    let code = match tokio::time::timeout(budget, run).await {
        Ok((elapsed, ok, failed, lat)) => {
            let secs = elapsed.as_secs_f64().max(1e-9);
            println!(
                "{}",
                json!({
                    "summary": "bench",
                    "client": CLIENT,
                    "topic": args.topic,
                    "size": args.size,
                    "inflight": args.inflight,
                    "sent_ok": ok,
                    "failed": failed,
                    "msgs_per_s": (ok as f64 / secs).round(),
                    "p50_ms": quantile_ms(&lat, 0.50),
                    "p99_ms": quantile_ms(&lat, 0.99),
                    "p999_ms": quantile_ms(&lat, 0.999),
                    "max_ms": quantile_ms(&lat, 1.0),
                })
            );
            u8::from(failed > 0)
        }
        Err(_) => {
            eprintln!("rust-compat bench: not done within {} s", args.timeout_secs);
            1
        }
    };
    if let Ok(mut p) = Arc::try_unwrap(producer) {
        let _ = tokio::time::timeout(Duration::from_secs(10), p.shutdown()).await;
    }
    code
}
