//! A clustering push consumer, as RocketMQ 4.x's `DefaultMQPushConsumer` behaves on the wire:
//! heartbeats to every node of its topics' broker groups, queues shared among the group's
//! consumers by AllocateMessageQueueAveragely (on start, every 20 s and on
//! NOTIFY_CONSUMER_IDS_CHANGED), one long-polling pull loop per owned queue, offsets committed
//! every 5 s and on shutdown, and UNREGISTER_CLIENT on shutdown.
//!
//! Messages come out of a [`MessageStream`]. A message counts as processed when the
//! application asks for the next one (or calls [`MessageStream::ack_last`]); offsets are only
//! committed up to the first unprocessed message, so a crash or a rebalance redelivers, never
//! skips (at-least-once).
//!
//! ```text
//! mod.rs            Consumer, ConsumerConfig, MessageStream; the timer/notification loop
//! rebalance.rs      heartbeat, consumer ids, AllocateMessageQueueAveragely, queue ownership
//! pull.rs           per-queue pull loop (master first, any node of the group when it is gone)
//! offset.rs         start offset (QUERY_CONSUMER_OFFSET + ConsumeFromWhere), commits
//! process_queue.rs  in-flight offsets of one queue: what is safe to commit
//! ```
//!
//! Limitation: compressed bodies (sysFlag 0x1, from Java producers for bodies over 4 KiB) are
//! delivered as stored, still compressed; the crate has no inflater.

mod offset;
mod process_queue;
mod pull;
mod rebalance;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::error::ClientError;
use super::mq::{ClientOptions, MqClient};
use crate::message::{MessageExt, TagSubscription};
use crate::protocol::body::{
    ConsumeFromWhere, MessageQueue, SubscriptionData, EXPRESSION_TYPE_TAG,
};
use crate::protocol::topic_names::retry_topic;
use crate::remoting::{not_supported, request_code, InboundRequest};
use crate::time::now_ms;

pub use process_queue::ProcessQueue;
pub use rebalance::allocate_averagely;

/// Consumer settings. Defaults in [`ConsumerConfig::new`].
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub group: String,
    /// `(topic, expression)`: `*` or tags separated by `||`.
    pub subscriptions: Vec<(String, String)>,
    /// Where a queue with no committed offset starts.
    pub consume_from_where: ConsumeFromWhere,
    /// For `ConsumeFromTimestamp`: ms since the epoch (Java's default is 30 minutes ago).
    pub consume_timestamp_ms: i64,
    /// `maxMsgNums` of a pull (Java's `pullBatchSize`, 32).
    pub pull_batch_size: i32,
    /// How long the broker may hold a pull that finds nothing (15 s, as Java).
    pub suspend_timeout: Duration,
    /// Socket timeout of a pull: longer than the suspension (30 s, as Java).
    pub pull_timeout: Duration,
    pub rebalance_interval: Duration,
    /// How often the subscribed topics' routes are re-read. Shorter than Java's 30 s
    /// (`pollNameServerInterval`): a pull held by a master that froze (paused process, dead
    /// host without a reset) is abandoned as soon as the route no longer names that node,
    /// instead of after the 30 s pull timeout.
    pub route_poll_interval: Duration,
    pub heartbeat_interval: Duration,
    /// How often processed offsets are committed (Java's `persistConsumerOffsetInterval`).
    pub persist_interval: Duration,
    /// Messages buffered between the pull loops and the application.
    pub buffer: usize,
}

impl ConsumerConfig {
    pub fn new(group: impl Into<String>) -> ConsumerConfig {
        ConsumerConfig {
            group: group.into(),
            subscriptions: Vec::new(),
            consume_from_where: ConsumeFromWhere::ConsumeFromLastOffset,
            consume_timestamp_ms: now_ms() - 30 * 60 * 1000,
            pull_batch_size: 32,
            suspend_timeout: Duration::from_secs(15),
            pull_timeout: Duration::from_secs(30),
            rebalance_interval: Duration::from_secs(20),
            route_poll_interval: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(30),
            persist_interval: Duration::from_secs(5),
            buffer: 1024,
        }
    }

    /// Adds a subscription; `expression` is `*` or `TagA || TagB`.
    pub fn subscribe(
        mut self,
        topic: impl Into<String>,
        expression: impl Into<String>,
    ) -> ConsumerConfig {
        self.subscriptions.push((topic.into(), expression.into()));
        self
    }
}

/// One subscribed topic, parsed once.
pub(crate) struct Subscription {
    pub topic: String,
    pub expression: String,
    pub filter: TagSubscription,
    pub data: SubscriptionData,
}

impl Subscription {
    fn new(topic: &str, expression: &str, sub_version: i64) -> Result<Subscription, ClientError> {
        let filter = TagSubscription::parse(expression)?;
        let (tags_set, code_set) = match &filter {
            TagSubscription::All => (Vec::new(), Vec::new()),
            TagSubscription::Tags { tags, codes } => (
                tags.iter().cloned().collect(),
                codes.iter().map(|c| i64::from(*c)).collect(),
            ),
        };
        let expression = if filter.is_all() { "*" } else { expression };
        Ok(Subscription {
            topic: topic.to_string(),
            expression: expression.to_string(),
            data: SubscriptionData {
                class_filter_mode: false,
                code_set,
                expression_type: EXPRESSION_TYPE_TAG.to_string(),
                sub_string: expression.to_string(),
                sub_version,
                tags_set,
                topic: topic.to_string(),
            },
            filter,
        })
    }
}

/// A message handed to the application, with where it came from.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub message: MessageExt,
    pub queue: MessageQueue,
    /// The node it was pulled from.
    pub broker_addr: String,
}

/// What a pull loop hands to the stream.
pub(crate) struct Delivery {
    message: MessageExt,
    pq: Arc<ProcessQueue>,
    broker_addr: String,
}

/// The consumer's messages, in order per queue.
pub struct MessageStream {
    rx: mpsc::Receiver<Delivery>,
    last: Option<(Arc<ProcessQueue>, i64)>,
}

impl MessageStream {
    /// The next message; the previous one counts as processed. `None` once the consumer is
    /// shut down and the buffer is empty.
    pub async fn next(&mut self) -> Option<ReceivedMessage> {
        self.ack_last();
        loop {
            let d = self.rx.recv().await?;
            if d.pq.is_dropped() {
                // Rebalanced away: the new owner redelivers it from the committed offset.
                continue;
            }
            self.last = Some((d.pq.clone(), d.message.queue_offset));
            return Some(ReceivedMessage {
                queue: d.pq.mq.clone(),
                broker_addr: d.broker_addr,
                message: d.message,
            });
        }
    }

    /// Marks the message last returned by [`MessageStream::next`] as processed now (before a
    /// shutdown, so its offset is committed).
    pub fn ack_last(&mut self) {
        if let Some((pq, offset)) = self.last.take() {
            pq.done(offset);
        }
    }
}

/// What the consumer's tasks share.
pub(crate) struct Shared {
    pub client: MqClient,
    pub cfg: ConsumerConfig,
    pub subs: Vec<Arc<Subscription>>,
    pub tx: mpsc::Sender<Delivery>,
    pub queues: Mutex<HashMap<MessageQueue, OwnedQueue>>,
    /// Node addresses our last heartbeat reached; a route naming others triggers a new one.
    pub heartbeat_addrs: Mutex<BTreeSet<String>>,
}

pub(crate) struct OwnedQueue {
    pub pq: Arc<ProcessQueue>,
    pub task: JoinHandle<()>,
}

/// A running consumer. Call [`Consumer::shutdown`] to commit offsets and leave the group.
pub struct Consumer {
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    main: Option<JoinHandle<()>>,
}

impl Consumer {
    /// Starts consuming: heartbeat, first rebalance, pull loops. Topics that do not exist yet
    /// are picked up by a later rebalance once they do.
    pub async fn start(
        options: ClientOptions,
        cfg: ConsumerConfig,
    ) -> Result<(Consumer, MessageStream), ClientError> {
        if cfg.subscriptions.is_empty() {
            return Err(ClientError::InvalidArgument(
                "subscribe to at least one topic".into(),
            ));
        }
        if cfg.group.is_empty() || cfg.group.len() > 255 {
            return Err(ClientError::InvalidArgument(
                "the consumer group name must be 1-255 characters".into(),
            ));
        }
        let client = MqClient::new(options)?;
        let sub_version = now_ms();
        let mut subs = Vec::new();
        for (topic, expr) in &cfg.subscriptions {
            subs.push(Arc::new(Subscription::new(topic, expr, sub_version)?));
        }
        let retry = retry_topic(&cfg.group);
        if !subs.iter().any(|s| s.topic == retry) {
            subs.push(Arc::new(Subscription::new(&retry, "*", sub_version)?));
        }
        let inbound = client.take_inbound();
        let (tx, rx) = mpsc::channel(cfg.buffer.max(1));
        let shared = Arc::new(Shared {
            client,
            cfg,
            subs,
            tx,
            queues: Mutex::new(HashMap::new()),
            heartbeat_addrs: Mutex::new(BTreeSet::new()),
        });
        rebalance::heartbeat(&shared).await;
        let incomplete = rebalance::rebalance(&shared).await;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let main = tokio::spawn(run(shared.clone(), inbound, shutdown_rx, incomplete));
        tracing::info!(group = %shared.cfg.group, client = %shared.client.client_id(), "consumer started");
        Ok((
            Consumer {
                shared,
                shutdown_tx,
                main: Some(main),
            },
            MessageStream { rx, last: None },
        ))
    }

    pub fn client_id(&self) -> &str {
        self.shared.client.client_id()
    }

    /// The queues this consumer owns now.
    pub fn assigned_queues(&self) -> Vec<MessageQueue> {
        let mut v: Vec<MessageQueue> = self.shared.queues.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// Commits the processed offsets of every owned queue now.
    pub async fn commit_offsets(&self) {
        offset::persist_all(&self.shared).await;
    }

    /// Stops the pull loops, commits offsets, unregisters from every broker and closes the
    /// connections. Messages still buffered are not processed; they are redelivered later.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(main) = self.main.take() {
            let _ = main.await;
        }
        let owned: Vec<OwnedQueue> = self.shared.queues.lock().drain().map(|(_, q)| q).collect();
        for q in &owned {
            q.pq.drop_queue();
            q.task.abort();
        }
        for q in &owned {
            offset::persist(&self.shared, &q.pq).await;
        }
        rebalance::unregister(&self.shared).await;
        self.shared.client.close_all();
        tracing::info!(group = %self.shared.cfg.group, "consumer shut down");
    }
}

impl Drop for Consumer {
    /// A consumer dropped without `shutdown` stops its tasks (offsets since the last periodic
    /// commit are redelivered later).
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
        for q in self.shared.queues.lock().values() {
            q.pq.drop_queue();
            q.task.abort();
        }
    }
}

/// While a rebalance round is incomplete (a topic not created yet), retry this often: a
/// consumer started before its producer then picks the topic up within seconds.
const REBALANCE_RETRY: Duration = Duration::from_secs(2);

/// The consumer's clock: rebalance, heartbeat, offset commits, and broker notifications.
async fn run(
    shared: Arc<Shared>,
    mut inbound: Option<mpsc::Receiver<InboundRequest>>,
    mut shutdown: watch::Receiver<bool>,
    mut incomplete: bool,
) {
    let start = tokio::time::Instant::now();
    let mut rebalance_tick = tokio::time::interval_at(
        start + shared.cfg.rebalance_interval,
        shared.cfg.rebalance_interval,
    );
    let mut heartbeat_tick = tokio::time::interval_at(
        start + shared.cfg.heartbeat_interval,
        shared.cfg.heartbeat_interval,
    );
    let mut persist_tick = tokio::time::interval_at(
        start + shared.cfg.persist_interval,
        shared.cfg.persist_interval,
    );
    let mut route_tick = tokio::time::interval_at(
        start + shared.cfg.route_poll_interval,
        shared.cfg.route_poll_interval,
    );
    loop {
        let notified = async {
            match inbound.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = rebalance_tick.tick() => incomplete = rebalance::rebalance(&shared).await,
            _ = tokio::time::sleep(REBALANCE_RETRY), if incomplete => {
                incomplete = rebalance::rebalance(&shared).await;
            }
            _ = heartbeat_tick.tick() => rebalance::heartbeat(&shared).await,
            _ = persist_tick.tick() => offset::persist_all(&shared).await,
            _ = route_tick.tick() => {
                for sub in &shared.subs {
                    // Updates the client's broker table, which the pull loops watch.
                    let _ = shared.client.fetch_route(&sub.topic).await;
                }
            }
            req = notified => match req {
                Some(req) => {
                    let code = req.request.code;
                    // Oneway requests get no answer; anything else we do not serve is refused.
                    let _ = req.respond(not_supported(&req.request));
                    if code == request_code::NOTIFY_CONSUMER_IDS_CHANGED {
                        tracing::info!(group = %shared.cfg.group, broker = %req.addr, "consumer ids changed; rebalancing now");
                        incomplete = rebalance::rebalance(&shared).await;
                    }
                }
                None => inbound = None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_carry_java_tag_sets() {
        let s = Subscription::new("T", "TagA || TagB", 7).unwrap();
        assert_eq!(
            s.data.tags_set,
            vec!["TagA".to_string(), "TagB".to_string()]
        );
        assert_eq!(s.data.code_set.len(), 2);
        assert!(s.data.code_set.contains(&2_598_919));
        assert_eq!(s.data.sub_version, 7);
        let all = Subscription::new("T", "", 7).unwrap();
        assert_eq!(all.expression, "*");
        assert!(all.data.tags_set.is_empty() && all.filter.is_all());
        assert!(Subscription::new("T", "||", 7).is_err());
    }
}
