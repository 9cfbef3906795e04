//! The name server with `aclEnable=true`, over TCP: the requests that change its tables need a
//! signed admin account; route queries stay open.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::{serve_with_acl, NamesrvState};
use crate::acl::{AclTable, PlainAccessValidator, SessionCredentials};
use crate::remoting::codes::{request_code as rc, response_code as code};
use crate::remoting::{ClientConfig, RemotingClient, RemotingCommand};

const ACL: &str = "accounts:\n  - {accessKey: RocketMQ, secretKey: 12345678, defaultTopicPerm: PUB}\n  - {accessKey: rocketmq2, secretKey: 12345678, admin: true}\n";

#[tokio::test]
async fn writes_need_a_signed_admin_and_queries_stay_open() {
    let table = AclTable::parse(ACL, "test").unwrap();
    let acl = Arc::new(PlainAccessValidator::with_table(Path::new("test"), table));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve_with_acl(
        listener,
        Arc::new(NamesrvState::default()),
        Some(acl),
        rx,
    ));
    let (client, _inbound) = RemotingClient::new(ClientConfig::default());
    let t = Duration::from_secs(5);
    let delete = || RemotingCommand::request(rc::DELETE_TOPIC_IN_NAMESRV).with_ext("topic", "T");
    let signed = |mut r: RemotingCommand, ak: &str| {
        SessionCredentials::new(ak, "12345678").sign_request(&mut r);
        r
    };

    let resp = client.invoke(&addr, delete(), t).await.unwrap();
    assert_eq!(resp.code, code::SYSTEM_ERROR);
    assert!(resp.remark.unwrap().contains("No accessKey is configured"));
    let resp = client
        .invoke(&addr, signed(delete(), "RocketMQ"), t)
        .await
        .unwrap();
    assert_eq!(resp.code, code::SYSTEM_ERROR);
    assert!(resp.remark.unwrap().contains("accessKey=RocketMQ is not"));
    let resp = client
        .invoke(&addr, signed(delete(), "rocketmq2"), t)
        .await
        .unwrap();
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    let unsigned_register =
        RemotingCommand::request(rc::REGISTER_BROKER).with_ext("brokerName", "fake");
    let resp = client.invoke(&addr, unsigned_register, t).await.unwrap();
    assert_eq!(
        resp.code,
        code::SYSTEM_ERROR,
        "an unsigned broker registered"
    );

    // Route queries are not checked (RocketMQ 4.9's name server has no ACL).
    let route = RemotingCommand::request(rc::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", "T");
    let resp = client.invoke(&addr, route, t).await.unwrap();
    assert_eq!(resp.code, code::TOPIC_NOT_EXIST);

    let _ = tx.send(true);
    let _ = server.await;
}
