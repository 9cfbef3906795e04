//! `trans`: a `TransactionMQProducer` sends COUNT transactional messages (body
//! `Hello RocketMQ <i>`, key `TX<i>`) and its local transaction decides by `i % 3`:
//!
//! - 0: COMMIT at once;
//! - 1: ROLLBACK at once;
//! - 2: UNKNOW, then COMMIT when the broker checks back (CHECK_TRANSACTION_STATE).
//!
//! One JSON line per send (`decision`, `msg_id`, `status`) and per check-back (`check`),
//! then it waits until every UNKNOW message was checked back (or `--check-timeout-secs`)
//! and prints a summary with `committed_msg_ids`: what a consumer must receive, exactly
//! once, and nothing else. `scripts/compat-trans.sh` runs it and judges the consumer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use rocketmq_client_rust::{
    ClientRuntime, LocalTransactionState, SendStatus, TransactionListener, TransactionMQProducer,
};
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;
use serde_json::json;

use crate::produce::{body_of, unix_ms};
use crate::tally::body_index;
use crate::{CLIENT, EXIT_SETUP};

#[derive(Args)]
pub struct TransArgs {
    /// Name server address, host:port (several separated by ';').
    #[arg(long)]
    namesrv: String,
    #[arg(long)]
    topic: String,
    /// Transactional messages to send (i = 0..COUNT-1); a multiple of 3 covers each case equally.
    #[arg(long, default_value_t = 9)]
    count: u64,
    #[arg(long, default_value = "compat_rust_tx_producer")]
    group: String,
    /// How long to wait for the broker's check-backs of the UNKNOW messages.
    #[arg(long, default_value_t = 120)]
    check_timeout_secs: u64,
    #[arg(long, default_value_t = 3000)]
    send_timeout_ms: u64,
}

impl TransArgs {
    pub fn watchdog_limit(&self) -> Duration {
        Duration::from_secs(self.check_timeout_secs + self.count * 10 + 60)
    }
}

/// What the local transaction of message `i` answers when it runs.
fn first_answer(i: u64) -> LocalTransactionState {
    match i % 3 {
        0 => LocalTransactionState::CommitMessage,
        1 => LocalTransactionState::RollbackMessage,
        _ => LocalTransactionState::Unknown,
    }
}

/// What a check-back of message `i` answers: the transaction's real outcome.
fn check_answer(i: u64) -> LocalTransactionState {
    match i % 3 {
        1 => LocalTransactionState::RollbackMessage,
        _ => LocalTransactionState::CommitMessage,
    }
}

/// Check-backs received: message index → how many times.
type Checks = Arc<Mutex<BTreeMap<u64, u64>>>;

struct Listener {
    checks: Checks,
}

fn index_of(body: Option<&[u8]>) -> Option<u64> {
    body.and_then(body_index)
}

impl TransactionListener for Listener {
    fn execute_local_transaction(
        &self,
        msg: &dyn MessageTrait,
        _arg: Option<&(dyn std::any::Any + Send + Sync)>,
    ) -> LocalTransactionState {
        match index_of(msg.get_body().map(|b| &b[..])) {
            Some(i) => first_answer(i),
            None => LocalTransactionState::RollbackMessage,
        }
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let Some(i) = index_of(msg.get_body().map(|b| &b[..])) else {
            eprintln!("rust-compat trans: check-back of a message with an unexpected body");
            return LocalTransactionState::RollbackMessage;
        };
        if let Ok(mut c) = self.checks.lock() {
            *c.entry(i).or_default() += 1;
        }
        println!(
            "{}",
            json!({"check": i, "answer": format!("{:?}", check_answer(i)), "t_ms": unix_ms()})
        );
        check_answer(i)
    }
}

pub async fn run(client_runtime: Arc<ClientRuntime>, args: TransArgs) -> u8 {
    let started = Instant::now();
    let checks: Checks = Arc::default();
    let mut producer = TransactionMQProducer::builder(client_runtime)
        .producer_group(args.group.clone())
        .name_server_addr(args.namesrv.clone())
        .send_msg_timeout(u32::try_from(args.send_timeout_ms).unwrap_or(u32::MAX))
        .transaction_listener(Listener {
            checks: checks.clone(),
        })
        .build();
    match tokio::time::timeout(Duration::from_secs(30), producer.start()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("rust-compat trans: producer start failed: {e}");
            return EXIT_SETUP;
        }
        Err(_) => {
            eprintln!("rust-compat trans: producer start did not finish within 30 s");
            return EXIT_SETUP;
        }
    }

    let (mut committed, mut failed) = (Vec::new(), 0u64);
    let mut unknown = Vec::new();
    for i in 0..args.count {
        let msg = match Message::builder()
            .topic(args.topic.clone())
            .tags("TX")
            .keys(vec![format!("TX{i}")])
            .body_slice(body_of(i).as_bytes())
            .build()
        {
            Ok(m) => m,
            Err(e) => {
                eprintln!("rust-compat trans: the client rejects message {i}: {e}");
                return EXIT_SETUP;
            }
        };
        let outer = Duration::from_millis(args.send_timeout_ms + 5000);
        let outcome = tokio::time::timeout(
            outer,
            producer.send_message_in_transaction::<(), _>(msg, None),
        )
        .await;
        let line = match outcome {
            Ok(Ok(r)) => {
                let send = r.send_result.as_ref();
                let status = send.map(|s| s.send_status);
                let msg_id = send.and_then(|s| s.msg_id.as_ref().map(|m| m.to_string()));
                if status == Some(SendStatus::SendOk) && msg_id.is_some() {
                    if check_answer(i) == LocalTransactionState::CommitMessage {
                        committed.push(msg_id.clone().unwrap_or_default());
                    }
                    if first_answer(i) == LocalTransactionState::Unknown {
                        unknown.push(i);
                    }
                } else {
                    failed += 1;
                }
                json!({
                    "i": i,
                    "msg_id": msg_id,
                    "status": status.map(|s| s.to_string()),
                    "decision": format!("{:?}", first_answer(i)),
                    "local_state": r.local_transaction_state.map(|s| format!("{s:?}")),
                    "queue_offset": send.map(|s| s.queue_offset),
                })
            }
            Ok(Err(e)) => {
                failed += 1;
                json!({"i": i, "status": "ERROR", "error": e.to_string()})
            }
            Err(_) => {
                failed += 1;
                json!({"i": i, "status": "ERROR", "error": "send did not complete in time"})
            }
        };
        println!("{line}");
    }

    // Wait for the broker to check back every UNKNOW message.
    let deadline = Instant::now() + Duration::from_secs(args.check_timeout_secs);
    let all_checked = |c: &Checks| {
        c.lock()
            .map(|m| unknown.iter().all(|i| m.contains_key(i)))
            .unwrap_or(false)
    };
    while !all_checked(&checks) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the last END_TRANSACTION answers reach the broker before the connection closes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let checked = checks.lock().map(|m| m.clone()).unwrap_or_default();
    let unexpected_checks: Vec<u64> = checked
        .keys()
        .copied()
        .filter(|i| first_answer(*i) != LocalTransactionState::Unknown)
        .collect();
    let ok = failed == 0 && all_checked(&checks);
    let summary = json!({
        "summary": "trans",
        "client": CLIENT,
        "topic": args.topic,
        "requested": args.count,
        "failed": failed,
        "unknown": unknown,
        "checked": checked,
        "checks_of_resolved": unexpected_checks,
        "all_unknown_checked": all_checked(&checks),
        "committed_msg_ids": committed,
        "elapsed_ms": started.elapsed().as_millis() as u64,
    });
    println!("{summary}");
    if tokio::time::timeout(Duration::from_secs(10), producer.shutdown())
        .await
        .is_err()
    {
        eprintln!("rust-compat trans: producer shutdown did not finish within 10 s");
    }
    if ok {
        0
    } else {
        1
    }
}
