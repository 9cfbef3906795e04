//! Every layout in `cluster-conf/` started from its own files, with messages sent and consumed
//! through it by our client, and the master/slave behaviour RocketMQ users rely on: a killed
//! master's slave keeps serving what was written while sends go to the other broker group,
//! nothing fails over, and the restarted master resumes; a SYNC_MASTER answers SEND_OK only
//! once its slave holds the message, and SLAVE_NOT_AVAILABLE without one.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::layout::Layout;
use ledgermq::client::{
    ClientOptions, Consumer, ConsumerConfig, Message, Producer, ProducerConfig, SendStatus,
};
use ledgermq::protocol::body::ConsumeFromWhere;
use ledgermq::protocol::topic::TopicConfig;

const TOPIC: &str = "ModeTopic";

fn producer(l: &Layout) -> Producer {
    let mut cfg = ProducerConfig::new("mode_producer");
    cfg.retry_timeout = Duration::from_secs(10);
    Producer::new(ClientOptions::new(l.namesrv.clone()), cfg).expect("producer")
}

/// `mqadmin updateTopic -c DefaultCluster`: the topic on every master, so sends spread over
/// every broker group (auto-creation would put it only on the first master a message reaches).
async fn create_topic_on(l: &Layout, masters: &[&str]) {
    let admin = l.admin();
    for m in masters {
        admin
            .create_topic(&l.addr(m), &TopicConfig::new(TOPIC, 4))
            .await
            .unwrap_or_else(|e| panic!("create {TOPIC} on {m}: {e}"));
    }
    // The masters register the new topic with the name server; wait for the route to name
    // them all so the producer's first route covers every group.
    let names: BTreeSet<String> = masters
        .iter()
        .map(|m| l.brokers[*m].broker_name.clone())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let routed: BTreeSet<String> = admin
            .topic_route(TOPIC)
            .await
            .map(|r| {
                r.queue_datas
                    .iter()
                    .map(|q| q.broker_name.clone())
                    .collect()
            })
            .unwrap_or_default();
        if routed == names {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{TOPIC} routed to {routed:?}, not {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `n` messages `prefix-i`; returns the bodies by the broker group that stored them.
async fn send(
    p: &Producer,
    prefix: &str,
    n: usize,
    want: SendStatus,
) -> BTreeMap<String, Vec<String>> {
    let mut by_broker: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..n {
        let body = format!("{prefix}-{i}");
        let r = p
            .send(Message::new(TOPIC, body.clone()))
            .await
            .unwrap_or_else(|e| panic!("send {body}: {e}"));
        assert_eq!(r.status, want, "{body} stored by {}", r.queue.broker_name);
        by_broker
            .entry(r.queue.broker_name.clone())
            .or_default()
            .push(body);
    }
    by_broker
}

/// Consumes `TOPIC` from the first offset with a new group until every body in `want` arrived.
async fn consume_all(l: &Layout, group: &str, want: &BTreeSet<String>, within: Duration) {
    let mut cfg = ConsumerConfig::new(group).subscribe(TOPIC, "*");
    cfg.consume_from_where = ConsumeFromWhere::ConsumeFromFirstOffset;
    cfg.rebalance_interval = Duration::from_secs(2);
    let (consumer, mut stream) = Consumer::start(ClientOptions::new(l.namesrv.clone()), cfg)
        .await
        .expect("consumer");
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + within;
    while !want.is_subset(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(m)) => {
                got.insert(String::from_utf8_lossy(&m.message.body).to_string());
            }
            _ => {
                let missing: Vec<_> = want.difference(&got).take(10).collect();
                l.dump_logs();
                panic!(
                    "{group}: {} of {} messages consumed within {within:?}; missing e.g. {missing:?}",
                    want.intersection(&got).count(),
                    want.len()
                );
            }
        }
    }
    consumer.shutdown().await;
}

fn all(by_broker: &[&BTreeMap<String, Vec<String>>]) -> BTreeSet<String> {
    by_broker
        .iter()
        .flat_map(|m| m.values().flatten().cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_broker_conf_sends_and_consumes() {
    let l = Layout::start("", 23, "");
    l.wait_registered(&[("broker-a", &[0])], Duration::from_secs(15))
        .await;
    create_topic_on(&l, &["broker"]).await;
    let sent = send(&producer(&l), "single", 50, SendStatus::SendOk).await;
    assert_eq!(sent.keys().collect::<Vec<_>>(), ["broker-a"]);
    consume_all(&l, "single_g", &all(&[&sent]), Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_masters_without_slaves_share_the_sends() {
    let l = Layout::start("2m-noslave", 24, "");
    l.wait_registered(
        &[("broker-a", &[0]), ("broker-b", &[0])],
        Duration::from_secs(15),
    )
    .await;
    create_topic_on(&l, &["broker-a", "broker-b"]).await;
    let sent = send(&producer(&l), "noslave", 80, SendStatus::SendOk).await;
    assert_eq!(sent.len(), 2, "both masters store messages: {sent:?}");
    consume_all(&l, "noslave_g", &all(&[&sent]), Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dledger_layout_elects_a_master_and_serves() {
    let l = Layout::start("dledger", 25, "");
    // One master (BID 0) and two slaves of RaftNode00, whichever node leads.
    let admin = l.admin();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ids: Vec<i64> = admin
            .cluster_info()
            .await
            .ok()
            .and_then(|i| i.broker_addr_table.get("RaftNode00").cloned())
            .map(|bd| bd.broker_addrs.keys().copied().collect())
            .unwrap_or_default();
        if ids.len() == 3 && ids.contains(&0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RaftNode00 registrations: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = send(&producer(&l), "dledger", 50, SendStatus::SendOk).await;
    consume_all(&l, "dledger_g", &all(&[&sent]), Duration::from_secs(30)).await;
}

/// 2m-2s-async: kill -9 broker-a's master. Its slave keeps serving what was written, sends go
/// to broker-b, broker-a gets no new master; restarted, the master resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_master_kill_keeps_reads_on_the_slave_and_does_not_fail_over() {
    let mut l = Layout::start("2m-2s-async", 26, "");
    let full: &[(&str, &[i64])] = &[("broker-a", &[0, 1]), ("broker-b", &[0, 1])];
    l.wait_registered(full, Duration::from_secs(20)).await;
    l.wait_slaves_attached(Duration::from_secs(20)).await;
    create_topic_on(&l, &["broker-a", "broker-b"]).await;
    let before = send(&producer(&l), "before", 100, SendStatus::SendOk).await;
    assert_eq!(before.len(), 2, "both groups store messages: {before:?}");

    // Let the slave receive broker-a's messages (asynchronous replication), then crash the
    // master.
    tokio::time::sleep(Duration::from_secs(1)).await;
    l.kill("broker-a");
    l.wait_registered(
        &[("broker-a", &[1]), ("broker-b", &[0, 1])],
        Duration::from_secs(10),
    )
    .await;
    // Nothing fails over: broker-a stays without a master while sends go to broker-b.
    let during = send(&producer(&l), "during", 40, SendStatus::SendOk).await;
    assert_eq!(
        during.keys().collect::<Vec<_>>(),
        ["broker-b"],
        "with broker-a's master down every send goes to broker-b"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    l.wait_registered(
        &[("broker-a", &[1]), ("broker-b", &[0, 1])],
        Duration::from_secs(1),
    )
    .await;
    // broker-a's messages come from its slave.
    consume_all(
        &l,
        "async_kill_g",
        &all(&[&before, &during]),
        Duration::from_secs(40),
    )
    .await;

    // The restarted master resumes: it registers as BID 0 again and takes sends.
    l.start_broker("broker-a");
    l.wait_registered(full, Duration::from_secs(20)).await;
    let after = send(&producer(&l), "after", 40, SendStatus::SendOk).await;
    assert_eq!(after.len(), 2, "broker-a takes sends again: {after:?}");
    consume_all(
        &l,
        "async_restart_g",
        &all(&[&before, &during, &after]),
        Duration::from_secs(40),
    )
    .await;
}

/// 2m-2s-sync: SEND_OK means the slave holds the message, so killing both masters right after
/// the acks loses nothing a consumer can read from the slaves; with broker-a's slave gone,
/// broker-a answers SLAVE_NOT_AVAILABLE (stored on the master, not replicated) at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_acks_after_its_slave_holds_the_message() {
    let mut l = Layout::start("2m-2s-sync", 27, "");
    let full: &[(&str, &[i64])] = &[("broker-a", &[0, 1]), ("broker-b", &[0, 1])];
    l.wait_registered(full, Duration::from_secs(20)).await;
    l.wait_slaves_attached(Duration::from_secs(20)).await;
    create_topic_on(&l, &["broker-a", "broker-b"]).await;
    let acked = send(&producer(&l), "sync", 100, SendStatus::SendOk).await;
    assert_eq!(acked.len(), 2, "both groups store messages: {acked:?}");
    l.kill("broker-a");
    l.kill("broker-b");
    l.wait_registered(
        &[("broker-a", &[1]), ("broker-b", &[1])],
        Duration::from_secs(10),
    )
    .await;
    consume_all(&l, "sync_g", &all(&[&acked]), Duration::from_secs(40)).await;

    l.start_broker("broker-a");
    l.start_broker("broker-b");
    l.wait_registered(full, Duration::from_secs(20)).await;
    l.wait_slaves_attached(Duration::from_secs(20)).await;
    l.kill("broker-a-s");
    l.wait_registered(
        &[("broker-a", &[0]), ("broker-b", &[0, 1])],
        Duration::from_secs(10),
    )
    .await;
    // The master notices within two election timeouts that its slave stopped answering.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let p = producer(&l);
    let started = Instant::now();
    let mut statuses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in 0..16 {
        let r = p
            .send(Message::new(TOPIC, format!("noslave-{i}")))
            .await
            .expect("send");
        statuses
            .entry(r.queue.broker_name.clone())
            .or_default()
            .insert(r.status.to_string());
    }
    assert_eq!(
        statuses.get("broker-a"),
        Some(&BTreeSet::from(["SLAVE_NOT_AVAILABLE".to_string()])),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.get("broker-b"),
        Some(&BTreeSet::from(["SEND_OK".to_string()])),
        "{statuses:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "SLAVE_NOT_AVAILABLE must not wait for the dead slave ({:?} for 16 sends)",
        started.elapsed()
    );
}
