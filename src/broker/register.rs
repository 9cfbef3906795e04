//! Registration with the name servers: every 30 s, at once when the Raft role changes or the
//! topic table changes, and UNREGISTER_BROKER at shutdown.
//!
//! Under DLedger the node that leads the Raft group (and has heard from a quorum within the
//! lease) registers as master, brokerId 0; every other node registers as a slave with its own
//! id. So clients send to the leader, and a new leader is routable within a registration round
//! trip of winning. In master/slave mode each broker registers with its configured id, and a
//! slave learns its master's HA address from the answer.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::context::BrokerContext;
use crate::message::java_crc32;
use crate::protocol::body::RegisterBrokerBody;
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnRegisterBrokerRequestHeader,
};
use crate::raft::GroupRole;
use crate::remoting::codes::{request_code, response_code};
use crate::remoting::{RemotingClient, RemotingCommand};
use openraft::ServerState;

/// RocketMQ's `registerNameServerPeriod`.
const PERIOD: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(3);
/// How often a slave that does not know its master yet registers (to learn it from the answer).
const SLAVE_DISCOVERY_PERIOD: Duration = Duration::from_secs(2);
/// How long a new leader's registration waits for its lease (its first quorum answer).
const LEASE_WAIT: Duration = Duration::from_secs(2);
/// How often a master checks that it still holds its lease.
const LEASE_CHECK: Duration = Duration::from_millis(100);

fn namesrv_addrs(bc: &BrokerContext) -> Vec<String> {
    bc.cfg.namesrv_addr.clone().unwrap_or_default()
}

/// Registers with every name server once; returns how many accepted.
pub async fn register_once(bc: &BrokerContext, client: &RemotingClient) -> usize {
    let addrs = namesrv_addrs(bc);
    if addrs.is_empty() {
        return 0;
    }
    let broker_id = bc.broker_id();
    let body = RegisterBrokerBody {
        filter_server_list: Vec::new(),
        topic_config_serialize_wrapper: bc.topic_wrapper(),
    };
    let body = match serde_json::to_vec(&body) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the registration body");
            return 0;
        }
    };
    let header = RegisterBrokerRequestHeader {
        broker_name: bc.cfg.broker_name.clone(),
        broker_addr: bc.broker_addr.clone(),
        cluster_name: bc.cfg.broker_cluster_name.clone(),
        // The Raft peer port: in master/slave mode slaves replicate from it (haListenPort).
        ha_server_addr: bc.core.addr().to_string(),
        broker_id,
        compressed: false,
        body_crc32: java_crc32(&body),
    };
    let calls = addrs.iter().map(|addr| {
        let mut req =
            RemotingCommand::request(request_code::REGISTER_BROKER).with_body(body.clone());
        req.ext_fields = header.to_ext();
        let client = client.clone();
        async move { (addr.clone(), client.invoke(addr, req, TIMEOUT).await) }
    });
    let mut accepted = 0;
    for (addr, r) in futures::future::join_all(calls).await {
        match r {
            Ok(resp) if resp.code == response_code::SUCCESS => {
                accepted += 1;
                learn_master(bc, &resp);
            }
            Ok(resp) => {
                tracing::warn!(namesrv = %addr, code = resp.code, remark = ?resp.remark, "name server refused the registration")
            }
            Err(e) => {
                tracing::warn!(namesrv = %addr, error = %e, "cannot register with the name server; will retry")
            }
        }
    }
    tracing::debug!(broker_id, accepted, "registered with name servers");
    accepted
}

/// A slave learns its master's HA address from the name server's answer, as RocketMQ's do
/// (unless `haMasterAddress` fixed it).
fn learn_master(bc: &BrokerContext, resp: &RemotingCommand) {
    if bc.core.role() != GroupRole::Slave || bc.cfg.ha_master_address.is_some() {
        return;
    }
    match RegisterBrokerResponseHeader::from_ext(&resp.ext_fields) {
        Ok(h) => {
            if let Some(ha) = h.ha_server_addr.filter(|a| !a.is_empty()) {
                bc.core.set_master_hint(&ha);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the name server's registration answer"),
    }
}

/// Tells every name server this broker is gone (clean shutdown).
pub async fn unregister(bc: &BrokerContext, client: &RemotingClient) {
    let header = UnRegisterBrokerRequestHeader {
        broker_name: bc.cfg.broker_name.clone(),
        broker_addr: bc.broker_addr.clone(),
        cluster_name: bc.cfg.broker_cluster_name.clone(),
        broker_id: bc.broker_id(),
    };
    for addr in namesrv_addrs(bc) {
        let mut req = RemotingCommand::request(request_code::UNREGISTER_BROKER);
        req.ext_fields = header.to_ext();
        let _ = client.invoke(&addr, req, Duration::from_secs(1)).await;
    }
}

/// Registers periodically and on every role change until shutdown. A node that becomes leader
/// first makes sure the system topics exist, then registers as master.
pub async fn run(
    bc: Arc<BrokerContext>,
    client: RemotingClient,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut metrics = bc.core.watch_metrics();
    let mut last_id = None;
    let mut retry_wait = Duration::from_secs(1);
    let mut system_topics_ready = false;
    loop {
        let id = bc.broker_id();
        let master = bc.is_master();
        if !master {
            system_topics_ready = false;
        } else if !system_topics_ready {
            match bc.topics.ensure_system_topics().await {
                Ok(()) => system_topics_ready = true,
                Err(e) => tracing::warn!(error = %e, "could not create the system topics yet"),
            }
        }
        if last_id != Some(id) {
            tracing::info!(broker_id = id, broker = %bc.cfg.broker_name, addr = %bc.broker_addr, "registering with the name servers");
        }
        let accepted = register_once(&bc, &client).await;
        last_id = Some(id);
        // A name server that did not take the registration (not up yet, restarting) is retried
        // after 1 s, doubling up to the period, rather than 30 s later.
        let wait = if accepted < namesrv_addrs(&bc).len() {
            let w = retry_wait;
            retry_wait = (retry_wait * 2).min(PERIOD);
            w
        } else if bc.core.role() == GroupRole::Slave && bc.core.master_hint().is_none() {
            // A slave asks again soon until the name server knows its master.
            retry_wait = Duration::from_secs(1);
            SLAVE_DISCOVERY_PERIOD
        } else {
            retry_wait = Duration::from_secs(1);
            PERIOD
        };
        // Wake up on the period, a topic change, or any Raft role change; a leader also
        // checks its lease every LEASE_CHECK, since losing or regaining it (no quorum heard
        // from, then heard again) is not a role change and the watch does not wake for it.
        let deadline = tokio::time::Instant::now() + wait;
        let mut lease_check = tokio::time::interval(LEASE_CHECK);
        lease_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                // While openraft says Leader: a master that lost its lease registers as a
                // slave, and one that gets it back (or a new leader whose lease came after
                // `wait_lease` gave up) as master again, neither being a role change.
                _ = lease_check.tick(), if master || metrics.borrow().state == ServerState::Leader => {
                    if bc.is_master() != master { break; }
                }
                _ = bc.register_now.notified() => break,
                r = metrics.changed() => {
                    if r.is_err() { return; }
                    // A new leader registers as master once it holds the lease.
                    let leads = metrics.borrow_and_update().state == ServerState::Leader;
                    if leads && !master {
                        bc.core.wait_lease(LEASE_WAIT).await;
                    }
                    if bc.broker_id() != id || bc.is_master() != master { break; }
                }
                _ = shutdown.changed() => {
                    unregister(&bc, &client).await;
                    return;
                }
            }
        }
    }
}
