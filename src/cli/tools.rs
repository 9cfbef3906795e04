//! `ledgermq producer` and `ledgermq consumer`: RocketMQ's quickstart Producer and Consumer
//! (`tools.sh org.apache.rocketmq.example.quickstart.Producer|Consumer`), built on our own
//! client, for trying a cluster by hand and for the CLI tests.

use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};

use super::credentials::CredentialArgs;
use super::say;
use crate::client::transaction::{send_in_transaction, LocalState};
use crate::client::{Consumer, ConsumerConfig, Message, Producer, ProducerConfig, ReceivedMessage};
use crate::protocol::body::ConsumeFromWhere;

#[derive(Args, Debug)]
pub struct ProducerArgs {
    /// Name server address list, e.g. '127.0.0.1:9876'.
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    namesrv: String,
    #[arg(short = 't', long = "topic", default_value = "TopicTest")]
    topic: String,
    /// How many messages to send.
    #[arg(short = 'c', long = "count", default_value_t = 1000)]
    count: u64,
    #[arg(long = "tag", default_value = "TagA")]
    tag: String,
    /// Also set KEYS to this prefix followed by the message number (for queryMsgByKey).
    #[arg(short = 'k', long = "keys")]
    keys: Option<String>,
    #[arg(
        short = 'g',
        long = "producerGroup",
        default_value = "please_rename_unique_group_name"
    )]
    group: String,
    /// Delay level of every message (RocketMQ 4.x `DELAY`; by default 1 = 1 s, 2 = 5 s,
    /// 3 = 10 s, ... 18 = 2 h, as `messageDelayLevel` lists them).
    #[arg(long = "delay-level")]
    delay_level: Option<u32>,
    /// Deliver each message this long after its send, e.g. 3s, 500ms, 2m (RocketMQ 5's
    /// `TIMER_DELIVER_MS`, at most the broker's `timerMaxDelaySec` ahead).
    #[arg(long = "deliver-after", value_parser = parse_duration)]
    deliver_after: Option<std::time::Duration>,
    #[command(flatten)]
    credentials: CredentialArgs,
    /// Send each message as a transaction whose local transaction answers this; `unknown`
    /// leaves it to the broker's check-back, answered with --check-answer.
    #[arg(long = "transaction", value_enum)]
    transaction: Option<TxState>,
    #[arg(long = "check-answer", value_enum, default_value = "commit")]
    check_answer: TxState,
    /// With --transaction unknown: how long to wait for each message's check-back (the
    /// broker's transactionTimeOut + transactionCheckInterval, 66 s by default).
    #[arg(long = "check-wait-secs", default_value_t = 90)]
    check_wait_secs: u64,
}

/// A local transaction's answer, on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TxState {
    Commit,
    Rollback,
    Unknown,
}

impl From<TxState> for LocalState {
    fn from(s: TxState) -> LocalState {
        match s {
            TxState::Commit => LocalState::Commit,
            TxState::Rollback => LocalState::Rollback,
            TxState::Unknown => LocalState::Unknown,
        }
    }
}

/// `500ms`, `3s`, `2m` or `1h`.
fn parse_duration(v: &str) -> Result<std::time::Duration, String> {
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{v:?} is not a duration such as 500ms, 3s, 2m or 1h"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1_000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => return Err(format!("{v:?}: the unit must be ms, s, m or h")),
    };
    Ok(std::time::Duration::from_millis(ms))
}

#[derive(Args, Debug)]
pub struct ConsumerArgs {
    /// Name server address list, e.g. '127.0.0.1:9876'.
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    namesrv: String,
    #[arg(short = 't', long = "topic", default_value = "TopicTest")]
    topic: String,
    #[arg(
        short = 'g',
        long = "consumerGroup",
        default_value = "please_rename_unique_group_name_4"
    )]
    group: String,
    /// Subscription expression: `*` or tags separated by `||`.
    #[arg(short = 's', long = "subExpression", default_value = "*")]
    sub: String,
    /// Exit after this many messages (commits the offsets first); default: run until Ctrl-C.
    #[arg(long = "count")]
    count: Option<u64>,
    /// A group with no committed offset starts at the beginning of each queue
    /// (CONSUME_FROM_FIRST_OFFSET) instead of the end.
    #[arg(long = "from-first")]
    from_first: bool,
    #[command(flatten)]
    credentials: CredentialArgs,
}

/// After this many sends in a row fail (each after its own retries), the producer stops:
/// the cluster is down, and trying the rest would take count × the retry timeout.
const MAX_CONSECUTIVE_FAILURES: u64 = 3;

/// Sends "Hello RocketMQ i" for i in 0..count and prints one SendResult line each, as the
/// quickstart does. A failed send is printed and the run continues (up to
/// [`MAX_CONSECUTIVE_FAILURES`] in a row); the exit status is non-zero if any failed.
pub async fn producer(args: ProducerArgs) -> anyhow::Result<()> {
    let producer = Producer::new(
        args.credentials.options(args.namesrv.clone())?,
        ProducerConfig::new(args.group.clone()),
    )?;
    let mut failed = 0u64;
    let mut in_a_row = 0u64;
    for i in 0..args.count {
        if in_a_row >= MAX_CONSECUTIVE_FAILURES {
            producer.client().close_all();
            bail!(
                "giving up after {in_a_row} failed sends in a row ({} sent, {failed} failed)",
                i - failed
            );
        }
        let mut msg = Message::new(
            args.topic.clone(),
            format!("Hello RocketMQ {i}").into_bytes(),
        )
        .with_tags(&args.tag)?;
        if let Some(prefix) = &args.keys {
            msg = msg.with_keys([format!("{prefix}{i}").as_str()])?;
        }
        if let Some(level) = args.delay_level {
            msg = msg.with_property("DELAY", &level.to_string())?;
        }
        if let Some(after) = args.deliver_after {
            let at = crate::time::now_ms().saturating_add(after.as_millis() as i64);
            msg = msg.with_property("TIMER_DELIVER_MS", &at.to_string())?;
        }
        let sent = match args.transaction {
            None => producer.send(msg).await.map(|r| r.to_string()),
            Some(first) => send_in_transaction(
                &producer,
                &args.group,
                msg,
                first.into(),
                args.check_answer.into(),
                Duration::from_secs(args.check_wait_secs),
            )
            .await
            .map(|t| {
                let then = match (first, t.checked) {
                    (TxState::Unknown, Some(answer)) => {
                        format!(", checked back by the broker: answered {answer:?}")
                    }
                    (TxState::Unknown, None) => format!(
                        ", no check-back within {} s: still pending",
                        args.check_wait_secs
                    ),
                    _ => String::new(),
                };
                format!("{} transaction={first:?}{then}", t.send)
            }),
        };
        match sent {
            Ok(line) => {
                in_a_row = 0;
                say(line);
            }
            Err(e) => {
                failed += 1;
                in_a_row += 1;
                eprintln!("send of message {i} failed: {e}");
            }
        }
    }
    producer.client().close_all();
    if failed > 0 {
        bail!("{failed} of {} sends failed", args.count);
    }
    Ok(())
}

/// Printable body text: control characters escaped so a message stays on one line.
fn body_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// One line per message: where it came from, its ids, and the body as text.
pub fn format_received(r: &ReceivedMessage) -> String {
    let m = &r.message;
    format!(
        "Receive New Message: brokerName={}, queueId={}, queueOffset={}, msgId={}, offsetMsgId={}, topic={}, tags={}, keys={}, body={}",
        r.queue.broker_name,
        r.queue.queue_id,
        m.queue_offset,
        m.uniq_key().map(str::to_string).unwrap_or_else(|| m.offset_msg_id()),
        m.offset_msg_id(),
        m.topic,
        m.tags().unwrap_or(""),
        m.keys().unwrap_or(""),
        body_text(&m.body)
    )
}

/// Consumes the topic and prints each message until Ctrl-C/SIGTERM or `--count` messages;
/// then commits offsets and leaves the group.
pub async fn consumer(args: ConsumerArgs) -> anyhow::Result<()> {
    let mut cfg = ConsumerConfig::new(args.group).subscribe(args.topic, args.sub);
    if args.from_first {
        cfg.consume_from_where = ConsumeFromWhere::ConsumeFromFirstOffset;
    }
    let (consumer, mut stream) =
        Consumer::start(args.credentials.options(args.namesrv)?, cfg).await?;
    say("Consumer Started.");
    let mut received = 0u64;
    let signal = super::broker::wait_for_signal();
    tokio::pin!(signal);
    loop {
        if args.count.is_some_and(|n| received >= n) {
            break;
        }
        tokio::select! {
            _ = &mut signal => break,
            next = stream.next() => match next {
                Some(r) => {
                    say(format_received(&r));
                    received += 1;
                }
                None => break,
            },
        }
    }
    stream.ack_last();
    tokio::time::timeout(Duration::from_secs(10), consumer.shutdown())
        .await
        .ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_stay_on_one_line() {
        assert_eq!(body_text(b"Hello RocketMQ 1"), "Hello RocketMQ 1");
        assert_eq!(body_text(b"a\nb\tc"), "a\\nb\\tc");
        assert_eq!(body_text(&[0xff, b'x']), "\u{fffd}x");
    }

    #[test]
    fn deliver_after_takes_ms_s_m_h() {
        let ms = |v| parse_duration(v).map(|d| d.as_millis());
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("3s"), Ok(3_000));
        assert_eq!(ms("2m"), Ok(120_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert!(parse_duration("3").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("3d").is_err());
    }
}
