//! Transactional messages across a leader kill, with real processes and raw RocketMQ remoting
//! requests (issue 14): a half message left UNKNOW on one leader is checked back by the next
//! leader over the producer's connection to it, with the replicated check count continuing,
//! and its COMMIT is stored exactly once even when the answer arrives twice; a rolled-back
//! half message is never delivered and never checked back.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use ledgermq::broker::transaction::CheckTransactionStateRequestHeader;
use ledgermq::message::sysflag::{
    transaction_type, TransactionType, TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE,
    TRANSACTION_PREPARED_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use ledgermq::message::{decode_all, decode_offset_msg_id, properties::MessageProperties};
use ledgermq::protocol::body::{parse_fastjson, HeartbeatData, ProducerData, TopicRouteData};
use ledgermq::protocol::header::CommandHeader;
use ledgermq::protocol::headers::{
    EndTransactionRequestHeader, PullMessageResponseHeader, SendMessageRequestHeader,
    SendMessageResponseHeader,
};
use ledgermq::remoting::{
    request_code as rc, response_code as code, ClientConfig, InboundRequest, RemotingClient,
    RemotingCommand,
};
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(5);
const GROUP: &str = "TxProducerGroup";
const TOPIC: &str = "TxOrders";

async fn wait_master(client: &RemotingClient, namesrv: &str, not: Option<&str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let req = RemotingCommand::request(rc::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", "TBW102");
        if let Ok(resp) = client.invoke(namesrv, req, T).await {
            if let Ok(r) = parse_fastjson::<TopicRouteData>(&resp.body) {
                if let Some(m) = r.broker_datas.first().and_then(|b| b.master_addr()) {
                    if Some(m) != not {
                        return m.to_string();
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "no (new) master registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// HEART_BEAT as producer of GROUP, so that the broker can check back over this connection.
async fn heartbeat(client: &RemotingClient, broker: &str) {
    let hb = HeartbeatData {
        client_id: "127.0.0.1@tx-test".into(),
        consumer_data_set: Vec::new(),
        producer_data_set: vec![ProducerData {
            group_name: GROUP.into(),
        }],
    };
    let req = RemotingCommand::request(rc::HEART_BEAT)
        .with_body(serde_json::to_vec(&hb).expect("heartbeat json"));
    let resp = client.invoke(broker, req, T).await.expect("heartbeat");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
}

/// Sends a prepared message; returns (half queue offset, half CommitLog offset, msgId).
async fn send_half(client: &RemotingClient, broker: &str, body: &str) -> (i64, i64, String) {
    let mut props = MessageProperties::new();
    props.insert("TRAN_MSG", "true").expect("prop");
    props.insert("PGROUP", GROUP).expect("prop");
    props
        .insert("UNIQ_KEY", format!("UNIQ-{body}"))
        .expect("prop");
    let h = SendMessageRequestHeader {
        producer_group: GROUP.into(),
        topic: TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 2,
        sys_flag: TRANSACTION_PREPARED_TYPE,
        born_timestamp: ledgermq::time::now_ms(),
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
    let resp = client.invoke(broker, req, T).await.expect("send half");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    let h = SendMessageResponseHeader::from_ext(&resp.ext_fields).expect("send header");
    assert_eq!(h.queue_id, 2, "the answer names the real queue");
    let (_, commit_log_offset) = decode_offset_msg_id(&h.msg_id).expect("offset msgId");
    (h.queue_offset, commit_log_offset, h.msg_id)
}

async fn end(
    client: &RemotingClient,
    broker: &str,
    half: (i64, i64, &str),
    commit_or_rollback: i32,
    from_check: bool,
) {
    let h = EndTransactionRequestHeader {
        producer_group: GROUP.into(),
        tran_state_table_offset: half.0,
        commit_log_offset: half.1,
        commit_or_rollback,
        from_transaction_check: from_check,
        msg_id: half.2.into(),
        transaction_id: None,
    };
    let mut req = RemotingCommand::request(rc::END_TRANSACTION);
    req.ext_fields = h.to_ext();
    client
        .invoke_oneway(broker, req)
        .await
        .expect("END_TRANSACTION");
}

/// Bodies in TOPIC queue 2 as `broker` serves them (committed data only).
async fn real_bodies(client: &RemotingClient, broker: &str) -> Vec<(String, i32)> {
    let req = common::requests::pull_request(TOPIC, 2, 0);
    let Ok(resp) = client.invoke(broker, req, T).await else {
        return Vec::new();
    };
    if resp.code != code::SUCCESS {
        return Vec::new();
    }
    let _ = PullMessageResponseHeader::from_ext(&resp.ext_fields).expect("pull header");
    decode_all(&resp.body, true)
        .expect("pull body")
        .into_iter()
        .map(|m| (String::from_utf8_lossy(&m.body).to_string(), m.sys_flag))
        .collect()
}

/// The next CHECK_TRANSACTION_STATE from `broker` within `within` (others are dropped).
async fn next_check(
    inbound: &mut mpsc::Receiver<InboundRequest>,
    broker: &str,
    within: Duration,
) -> Option<(CheckTransactionStateRequestHeader, u32)> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let r = tokio::time::timeout_at(deadline, inbound.recv())
            .await
            .ok()??;
        if r.request.code != rc::CHECK_TRANSACTION_STATE || r.addr != broker {
            continue;
        }
        let h = CheckTransactionStateRequestHeader::from_ext(&r.request.ext_fields)
            .expect("check header");
        let msgs = decode_all(&r.request.body, true).expect("check body");
        let m = msgs.first().expect("the half message");
        assert_eq!(
            (m.topic.as_str(), m.queue_id),
            (TOPIC, 2),
            "real place restored"
        );
        assert_eq!(m.properties.get("PGROUP"), Some(GROUP));
        let times = m
            .properties
            .get("TRANSACTION_CHECK_TIMES")
            .and_then(|t| t.parse().ok())
            .expect("TRANSACTION_CHECK_TIMES");
        return Some((h, times));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_transaction_is_checked_back_by_the_next_leader_and_committed_once() {
    let mut c = Cluster::start_with_namesrv(
        57,
        3,
        "transactionCheckInterval=1000\ntransactionTimeOut=1500",
    );
    let namesrv = c.namesrv.clone().expect("namesrv");
    let (client, mut inbound) = RemotingClient::new(ClientConfig::default());
    let master = wait_master(&client, &namesrv, None).await;
    heartbeat(&client, &master).await;

    // One transaction rolled back at once, one left UNKNOW.
    let (r_off, r_clo, r_id) = send_half(&client, &master, "rolled-back").await;
    end(
        &client,
        &master,
        (r_off, r_clo, &r_id),
        TRANSACTION_ROLLBACK_TYPE,
        false,
    )
    .await;
    let (u_off, u_clo, u_id) = send_half(&client, &master, "committed-late").await;
    end(
        &client,
        &master,
        (u_off, u_clo, &u_id),
        TRANSACTION_NOT_TYPE,
        false,
    )
    .await;
    assert!(
        real_bodies(&client, &master).await.is_empty(),
        "half messages are not in their real queue"
    );

    // The first leader checks it back; the producer does not answer (still unknown).
    let (h, old_times) = next_check(&mut inbound, &master, Duration::from_secs(20))
        .await
        .expect("the first leader checks back the UNKNOW transaction");
    assert_eq!(
        (h.tran_state_table_offset, h.commit_log_offset),
        (u_off, u_clo)
    );
    assert_eq!(h.msg_id.as_deref(), Some("UNIQ-committed-late"));

    // Kill that leader; the producer heartbeats to the new one, which continues.
    let master_id = (0..3)
        .find(|i| c.broker_addr(*i) == master)
        .expect("master id");
    c.kill(master_id);
    let new_master = wait_master(&client, &namesrv, Some(&master)).await;
    heartbeat(&client, &new_master).await;
    let (h, new_times) = next_check(&mut inbound, &new_master, Duration::from_secs(30))
        .await
        .expect("the new leader checks back the transaction left UNKNOW");
    assert_eq!(
        (h.tran_state_table_offset, h.commit_log_offset),
        (u_off, u_clo)
    );
    assert!(
        new_times > old_times,
        "the check count is replicated: {new_times} after {old_times}"
    );
    assert_ne!(
        h.tran_state_table_offset, r_off,
        "a rolled-back half is never checked"
    );

    // The producer answers COMMIT, twice (a duplicate answer must not store it twice).
    for _ in 0..2 {
        end(
            &client,
            &new_master,
            (u_off, u_clo, &u_id),
            TRANSACTION_COMMIT_TYPE,
            true,
        )
        .await;
    }
    let follower = (0..3)
        .map(|i| c.broker_addr(i))
        .find(|a| *a != master && *a != new_master)
        .expect("the surviving follower");
    let deadline = Instant::now() + Duration::from_secs(10);
    for broker in [&new_master, &follower] {
        let bodies = loop {
            let b = real_bodies(&client, broker).await;
            if !b.is_empty() || Instant::now() > deadline {
                break b;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            bodies.len(),
            1,
            "{broker}: exactly the committed message: {bodies:?}"
        );
        assert_eq!(bodies[0].0, "committed-late");
        assert_eq!(transaction_type(bodies[0].1), TransactionType::Commit);
    }
    // Resolved: no more check-backs, and nothing more is stored.
    assert!(
        next_check(&mut inbound, &new_master, Duration::from_secs(4))
            .await
            .is_none(),
        "a committed transaction is not checked back again"
    );
    assert_eq!(real_bodies(&client, &new_master).await.len(), 1);
}
