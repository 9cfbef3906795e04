//! The remoting client: one connection per address, made on first use and remade after it
//! fails, shared by every request to that address and matched by opaque, so many requests can
//! be in flight on it and answered in any order.
//!
//! Requests the server sends on a client's connection (NOTIFY_CONSUMER_IDS_CHANGED,
//! CHECK_TRANSACTION_STATE, GET_CONSUMER_RUNNING_INFO, ...) arrive on the receiver returned by
//! [`RemotingClient::new`] as [`InboundRequest`]s; [`InboundRequest::respond`] answers on the
//! same connection. What they mean is the caller's business.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::codec::DEFAULT_MAX_FRAME;
use super::codes::response_code;
use super::command::{not_supported, RemotingCommand, FLAG_ONEWAY, FLAG_RESPONSE};
use super::connection::{deadline_after, write_loop, Channel, FrameReader, ReadError};
use super::error::RemotingError;

/// Client settings. Defaults in [`ClientConfig::default`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Largest frame accepted from a server, length prefix included.
    pub max_frame: usize,
    /// Longest wait for a TCP connect (Java's `connectTimeoutMillis`, 3 s); also bounded by the
    /// request's own timeout.
    pub connect_timeout: Duration,
    /// Longest wait of [`RemotingClient::invoke_oneway`] for a connection and for room in its
    /// write queue.
    pub oneway_timeout: Duration,
    /// Server-initiated requests buffered for the receiver; beyond that they are answered
    /// SYSTEM_BUSY (or dropped if oneway).
    pub inbound_queue: usize,
    /// Runs on every request just before it is sent (Java's `RPCHook.doBeforeRequest`); the
    /// ACL signer of `--accessKey/--secretKey` is one.
    pub rpc_hook: Option<Arc<dyn RpcHook>>,
}

/// Something done to every outgoing request, after the caller built it and before it is
/// encoded: RocketMQ's `RPCHook`. Signing must see the final ext fields and body, so this is
/// the last step.
pub trait RpcHook: Send + Sync + std::fmt::Debug + 'static {
    fn before_request(&self, req: &mut RemotingCommand);
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            max_frame: DEFAULT_MAX_FRAME,
            connect_timeout: Duration::from_secs(3),
            oneway_timeout: Duration::from_secs(3),
            inbound_queue: 1024,
            rpc_hook: None,
        }
    }
}

/// A request a server sent on one of our connections.
pub struct InboundRequest {
    /// The address we connected to (as given to `invoke`), not the socket's resolved address.
    pub addr: String,
    pub request: RemotingCommand,
    channel: Arc<Channel>,
}

impl InboundRequest {
    /// Answers on the connection the request came in on. Opaque, response flag and serialize
    /// type are taken from the request. Does nothing for a oneway request.
    pub fn respond(&self, mut response: RemotingCommand) -> Result<(), RemotingError> {
        if self.request.is_oneway() {
            return Ok(());
        }
        response.opaque = self.request.opaque;
        response.flag = (response.flag | FLAG_RESPONSE) & !FLAG_ONEWAY;
        response.serialize_type = self.request.serialize_type;
        self.channel.try_send(response)
    }
}

impl std::fmt::Debug for InboundRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundRequest")
            .field("addr", &self.addr)
            .field("request", &self.request)
            .finish()
    }
}

/// A handle to the client; clones share the connections. Dropping the last one closes them.
#[derive(Clone)]
pub struct RemotingClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    conns: Mutex<HashMap<String, Arc<Channel>>>,
    /// One connect at a time per address, so a burst of first requests makes one connection.
    connecting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    inbound: mpsc::Sender<InboundRequest>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for channel in self.conns.get_mut().values() {
            channel.close("client dropped");
        }
    }
}

impl RemotingClient {
    /// A client, and the receiver of requests servers send on its connections. Dropping the
    /// receiver is allowed: such requests are then answered REQUEST_CODE_NOT_SUPPORTED.
    pub fn new(config: ClientConfig) -> (RemotingClient, mpsc::Receiver<InboundRequest>) {
        let (inbound, rx) = mpsc::channel(config.inbound_queue.max(1));
        let inner = Inner {
            config,
            conns: Mutex::new(HashMap::new()),
            connecting: Mutex::new(HashMap::new()),
            inbound,
        };
        (
            RemotingClient {
                inner: Arc::new(inner),
            },
            rx,
        )
    }

    /// Sends `req` to `addr` ("host:port") and waits for its response. `timeout` bounds
    /// everything, connecting included. After a `Timeout` the server may still process it.
    pub async fn invoke(
        &self,
        addr: &str,
        mut req: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        if let Some(hook) = &self.inner.config.rpc_hook {
            hook.before_request(&mut req);
        }
        let deadline = deadline_after(timeout);
        let channel = self.channel(addr, deadline).await?;
        channel.request(req, deadline, timeout).await
    }

    /// Sends `req` to `addr` marked oneway: no response is expected or waited for.
    pub async fn invoke_oneway(
        &self,
        addr: &str,
        mut req: RemotingCommand,
    ) -> Result<(), RemotingError> {
        if let Some(hook) = &self.inner.config.rpc_hook {
            hook.before_request(&mut req);
        }
        let deadline = deadline_after(self.inner.config.oneway_timeout);
        let channel = self.channel(addr, deadline).await?;
        channel.send_oneway(req, deadline).await
    }

    /// Closes the connection to `addr`, if any; requests waiting on it fail with
    /// `ConnectionClosed`. The next request reconnects.
    pub fn close_connection(&self, addr: &str) {
        if let Some(channel) = self.inner.conns.lock().remove(addr) {
            channel.close("closed by the client");
        }
    }

    /// Closes every connection.
    pub fn close_all(&self) {
        let all: Vec<Arc<Channel>> = self.inner.conns.lock().drain().map(|(_, c)| c).collect();
        for channel in all {
            channel.close("closed by the client");
        }
    }

    fn live(&self, addr: &str) -> Option<Arc<Channel>> {
        self.inner
            .conns
            .lock()
            .get(addr)
            .filter(|c| !c.is_closed())
            .cloned()
    }

    async fn channel(&self, addr: &str, deadline: Instant) -> Result<Arc<Channel>, RemotingError> {
        if let Some(c) = self.live(addr) {
            return Ok(c);
        }
        let lock = self
            .inner
            .connecting
            .lock()
            .entry(addr.to_string())
            .or_default()
            .clone();
        let timed_out = |what: &str| RemotingError::ConnectFailed {
            addr: addr.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, what.to_string()),
        };
        let _guard = tokio::time::timeout_at(deadline, lock.lock())
            .await
            .map_err(|_| timed_out("timed out waiting for another connect to the same address"))?;
        // Someone else may have connected while we waited.
        if let Some(c) = self.live(addr) {
            return Ok(c);
        }
        let connect_deadline = deadline.min(deadline_after(self.inner.config.connect_timeout));
        let stream = match tokio::time::timeout_at(connect_deadline, TcpStream::connect(addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(RemotingError::ConnectFailed {
                    addr: addr.to_string(),
                    source,
                })
            }
            Err(_) => return Err(timed_out("connect timed out")),
        };
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let (channel, rx) = Channel::new(addr.to_string());
        let channel = Arc::new(channel);
        let max_frame = self.inner.config.max_frame;
        tokio::spawn(write_loop(channel.clone(), rx, wr, max_frame));
        tokio::spawn(read_loop(
            channel.clone(),
            FrameReader::new(rd, max_frame),
            self.inner.inbound.clone(),
        ));
        tracing::debug!(%addr, "remoting connection opened");
        if let Some(old) = self
            .inner
            .conns
            .lock()
            .insert(addr.to_string(), channel.clone())
        {
            old.close("replaced by a new connection");
        }
        Ok(channel)
    }
}

async fn read_loop(
    channel: Arc<Channel>,
    mut reader: FrameReader,
    inbound: mpsc::Sender<InboundRequest>,
) {
    let reason = loop {
        let next = tokio::select! {
            next = reader.next() => next,
            _ = channel.closed() => return,
        };
        match next {
            Ok(Some(cmd)) if cmd.is_response() => channel.complete(cmd),
            Ok(Some(cmd)) => deliver(&channel, &inbound, cmd),
            Ok(None) => break "closed by peer".to_string(),
            Err(e @ (ReadError::Io(_) | ReadError::TruncatedFrame(_))) => break e.to_string(),
            Err(e) => {
                tracing::warn!(peer = %channel.addr(), error = %e, "bad frame from server; closing this connection");
                break e.to_string();
            }
        }
    };
    tracing::debug!(peer = %channel.addr(), %reason, "remoting connection closed");
    channel.close(&reason);
}

fn deliver(channel: &Arc<Channel>, inbound: &mpsc::Sender<InboundRequest>, cmd: RemotingCommand) {
    let req = InboundRequest {
        addr: channel.addr().to_string(),
        request: cmd,
        channel: channel.clone(),
    };
    let (req, answer) = match inbound.try_send(req) {
        Ok(()) => return,
        Err(mpsc::error::TrySendError::Full(req)) => {
            tracing::warn!(peer = %req.addr, code = req.request.code,
                "server request dropped: the inbound queue is full (is anyone reading it?)");
            let busy = RemotingCommand::response_to(&req.request, response_code::SYSTEM_BUSY)
                .with_remark("[OVERLOAD]client busy");
            (req, busy)
        }
        Err(mpsc::error::TrySendError::Closed(req)) => {
            let answer = not_supported(&req.request);
            (req, answer)
        }
    };
    let _ = req.respond(answer);
}
