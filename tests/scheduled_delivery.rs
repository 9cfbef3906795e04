//! Scheduled delivery on real broker processes, driven with raw RocketMQ requests: delay levels
//! and the retry back-off with its dead-letter end on one node, and a thousand delivery times
//! across a leader kill on three, each delivered exactly once, never early, and none more than
//! a second late after the new leader's election.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::Cluster;
use ledgermq::message::{decode_all, properties::MessageProperties, MessageExt};
use ledgermq::protocol::header::CommandHeader;
use ledgermq::protocol::headers::{
    ConsumerSendMsgBackRequestHeader, PullMessageResponseHeader, SendMessageRequestHeader,
};
use ledgermq::remoting::{
    request_code as rc, response_code as code, ClientConfig, RemotingClient, RemotingCommand,
};
use ledgermq::time::now_ms;

const T: Duration = Duration::from_secs(5);

fn send_request(topic: &str, body: &str, props: &[(&str, String)]) -> RemotingCommand {
    let mut p = MessageProperties::new();
    p.insert("UNIQ_KEY", body).expect("uniq");
    for (k, v) in props {
        p.insert(*k, v.clone()).expect("prop");
    }
    let h = SendMessageRequestHeader {
        producer_group: "P".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 1,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: now_ms(),
        flag: 0,
        properties: Some(p.encode()),
        reconsume_times: None,
        unit_mode: false,
        max_reconsume_times: None,
        batch: false,
        broker_name: None,
    };
    let mut req = RemotingCommand::request(rc::SEND_MESSAGE_V2).with_body(body.as_bytes().to_vec());
    req.ext_fields = h.to_v2();
    req
}

/// Pulls queue 0 of `topic` from `offset`; the messages and the next offset.
async fn pull(
    client: &RemotingClient,
    addr: &str,
    topic: &str,
    offset: i64,
) -> (Vec<MessageExt>, i64) {
    let req = common::requests::pull_request(topic, 0, offset);
    let Ok(resp) = client.invoke(addr, req, T).await else {
        return (Vec::new(), offset);
    };
    if resp.code != code::SUCCESS {
        return (Vec::new(), offset);
    }
    let next = PullMessageResponseHeader::from_ext(&resp.ext_fields)
        .map(|h| h.next_begin_offset)
        .unwrap_or(offset);
    (decode_all(&resp.body, true).expect("pull body"), next)
}

/// Pulls `topic` queue 0 from `addr` until `n` messages arrived or `within` passed.
async fn pull_until(
    client: &RemotingClient,
    addr: &str,
    topic: &str,
    n: usize,
    within: Duration,
) -> Vec<(MessageExt, i64)> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut offset = 0;
    while out.len() < n && Instant::now() < deadline {
        let (msgs, next) = pull(client, addr, topic, offset).await;
        let seen = now_ms();
        if msgs.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        out.extend(msgs.into_iter().map(|m| (m, seen)));
        offset = next;
    }
    out
}

/// Waits until a send that auto-creates a topic succeeds: a new leader creates TBW102, which
/// auto-creation copies, just after its election. A broker opens its client port only once its
/// Raft node runs, a moment after the node answers the status the cluster helper waits on, so
/// a refused connection also means "not yet".
async fn wait_writable(client: &RemotingClient, broker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let why = match client
            .invoke(broker, send_request("WarmUp", "warm-up", &[]), T)
            .await
        {
            Ok(resp) if resp.code == code::SUCCESS => return,
            Ok(resp) => format!("{:?}", resp.remark),
            Err(e) => e.to_string(),
        };
        assert!(Instant::now() < deadline, "not writable: {why}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delay_levels_and_the_retry_back_off_end_in_the_dead_letter_topic() {
    let c = Cluster::start_with_namesrv(44, 1, "messageDelayLevel=1s 2s 3s 4s\n");
    c.wait_leader(Duration::from_secs(20)).await;
    let broker = c.broker_addr(0);
    let (client, _inbound) = RemotingClient::new(ClientConfig::default());

    wait_writable(&client, &broker).await;

    // Level 2 (2 s here): stored in SCHEDULE_TOPIC_XXXX, moved to its topic when due, with
    // its UNIQ_KEY kept and the schedule's properties gone.
    let sent = now_ms();
    let resp = client
        .invoke(
            &broker,
            send_request("Later", "d1", &[("DELAY", "2".into())]),
            T,
        )
        .await
        .expect("send");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    let (early, _) = pull(&client, &broker, "SCHEDULE_TOPIC_XXXX", 0).await;
    assert!(early.is_empty(), "queue 0 of the schedule topic is level 1");
    let got = pull_until(&client, &broker, "Later", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "delivered once");
    let (m, _) = &got[0];
    let waited = m.store_timestamp - sent;
    assert!(
        (2_000..2_600).contains(&waited),
        "waited {waited} ms for 2 s"
    );
    assert_eq!(m.properties.uniq_key(), Some("d1"));
    assert_eq!(m.properties.get("REAL_TOPIC"), None);
    assert_eq!(m.properties.get("DELAY"), None);

    // The runtime info (the dashboard's node page) shows level 2's queue: one stored, one
    // delivered, none waiting.
    let resp = client
        .invoke(
            &broker,
            RemotingCommand::request(rc::GET_BROKER_RUNTIME_INFO),
            T,
        )
        .await
        .expect("runtime info");
    let info: ledgermq::protocol::body::KVTable =
        ledgermq::protocol::body::parse_fastjson(&resp.body).expect("KVTable");
    assert_eq!(
        info.table
            .get("scheduleMessageOffset_2")
            .map(String::as_str),
        Some("1,1")
    );
    assert_eq!(
        info.table.get("scheduleBacklog_level2").map(String::as_str),
        Some("0")
    );

    // A delivery time beyond timerMaxDelaySec is MESSAGE_ILLEGAL.
    let resp = client
        .invoke(
            &broker,
            send_request("Later", "far", &[("TIMER_DELAY_SEC", "300000".into())]),
            T,
        )
        .await
        .expect("send");
    assert_eq!(resp.code, code::MESSAGE_ILLEGAL);
    assert!(resp
        .remark
        .unwrap_or_default()
        .contains("timer message illegal"));

    // RECONSUME_LATER: level 3 + reconsumeTimes (3 s, then 4 s here), then with
    // maxReconsumeTimes 2 the dead-letter topic.
    let send_back = |offset: i64| {
        let h = ConsumerSendMsgBackRequestHeader {
            offset,
            group: "G".into(),
            delay_level: 0,
            origin_msg_id: Some("d1".into()),
            origin_topic: Some("Later".into()),
            unit_mode: false,
            max_reconsume_times: Some(2),
        };
        let mut req = RemotingCommand::request(rc::CONSUMER_SEND_MSG_BACK);
        req.ext_fields = h.to_ext();
        req
    };
    let mut failed = m.commit_log_offset;
    for (round, wait_ms) in [(1, 3_000i64), (2, 4_000)] {
        let at = now_ms();
        let resp = client
            .invoke(&broker, send_back(failed), T)
            .await
            .expect("send back");
        assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
        let got = pull_until(&client, &broker, "%RETRY%G", round, Duration::from_secs(10)).await;
        assert_eq!(got.len(), round, "retry {round} delivered once");
        let (r, _) = &got[round - 1];
        let waited = r.store_timestamp - at;
        assert!(
            (wait_ms..wait_ms + 600).contains(&waited),
            "retry {round} waited {waited} ms for {wait_ms}"
        );
        assert_eq!(r.reconsume_times, round as i32);
        assert_eq!(r.properties.get("RETRY_TOPIC"), Some("Later"));
        failed = r.commit_log_offset;
    }
    let resp = client
        .invoke(&broker, send_back(failed), T)
        .await
        .expect("send back");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    let dlq = pull_until(&client, &broker, "%DLQ%G", 1, Duration::from_secs(5)).await;
    assert_eq!(
        dlq.len(),
        1,
        "the third failure lands in the dead-letter topic at once"
    );
    assert_eq!(dlq[0].0.reconsume_times, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_delivery_times_survive_a_leader_kill_exactly_once() {
    let mut c = Cluster::start_with_namesrv(45, 3, "");
    let leader = c.wait_leader(Duration::from_secs(20)).await.id;
    let broker = c.broker_addr(leader);
    let (client, _inbound) = RemotingClient::new(ClientConfig::default());
    wait_writable(&client, &broker).await;

    // 1,000 messages due 2-10 s after their send, some by delay level 2 (5 s), the rest by
    // delivery time.
    let base = now_ms();
    let mut due: HashMap<String, i64> = HashMap::new();
    let mut sends = Vec::new();
    for i in 0..1000i64 {
        let id = format!("m{i}");
        let (props, at) = if i % 10 == 0 {
            (vec![("DELAY", "2".to_string())], None)
        } else {
            let at = base + 2_000 + (i * 7919) % 8_000;
            (vec![("TIMER_DELIVER_MS", at.to_string())], Some(at))
        };
        let client = client.clone();
        let broker = broker.clone();
        let req = send_request("Timed", &id, &props);
        sends.push(tokio::spawn(async move {
            let resp = client.invoke(&broker, req, T).await.expect("send");
            assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
            (id, at.unwrap_or_else(|| now_ms() + 5_000))
        }));
    }
    for s in sends {
        let (id, at) = s.await.expect("send task");
        due.insert(id, at);
    }
    let sent = now_ms() - base;
    assert!(
        sent < 2_000,
        "sending took {sent} ms, longer than the shortest wait"
    );

    // Kill the leader while most of them wait.
    tokio::time::sleep(Duration::from_millis(3_000u64.saturating_sub(sent as u64))).await;
    c.kill(leader);
    let new_leader = c.wait_leader(Duration::from_secs(20)).await.id;
    let elected = now_ms();
    assert_ne!(new_leader, leader);
    let addr = c.broker_addr(new_leader);

    let got = pull_until(&client, &addr, "Timed", 1000, Duration::from_secs(20)).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut worst_late = 0i64;
    for (m, _) in &got {
        let id = m.properties.uniq_key().expect("uniq key").to_string();
        *seen.entry(id.clone()).or_default() += 1;
        // The delay-level messages' due time is their first store time + 5 s; the send's
        // answer came after it, so allow the send's round trip.
        let due_at = due[&id];
        let slack = if id.trim_start_matches('m').parse::<i64>().unwrap_or(1) % 10 == 0 {
            1_000
        } else {
            0
        };
        assert!(
            m.store_timestamp + slack >= due_at,
            "{id} delivered {} ms early",
            due_at - m.store_timestamp
        );
        let late = m.store_timestamp - due_at.max(elected);
        worst_late = worst_late.max(late);
    }
    eprintln!(
        "{} deliveries, leader n{leader} killed, n{new_leader} elected; worst lateness after the election {worst_late} ms",
        got.len()
    );
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "delivered twice: {duplicates:?}");
    assert_eq!(seen.len(), 1000, "every message delivered");
    assert!(
        worst_late <= 1_000,
        "a message was {worst_late} ms late after the new leader's election"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_restarted_after_the_due_time_fires_what_came_due() {
    let mut c = Cluster::start_with_namesrv(46, 1, "messageDelayLevel=1s 2s\n");
    c.wait_leader(Duration::from_secs(20)).await;
    let broker = c.broker_addr(0);
    let (client, _inbound) = RemotingClient::new(ClientConfig::default());
    wait_writable(&client, &broker).await;
    let resp = client
        .invoke(
            &broker,
            send_request("Restarted", "r1", &[("DELAY", "2".into())]),
            T,
        )
        .await
        .expect("send");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    // Down before the message is due (2 s), back well after.
    c.kill(0);
    tokio::time::sleep(Duration::from_secs(4)).await;
    c.start_node(0);
    c.wait_leader(Duration::from_secs(20)).await;
    let got = pull_until(&client, &broker, "Restarted", 1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1, "fired once after the restart");
    assert_eq!(got[0].0.properties.uniq_key(), Some("r1"));
    // And only once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = pull_until(&client, &broker, "Restarted", 2, Duration::from_secs(1)).await;
    assert_eq!(again.len(), 1);
}
