//! ACL on a real cluster (issue 15): a name server and a three-node group of `ledgermq broker`
//! processes with `aclEnable=true` and `raftPeerSecret`, driven with our own client.
//!
//! - signed by a permitted account: stored; unsigned, wrong secret, unknown key, DENY topic,
//!   admin code by a non-admin: RocketMQ's refusal (SYSTEM_ERROR + AclException remark naming
//!   the account, never the secret) and nothing stored;
//! - a permission change in plain_acl.yml takes effect within 5 s, and a malformed file keeps
//!   the last good one;
//! - the Raft peer port refuses an unauthenticated AppendEntries and vote: the connection is
//!   closed without an answer and the node's term and log do not move.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use ledgermq::acl::SessionCredentials;
use ledgermq::client::{
    ClientOptions, Message, MqAdmin, Producer, ProducerConfig, RaftAdminClient,
};
use ledgermq::config::PeerSecret;
use ledgermq::raft::rpc::{read_frame, write_frame, Frame, PeerRequest, PeerResponse};
use ledgermq::remoting::{
    request_code as rc, response_code as code, ClientConfig, RemotingClient, RemotingCommand,
};

const T: Duration = Duration::from_secs(5);
const PEER_SECRET: &str = "acl-test-peer-secret";

const ACL: &str = "\
globalWhiteRemoteAddresses: [10.10.103.*]
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms: [topicA=DENY, topicB=PUB|SUB, topicC=SUB]
  - accessKey: rocketmq2
    secretKey: 12345678
    admin: true
";

fn creds(ak: &str, sk: &str) -> SessionCredentials {
    SessionCredentials::new(ak, sk)
}

fn admin(namesrv: &str) -> MqAdmin {
    MqAdmin::new(ClientOptions::new(namesrv).with_credentials(Some(creds("rocketmq2", "12345678"))))
        .expect("admin client")
}

/// Messages stored in `topic` (sum of max offsets), read by the admin account; 0 if the topic
/// does not exist.
async fn stored(admin: &MqAdmin, topic: &str) -> i64 {
    match admin.topic_stats(topic).await {
        Ok(t) => t.offset_table.values().map(|o| o.max_offset).sum(),
        Err(_) => 0,
    }
}

fn send_v2(topic: &str) -> RemotingCommand {
    let mut req = RemotingCommand::request(rc::SEND_MESSAGE_V2).with_body(b"acl".to_vec());
    for (k, v) in [
        ("a", "P"),
        ("b", topic),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "0"),
        ("f", "0"),
        ("g", "1"),
        ("h", "0"),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ] {
        req.ext_fields.insert(k, v);
    }
    req
}

async fn producer_send(
    namesrv: &str,
    who: Option<SessionCredentials>,
    topic: &str,
) -> Result<(), String> {
    let p = Producer::new(
        ClientOptions::new(namesrv).with_credentials(who),
        ProducerConfig::new("acl_test_producer"),
    )
    .map_err(|e| e.to_string())?;
    let r = p.send(Message::new(topic, "hello acl")).await;
    p.client().close_all();
    r.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_unsigned_denied_hot_reload_and_peer_port_refusal() {
    let acl_dir = tempfile::tempdir().expect("tempdir");
    let acl_file = acl_dir.path().join("plain_acl.yml");
    std::fs::write(&acl_file, ACL).expect("write plain_acl.yml");
    let extra = format!(
        "aclEnable=true\nraftPeerSecret={PEER_SECRET}\nrocketmq.acl.plain.file={}\nautoCreateTopicEnable=true\n",
        acl_file.display()
    );
    let mut c = Cluster::start_with_namesrv(36, 3, &extra);
    let peers: Vec<String> = (0..3).map(|i| c.addr(i).to_string()).collect();
    // Unauthenticated admin requests are refused too, so the helpers need the secret.
    c.client = RaftAdminClient::new(peers.clone())
        .with_peer_secret(Some(PeerSecret::new(PEER_SECRET).expect("secret")));
    let leader = c.wait_leader(Duration::from_secs(20)).await;
    let ns = c.namesrv.clone().expect("namesrv");
    let admin = admin(&ns);

    // A permitted, signed send through our own client is stored.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match producer_send(&ns, Some(creds("RocketMQ", "12345678")), "topicB").await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("signed send not yet OK: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => {
                c.dump_logs();
                panic!("a permitted signed send failed: {e}");
            }
        }
    }
    let b_before = stored(&admin, "topicB").await;
    assert!(b_before >= 1, "topicB holds {b_before} after a SEND_OK");

    // Raw requests to the master: every refusal is SYSTEM_ERROR with the AclException text.
    let master = c.broker_addr(leader.id);
    let (raw, _inbound) = RemotingClient::new(ClientConfig::default());
    let refusals: Vec<(&str, RemotingCommand, &str)> = vec![
        ("unsigned", send_v2("topicB"), "No accessKey is configured"),
        (
            "wrong secret",
            {
                let mut r = send_v2("topicB");
                creds("RocketMQ", "not-the-secret").sign_request(&mut r);
                r
            },
            "Check signature failed for accessKey=RocketMQ",
        ),
        (
            "unknown key",
            {
                let mut r = send_v2("topicB");
                creds("NoSuchKey", "12345678").sign_request(&mut r);
                r
            },
            "No acl config for NoSuchKey",
        ),
        (
            "DENY topic",
            {
                let mut r = send_v2("topicA");
                creds("RocketMQ", "12345678").sign_request(&mut r);
                r
            },
            "topic=topicA for accessKey=RocketMQ",
        ),
        (
            "admin code by a non-admin",
            {
                let mut r = RemotingCommand::request(rc::DELETE_TOPIC_IN_BROKER)
                    .with_ext("topic", "topicB");
                creds("RocketMQ", "12345678").sign_request(&mut r);
                r
            },
            "Need admin permission for request code=215, but accessKey=RocketMQ is not",
        ),
    ];
    for (what, req, want) in refusals {
        let resp = raw.invoke(&master, req, T).await.expect("answer");
        let remark = resp.remark.clone().unwrap_or_default();
        assert_eq!(resp.code, code::SYSTEM_ERROR, "{what}: {remark}");
        assert!(
            remark.contains("AclException") && remark.contains(want),
            "{what}: {remark}"
        );
        assert!(
            !remark.contains("12345678") && !remark.contains("not-the-secret"),
            "{what}: {remark}"
        );
    }
    // Our client with a wrong secret fails the same way.
    let e = producer_send(&ns, Some(creds("RocketMQ", "not-the-secret")), "topicB")
        .await
        .expect_err("a wrong secret must not send");
    eprintln!("wrong secret through the producer: {e}");
    assert_eq!(
        stored(&admin, "topicB").await,
        b_before,
        "a refused send stored something"
    );
    assert_eq!(
        stored(&admin, "topicA").await,
        0,
        "the DENY topic holds messages"
    );

    // A signed raw send by the permitted account succeeds (the signature covers the body).
    let mut ok = send_v2("topicB");
    creds("RocketMQ", "12345678").sign_request(&mut ok);
    let resp = raw.invoke(&master, ok, T).await.expect("answer");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);

    // Hot reload: topicB becomes DENY; within 5 s signed sends are refused.
    std::fs::write(&acl_file, ACL.replace("topicB=PUB|SUB", "topicB=DENY")).expect("rewrite");
    let changed = Instant::now();
    loop {
        let mut r = send_v2("topicB");
        creds("RocketMQ", "12345678").sign_request(&mut r);
        let resp = raw.invoke(&master, r, T).await.expect("answer");
        if resp.code == code::SYSTEM_ERROR {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "topicB=DENY not in force 5 s after the file changed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("permission change in force after {:?}", changed.elapsed());
    // A malformed file keeps the last good table (topicB stays DENY, topicC stays SUB-only).
    std::fs::write(&acl_file, "accounts: [\n").expect("break the file");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut r = send_v2("topicB");
    creds("RocketMQ", "12345678").sign_request(&mut r);
    let resp = raw.invoke(&master, r, T).await.expect("answer");
    assert_eq!(
        resp.code,
        code::SYSTEM_ERROR,
        "a malformed file opened topicB"
    );
    let mut r = RemotingCommand::request(rc::GET_BROKER_CONFIG);
    creds("RocketMQ", "12345678").sign_request(&mut r);
    let resp = raw.invoke(&master, r, T).await.expect("answer");
    assert_eq!(
        resp.code,
        code::SUCCESS,
        "the account itself must survive a malformed file"
    );
    let config = String::from_utf8_lossy(&resp.body).to_string();
    assert!(
        !config.contains(PEER_SECRET),
        "getBrokerConfig shows raftPeerSecret"
    );

    // The peer port: an unauthenticated vote and AppendEntries get no answer, and nothing moves.
    let target = (leader.id + 1) % 3;
    let before = c.status(target).await.expect("status");
    let vote = PeerRequest::Vote(openraft::raft::VoteRequest {
        vote: openraft::Vote::new(before.term + 100, leader.id),
        last_log_id: None,
    });
    let append = PeerRequest::AppendEntries(openraft::raft::AppendEntriesRequest {
        vote: openraft::Vote::new_committed(before.term + 100, leader.id),
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: None,
    });
    for (what, req) in [("vote", vote), ("AppendEntries", append)] {
        let mut s = tokio::net::TcpStream::connect(c.addr(target))
            .await
            .expect("connect peer port");
        write_frame(&mut s, &Frame { id: 1, body: req })
            .await
            .expect("write");
        let answer = tokio::time::timeout(T, read_frame::<_, PeerResponse>(&mut s))
            .await
            .expect("no hang");
        assert!(
            answer.is_err(),
            "unauthenticated {what} was answered: {answer:?}"
        );
    }
    // And a wrong secret fails the handshake.
    let wrong = RaftAdminClient::new(vec![c.addr(target).to_string()])
        .with_peer_secret(Some(PeerSecret::new("some-other-secret").expect("secret")))
        .with_call_timeout(Duration::from_secs(2));
    assert!(
        wrong.status(c.addr(target)).await.is_err(),
        "a wrong peer secret was served"
    );
    let unauth = RaftAdminClient::new(vec![c.addr(target).to_string()])
        .with_call_timeout(Duration::from_secs(2));
    assert!(
        unauth.status(c.addr(target)).await.is_err(),
        "a peer without the secret was served"
    );
    let after = c.status(target).await.expect("status");
    assert!(
        after.term < before.term + 100,
        "an unauthenticated vote moved the term: {after:?}"
    );
    assert_eq!(c.wait_leader(T).await.id, leader.id, "the leader changed");
    drop(acl_dir);
}
