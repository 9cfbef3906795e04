//! `ledgermq bench produce|consume|endpoint`: the broker benchmark through the RocketMQ
//! protocol, as a client sees it.
//!
//! `produce` keeps `--inflight` sends outstanding, round-robin over the writable queues of
//! every broker group's master (V2 headers; one connection per master), and follows a new
//! master after a failover; `consume`
//! pulls every queue from its start in parallel; `endpoint` is a trivial server that answers
//! every send at once, to show the client is not the bottleneck. Each prints progress and one
//! parseable summary line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use super::{merge_histograms, spawn_progress};
use crate::message::{decode_all, encode_batch, BatchMessage, MessageProperties};
use crate::protocol::body::{parse_fastjson, BrokerData, QueueData, TopicRouteData};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    CreateTopicRequestHeader, PullMessageRequestHeader, PullMessageResponseHeader, PullSysFlag,
    SendMessageRequestHeader, SendMessageResponseHeader,
};
use crate::protocol::topic_names::AUTO_CREATE_TOPIC_KEY;
use crate::remoting::{
    request_code as rc, response_code as code, ChannelContext, ClientConfig, RemotingClient,
    RemotingCommand, RequestHandler, ServerConfig,
};

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub struct ProduceBench {
    /// Name server address(es), `;`-separated.
    #[arg(short = 'n', long = "namesrv", env = "NAMESRV_ADDR")]
    namesrv: String,
    #[arg(short = 't', long, default_value = "BenchTopic")]
    topic: String,
    /// Queues to create the topic with, if it does not exist.
    #[arg(long, default_value_t = 8)]
    queues: u32,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    #[arg(long, default_value_t = 64)]
    inflight: usize,
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// Messages per send: above 1, each send is one SEND_BATCH_MESSAGE of this many messages
    /// (as the Java client's `send(Collection)`), and `--count` still counts messages.
    #[arg(long, default_value_t = 1)]
    batch: u32,
}

#[derive(Args, Debug)]
pub struct ConsumeBench {
    #[arg(short = 'n', long = "namesrv", env = "NAMESRV_ADDR")]
    namesrv: String,
    #[arg(short = 't', long, default_value = "BenchTopic")]
    topic: String,
    /// Stop after this many messages.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    #[arg(long, default_value = "bench_consumer")]
    group: String,
}

#[derive(Args, Debug)]
pub struct EndpointBench {
    /// Where the trivial endpoint listens (it is also its own name server).
    #[arg(long, default_value = "127.0.0.1:19876")]
    listen: String,
}

struct Target {
    namesrv: Vec<String>,
    client: RemotingClient,
}

impl Target {
    fn new(namesrv: &str) -> Target {
        let (client, _inbound) = RemotingClient::new(ClientConfig::default());
        Target {
            namesrv: namesrv
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            client,
        }
    }

    async fn route(&self, topic: &str) -> anyhow::Result<Option<TopicRouteData>> {
        let mut last = anyhow!("no name server given");
        for ns in &self.namesrv {
            let req = RemotingCommand::request(rc::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic);
            match self.client.invoke(ns, req, TIMEOUT).await {
                Ok(r) if r.code == code::SUCCESS => return Ok(Some(parse_fastjson(&r.body)?)),
                Ok(r) if r.code == code::TOPIC_NOT_EXIST => return Ok(None),
                Ok(r) => last = anyhow!("name server {ns} answered {}: {:?}", r.code, r.remark),
                Err(e) => last = e.into(),
            }
        }
        Err(last)
    }

    /// Every (master address, queue id) the topic can be written to, over every broker
    /// group; creates the topic on every group's master first if it does not exist.
    async fn queues(&self, topic: &str, queues: u32) -> anyhow::Result<Vec<(String, u32)>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = match self.route(topic).await? {
                Some(r) => writable(&r),
                None => {
                    if let Some(r) = self.route(AUTO_CREATE_TOPIC_KEY).await? {
                        for m in r.broker_datas.iter().filter_map(|b| b.master_addr()) {
                            self.create_topic(m, topic, queues).await?;
                        }
                    }
                    Vec::new()
                }
            };
            if !found.is_empty() {
                return Ok(found);
            }
            if Instant::now() > deadline {
                bail!("no master serves {topic} (is the cluster up and registered with the name server?)");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn create_topic(&self, master: &str, topic: &str, queues: u32) -> anyhow::Result<()> {
        let h = CreateTopicRequestHeader {
            topic: topic.into(),
            default_topic: AUTO_CREATE_TOPIC_KEY.into(),
            read_queue_nums: queues as i32,
            write_queue_nums: queues as i32,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
        };
        let mut req = RemotingCommand::request(rc::UPDATE_AND_CREATE_TOPIC);
        req.ext_fields = h.to_ext();
        let r = self.client.invoke(master, req, TIMEOUT).await?;
        if r.code != code::SUCCESS {
            bail!(
                "creating {topic} on {master} failed: {} {:?}",
                r.code,
                r.remark
            );
        }
        Ok(())
    }
}

/// Every writable (master address, queue id) of a route, interleaved so that consecutive
/// sends go to different broker groups.
fn writable(r: &TopicRouteData) -> Vec<(String, u32)> {
    let masters: BTreeMap<&str, &str> = r
        .broker_datas
        .iter()
        .filter_map(|b| b.master_addr().map(|m| (b.broker_name.as_str(), m)))
        .collect();
    let mut out = r
        .queue_datas
        .iter()
        .filter_map(|q| masters.get(q.broker_name.as_str()).map(|m| (*m, q)))
        .flat_map(|(m, q)| (0..q.write_queue_nums).map(move |i| (m.to_string(), i)))
        .collect::<Vec<_>>();
    out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    out
}

/// A send of `batch` copies of `body`: SEND_MESSAGE_V2 for one, SEND_BATCH_MESSAGE above.
fn send_request(
    topic: &str,
    queue_id: u32,
    body: &Bytes,
    batch: u32,
) -> anyhow::Result<RemotingCommand> {
    let h = SendMessageRequestHeader {
        producer_group: "bench_producer".into(),
        topic: topic.into(),
        default_topic: AUTO_CREATE_TOPIC_KEY.into(),
        default_topic_queue_nums: 8,
        queue_id: queue_id as i32,
        sys_flag: 0,
        born_timestamp: crate::time::now_ms(),
        flag: 0,
        properties: Some("TAGS\u{1}bench\u{2}WAIT\u{1}true".into()),
        reconsume_times: None,
        unit_mode: false,
        max_reconsume_times: None,
        batch: batch > 1,
        broker_name: None,
    };
    let mut req = if batch > 1 {
        let one = BatchMessage {
            flag: 0,
            body: body.clone(),
            properties: MessageProperties::decode("TAGS\u{1}bench\u{2}WAIT\u{1}true"),
        };
        let messages = vec![one; batch as usize];
        RemotingCommand::request(rc::SEND_BATCH_MESSAGE).with_body(encode_batch(&messages)?)
    } else {
        RemotingCommand::request(rc::SEND_MESSAGE_V2).with_body(body.clone())
    };
    req.ext_fields = h.to_v2();
    Ok(req)
}

async fn produce_phase(
    t: &Arc<Target>,
    b: &ProduceBench,
    targets: Arc<Mutex<Vec<(String, u32)>>>,
    count: u64,
    progress: bool,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let body = Bytes::from(vec![b'x'; b.size]);
    let batch = u64::from(b.batch.max(1));
    // Sends, each of `batch` messages; `count` is in messages.
    let count = count.div_ceil(batch);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let reporter = progress.then(|| spawn_progress("produce (sends)", done.clone(), count));
    let mut tasks = Vec::new();
    for _ in 0..b.inflight {
        let (t, body, next, done, errors, targets) = (
            t.clone(),
            body.clone(),
            next.clone(),
            done.clone(),
            errors.clone(),
            targets.clone(),
        );
        let topic = b.topic.clone();
        let queues = b.queues;
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let template = send_request(&topic, 0, &body, batch as u32)?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(h);
                }
                let started = Instant::now();
                loop {
                    let (addr, queue) = {
                        let all = targets.lock();
                        all[(n % all.len().max(1) as u64) as usize].clone()
                    };
                    // The header differs per send only in the queue id: patch a template.
                    let mut req = template.clone();
                    req.opaque = crate::remoting::command::next_opaque();
                    req.ext_fields.insert("e", queue.to_string());
                    match t.client.invoke(&addr, req, TIMEOUT).await {
                        Ok(r) if r.code == code::SUCCESS => {
                            SendMessageResponseHeader::from_ext(&r.ext_fields)
                                .map_err(|e| anyhow!("bad send response: {e}"))?;
                            break;
                        }
                        other => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            if started.elapsed() > Duration::from_secs(30) {
                                bail!("send failed for 30 s: {other:?}");
                            }
                            // Find the (new) master at once: failover time is the election's.
                            if let Ok(m) = t.queues(&topic, queues).await {
                                *targets.lock() = m;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                h.saturating_record(started.elapsed().as_micros() as u64);
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let hist = merge_histograms(tasks, reporter, "sender task").await?;
    Ok((hist, errors.load(Ordering::Relaxed)))
}

pub async fn produce(b: ProduceBench) -> anyhow::Result<()> {
    let t = Arc::new(Target::new(&b.namesrv));
    let targets = t.queues(&b.topic, b.queues).await?;
    let masters: std::collections::BTreeSet<&str> =
        targets.iter().map(|(m, _)| m.as_str()).collect();
    eprintln!(
        "{} queue(s) on {} master(s) ({}); warming up with {} sends",
        targets.len(),
        masters.len(),
        masters.into_iter().collect::<Vec<_>>().join(" "),
        b.warmup
    );
    let targets = Arc::new(Mutex::new(targets));
    produce_phase(&t, &b, targets.clone(), b.warmup, false).await?;
    let started = Instant::now();
    let (hist, errors) = produce_phase(&t, &b, targets, b.count, true).await?;
    // Whole sends only: the last one is not cut short.
    let batch = u64::from(b.batch.max(1));
    let sent = b.count.div_ceil(batch) * batch;
    let secs = started.elapsed().as_secs_f64();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    crate::cli::say(format_args!(
        "produce-bench topic={} size={} inflight={} batch={} count={} msgs_per_s={:.0} MB_per_s={:.1} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3} retries={errors}",
        b.topic,
        b.size,
        b.inflight,
        b.batch.max(1),
        sent,
        sent as f64 / secs,
        sent as f64 * b.size as f64 / secs / 1e6,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        hist.max() as f64 / 1000.0
    ));
    Ok(())
}

pub async fn consume(b: ConsumeBench) -> anyhow::Result<()> {
    let t = Arc::new(Target::new(&b.namesrv));
    let route = t
        .route(&b.topic)
        .await?
        .ok_or_else(|| anyhow!("topic {} does not exist", b.topic))?;
    let brokers: BTreeMap<String, BrokerData> = route
        .broker_datas
        .iter()
        .map(|d| (d.broker_name.clone(), d.clone()))
        .collect();
    let queues: Vec<(String, u32)> = route
        .queue_datas
        .iter()
        .flat_map(|q: &QueueData| {
            let addr = brokers
                .get(&q.broker_name)
                .and_then(|d| {
                    d.master_addr()
                        .or_else(|| d.broker_addrs.values().next().map(String::as_str))
                })
                .map(String::from);
            (0..q.read_queue_nums).filter_map(move |i| addr.clone().map(|a| (a, i)))
        })
        .collect();
    if queues.is_empty() {
        bail!("no readable queue for {}", b.topic);
    }
    let done = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let reporter = spawn_progress("consume", done.clone(), b.count);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (addr, qid) in queues {
        let (t, done, bytes, topic, group, count) = (
            t.clone(),
            done.clone(),
            bytes.clone(),
            b.topic.clone(),
            b.group.clone(),
            b.count,
        );
        tasks.push(tokio::spawn(async move {
            let mut offset = 0i64;
            let mut idle = 0;
            while done.load(Ordering::Relaxed) < count && idle < 3 {
                let h = PullMessageRequestHeader {
                    consumer_group: group.clone(),
                    topic: topic.clone(),
                    queue_id: qid as i32,
                    queue_offset: offset,
                    max_msg_nums: 32,
                    sys_flag: PullSysFlag::SUBSCRIPTION | PullSysFlag::SUSPEND,
                    commit_offset: 0,
                    suspend_timeout_millis: 1000,
                    subscription: Some("*".into()),
                    sub_version: 0,
                    expression_type: Some("TAG".into()),
                };
                let mut req = RemotingCommand::request(rc::PULL_MESSAGE);
                req.ext_fields = h.to_ext();
                let r = t.client.invoke(&addr, req, Duration::from_secs(10)).await?;
                let rh = PullMessageResponseHeader::from_ext(&r.ext_fields)
                    .map_err(|e| anyhow!("bad pull response: {e}"))?;
                offset = rh.next_begin_offset;
                if r.code == code::SUCCESS {
                    let n = decode_all(&r.body, false)
                        .map_err(|e| anyhow!("bad pull body: {e}"))?
                        .len();
                    done.fetch_add(n as u64, Ordering::Relaxed);
                    bytes.fetch_add(r.body.len() as u64, Ordering::Relaxed);
                    idle = 0;
                } else {
                    idle += 1;
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("puller task")??;
    }
    reporter.abort();
    let secs = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    crate::cli::say(format_args!(
        "consume-bench topic={} count={n} msgs_per_s={:.0} MB_per_s={:.1}",
        b.topic,
        n as f64 / secs,
        bytes.load(Ordering::Relaxed) as f64 / secs / 1e6
    ));
    Ok(())
}

/// Answers sends and route lookups at once, doing nothing else.
struct Trivial {
    addr: String,
}

impl RequestHandler for Trivial {
    async fn handle(
        &self,
        _ctx: Arc<ChannelContext>,
        req: RemotingCommand,
    ) -> Option<RemotingCommand> {
        let resp = match req.code {
            rc::SEND_MESSAGE | rc::SEND_MESSAGE_V2 => {
                let h = SendMessageResponseHeader {
                    msg_id: "7F00000100002A9F0000000000000000".into(),
                    queue_id: 0,
                    queue_offset: 0,
                    transaction_id: None,
                    msg_region: None,
                    trace_on: None,
                };
                let mut r = RemotingCommand::response_to(&req, code::SUCCESS);
                r.ext_fields = h.to_ext();
                r
            }
            rc::GET_ROUTEINFO_BY_TOPIC => {
                let route = TopicRouteData {
                    broker_datas: vec![BrokerData {
                        broker_addrs: [(0, self.addr.clone())].into_iter().collect(),
                        broker_name: "endpoint".into(),
                        cluster: "bench".into(),
                        enable_acting_master: false,
                    }],
                    queue_datas: vec![QueueData {
                        broker_name: "endpoint".into(),
                        perm: 6,
                        read_queue_nums: 8,
                        topic_sys_flag: 0,
                        write_queue_nums: 8,
                    }],
                    ..TopicRouteData::default()
                };
                match serde_json::to_vec(&route) {
                    Ok(b) => RemotingCommand::response_to(&req, code::SUCCESS).with_body(b),
                    Err(_) => RemotingCommand::response_to(&req, code::SYSTEM_ERROR),
                }
            }
            _ => RemotingCommand::response_to(&req, code::SUCCESS),
        };
        Some(resp)
    }
}

pub async fn endpoint(b: EndpointBench) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&b.listen)
        .await
        .with_context(|| format!("cannot listen on {}", b.listen))?;
    eprintln!(
        "trivial endpoint on {} (answers every send at once; use it as --namesrv)",
        b.listen
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(crate::remoting::serve(
        listener,
        Arc::new(Trivial {
            addr: b.listen.clone(),
        }),
        ServerConfig::default(),
        rx,
    ));
    crate::cli::broker::wait_for_signal().await;
    let _ = tx.send(true);
    let _ = server.await;
    Ok(())
}
