//! A name server and a three-node broker group as real processes, driven with raw RocketMQ
//! remoting requests: the Raft leader is the routable master, followers refuse sends with a
//! retryable code and serve pulls of committed data, and a new leader takes over the route.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use ledgermq::message::{decode_all, properties::MessageProperties};
use ledgermq::protocol::body::{parse_fastjson, ClusterInfo, TopicRouteData};
use ledgermq::protocol::header::CommandHeader;
use ledgermq::protocol::headers::{
    PullMessageResponseHeader, SendMessageRequestHeader, SendMessageResponseHeader,
};
use ledgermq::remoting::{
    request_code as rc, response_code as code, ClientConfig, RemotingClient, RemotingCommand,
};

const T: Duration = Duration::from_secs(5);

async fn route(client: &RemotingClient, namesrv: &str, topic: &str) -> Option<TopicRouteData> {
    let req = RemotingCommand::request(rc::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic);
    let resp = client.invoke(namesrv, req, T).await.ok()?;
    (resp.code == code::SUCCESS)
        .then(|| parse_fastjson(&resp.body).ok())
        .flatten()
}

/// Waits until the name server routes TBW102 to a master; returns the master's address.
async fn wait_master(client: &RemotingClient, namesrv: &str, not: Option<&str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(r) = route(client, namesrv, "TBW102").await {
            if let Some(m) = r.broker_datas.first().and_then(|b| b.master_addr()) {
                if Some(m) != not {
                    return m.to_string();
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no master registered with the name server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn send_request(topic: &str, queue_id: i32, body: &str) -> RemotingCommand {
    let mut props = MessageProperties::new();
    props.insert("TAGS", "TagA").expect("tags");
    props.insert("KEYS", format!("k-{body}")).expect("keys");
    let h = SendMessageRequestHeader {
        producer_group: "P".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 1,
        flag: 0,
        properties: Some(props.encode()),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_is_master_followers_refuse_sends_and_serve_pulls_and_failover_reroutes() {
    let mut c = Cluster::start_with_namesrv(21, 3, "");
    let namesrv = c.namesrv.clone().expect("namesrv");
    let (client, _inbound) = RemotingClient::new(ClientConfig::default());
    let master = wait_master(&client, &namesrv, None).await;

    // The cluster info lists all three nodes under one broker name, exactly one with id 0.
    let resp = client
        .invoke(
            &namesrv,
            RemotingCommand::request(rc::GET_BROKER_CLUSTER_INFO),
            T,
        )
        .await
        .expect("cluster info");
    let info: ClusterInfo = parse_fastjson(&resp.body).expect("ClusterInfo");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut addrs = info.broker_addr_table["RaftNode00"].broker_addrs.clone();
    while addrs.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let resp = client
            .invoke(
                &namesrv,
                RemotingCommand::request(rc::GET_BROKER_CLUSTER_INFO),
                T,
            )
            .await
            .expect("cluster info");
        addrs = parse_fastjson::<ClusterInfo>(&resp.body)
            .expect("ClusterInfo")
            .broker_addr_table["RaftNode00"]
            .broker_addrs
            .clone();
    }
    assert_eq!(addrs.len(), 3, "three nodes registered: {addrs:?}");
    assert_eq!(addrs.get(&0), Some(&master));

    // Sends to the master are acknowledged with an offset and msgId; the topic is auto-created.
    let mut last = None;
    for i in 0..10 {
        let resp = client
            .invoke(&master, send_request("Orders", 1, &format!("m{i}")), T)
            .await
            .expect("send");
        assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
        let h =
            SendMessageResponseHeader::from_ext(&resp.ext_fields).expect("send response header");
        assert_eq!((h.queue_id, h.queue_offset), (1, i));
        last = Some(h);
    }
    assert_eq!(last.expect("sent").msg_id.len(), 32);
    // A follower refuses sends with SERVICE_NOT_AVAILABLE (the Java client retries it).
    let follower = (0..3)
        .map(|i| c.broker_addr(i))
        .find(|a| *a != master)
        .expect("a follower");
    let resp = client
        .invoke(&follower, send_request("Orders", 1, "x"), T)
        .await
        .expect("send to follower");
    assert_eq!(resp.code, code::SERVICE_NOT_AVAILABLE);
    // ...and serves pulls of committed data, with queue offsets filled in. The follower
    // learns of the last commits one heartbeat after the leader, so it may first serve a
    // shorter prefix; it must reach all ten.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = None;
    let msgs = loop {
        let resp = client
            .invoke(&follower, common::requests::pull_request("Orders", 1, 0), T)
            .await
            .expect("pull");
        if resp.code == code::SUCCESS {
            let h = PullMessageResponseHeader::from_ext(&resp.ext_fields).expect("pull header");
            assert!(h.next_begin_offset <= 10, "{h:?}");
            seen = Some(h.next_begin_offset);
            if h.next_begin_offset == 10 {
                break decode_all(&resp.body, true).expect("decode pull body");
            }
        }
        assert!(
            Instant::now() < deadline,
            "follower never served all ten messages (last answer {}, next begin offset {seen:?})",
            resp.code
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let offsets: Vec<i64> = msgs.iter().map(|m| m.queue_offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    assert_eq!(&msgs[3].body[..], b"m3");
    // Unknown request codes are answered, not dropped.
    let resp = client
        .invoke(&master, RemotingCommand::request(9999), T)
        .await
        .expect("unknown code");
    assert_eq!(resp.code, code::REQUEST_CODE_NOT_SUPPORTED);

    // Kill the master: the name server routes to the new leader within a few seconds.
    let master_id = (0..3)
        .find(|i| c.broker_addr(*i) == master)
        .expect("master id");
    let killed = Instant::now();
    c.kill(master_id);
    let new_master = wait_master(&client, &namesrv, Some(&master)).await;
    eprintln!(
        "new master {new_master} routable {:?} after the kill",
        killed.elapsed()
    );
    let resp = client
        .invoke(&new_master, send_request("Orders", 1, "after"), T)
        .await
        .expect("send");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    let h = SendMessageResponseHeader::from_ext(&resp.ext_fields).expect("header");
    assert_eq!(h.queue_offset, 10, "queue offsets continue after failover");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_frames_and_oversize_messages_get_errors_while_others_keep_working() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = Cluster::start_with_namesrv(22, 1, "");
    let namesrv = c.namesrv.clone().expect("namesrv");
    let (client, _inbound) = RemotingClient::new(ClientConfig::default());
    let master = wait_master(&client, &namesrv, None).await;

    // A well-behaved producer keeps sending through everything below.
    let good = {
        let (client, master) = (client.clone(), master.clone());
        tokio::spawn(async move {
            let mut ok = 0;
            for i in 0..60 {
                let r = client
                    .invoke(&master, send_request("Good", 0, &format!("g{i}")), T)
                    .await;
                match r {
                    Ok(resp) if resp.code == code::SUCCESS => ok += 1,
                    other => panic!("the well-behaved client was disturbed: {other:?}"),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ok
        })
    };

    // Malformed frames: each closes only its own connection.
    let frame = |total: u32, header_word: u32, header: &[u8]| {
        let mut f = total.to_be_bytes().to_vec();
        f.extend_from_slice(&header_word.to_be_bytes());
        f.extend_from_slice(header);
        f
    };
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("length beyond 16 MiB", frame(64 << 20, 2, b"{}")),
        ("header longer than the frame", frame(6, 100, b"{}")),
        ("unknown serialize type", frame(6, (7 << 24) | 2, b"{}")),
        ("not JSON", frame(12, 8, b"not json")),
        ("negative length", (-5i32).to_be_bytes().to_vec()),
    ];
    for (what, bytes) in hostile {
        let mut s = tokio::net::TcpStream::connect(&master)
            .await
            .expect("connect");
        s.write_all(&bytes).await.expect("write");
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!("{what}: the broker neither answered nor closed the connection")
            });
        assert!(
            matches!(n, Ok(0) | Err(_)),
            "{what}: expected the connection to close, got {n:?}"
        );
    }

    // An oversize message is refused with MESSAGE_ILLEGAL, and the same connection still works.
    let big = "x".repeat(70_000);
    let resp = client
        .invoke(&master, send_request("Good", 0, &big), T)
        .await
        .expect("oversize send answered");
    assert_eq!(resp.code, code::MESSAGE_ILLEGAL, "{:?}", resp.remark);
    assert!(resp.remark.unwrap_or_default().contains("65536"));
    let resp = client
        .invoke(&master, send_request("Good", 0, "small"), T)
        .await
        .expect("send after oversize");
    assert_eq!(resp.code, code::SUCCESS);
    // A header that misses required fields gets SYSTEM_ERROR naming the field.
    let mut bad = RemotingCommand::request(rc::SEND_MESSAGE_V2).with_body(b"x".to_vec());
    bad.ext_fields.insert("b", "Good");
    let resp = client.invoke(&master, bad, T).await.expect("answered");
    assert_eq!(resp.code, code::SYSTEM_ERROR);
    assert!(
        resp.remark.unwrap_or_default().contains('`'),
        "the remark names the missing field"
    );

    assert_eq!(good.await.expect("good client"), 60);
}

/// The names of a process's threads (`/proc/PID/task/*/comm`).
fn thread_names(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(comm) = std::fs::read_to_string(t.path().join("comm")) {
                names.push(comm.trim().to_string());
            }
        }
    }
    names
}

/// Sends `body` to queue 1 of `Orders` through node `id`'s client port; the queue offset.
async fn send_to(client: &RemotingClient, c: &Cluster, id: u64, body: &str) -> i64 {
    let resp = client
        .invoke(&c.broker_addr(id), send_request("Orders", 1, body), T)
        .await
        .expect("send");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    SendMessageResponseHeader::from_ext(&resp.ext_fields)
        .expect("send response header")
        .queue_offset
}

/// `ledgermq broker --single-thread` (fast-try's choice on a machine with fewer than two CPUs
/// per broker process) runs the member's Raft node on the process's one runtime worker: no
/// Raft thread of its own. Such a group elects, acknowledges, serves pulls and fails over, and
/// a node restarted with the default layout (a Raft thread per member) joins it as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_thread_brokers_elect_acknowledge_fail_over_and_mix_with_the_default_layout() {
    let mut c = Cluster::configure(61, 3, "");
    c.broker_args = vec!["--single-thread".into()];
    for i in 0..3 {
        c.start_node(i);
    }
    let (client, _inbound) = RemotingClient::new(ClientConfig::default());
    let leader = c.wait_leader(Duration::from_secs(20)).await.id;
    for i in 0..5 {
        assert_eq!(send_to(&client, &c, leader, &format!("m{i}")).await, i);
    }
    for n in &c.nodes {
        let names = thread_names(n.pid().expect("running"));
        assert!(!names.is_empty(), "n{} has threads", n.id);
        assert!(
            !names.iter().any(|t| t.starts_with("raft-")),
            "n{} runs a Raft thread despite --single-thread: {names:?}",
            n.id
        );
    }

    // Kill the leader; restart it with the default layout while the others keep theirs.
    c.kill(leader);
    let next = c.wait_leader(Duration::from_secs(20)).await.id;
    assert_ne!(next, leader);
    assert_eq!(send_to(&client, &c, next, "after").await, 5);
    c.broker_args.clear();
    c.start_node(leader);
    let pid = c.nodes[leader as usize].pid().expect("restarted");
    let deadline = Instant::now() + Duration::from_secs(20);
    // The restarted node catches up (its pulls of queue 1 reach all six messages) and, in the
    // default layout, has its member's Raft thread.
    loop {
        let resp = client
            .invoke(
                &c.broker_addr(leader),
                common::requests::pull_request("Orders", 1, 0),
                T,
            )
            .await;
        if let Ok(resp) = resp {
            if resp.code == code::SUCCESS {
                let h = PullMessageResponseHeader::from_ext(&resp.ext_fields).expect("header");
                if h.next_begin_offset == 6 {
                    let msgs = decode_all(&resp.body, true).expect("decode pull body");
                    assert_eq!(&msgs[5].body[..], b"after");
                    break;
                }
            }
        }
        if Instant::now() > deadline {
            c.dump_logs();
            panic!("the restarted node never served the six messages");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names = thread_names(pid);
    assert!(
        names.iter().any(|t| t == "raft-RaftNode00"),
        "the default layout runs the member's Raft thread: {names:?}"
    );
}
