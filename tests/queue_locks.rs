//! Orderly consumers' queue locks across a leader kill, with real processes (issue 14): a
//! queue locked by consumer A on one leader is refused to consumer B by the next leader (the
//! lock table is replicated state, where RocketMQ keeps it in the master's memory), A renews
//! it there, and a queue A unlocks goes to B.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::Cluster;
use ledgermq::protocol::body::{
    parse_fastjson, LockBatchRequestBody, LockBatchResponseBody, MessageQueue, TopicRouteData,
};
use ledgermq::remoting::{
    request_code as rc, response_code as code, ClientConfig, RemotingClient, RemotingCommand,
};

const T: Duration = Duration::from_secs(5);

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

fn queues(ids: &[i32]) -> BTreeSet<MessageQueue> {
    ids.iter()
        .map(|q| MessageQueue::new("OrderedTopic", "RaftNode00", *q))
        .collect()
}

fn body(client_id: &str, ids: &[i32]) -> Vec<u8> {
    serde_json::to_vec(&LockBatchRequestBody {
        client_id: client_id.into(),
        consumer_group: "OrderedGroup".into(),
        mq_set: queues(ids),
    })
    .expect("lock body")
}

/// LOCK_BATCH_MQ; the queue ids granted.
async fn lock(client: &RemotingClient, broker: &str, client_id: &str, ids: &[i32]) -> Vec<i32> {
    let req = RemotingCommand::request(rc::LOCK_BATCH_MQ).with_body(body(client_id, ids));
    let resp = client.invoke(broker, req, T).await.expect("lock");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    let r: LockBatchResponseBody = parse_fastjson(&resp.body).expect("lock answer");
    r.lock_ok_mq_set.iter().map(|q| q.queue_id).collect()
}

async fn unlock(client: &RemotingClient, broker: &str, client_id: &str, ids: &[i32]) {
    let req = RemotingCommand::request(rc::UNLOCK_BATCH_MQ).with_body(body(client_id, ids));
    let resp = client.invoke(broker, req, T).await.expect("unlock");
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queue_lock_survives_a_leader_kill() {
    let mut c = Cluster::start_with_namesrv(58, 3, "");
    let namesrv = c.namesrv.clone().expect("namesrv");
    let (client, _inbound) = RemotingClient::new(ClientConfig::default());
    let master = wait_master(&client, &namesrv, None).await;

    assert_eq!(lock(&client, &master, "A", &[0, 1]).await, vec![0, 1]);
    assert_eq!(lock(&client, &master, "B", &[0, 1, 2]).await, vec![2]);

    let master_id = (0..3)
        .find(|i| c.broker_addr(*i) == master)
        .expect("master id");
    c.kill(master_id);
    let new_master = wait_master(&client, &namesrv, Some(&master)).await;
    // The new leader knows A's locks: B is refused, A renews.
    assert_eq!(
        lock(&client, &new_master, "B", &[0, 1]).await,
        Vec::<i32>::new()
    );
    assert_eq!(lock(&client, &new_master, "A", &[0, 1]).await, vec![0, 1]);
    assert_eq!(
        lock(&client, &new_master, "B", &[2]).await,
        vec![2],
        "B keeps its own"
    );
    // A queue A gives up goes to B.
    unlock(&client, &new_master, "A", &[1]).await;
    assert_eq!(lock(&client, &new_master, "B", &[0, 1]).await, vec![1]);
}
