//! [`MqClient`]: what every producer, consumer and admin tool shares — the name-server calls,
//! the topic route cache, the broker address table, broker calls, and the client id.
//!
//! It owns one [`RemotingClient`] (one connection per address) and the receiver of requests
//! brokers send on those connections (NOTIFY_CONSUMER_IDS_CHANGED), which a consumer takes.
//! It never decides what to do with a failure: callers (the producer's retry loop, the
//! consumer's pull loops) decide whether to refresh a route, pick another node or give up.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::error::ClientError;
use crate::acl::SessionCredentials;
use crate::protocol::body::{parse_fastjson, BrokerData, TopicRouteData};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::GetRouteInfoRequestHeader;
use crate::remoting::{
    next_opaque, request_code, response_code, ClientConfig, InboundRequest, RemotingClient,
    RemotingCommand, RpcHook,
};

/// Settings shared by every client. Defaults in [`ClientOptions::new`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Name servers, `host:port` separated by `;` (RocketMQ's `namesrvAddr`).
    pub namesrv_addr: String,
    /// Timeout of one name-server or admin request (Java: 3 s).
    pub request_timeout: Duration,
    /// A cached route older than this is fetched again on next use (Java's
    /// `pollNameServerInterval`, 30 s). Failures refresh at once regardless.
    pub route_ttl: Duration,
    /// With ACL on: the account every request is signed with (RocketMQ's `AclClientRPCHook`).
    pub credentials: Option<SessionCredentials>,
}

impl ClientOptions {
    pub fn new(namesrv_addr: impl Into<String>) -> ClientOptions {
        ClientOptions {
            namesrv_addr: namesrv_addr.into(),
            request_timeout: Duration::from_secs(3),
            route_ttl: Duration::from_secs(30),
            credentials: None,
        }
    }

    /// Signs every request with `credentials` (`None`: unsigned, for a broker without ACL).
    pub fn with_credentials(mut self, credentials: Option<SessionCredentials>) -> ClientOptions {
        self.credentials = credentials;
        self
    }
}

struct CachedRoute {
    route: Arc<TopicRouteData>,
    fetched: Instant,
}

/// A handle to the shared client state; clones share connections and caches.
#[derive(Clone)]
pub struct MqClient {
    inner: Arc<Inner>,
}

struct Inner {
    remoting: RemotingClient,
    inbound: Mutex<Option<mpsc::Receiver<InboundRequest>>>,
    namesrvs: Vec<String>,
    /// Index of the name server that answered last; tried first next time.
    preferred_ns: AtomicUsize,
    routes: Mutex<HashMap<String, CachedRoute>>,
    /// brokerName → the newest addresses seen in any route (Java's `brokerAddrTable`).
    brokers: Mutex<HashMap<String, BrokerData>>,
    client_ip: IpAddr,
    client_id: String,
    options: ClientOptions,
}

/// Splits `namesrvAddr` (`a:9876;b:9876`, spaces allowed) into addresses.
pub fn parse_namesrv_addr(list: &str) -> Vec<String> {
    list.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The local address that routes to `peer`: what Java calls the client IP. A UDP "connect"
/// sends nothing; it only asks the kernel which source address it would use.
fn local_ip_towards(peer: &str) -> IpAddr {
    let probe = |bind: &str| -> Option<IpAddr> {
        let s = UdpSocket::bind(bind).ok()?;
        s.connect(peer).ok()?;
        Some(s.local_addr().ok()?.ip())
    };
    probe("0.0.0.0:0")
        .or_else(|| probe("[::]:0"))
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Distinguishes clients of one process: Java appends the instance name (pid, then a nanotime)
/// so that two consumers in one JVM get two ids and share the queues.
static INSTANCE: AtomicU64 = AtomicU64::new(0);

impl MqClient {
    /// A client for the name servers in `options.namesrv_addr`. Nothing is connected yet.
    pub fn new(options: ClientOptions) -> Result<MqClient, ClientError> {
        let namesrvs = parse_namesrv_addr(&options.namesrv_addr);
        let first = namesrvs.first().ok_or(ClientError::NoNamesrv)?;
        let client_ip = local_ip_towards(first);
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let client_id = format!(
            "{client_ip}@{}#{}",
            std::process::id(),
            started.wrapping_add(INSTANCE.fetch_add(1, Ordering::Relaxed))
        );
        let rpc_hook = options
            .credentials
            .clone()
            .map(|c| Arc::new(c) as Arc<dyn RpcHook>);
        let (remoting, inbound) = RemotingClient::new(ClientConfig {
            rpc_hook,
            ..ClientConfig::default()
        });
        Ok(MqClient {
            inner: Arc::new(Inner {
                remoting,
                inbound: Mutex::new(Some(inbound)),
                namesrvs,
                preferred_ns: AtomicUsize::new(0),
                routes: Mutex::new(HashMap::new()),
                brokers: Mutex::new(HashMap::new()),
                client_ip,
                client_id,
                options,
            }),
        })
    }

    /// `ip@pid#instance`: how brokers tell this client apart (consumer ids, connections).
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The local address towards the first name server (used in UNIQ_KEYs).
    pub fn client_ip(&self) -> IpAddr {
        self.inner.client_ip
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    pub fn namesrv_addrs(&self) -> &[String] {
        &self.inner.namesrvs
    }

    /// The receiver of requests brokers send on our connections; only the first caller gets
    /// it (a consumer, to hear NOTIFY_CONSUMER_IDS_CHANGED).
    pub fn take_inbound(&self) -> Option<mpsc::Receiver<InboundRequest>> {
        self.inner.inbound.lock().take()
    }

    /// Sends `req` to `addr` and returns whatever it answers, error codes included.
    pub async fn invoke(
        &self,
        addr: &str,
        req: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        Ok(self.inner.remoting.invoke(addr, req, timeout).await?)
    }

    /// Sends `req` to `addr` without waiting for an answer.
    pub async fn invoke_oneway(&self, addr: &str, req: RemotingCommand) -> Result<(), ClientError> {
        let mut req = req;
        req.mark_oneway();
        Ok(self.inner.remoting.invoke_oneway(addr, req).await?)
    }

    /// Like [`MqClient::invoke`] with the default timeout, but any code other than SUCCESS is
    /// an error.
    pub async fn call(
        &self,
        addr: &str,
        req: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        let resp = self
            .invoke(addr, req, self.inner.options.request_timeout)
            .await?;
        expect_success(addr, resp)
    }

    /// Sends `req` to the name servers, the last one that answered first, then the others in
    /// order; the first answer (of any code) wins. Only when none answers is it an error.
    pub async fn invoke_namesrv(
        &self,
        req: RemotingCommand,
    ) -> Result<(String, RemotingCommand), ClientError> {
        let n = self.inner.namesrvs.len();
        let start = self.inner.preferred_ns.load(Ordering::Relaxed) % n.max(1);
        let mut last_err = ClientError::NoNamesrv;
        for i in 0..n {
            let idx = (start + i) % n;
            let addr = &self.inner.namesrvs[idx];
            let mut attempt = req.clone();
            attempt.opaque = next_opaque();
            match self
                .invoke(addr, attempt, self.inner.options.request_timeout)
                .await
            {
                Ok(resp) => {
                    self.inner.preferred_ns.store(idx, Ordering::Relaxed);
                    return Ok((addr.clone(), resp));
                }
                Err(e) => {
                    tracing::debug!(namesrv = %addr, error = %e, "name server did not answer; trying the next");
                    last_err = e;
                }
            }
        }
        Err(last_err)
    }

    /// Like [`MqClient::invoke_namesrv`], but any code other than SUCCESS is an error.
    pub async fn call_namesrv(&self, req: RemotingCommand) -> Result<RemotingCommand, ClientError> {
        let (addr, resp) = self.invoke_namesrv(req).await?;
        expect_success(&addr, resp)
    }

    /// Asks the name servers for `topic`'s route now and caches it.
    pub async fn fetch_route(&self, topic: &str) -> Result<Arc<TopicRouteData>, ClientError> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.to_string(),
            accept_standard_json_only: Some(true),
        };
        let mut req = RemotingCommand::request(request_code::GET_ROUTEINFO_BY_TOPIC);
        req.ext_fields = header.to_ext();
        let (addr, resp) = self.invoke_namesrv(req).await?;
        if resp.code == response_code::TOPIC_NOT_EXIST {
            self.inner.routes.lock().remove(topic);
            return Err(ClientError::TopicNotExist(topic.to_string()));
        }
        let resp = expect_success(&addr, resp)?;
        let route: TopicRouteData = parse_body(&addr, &resp.body)?;
        let route = Arc::new(route);
        {
            let mut brokers = self.inner.brokers.lock();
            for bd in &route.broker_datas {
                brokers.insert(bd.broker_name.clone(), bd.clone());
            }
        }
        self.inner.routes.lock().insert(
            topic.to_string(),
            CachedRoute {
                route: route.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(route)
    }

    /// `topic`'s route: the cached one while younger than `route_ttl`, else a fresh one.
    pub async fn route(&self, topic: &str) -> Result<Arc<TopicRouteData>, ClientError> {
        if let Some(r) = self.cached_route(topic, self.inner.options.route_ttl) {
            return Ok(r);
        }
        self.fetch_route(topic).await
    }

    /// The cached route of `topic` if it is younger than `max_age`.
    pub fn cached_route(&self, topic: &str, max_age: Duration) -> Option<Arc<TopicRouteData>> {
        self.inner
            .routes
            .lock()
            .get(topic)
            .filter(|c| c.fetched.elapsed() < max_age)
            .map(|c| c.route.clone())
    }

    /// Forgets `topic`'s cached route, so the next use asks the name servers.
    pub fn invalidate_route(&self, topic: &str) {
        self.inner.routes.lock().remove(topic);
    }

    /// The newest addresses known for a broker group, by broker id (0 = master).
    pub fn broker_addrs(&self, broker_name: &str) -> BTreeMap<i64, String> {
        self.inner
            .brokers
            .lock()
            .get(broker_name)
            .map(|b| b.broker_addrs.clone())
            .unwrap_or_default()
    }

    /// The master's address of a broker group, if the newest route names one.
    pub fn master_addr(&self, broker_name: &str) -> Option<String> {
        self.broker_addrs(broker_name).get(&0).cloned()
    }

    /// Every known node address of every broker group (for heartbeats).
    pub fn all_broker_addrs(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .inner
            .brokers
            .lock()
            .values()
            .flat_map(|b| b.broker_addrs.values().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// Records a broker group's addresses learned elsewhere (e.g. from cluster info).
    pub fn remember_broker(&self, data: &BrokerData) {
        self.inner
            .brokers
            .lock()
            .insert(data.broker_name.clone(), data.clone());
    }

    /// Closes the connection to `addr`; the next request reconnects.
    pub fn close_connection(&self, addr: &str) {
        self.inner.remoting.close_connection(addr);
    }

    /// Closes every connection.
    pub fn close_all(&self) {
        self.inner.remoting.close_all();
    }
}

/// `resp` if it is SUCCESS, else a [`ClientError::Remote`] carrying its code and remark.
pub fn expect_success(addr: &str, resp: RemotingCommand) -> Result<RemotingCommand, ClientError> {
    if resp.code == response_code::SUCCESS {
        Ok(resp)
    } else {
        Err(remote_error(addr, &resp))
    }
}

/// The error for a non-success answer.
pub fn remote_error(addr: &str, resp: &RemotingCommand) -> ClientError {
    ClientError::Remote {
        addr: addr.to_string(),
        code: resp.code,
        remark: resp.remark.clone().unwrap_or_default(),
    }
}

/// Reads a JSON body the fastjson-tolerant way, naming the peer on failure.
pub fn parse_body<T: serde::de::DeserializeOwned>(
    addr: &str,
    body: &[u8],
) -> Result<T, ClientError> {
    parse_fastjson(body).map_err(|e| ClientError::BadResponse {
        addr: addr.to_string(),
        what: format!("cannot read the JSON body: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namesrv_lists() {
        assert_eq!(
            parse_namesrv_addr(" a:1; b:2;;"),
            vec!["a:1".to_string(), "b:2".to_string()]
        );
        assert!(parse_namesrv_addr(" ; ").is_empty());
        assert!(matches!(
            MqClient::new(ClientOptions::new("")),
            Err(ClientError::NoNamesrv)
        ));
    }

    #[test]
    fn client_ids_are_unique_per_instance() {
        let a = MqClient::new(ClientOptions::new("127.0.0.1:9876")).unwrap();
        let b = MqClient::new(ClientOptions::new("127.0.0.1:9876")).unwrap();
        assert_ne!(a.client_id(), b.client_id());
        assert!(a.client_id().starts_with("127.0.0.1@"));
        assert!(a.take_inbound().is_some());
        assert!(a.take_inbound().is_none());
    }
}
