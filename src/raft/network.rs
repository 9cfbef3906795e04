//! The peer transport, client side: one long-lived TCP connection per peer, shared by the
//! replication stream, votes, pre-votes and admin calls.
//!
//! A connection task owns the socket. Requests are queued to it, written with an id, and their
//! answers matched by id, so several can be in flight. When the connection drops every waiting
//! request fails at once and the task reconnects with exponential backoff (50 ms → 500 ms), logging
//! the first failure and then at most every 30 s so an unreachable peer is visible but not noisy.
//!
//! A connection can also die without an error: packets dropped by a partition (or sent to a
//! peer that restarted meanwhile) are retransmitted by TCP with exponential backoff, so after
//! a long partition the socket stays silent for many seconds after the network is back — the
//! Jepsen suite saw a group stay leaderless for 14 s that way. So a connection that has been
//! silent for [`SILENT_LIMIT`] while holding a request whose caller already gave up is replaced.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::peer_auth;
use super::rpc::{encode_frame, read_frame, Frame, PeerRequest, PeerResponse};
use super::types::{NodeId, PeerNode, TypeConfig};
use crate::config::PeerSecret;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("peer n{target} at {addr} is unreachable: {reason}")]
    Unreachable {
        target: NodeId,
        addr: String,
        reason: String,
    },
    #[error("no answer from n{target} within {millis} ms")]
    Timeout { target: NodeId, millis: u64 },
    #[error("unexpected answer from n{target}: {what}")]
    Protocol { target: NodeId, what: String },
}

/// Reconnect attempts to a peer that is down back off to at most this: a restarted node should
/// hear its leader well within one election timeout, or it starts pre-votes it cannot win.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// A connection that has read nothing for this long, while a request sent on it is unanswered
/// and its caller has already timed out, is treated as dead and replaced. Short enough that a
/// healed partition costs about one election timeout, long enough that a peer that is merely
/// slow (a long fsync) but still answering something keeps its connection.
const SILENT_LIMIT: Duration = Duration::from_secs(1);
/// How often a connection checks itself against [`SILENT_LIMIT`], also while a write is
/// blocked on a full send buffer.
const SILENCE_CHECK: Duration = Duration::from_millis(200);

type Reply = oneshot::Sender<Result<PeerResponse, TransportError>>;

struct Outgoing {
    body: PeerRequest,
    reply: Reply,
}

/// A handle to one peer's connection task. Cloning shares the connection.
#[derive(Clone)]
pub struct PeerClient {
    target: NodeId,
    addr: String,
    tx: mpsc::Sender<Outgoing>,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerClient(n{} {})", self.target, self.addr)
    }
}

impl PeerClient {
    /// Starts the connection task for `target` at `addr`, connecting from `local_ip` if given
    /// (a node's traffic then comes from its own address, which is what firewall rules and the
    /// partition tests key on). The task ends when every handle is dropped.
    pub fn spawn(target: NodeId, addr: String, local_ip: Option<IpAddr>) -> PeerClient {
        PeerClient::spawn_with_secret(target, addr, local_ip, None)
    }

    /// [`Self::spawn`], proving `secret` (`raftPeerSecret`) on every new connection before
    /// anything else is sent; a failed handshake counts as a failed connect.
    pub fn spawn_with_secret(
        target: NodeId,
        addr: String,
        local_ip: Option<IpAddr>,
        secret: Option<PeerSecret>,
    ) -> PeerClient {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(connection_task(target, addr.clone(), local_ip, secret, rx));
        PeerClient { target, addr, tx }
    }

    pub fn target(&self) -> NodeId {
        self.target
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `req` and waits at most `timeout` for the answer.
    pub async fn call(
        &self,
        req: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, TransportError> {
        let (reply, rx) = oneshot::channel();
        let unreachable = |reason: &str| TransportError::Unreachable {
            target: self.target,
            addr: self.addr.clone(),
            reason: reason.into(),
        };
        // The timeout covers the queueing too: a full queue to a stuck peer must not hold a
        // caller (an election, a replication stream) longer than it asked for.
        let exchange = async {
            self.tx
                .send(Outgoing { body: req, reply })
                .await
                .map_err(|_| unreachable("connection task stopped"))?;
            rx.await.map_err(|_| unreachable("connection closed"))?
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout {
                target: self.target,
                millis: timeout.as_millis() as u64,
            }),
        }
    }
}

/// Requests written and not yet answered: their reply channel and when they were written.
type Pending = Arc<Mutex<HashMap<u64, (Reply, Instant)>>>;

fn fail_all(pending: &Pending, target: NodeId, addr: &str, reason: &str) {
    let waiting: Vec<Reply> = pending.lock().drain().map(|(_, (r, _))| r).collect();
    for r in waiting {
        let _ = r.send(Err(TransportError::Unreachable {
            target,
            addr: addr.to_string(),
            reason: reason.to_string(),
        }));
    }
}

async fn connect(addr: &str, local_ip: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(ip) = local_ip else {
        return TcpStream::connect(addr).await;
    };
    let mut last = std::io::Error::other(format!("{addr} resolves to no address"));
    for remote in tokio::net::lookup_host(addr).await? {
        let socket = if remote.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if remote.is_ipv4() == ip.is_ipv4() {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        match socket.connect(remote).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Connects, then runs the `raftPeerSecret` handshake when there is a secret.
async fn connect_authenticated(
    addr: &str,
    local_ip: Option<IpAddr>,
    secret: Option<&PeerSecret>,
) -> std::io::Result<TcpStream> {
    let mut stream = connect(addr, local_ip).await?;
    if let Some(secret) = secret {
        peer_auth::client_handshake(&mut stream, secret)
            .await
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e))?;
    }
    Ok(stream)
}

async fn connection_task(
    target: NodeId,
    addr: String,
    local_ip: Option<IpAddr>,
    secret: Option<PeerSecret>,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let next_id = AtomicU64::new(1);
    let mut backoff = Duration::from_millis(50);
    let mut last_warn: Option<Instant> = None;
    let mut failures: u64 = 0;
    loop {
        let connecting = connect_authenticated(&addr, local_ip, secret.as_ref());
        let stream = match tokio::time::timeout(Duration::from_secs(1), connecting).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                on_connect_failure(target, &addr, &e.to_string(), &mut failures, &mut last_warn);
                if !drain_while_down(&mut rx, target, &addr, &e.to_string(), backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(_) => {
                on_connect_failure(
                    target,
                    &addr,
                    "connect timed out",
                    &mut failures,
                    &mut last_warn,
                );
                if !drain_while_down(&mut rx, target, &addr, "connect timed out", backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if failures > 0 {
            tracing::info!(peer = target, %addr, failures, "peer reachable again");
        }
        failures = 0;
        last_warn = None;
        backoff = Duration::from_millis(50);
        let _ = stream.set_nodelay(true);
        let (read_half, write_half) = stream.into_split();
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let last_read = Arc::new(Mutex::new(Instant::now()));
        let reader_pending = pending.clone();
        let reader_last_read = last_read.clone();
        let mut reader = tokio::spawn(async move {
            let mut r = tokio::io::BufReader::with_capacity(256 * 1024, read_half);
            loop {
                match read_frame::<_, PeerResponse>(&mut r).await {
                    Ok(frame) => {
                        *reader_last_read.lock() = Instant::now();
                        if let Some((reply, _)) = reader_pending.lock().remove(&frame.id) {
                            let _ = reply.send(Ok(frame.body));
                        }
                    }
                    Err(e) => return e.to_string(),
                }
            }
        });
        // Everything queued is encoded into `buf` and written with one call; a `BufWriter`
        // would only copy each AppendEntries frame once more.
        let mut w = write_half;
        let mut buf = Vec::new();
        let mut check = tokio::time::interval(SILENCE_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reason = loop {
            tokio::select! {
                _ = check.tick() => {
                    if let Some(why) = silent(&pending, &last_read) {
                        break why;
                    }
                }
                msg = rx.recv() => {
                    let Some(first) = msg else {
                        reader.abort();
                        return;
                    };
                    // Write everything queued, then flush once.
                    let mut batch = vec![first];
                    while let Ok(m) = rx.try_recv() {
                        batch.push(m);
                        if batch.len() >= 64 { break; }
                    }
                    buf.clear();
                    for m in batch {
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        let frame = Frame { id, body: m.body };
                        match encode_frame(&frame, &mut buf) {
                            Ok(()) => { pending.lock().insert(id, (m.reply, Instant::now())); }
                            Err(e) => {
                                let _ = m.reply.send(Err(TransportError::Protocol { target, what: e.to_string() }));
                            }
                        }
                    }
                    // A peer that stopped reading fills the send buffer and blocks the write;
                    // keep checking for silence meanwhile, or the task would wait on it forever.
                    let write = async {
                        w.write_all(&buf).await?;
                        w.flush().await
                    };
                    tokio::pin!(write);
                    let failed = loop {
                        tokio::select! {
                            r = &mut write => break r.err().map(|e| e.to_string()),
                            _ = check.tick() => {
                                if let Some(why) = silent(&pending, &last_read) {
                                    break Some(why);
                                }
                            }
                        }
                    };
                    if let Some(why) = failed { break why; }
                }
                res = &mut reader => {
                    break match res { Ok(r) => r, Err(e) => e.to_string() };
                }
            }
        };
        reader.abort();
        tracing::warn!(peer = target, %addr, %reason, "peer connection lost; reconnecting");
        fail_all(&pending, target, &addr, &reason);
    }
}

/// `Some(reason)` if the connection has read nothing for [`SILENT_LIMIT`] since a request
/// whose caller already gave up was written on it.
fn silent(pending: &Pending, last_read: &Mutex<Instant>) -> Option<String> {
    let last_read = *last_read.lock();
    let silence = pending
        .lock()
        .values()
        .filter(|(reply, _)| reply.is_closed())
        .map(|(_, written)| (*written).max(last_read).elapsed())
        .max()?;
    (silence >= SILENT_LIMIT).then(|| {
        format!(
            "no answer for {} ms to a request its caller gave up on; replacing the connection",
            silence.as_millis()
        )
    })
}

fn on_connect_failure(
    target: NodeId,
    addr: &str,
    reason: &str,
    failures: &mut u64,
    last_warn: &mut Option<Instant>,
) {
    *failures += 1;
    if last_warn.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
        tracing::warn!(peer = target, %addr, %reason, failures = *failures, "peer unreachable; retrying with backoff");
        *last_warn = Some(Instant::now());
    }
}

/// While disconnected, fails requests at once instead of letting them wait, for `backoff`.
/// Returns false if every handle is gone.
async fn drain_while_down(
    rx: &mut mpsc::Receiver<Outgoing>,
    target: NodeId,
    addr: &str,
    reason: &str,
    backoff: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + backoff;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return true,
            Ok(None) => return false,
            Ok(Some(m)) => {
                let _ = m.reply.send(Err(TransportError::Unreachable {
                    target,
                    addr: addr.to_string(),
                    reason: reason.to_string(),
                }));
            }
        }
    }
}

/// Shares one [`PeerClient`] per peer between openraft and the election driver.
#[derive(Clone, Default)]
pub struct PeerRegistry {
    clients: Arc<Mutex<HashMap<NodeId, PeerClient>>>,
    /// When each peer last accepted an AppendEntries (heartbeats included). openraft 0.9's
    /// metrics keep a learner's last matched index after it died, so this is how a
    /// SYNC_MASTER tells a live slave from a dead one.
    acks: Arc<Mutex<HashMap<NodeId, Instant>>>,
    local_ip: Option<IpAddr>,
    secret: Option<PeerSecret>,
}

impl PeerRegistry {
    /// A registry whose connections originate from `local_ip`.
    pub fn with_local_ip(local_ip: Option<IpAddr>) -> PeerRegistry {
        PeerRegistry {
            local_ip,
            ..PeerRegistry::default()
        }
    }

    /// Connections prove `secret` (`raftPeerSecret`) first.
    pub fn with_secret(mut self, secret: Option<PeerSecret>) -> PeerRegistry {
        self.secret = secret;
        self
    }

    /// True if `peer` accepted an AppendEntries within `window`.
    pub fn acked_within(&self, peer: NodeId, window: Duration) -> bool {
        self.acks
            .lock()
            .get(&peer)
            .is_some_and(|t| t.elapsed() <= window)
    }

    fn record_ack(&self, peer: NodeId) {
        self.acks.lock().insert(peer, Instant::now());
    }

    pub fn get(&self, target: NodeId, addr: &str) -> PeerClient {
        let mut clients = self.clients.lock();
        match clients.get(&target) {
            Some(c) if c.addr == addr => c.clone(),
            _ => {
                let c = PeerClient::spawn_with_secret(
                    target,
                    addr.to_string(),
                    self.local_ip,
                    self.secret.clone(),
                );
                clients.insert(target, c.clone());
                c
            }
        }
    }
}

/// openraft's network factory over the registry.
#[derive(Clone, Default)]
pub struct Network {
    pub registry: PeerRegistry,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> PeerNetwork {
        PeerNetwork {
            client: self.registry.get(target, &node.addr),
            registry: self.registry.clone(),
        }
    }
}

pub struct PeerNetwork {
    client: PeerClient,
    registry: PeerRegistry,
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, PeerNode, RaftError<NodeId, E>>;

fn transport_err<E: std::error::Error>(e: TransportError) -> RpcErr<E> {
    match e {
        TransportError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        _ => RPCError::Network(NetworkError::new(&e)),
    }
}

impl PeerNetwork {
    fn unexpected<E: std::error::Error>(&self, what: &str) -> RpcErr<E> {
        transport_err(TransportError::Protocol {
            target: self.client.target,
            what: what.into(),
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        match self
            .client
            .call(PeerRequest::AppendEntries(rpc), option.hard_ttl())
            .await
        {
            Ok(PeerResponse::AppendEntries(Ok(r))) => {
                if !matches!(r, AppendEntriesResponse::HigherVote(_)) {
                    self.registry.record_ack(self.client.target);
                }
                Ok(r)
            }
            Ok(PeerResponse::AppendEntries(Err(e))) => Err(RPCError::RemoteError(
                RemoteError::new(self.client.target, e),
            )),
            Ok(_) => Err(self.unexpected("answer to AppendEntries")),
            Err(e) => Err(transport_err(e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        match self
            .client
            .call(PeerRequest::InstallSnapshot(rpc), option.hard_ttl())
            .await
        {
            Ok(PeerResponse::InstallSnapshot(Ok(r))) => Ok(r),
            Ok(PeerResponse::InstallSnapshot(Err(e))) => Err(RPCError::RemoteError(
                RemoteError::new(self.client.target, e),
            )),
            Ok(_) => Err(self.unexpected("answer to InstallSnapshot")),
            Err(e) => Err(transport_err(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        match self
            .client
            .call(PeerRequest::Vote(rpc), option.hard_ttl())
            .await
        {
            Ok(PeerResponse::Vote(Ok(r))) => Ok(r),
            Ok(PeerResponse::Vote(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(
                self.client.target,
                e,
            ))),
            Ok(_) => Err(self.unexpected("answer to Vote")),
            Err(e) => Err(transport_err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::rpc::{write_frame, NodeStatus};
    use tokio::net::TcpListener;

    /// Answers every request on `s` with a default status.
    async fn serve(s: TcpStream) {
        let (r, mut w) = s.into_split();
        let mut r = tokio::io::BufReader::new(r);
        while let Ok(f) = read_frame::<_, PeerRequest>(&mut r).await {
            let answer = Frame {
                id: f.id,
                body: PeerResponse::Status(NodeStatus::default()),
            };
            if write_frame(&mut w, &answer).await.is_err() {
                return;
            }
        }
    }

    /// A peer that accepts the connection and then never answers (its packets lost behind a
    /// healed partition, or its old incarnation gone while TCP still retransmits) must not pin
    /// the client to that connection: once callers have given up and it stayed silent, the
    /// client reconnects and reaches the live listener.
    #[tokio::test]
    async fn a_connection_that_stops_answering_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let Ok((_silent, _)) = listener.accept().await else {
                return;
            };
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve(s));
            }
        });
        let client = PeerClient::spawn(1, addr, None);
        let short = Duration::from_millis(200);
        assert!(matches!(
            client.call(PeerRequest::Status, short).await,
            Err(TransportError::Timeout { .. })
        ));
        let started = Instant::now();
        loop {
            match client.call(PeerRequest::Status, short).await {
                Ok(PeerResponse::Status(_)) => break,
                other => assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "still stuck on the silent connection: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            started.elapsed() < SILENT_LIMIT * 3,
            "{:?}",
            started.elapsed()
        );
    }
}
