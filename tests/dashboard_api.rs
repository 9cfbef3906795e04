//! The dashboard's JSON API and every node's `/metrics`, against a real three-node Raft group
//! with a name server (real `ledgermq` processes), and the login rules without a cluster.

mod common;
#[path = "dashboard_support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::Cluster;
use ledgermq::client::{ClientOptions, MqAdmin};
use ledgermq::dashboard::{hash_password, Dashboard, DashboardConfig, DashboardError};
use ledgermq::protocol::body::MessageQueue;
use serde_json::{json, Value};
use support::http::{get, post_json, request};

const T: Duration = Duration::from_secs(30);

/// Polls `f` until it returns Some, or panics naming `what`.
async fn eventually<F, Fut, R>(what: &str, within: Duration, mut f: F) -> R
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<R>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(r) = f().await {
            return r;
        }
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_error(r: &support::http::Response, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
}

/// Scrapes `addr`/metrics and checks it as Prometheus text; also with `promtool check
/// metrics` when promtool is installed (`PROMTOOL`, or on PATH).
async fn scrape(addr: &str) -> support::promtext::Exposition {
    let r = get(addr, "/metrics").await;
    assert_eq!(r.status, 200, "{addr}/metrics");
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/plain"));
    let text = r.text();
    let e = support::promtext::check(&text).unwrap_or_else(|e| panic!("{addr}/metrics: {e}"));
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    if let Ok(mut child) = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes()).expect("promtool stdin");
        }
        let out = child.wait_with_output().expect("promtool");
        assert!(
            out.status.success(),
            "promtool check metrics on {addr}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("promtool check metrics {addr}/metrics: ok");
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_api_against_a_three_node_group() {
    let c = Cluster::start_with_namesrv(30, 3, "");
    let ns = c.namesrv.clone().expect("namesrv");
    let leader = c.wait_leader(T).await;
    let admin = MqAdmin::new(ClientOptions::new(ns.clone())).unwrap();
    eventually("three registered nodes with a master", T, || async {
        let nodes = admin.nodes().await.ok()?;
        (nodes.len() == 3 && nodes.iter().any(|n| n.broker_id == 0)).then_some(())
    })
    .await;

    // Each node names its Raft peer address and its group's members in its runtime info.
    for i in 0..3 {
        let kv = admin.broker_runtime_info(&c.broker_addr(i)).await.unwrap();
        assert_eq!(kv.table["raftPeerAddr"], c.addr(i));
        let peers: BTreeSet<&str> = kv.table["raftPeers"].split(';').collect();
        let want: BTreeSet<String> = (0..3).map(|j| format!("n{j}-{}", c.addr(j))).collect();
        assert_eq!(peers, want.iter().map(String::as_str).collect());
    }

    let d = Dashboard::start(DashboardConfig {
        namesrv_addr: ns.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        users_file: None,
    })
    .await
    .unwrap();
    let web = d.local_addr().to_string();
    let session = get(&web, "/api/session").await.json();
    assert_eq!(session["admin"], json!(true));
    let csrf = session["csrf"].as_str().unwrap().to_string();
    let auth = [("X-CSRF-Token", csrf.as_str())];

    // Pages are served (drawn by their scripts) with their assets.
    for page in [
        "/cockpit",
        "/cluster",
        "/raft",
        "/topics",
        "/consumers",
        "/messages",
    ] {
        let r = get(&web, page).await;
        assert_eq!(r.status, 200, "{page}");
        assert!(r.text().contains("/assets/app.js"));
        assert!(r.header("content-security-policy").is_some());
    }
    assert_eq!(
        get(&web, "/assets/vendor/uplot/uPlot.iife.min.js")
            .await
            .status,
        200
    );
    assert_eq!(get(&web, "/assets/nope.js").await.status, 404);

    // Cluster: three nodes of one broker, one master.
    let cluster = eventually("the cluster page's three nodes", T, || async {
        let v = get(&web, "/api/cluster").await.json();
        let nodes = v["clusters"][0]["brokers"][0]["nodes"].as_array()?.clone();
        (nodes.len() == 3 && nodes.iter().filter(|n| n["role"] == "MASTER").count() == 1)
            .then_some(nodes)
    })
    .await;
    assert!(cluster.iter().all(|n| n["version"] == "V4_9_7"));

    // Raft: every member answers, the leader is the one the nodes agree on.
    let raft = eventually("the Raft page's leader", T, || async {
        let v = get(&web, "/api/raft").await.json();
        let g = v["groups"][0].clone();
        let nodes = g["nodes"].as_array()?;
        let up = nodes.iter().filter(|n| n["state"] != "down").count();
        // Settled: right after start a member can still be a candidate, or a follower that
        // has not yet heard the new leader.
        let following = nodes
            .iter()
            .filter(|n| n["state"] == "follower" && n["leaderId"] == g["leader"])
            .count();
        (g["leader"].is_u64() && up == 3 && following == 2).then_some(g)
    })
    .await;
    assert_eq!(raft["leader"], json!(leader.id));
    assert_eq!(raft["group"], "RaftNode00");
    assert!(raft["events"].as_array().is_some_and(|e| !e.is_empty()));
    let followers: Vec<&Value> = raft["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] == "follower")
        .collect();
    assert_eq!(followers.len(), 2);
    assert!(followers.iter().all(|n| n["lagEntries"].is_u64()));

    // Bad input is refused with a clear message and changes nothing.
    let topic = "DashApiTopic";
    let form = |r: &str, w: &str, p: &str| json!({"topic": topic, "readQueueNums": r, "writeQueueNums": w, "perm": p});
    let r = post_json(&web, "/api/topics", &[], &form("4", "4", "6")).await;
    assert_error(&r, 403, "CSRF");
    let r = post_json(&web, "/api/topics", &auth, &form("0", "4", "6")).await;
    assert_error(
        &r,
        400,
        "Read queue number must be a whole number from 1 to 1024",
    );
    let r = post_json(&web, "/api/topics", &auth, &form("4", "5000", "6")).await;
    assert_error(&r, 400, "Write queue number");
    let r = post_json(&web, "/api/topics", &auth, &form("4", "x", "6")).await;
    assert_error(&r, 400, "not \"x\"");
    let r = post_json(
        &web,
        "/api/topics",
        &auth,
        &json!({"topic": "bad topic!", "readQueueNums": "4", "writeQueueNums": "4", "perm": "6"}),
    )
    .await;
    assert_error(&r, 400, "is not valid");
    let r = post_json(
        &web,
        "/api/messages",
        &auth,
        &json!({"topic": topic, "body": "x"}),
    )
    .await;
    assert_error(&r, 400, "does not exist");
    let r = get(&web, &format!("/api/topics/{topic}")).await;
    assert_error(&r, 404, "does not exist");
    assert!(
        admin.topic_route(topic).await.is_err(),
        "nothing was created"
    );
    assert_error(
        &get(&web, "/api/messages/by-id?id=not-a-msg-id").await,
        400,
        "is not a message id",
    );
    assert_error(
        &get(
            &web,
            "/api/messages/by-id?id=0A000001000078BF000000000000047A",
        )
        .await,
        404,
        "not an offsetMsgId of this cluster",
    );
    assert_error(
        &get(&web, "/api/topics?kind=bogus").await,
        400,
        "kind must be",
    );
    assert_error(
        &get(&web, "/api/cluster/node?addr=10.1.2.3:10911").await,
        404,
        "not a node registered",
    );

    // Create a topic, send to it, and find the message three ways.
    let r = post_json(&web, "/api/topics", &auth, &form("4", "4", "6")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let detail = eventually("the new topic's route", T, || async {
        let r = get(&web, &format!("/api/topics/{topic}")).await;
        (r.status == 200).then(|| r.json())
    })
    .await;
    assert_eq!(detail["queueDatas"][0]["writeQueueNums"], json!(4));
    assert_eq!(detail["queues"].as_array().unwrap().len(), 4);
    let listed = get(&web, "/api/topics?kind=normal").await.json();
    assert!(listed["topics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["topic"] == topic));

    let sent = post_json(
        &web,
        "/api/messages",
        &auth,
        &json!({"topic": topic, "tags": "TagA", "keys": "api-key-1 other", "body": "hello <b>dashboard</b>"}),
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.text());
    let sent = sent.json();
    assert_eq!(sent["status"], "SEND_OK");
    let msg_id = sent["msgId"].as_str().unwrap().to_string();
    let offset_msg_id = sent["offsetMsgId"].as_str().unwrap().to_string();

    let by_key = get(
        &web,
        &format!("/api/messages/by-key?topic={topic}&key=api-key-1"),
    )
    .await
    .json();
    assert_eq!(by_key["messages"][0]["msgId"], json!(msg_id));
    let detail = get(&web, &format!("/api/messages/by-id?id={offset_msg_id}"))
        .await
        .json();
    assert_eq!(detail["bodyText"], "hello <b>dashboard</b>");
    assert_eq!(detail["properties"]["KEYS"], "api-key-1 other");
    assert_eq!(detail["brokerName"], "RaftNode00");
    let by_uniq = get(
        &web,
        &format!("/api/messages/by-id?id={msg_id}&topic={topic}"),
    )
    .await
    .json();
    assert_eq!(by_uniq["offsetMsgId"], json!(offset_msg_id));
    let by_time = get(&web, &format!("/api/messages?topic={topic}&begin=0"))
        .await
        .json();
    assert_eq!(by_time["messages"].as_array().unwrap().len(), 1);

    // A group's offsets: reset to the start, then the lag shows in the API and in /metrics.
    let group = "dash_api_group";
    let queue = sent["queueId"].as_i64().unwrap() as i32;
    let mq = MessageQueue::new(topic, "RaftNode00", queue);
    admin.client().fetch_route(topic).await.unwrap();
    admin.update_consumer_offset(group, &mq, 1).await.unwrap();
    let r = post_json(
        &web,
        &format!("/api/consumers/{group}/reset"),
        &auth,
        &json!({"topic": topic, "timestamp": "0"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["queues"].as_array().unwrap().len(), 4);
    let g = eventually("the group's lag of one message", T, || async {
        let v = get(&web, &format!("/api/consumers/{group}")).await.json();
        (v["totalLag"] == json!(1)).then_some(v)
    })
    .await;
    assert!(g["queues"]
        .as_array()
        .unwrap()
        .iter()
        .any(|q| q["lag"] == json!(1)));
    let r = post_json(
        &web,
        "/api/consumers/no_such_group/reset",
        &auth,
        &json!({"topic": topic, "timestamp": "0"}),
    )
    .await;
    assert_error(&r, 400, "is not known");

    // Cockpit and node detail.
    let cockpit = get(&web, "/api/cockpit").await.json();
    assert_eq!(cockpit["counts"]["nodes"], json!(3));
    assert!(
        cockpit["problems"].as_array().unwrap().is_empty(),
        "{cockpit}"
    );
    let node = get(
        &web,
        &format!("/api/cluster/node?addr={}", c.broker_addr(0)),
    )
    .await
    .json();
    assert_eq!(node["config"]["brokerName"], "RaftNode00");
    assert_eq!(node["runtime"]["raftPeerAddr"], json!(c.addr(0)));

    // /metrics on every broker and on the name server.
    let leader_metrics = format!("{}:30913", c.nodes[leader.id as usize].ip);
    let e = eventually("the group's lag in /metrics", T, || async {
        let e = scrape(&leader_metrics).await;
        e.family("ledgermq_consumer_group_lag_messages")
            .iter()
            .any(|s| {
                s.labels.get("consumer_group").is_some_and(|g| g == group)
                    && s.labels.get("group").is_some_and(|g| g == "RaftNode00")
                    && s.value == 1.0
            })
            .then_some(e)
    })
    .await;
    for family in [
        "ledgermq_broker_requests_total",
        "ledgermq_broker_request_duration_seconds",
        "ledgermq_broker_received_bytes_total",
        "ledgermq_broker_topic_put_messages_total",
        "ledgermq_raft_term",
        "ledgermq_raft_commit_index",
        "ledgermq_raft_applied_index",
        "ledgermq_raft_leader_changes_total",
        "ledgermq_raft_follower_lag_entries",
        "ledgermq_commitlog_fsync_duration_seconds",
        "ledgermq_commitlog_segments",
        "ledgermq_commitlog_disk_bytes",
    ] {
        assert!(
            !e.family(family).is_empty(),
            "{family} missing on the leader"
        );
    }
    let put = e.family("ledgermq_broker_topic_put_messages_total");
    assert!(put
        .iter()
        .any(|s| s.labels.get("topic").is_some_and(|t| t == topic) && s.value == 1.0));
    for n in &c.nodes {
        let e = scrape(&format!("{}:30913", n.ip)).await;
        assert_eq!(e.family("ledgermq_raft_term").len(), 1);
    }
    let e = scrape(
        c.namesrv_metrics
            .as_deref()
            .expect("the name server's /metrics"),
    )
    .await;
    assert!(!e.family("ledgermq_namesrv_requests_total").is_empty());
    assert_eq!(e.family("ledgermq_namesrv_brokers")[0].value, 3.0);

    // Delete the topic.
    let r = post_json(
        &web,
        &format!("/api/topics/{topic}/delete"),
        &auth,
        &json!({}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_error(
        &get(&web, &format!("/api/topics/{topic}")).await,
        404,
        "does not exist",
    );
    let r = post_json(&web, "/api/topics/TBW102/delete", &auth, &json!({})).await;
    assert_error(&r, 400, "system topic");

    d.shutdown().await;
}

#[tokio::test]
async fn a_login_guards_pages_and_only_admins_change_anything() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.conf");
    std::fs::write(
        &users,
        format!(
            "# test users\nroot = {} admin\nviewer = {}\n",
            hash_password("root-pw").unwrap(),
            hash_password("view-pw").unwrap()
        ),
    )
    .unwrap();

    let e = Dashboard::start(DashboardConfig {
        namesrv_addr: "127.0.0.1:1".into(),
        listen: "0.0.0.0:0".parse().unwrap(),
        users_file: None,
    })
    .await
    .err()
    .expect("a non-loopback address without users must be refused");
    assert!(matches!(e, DashboardError::LoginRequired(_)), "{e}");
    assert!(e.to_string().contains("--users"));

    let d = Dashboard::start(DashboardConfig {
        namesrv_addr: "127.0.0.1:1".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        users_file: Some(users),
    })
    .await
    .unwrap();
    let web = d.local_addr().to_string();

    let r = get(&web, "/raft?x=1").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login?next=/raft%3Fx%3D1"));
    assert_error(&get(&web, "/api/cockpit").await, 401, "not logged in");
    assert_eq!(get(&web, "/login").await.status, 200);
    assert_eq!(get(&web, "/assets/style.css").await.status, 200);

    let login = |user: &'static str, pw: &'static str| {
        let web = web.clone();
        async move {
            let body = format!("user={user}&password={pw}&next=%2Fraft");
            request(
                &web,
                "POST",
                "/login",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                Some(body.as_bytes()),
            )
            .await
            .unwrap()
        }
    };
    let bad = login("viewer", "wrong").await;
    assert_eq!(bad.status, 401);
    assert!(bad.text().contains("Wrong user or password"));

    let session_of = |r: &support::http::Response| -> String {
        let c = r.header("set-cookie").expect("a session cookie");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        c.split(';').next().unwrap().to_string()
    };
    let ok = login("viewer", "view-pw").await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.header("location"), Some("/raft"));
    let viewer = session_of(&ok);
    let s = request(&web, "GET", "/api/session", &[("Cookie", &viewer)], None)
        .await
        .unwrap()
        .json();
    assert_eq!(s["admin"], json!(false));
    let csrf = s["csrf"].as_str().unwrap().to_string();
    let form = json!({"topic": "T", "readQueueNums": "0", "writeQueueNums": "4", "perm": "6"});
    let r = post_json(
        &web,
        "/api/topics",
        &[("Cookie", &viewer), ("X-CSRF-Token", &csrf)],
        &form,
    )
    .await;
    assert_error(&r, 403, "may look but not change");

    let root = session_of(&login("root", "root-pw").await);
    let s = request(&web, "GET", "/api/session", &[("Cookie", &root)], None)
        .await
        .unwrap()
        .json();
    let root_csrf = s["csrf"].as_str().unwrap().to_string();
    let r = post_json(
        &web,
        "/api/topics",
        &[("Cookie", &root), ("X-CSRF-Token", &csrf)],
        &form,
    )
    .await;
    assert_error(&r, 403, "CSRF");
    let r = post_json(
        &web,
        "/api/topics",
        &[("Cookie", &root), ("X-CSRF-Token", &root_csrf)],
        &form,
    )
    .await;
    assert_error(&r, 400, "Read queue number");

    let out = request(
        &web,
        "POST",
        "/logout",
        &[("Cookie", &root), ("X-CSRF-Token", &root_csrf)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.status, 200);
    let r = request(&web, "GET", "/api/session", &[("Cookie", &root)], None)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    d.shutdown().await;
}

/// A master/slave layout (2m-2s-async): each broker name is a Raft group whose slave is a
/// learner. The Raft page lists the learner beside its master, the Cluster page names both
/// nodes, and a killed master shows as down with no leader (master/slave does not fail over).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn master_slave_groups_show_their_slaves_as_learners() {
    use common::layout::Layout;
    let mut l = Layout::start("2m-2s-async", 31, "");
    l.wait_registered(&[("broker-a", &[0, 1]), ("broker-b", &[0, 1])], T)
        .await;
    l.wait_slaves_attached(T).await;
    let d = Dashboard::start(DashboardConfig {
        namesrv_addr: l.namesrv.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        users_file: None,
    })
    .await
    .unwrap();
    let web = d.local_addr().to_string();
    let states = |raft: &Value, group: &str| -> Vec<(String, String)> {
        raft["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["group"] == group)
            .flat_map(|g| g["nodes"].as_array().cloned().unwrap_or_default())
            .map(|n| {
                (
                    n["name"].as_str().unwrap_or_default().to_string(),
                    n["state"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let pair = |a: &str, b: &str| vec![("n0".to_string(), a.to_string()), ("n1".into(), b.into())];
    eventually("both groups with a leader and a learner", T, || async {
        let r = get(&web, "/api/raft").await.json();
        (states(&r, "broker-a") == pair("leader", "learner")
            && states(&r, "broker-b") == pair("leader", "learner"))
        .then_some(())
    })
    .await;
    let c = get(&web, "/api/cluster").await.json();
    let rows: Vec<(i64, String)> = c["clusters"][0]["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["nodes"].as_array().cloned().unwrap_or_default())
        .map(|n| {
            (
                n["brokerId"].as_i64().unwrap_or(-1),
                n["raftNode"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [(0, "n0"), (1, "n1"), (0, "n0"), (1, "n1")].map(|(i, n)| (i, n.to_string())),
        "{c}"
    );

    l.kill("broker-a");
    let r = eventually(
        "broker-a's master down, its slave still a learner",
        T,
        || async {
            let r = get(&web, "/api/raft").await.json();
            (states(&r, "broker-a") == pair("down", "learner")).then_some(r)
        },
    )
    .await;
    let a = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "broker-a")
        .unwrap();
    assert_eq!(a["leader"], Value::Null, "{a}");
    let cockpit = get(&web, "/api/cockpit").await.json();
    let problems = cockpit["problems"].to_string();
    assert!(problems.contains("broker-a has no leader"), "{problems}");
    d.shutdown().await;
}
