//! [`Producer`]: synchronous sends (single and batch) with RocketMQ 4.x's wire behaviour —
//! SEND_MESSAGE_V2 headers, a client-made UNIQ_KEY per message, round-robin queue selection,
//! topic auto-creation through `TBW102` — and a retry loop built for Raft failover.
//!
//! Why the retry loop differs from Java's: Java retries twice within 3 s and otherwise waits
//! for its 30 s route poll to learn a new master. Here every retryable failure
//! (SERVICE_NOT_AVAILABLE from a follower or a leader without quorum, a connection error, a
//! timeout, a route with no master yet) refreshes the route from the name server at once and
//! tries again with a short backoff, within [`ProducerConfig::max_attempts`] and
//! [`ProducerConfig::retry_timeout`]. A send therefore waits for about one election plus one
//! registration, not for a route poll. After a timeout the broker may have stored the message;
//! the retry then stores a duplicate with the same UNIQ_KEY (at-least-once, as Java).
//!
//! A master that is paused (SIGSTOP, a long GC-like stall) or cut off keeps its connections
//! open and never answers, so a send to it would wait out the whole send timeout. While a send
//! waits longer than [`MASTER_CHECK`], the producer re-reads the route (every
//! [`MASTER_RECHECK`] after that); once another node is
//! the group's master it gives that send up as timed out and retries on the new master, so
//! such a stall costs about one election too.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use super::error::ClientError;
use super::mq::{remote_error, ClientOptions, MqClient};
use super::route::{publish_queues, select_queue};
use crate::message::properties as keys;
use crate::message::{encode_batch, BatchMessage, MessageProperties, UniqIdGenerator};
use crate::protocol::body::MessageQueue;
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{SendMessageRequestHeader, SendMessageResponseHeader};
use crate::protocol::topic_names::{valid_topic_name, AUTO_CREATE_TOPIC_KEY};
use crate::remoting::{request_code, response_code, RemotingCommand, RemotingError};
use crate::time::now_ms;

/// Producer settings. Defaults in [`ProducerConfig::new`].
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub group: String,
    /// Timeout of one send attempt (Java's `sendMsgTimeout`, 3 s).
    pub send_timeout: Duration,
    /// Longest a send keeps retrying, all attempts together.
    pub retry_timeout: Duration,
    /// Most attempts per send, the first included.
    pub max_attempts: u32,
    /// Queues an auto-created topic gets (capped by TBW102's).
    pub default_topic_queue_nums: u32,
    /// Largest body accepted (the broker's default `maxMessageSize`, 4 MiB).
    pub max_message_size: usize,
}

impl ProducerConfig {
    pub fn new(group: impl Into<String>) -> ProducerConfig {
        ProducerConfig {
            group: group.into(),
            send_timeout: Duration::from_secs(3),
            retry_timeout: Duration::from_secs(15),
            max_attempts: 64,
            default_topic_queue_nums: 4,
            max_message_size: 4 * 1024 * 1024,
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub body: Bytes,
    /// The user flag, stored verbatim.
    pub flag: i32,
    pub properties: MessageProperties,
}

impl Message {
    /// A message with Java's default property `WAIT=true` (the broker answers after storing).
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Message {
        let mut properties = MessageProperties::new();
        let _ = properties.insert(keys::WAIT, "true");
        Message {
            topic: topic.into(),
            body: body.into(),
            flag: 0,
            properties,
        }
    }

    /// Sets the `TAGS` property (what consumers filter on).
    pub fn with_tags(mut self, tags: &str) -> Result<Message, ClientError> {
        self.properties.insert(keys::TAGS, tags)?;
        Ok(self)
    }

    /// Sets the `KEYS` property: keys separated by spaces, each indexed by the broker.
    pub fn with_keys<'a>(
        mut self,
        list: impl IntoIterator<Item = &'a str>,
    ) -> Result<Message, ClientError> {
        let joined = list.into_iter().collect::<Vec<_>>().join(" ");
        self.properties.insert(keys::KEYS, joined)?;
        Ok(self)
    }

    /// Sets any user property.
    pub fn with_property(mut self, key: &str, value: &str) -> Result<Message, ClientError> {
        self.properties.insert(key, value)?;
        Ok(self)
    }
}

/// How the broker stored the message (Java's `SendStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    SendOk,
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
}

impl fmt::Display for SendStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendStatus::SendOk => "SEND_OK",
            SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        })
    }
}

/// The outcome of a send, printed like Java's `SendResult.toString()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub status: SendStatus,
    /// The client's UNIQ_KEY (comma-separated for a batch).
    pub msg_id: String,
    /// The broker's offsetMsgId: store host + CommitLog offset (comma-separated for a batch).
    pub offset_msg_id: String,
    pub queue: MessageQueue,
    /// The queue offset of the (first) stored message.
    pub queue_offset: i64,
}

/// Java's `MessageQueue.toString()`.
pub fn format_queue(mq: &MessageQueue) -> String {
    format!(
        "MessageQueue [topic={}, brokerName={}, queueId={}]",
        mq.topic, mq.broker_name, mq.queue_id
    )
}

impl fmt::Display for SendResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SendResult [sendStatus={}, msgId={}, offsetMsgId={}, messageQueue={}, queueOffset={}]",
            self.status,
            self.msg_id,
            self.offset_msg_id,
            format_queue(&self.queue),
            self.queue_offset
        )
    }
}

/// Queues a topic's sends go to, and whether they came from the default topic's route.
#[derive(Clone)]
struct PublishInfo {
    queues: Vec<MessageQueue>,
    via_default: bool,
    fetched: Instant,
}

/// What one send carries: a single message or an encoded batch.
struct Payload {
    topic: String,
    code: i32,
    body: Bytes,
    flag: i32,
    properties: String,
    /// UNIQ_KEY(s), comma-separated for a batch.
    msg_id: String,
}

/// A RocketMQ producer. Cheap to share behind an `Arc`; sends may run concurrently.
pub struct Producer {
    client: MqClient,
    cfg: ProducerConfig,
    uniq: UniqIdGenerator,
    counter: AtomicUsize,
    publish: Mutex<HashMap<String, PublishInfo>>,
    /// When a waiting send last refreshed the route: stalled sends share one refresh per
    /// [`MASTER_RECHECK`] instead of each asking the name server.
    route_checked: Mutex<Option<Instant>>,
}

/// How long a send waits before it starts checking whether its master was replaced. Healthy
/// sends finish in milliseconds and never check; a stalled master is usually replaced one
/// election timeout (~0.6-1 s) after it stalled.
const MASTER_CHECK: Duration = Duration::from_millis(500);
/// How often a stalled send re-checks after that: one name-server request per producer per
/// period, however many sends wait.
const MASTER_RECHECK: Duration = Duration::from_millis(100);

/// A route learned through the default topic is re-checked this soon, so the real route of
/// the auto-created topic replaces it right after the first send.
const DEFAULT_ROUTE_TTL: Duration = Duration::from_secs(1);

impl Producer {
    /// A producer talking to the name servers in `options`.
    pub fn new(options: ClientOptions, cfg: ProducerConfig) -> Result<Producer, ClientError> {
        let client = MqClient::new(options)?;
        Ok(Producer::with_client(client, cfg))
    }

    /// A producer on an existing client (shares its connections and route cache).
    pub fn with_client(client: MqClient, cfg: ProducerConfig) -> Producer {
        let class_loader_hash: i32 = rand::random();
        let uniq = UniqIdGenerator::new(client.client_ip(), std::process::id(), class_loader_hash);
        Producer {
            client,
            cfg,
            uniq,
            counter: AtomicUsize::new(rand::random::<u16>() as usize),
            publish: Mutex::new(HashMap::new()),
            route_checked: Mutex::new(None),
        }
    }

    pub fn client(&self) -> &MqClient {
        &self.client
    }

    /// Forgets the queues cached for `topic` (and its route), so the next send asks the name
    /// servers again. The built-in retry loop does this itself; a caller that sends with
    /// `max_attempts = 1` and retries on its own (the Jepsen suite) calls it after a failure,
    /// or a route fetched while the group had no master would be reused for `route_ttl`.
    pub fn forget_route(&self, topic: &str) {
        self.publish.lock().remove(topic);
        self.client.invalidate_route(topic);
    }

    /// Sends one message and waits until the broker stored it (SEND_OK only after a quorum
    /// of the Raft group committed it).
    pub async fn send(&self, msg: Message) -> Result<SendResult, ClientError> {
        self.check(&msg)?;
        let mut properties = msg.properties;
        let msg_id = match properties.uniq_key() {
            Some(id) => id.to_string(),
            None => {
                let id = self.uniq.next_id(now_ms());
                properties.insert(keys::UNIQ_KEY, id.clone())?;
                id
            }
        };
        let payload = Payload {
            topic: msg.topic,
            code: request_code::SEND_MESSAGE_V2,
            body: msg.body,
            flag: msg.flag,
            properties: properties.encode(),
            msg_id,
        };
        self.send_with_retry(&payload).await
    }

    /// Sends messages of one topic as one SEND_BATCH_MESSAGE: one queue, consecutive offsets.
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<SendResult, ClientError> {
        let topic = match msgs.first() {
            Some(m) => m.topic.clone(),
            None => {
                return Err(ClientError::InvalidArgument(
                    "a batch needs at least one message".into(),
                ))
            }
        };
        let mut batch = Vec::with_capacity(msgs.len());
        let mut ids = Vec::with_capacity(msgs.len());
        for m in msgs {
            if m.topic != topic {
                return Err(ClientError::InvalidArgument(format!(
                    "every message of a batch must have the same topic ({topic} and {})",
                    m.topic
                )));
            }
            if m.properties.get(keys::DELAY).is_some() {
                return Err(ClientError::InvalidArgument(
                    "delayed messages cannot be batched".into(),
                ));
            }
            self.check(&m)?;
            let mut properties = m.properties;
            let id = match properties.uniq_key() {
                Some(id) => id.to_string(),
                None => {
                    let id = self.uniq.next_id(now_ms());
                    properties.insert(keys::UNIQ_KEY, id.clone())?;
                    id
                }
            };
            ids.push(id);
            batch.push(BatchMessage {
                flag: m.flag,
                body: m.body,
                properties,
            });
        }
        let body = encode_batch(&batch)?;
        if body.len() > self.cfg.max_message_size {
            return Err(ClientError::InvalidArgument(format!(
                "the batch is {} bytes; the limit is {}",
                body.len(),
                self.cfg.max_message_size
            )));
        }
        let mut header_props = MessageProperties::new();
        header_props.insert(keys::WAIT, "true")?;
        let payload = Payload {
            topic,
            code: request_code::SEND_BATCH_MESSAGE,
            body,
            flag: 0,
            properties: header_props.encode(),
            msg_id: ids.join(","),
        };
        self.send_with_retry(&payload).await
    }

    fn check(&self, msg: &Message) -> Result<(), ClientError> {
        if !valid_topic_name(&msg.topic) {
            return Err(ClientError::InvalidArgument(format!(
                "topic {:?} is invalid: use 1-127 letters, digits, %, |, - and _",
                msg.topic
            )));
        }
        if msg.topic == AUTO_CREATE_TOPIC_KEY {
            return Err(ClientError::InvalidArgument(format!(
                "topic {AUTO_CREATE_TOPIC_KEY} is reserved for auto-creation"
            )));
        }
        if msg.body.is_empty() {
            return Err(ClientError::InvalidArgument(
                "the message body is empty".into(),
            ));
        }
        if msg.body.len() > self.cfg.max_message_size {
            return Err(ClientError::InvalidArgument(format!(
                "the message body is {} bytes; the limit is {}",
                msg.body.len(),
                self.cfg.max_message_size
            )));
        }
        Ok(())
    }

    async fn send_with_retry(&self, payload: &Payload) -> Result<SendResult, ClientError> {
        let start = Instant::now();
        let deadline = start + self.cfg.retry_timeout;
        let mut attempts = 0u32;
        let mut refresh = false;
        let mut avoid: Option<String> = None;
        loop {
            attempts += 1;
            let result = self
                .attempt(payload, refresh, avoid.as_deref(), deadline)
                .await;
            let err = match result {
                Ok(r) => return Ok(r),
                Err((e, broker)) => {
                    avoid = broker;
                    e
                }
            };
            let now = Instant::now();
            if !err.is_retryable_send() || attempts >= self.cfg.max_attempts || now >= deadline {
                if attempts == 1 && !err.is_retryable_send() {
                    return Err(err);
                }
                return Err(ClientError::SendFailed {
                    topic: payload.topic.clone(),
                    attempts,
                    elapsed_ms: start.elapsed().as_millis() as u64,
                    last: Box::new(err),
                });
            }
            tracing::debug!(topic = %payload.topic, attempts, error = %err, "send failed; refreshing the route and retrying");
            refresh = true;
            // The first retry goes at once (a stale master is the usual cause); later ones back
            // off so an election in progress is not flooded.
            let backoff = match attempts {
                1 => Duration::ZERO,
                n => Duration::from_millis(25u64 << n.min(6)).min(Duration::from_millis(500)),
            };
            let sleep = backoff.min(deadline.saturating_duration_since(now));
            tokio::time::sleep(sleep).await;
        }
    }

    /// One attempt. On failure, also returns the broker group it went to (to avoid next time).
    async fn attempt(
        &self,
        payload: &Payload,
        refresh: bool,
        avoid: Option<&str>,
        deadline: Instant,
    ) -> Result<SendResult, (ClientError, Option<String>)> {
        let info = self
            .publish_info(&payload.topic, refresh)
            .await
            .map_err(|e| (e, None))?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mq = select_queue(&info.queues, n, avoid)
            .cloned()
            .ok_or_else(|| {
                let e = ClientError::NoRoute {
                    topic: payload.topic.clone(),
                    why: "no broker group with a master has a writable queue".into(),
                };
                (e, None)
            })?;
        let Some(addr) = self.client.master_addr(&mq.broker_name) else {
            let e = ClientError::NoRoute {
                topic: payload.topic.clone(),
                why: format!("broker group {} has no master now", mq.broker_name),
            };
            return Err((e, Some(mq.broker_name)));
        };
        let timeout = self
            .cfg
            .send_timeout
            .min(deadline.saturating_duration_since(Instant::now()))
            .max(Duration::from_millis(100));
        let started = Instant::now();
        let sent = tokio::select! {
            r = self.send_to(&addr, &mq, payload, timeout) => r,
            () = self.master_replaced(&payload.topic, &mq.broker_name, &addr) => {
                tracing::debug!(broker = %mq.broker_name, %addr, "master replaced while a send waited; retrying on the new one");
                Err(ClientError::Remoting(RemotingError::Timeout {
                    addr: addr.clone(),
                    code: payload.code,
                    millis: started.elapsed().as_millis() as u64,
                }))
            }
        };
        match sent {
            Ok(r) => {
                if info.via_default {
                    // The broker just created the topic and registered it; use its own route next.
                    self.publish.lock().remove(&payload.topic);
                }
                Ok(r)
            }
            // The broker refused to auto-create the topic (autoCreateTopicEnable=false):
            // retrying cannot help.
            Err(e) if info.via_default && e.code() == Some(response_code::TOPIC_NOT_EXIST) => {
                Err((
                    ClientError::TopicNotExist(payload.topic.clone()),
                    Some(mq.broker_name),
                ))
            }
            Err(e) => {
                if e.is_unreachable() {
                    self.client.close_connection(&addr);
                }
                Err((e, Some(mq.broker_name)))
            }
        }
    }

    /// Resolves once the route names a master of `broker_name` other than `addr`; never while
    /// the group has no master at all (the old one may still answer).
    async fn master_replaced(&self, topic: &str, broker_name: &str, addr: &str) {
        tokio::time::sleep(MASTER_CHECK).await;
        loop {
            let due = {
                let mut last = self.route_checked.lock();
                let due = last.is_none_or(|t| t.elapsed() >= MASTER_RECHECK);
                if due {
                    *last = Some(Instant::now());
                }
                due
            };
            if due {
                if let Err(e) = self.client.fetch_route(topic).await {
                    tracing::debug!(%topic, error = %e, "route refresh while a send waited failed");
                }
            }
            if self
                .client
                .master_addr(broker_name)
                .is_some_and(|now| now != addr)
            {
                return;
            }
            tokio::time::sleep(MASTER_RECHECK).await;
        }
    }

    async fn publish_info(&self, topic: &str, refresh: bool) -> Result<PublishInfo, ClientError> {
        if !refresh {
            let cached = self.publish.lock().get(topic).cloned();
            if let Some(info) = cached {
                let ttl = if info.via_default {
                    DEFAULT_ROUTE_TTL
                } else {
                    self.client.options().route_ttl
                };
                if info.fetched.elapsed() < ttl {
                    return Ok(info);
                }
            }
        }
        let info = match self.client.fetch_route(topic).await {
            Ok(route) => PublishInfo {
                queues: publish_queues(topic, &route, None),
                via_default: false,
                fetched: Instant::now(),
            },
            Err(ClientError::TopicNotExist(_)) => {
                let route = match self.client.fetch_route(AUTO_CREATE_TOPIC_KEY).await {
                    Ok(r) => r,
                    Err(ClientError::TopicNotExist(_)) => {
                        return Err(ClientError::TopicNotExist(topic.to_string()));
                    }
                    Err(e) => return Err(e),
                };
                PublishInfo {
                    queues: publish_queues(topic, &route, Some(self.cfg.default_topic_queue_nums)),
                    via_default: true,
                    fetched: Instant::now(),
                }
            }
            Err(e) => return Err(e),
        };
        self.publish.lock().insert(topic.to_string(), info.clone());
        Ok(info)
    }

    async fn send_to(
        &self,
        addr: &str,
        mq: &MessageQueue,
        payload: &Payload,
        timeout: Duration,
    ) -> Result<SendResult, ClientError> {
        let header = SendMessageRequestHeader {
            producer_group: self.cfg.group.clone(),
            topic: payload.topic.clone(),
            default_topic: AUTO_CREATE_TOPIC_KEY.to_string(),
            default_topic_queue_nums: self.cfg.default_topic_queue_nums as i32,
            queue_id: mq.queue_id,
            sys_flag: 0,
            born_timestamp: now_ms(),
            flag: payload.flag,
            properties: Some(payload.properties.clone()),
            reconsume_times: Some(0),
            unit_mode: false,
            max_reconsume_times: None,
            batch: payload.code == request_code::SEND_BATCH_MESSAGE,
            broker_name: Some(mq.broker_name.clone()),
        };
        let mut req = RemotingCommand::request(payload.code).with_body(payload.body.clone());
        req.ext_fields = header.to_v2();
        let resp = self.client.invoke(addr, req, timeout).await?;
        let status = match resp.code {
            response_code::SUCCESS => SendStatus::SendOk,
            response_code::FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
            response_code::FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
            response_code::SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
            _ => return Err(remote_error(addr, &resp)),
        };
        let h = SendMessageResponseHeader::from_ext(&resp.ext_fields).map_err(|e| {
            ClientError::BadResponse {
                addr: addr.to_string(),
                what: e.to_string(),
            }
        })?;
        Ok(SendResult {
            status,
            msg_id: payload.msg_id.clone(),
            offset_msg_id: h.msg_id,
            queue: MessageQueue::new(payload.topic.clone(), mq.broker_name.clone(), h.queue_id),
            queue_offset: h.queue_offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_result_prints_like_java() {
        let r = SendResult {
            status: SendStatus::SendOk,
            msg_id: "7F0000011F8B1B2C3D4E0A1B2C3D0000".into(),
            offset_msg_id: "7F00000100002A9F0000000000000000".into(),
            queue: MessageQueue::new("TopicTest", "broker-a", 3),
            queue_offset: 7,
        };
        assert_eq!(
            r.to_string(),
            "SendResult [sendStatus=SEND_OK, msgId=7F0000011F8B1B2C3D4E0A1B2C3D0000, \
             offsetMsgId=7F00000100002A9F0000000000000000, messageQueue=MessageQueue \
             [topic=TopicTest, brokerName=broker-a, queueId=3], queueOffset=7]"
        );
    }

    #[test]
    fn messages_carry_tags_keys_and_wait() {
        let m = Message::new("T", &b"x"[..])
            .with_tags("TagA")
            .and_then(|m| m.with_keys(["k1", "k2"]))
            .unwrap();
        assert_eq!(m.properties.tags(), Some("TagA"));
        assert_eq!(m.properties.keys(), Some("k1 k2"));
        assert_eq!(m.properties.get(keys::WAIT), Some("true"));
        assert!(Message::new("T", &b"x"[..]).with_tags("").is_err());
    }

    #[tokio::test]
    async fn bad_messages_are_refused_before_any_network() {
        let p = Producer::new(ClientOptions::new("127.0.0.1:1"), ProducerConfig::new("P")).unwrap();
        for (m, what) in [
            (Message::new("bad topic", &b"x"[..]), "invalid"),
            (Message::new("TBW102", &b"x"[..]), "reserved"),
            (Message::new("T", Bytes::new()), "empty"),
        ] {
            let e = p.send(m).await.unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
        let e = p.send_batch(Vec::new()).await.unwrap_err();
        assert!(matches!(e, ClientError::InvalidArgument(_)));
    }
}
