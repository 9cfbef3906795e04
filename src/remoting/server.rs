//! The remoting server: accepts TCP connections, decodes requests, runs each one through the
//! [`RequestHandler`] in its own task, and writes the answers back.
//!
//! Per connection there is one reader (this module), one writer task ([`write_loop`]) and one
//! task per request, so a long-polling pull that holds its answer for 15 s never delays the
//! heartbeat behind it. Responses from the client to requests the *server* sent on that
//! connection ([`ChannelContext::send_request`]) are matched by opaque and never reach the
//! handler.
//!
//! What the server decides by itself, and nothing more: a malformed frame closes that
//! connection (warn log with peer and error; everyone else is unaffected); a oneway request gets
//! no response, whatever the handler returns; a handler that panics is answered SYSTEM_ERROR;
//! more than `max_in_flight_per_connection` requests at once on one connection are answered
//! SYSTEM_BUSY; connections beyond `max_connections` are accepted and closed at once.
//! Everything else — including answering unknown codes with [`not_supported`] — is the
//! handler's job.
//!
//! [`not_supported`]: super::command::not_supported

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::codec::DEFAULT_MAX_FRAME;
use super::codes::{request_code_name, response_code};
use super::command::{RemotingCommand, FLAG_ONEWAY, FLAG_RESPONSE};
use super::connection::{deadline_after, write_loop, Channel, FrameReader, ReadError};
use super::error::RemotingError;

/// The broker's or name server's request processing, seen from the transport.
///
/// `handle` runs in its own task per request and may take as long as it needs (long polling).
/// Return `Some(response)` to answer, `None` to send nothing (e.g. after answering by other
/// means). The server sets the response's opaque, response flag and serialize type from the
/// request, as Java's server does, so a handler cannot answer the wrong request. Handlers are
/// never cancelled: one still running after its connection closed has its answer dropped; a
/// long poll should also wait on [`ChannelContext::closed`] to give up early.
///
/// The handler must answer every code it does not know with
/// [`not_supported`](super::command::not_supported): the server does not do it for you.
/// Implementations may write `async fn handle(...)`.
pub trait RequestHandler: Send + Sync + 'static {
    fn handle(
        &self,
        ctx: Arc<ChannelContext>,
        req: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> + Send;

    /// Called once when the connection is gone (peer closed, bad frame, shutdown), after its
    /// [`ChannelContext`] reports closed: the place to drop the client's producer/consumer
    /// registrations.
    fn on_close(&self, _ctx: &ChannelContext) {}
}

/// Limits of a server. Defaults in [`ServerConfig::default`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest frame accepted, length prefix included ([`DEFAULT_MAX_FRAME`], as Java).
    /// A response larger than this is replaced by SYSTEM_ERROR: the peer would drop it.
    pub max_frame: usize,
    /// Connections served at once; more are accepted and closed with a log line.
    pub max_connections: usize,
    /// Requests handled at once per connection; more are answered SYSTEM_BUSY
    /// (`[OVERLOAD]`), which bounds the memory one client can hold. Must cover one long-polling
    /// pull per queue a consumer owns.
    pub max_in_flight_per_connection: usize,
    /// On shutdown, how long each connection waits for its running handlers to answer.
    pub shutdown_grace: Duration,
    /// A connection that sends nothing for this long while none of its requests is running is
    /// closed, as RocketMQ's `serverChannelMaxIdleTimeSeconds` (120 s) does: thousands of idle
    /// or half-open connections must not hold slots (`max_connections`) and memory forever.
    /// Clients heartbeat every 30 s, so a live client is never idle this long. Zero: never.
    pub max_idle: Duration,
    /// When this many bytes of answers wait for a peer that does not read them (a slow or
    /// stalled consumer), no more of its requests are read until the writer catches up: the
    /// peer's own TCP window then holds it back, and the memory one connection can pin stays
    /// about this big instead of growing with every request it pipelines.
    pub max_queued_bytes_per_connection: usize,
}

/// RocketMQ's `serverChannelMaxIdleTimeSeconds` default.
pub const DEFAULT_MAX_IDLE: Duration = Duration::from_secs(120);

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            max_frame: DEFAULT_MAX_FRAME,
            max_connections: 10_000,
            max_in_flight_per_connection: 16_384,
            shutdown_grace: Duration::from_secs(3),
            max_idle: DEFAULT_MAX_IDLE,
            max_queued_bytes_per_connection: 64 << 20,
        }
    }
}

/// One client connection as a handler sees it. Keep the `Arc` to talk to that client later
/// (e.g. in the consumer table, to push NOTIFY_CONSUMER_IDS_CHANGED).
pub struct ChannelContext {
    /// Unique per process for this connection; stable while it lives.
    pub id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    channel: Arc<Channel>,
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

impl ChannelContext {
    fn new(
        peer: SocketAddr,
        local: SocketAddr,
    ) -> (Arc<ChannelContext>, mpsc::Receiver<RemotingCommand>) {
        let (channel, rx) = Channel::new(peer.to_string());
        let ctx = ChannelContext {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            peer,
            local,
            channel: Arc::new(channel),
        };
        (Arc::new(ctx), rx)
    }

    /// A context bound to no socket, for testing processors: whatever the server would write to
    /// this client (pushed requests) arrives on the receiver; `send_request` times out.
    pub fn detached(peer: SocketAddr) -> (Arc<ChannelContext>, mpsc::Receiver<RemotingCommand>) {
        ChannelContext::new(peer, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Pushes a oneway request to this client (NOTIFY_CONSUMER_IDS_CHANGED,
    /// CHECK_TRANSACTION_STATE) without waiting: fails at once if the connection is closed or
    /// its write queue is full. Marks `cmd` oneway.
    pub fn send_request_oneway(&self, mut cmd: RemotingCommand) -> Result<(), RemotingError> {
        cmd.flag = (cmd.flag & !FLAG_RESPONSE) | FLAG_ONEWAY;
        self.channel.try_send(cmd)
    }

    /// Asks this client something on its own connection (GET_CONSUMER_RUNNING_INFO,
    /// CONSUME_MESSAGE_DIRECTLY) and waits for its answer, matched by opaque.
    pub async fn send_request(
        &self,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        let deadline = deadline_after(timeout);
        self.channel.request(cmd, deadline, timeout).await
    }

    pub fn is_closed(&self) -> bool {
        self.channel.is_closed()
    }

    /// Resolves once the connection is closed; for long polls to stop waiting.
    pub async fn closed(&self) {
        self.channel.closed().await
    }
}

impl std::fmt::Debug for ChannelContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ChannelContext(#{} {} -> {})",
            self.id, self.peer, self.local
        )
    }
}

/// Serves `listener` until `shutdown` turns true (or its sender is dropped), then stops
/// accepting, lets each connection's running handlers answer for up to `shutdown_grace`, closes
/// every connection and returns.
pub async fn serve<H: RequestHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    config: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(
        config.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let mut connections = JoinSet::new();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, max_connections = config.max_connections, "remoting server listening");
    }
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        connections.spawn(run_connection(
                            stream, peer, handler.clone(), config.clone(), shutdown.clone(), permit,
                        ));
                    }
                    Err(_) => {
                        tracing::warn!(%peer, limit = config.max_connections,
                            "connection limit reached; closing the new connection (raise max_connections?)");
                        drop(stream);
                    }
                },
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning on the error.
                    tracing::warn!(error = %e, "accept failed; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    tracing::info!(connections = connections.len(), "remoting server stopping");
    let wait = config
        .shutdown_grace
        .saturating_add(WRITER_LINGER + Duration::from_secs(1));
    let all_done = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(wait, all_done).await.is_err() {
        tracing::warn!(
            left = connections.len(),
            "connections did not close in time; aborting them"
        );
        connections.abort_all();
    }
}

/// How long a closing connection's writer may take to send what was queued.
const WRITER_LINGER: Duration = Duration::from_secs(1);

async fn run_connection<H: RequestHandler>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<H>,
    config: Arc<ServerConfig>,
    mut shutdown: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (ctx, rx) = ChannelContext::new(peer, local);
    let mut writer = tokio::spawn(write_loop(ctx.channel.clone(), rx, wr, config.max_frame));
    // acquire_many takes a u32; at least one request must be able to run.
    let max_in_flight = config
        .max_in_flight_per_connection
        .clamp(1, u32::MAX as usize);
    let in_flight = Arc::new(Semaphore::new(max_in_flight));
    let mut busy_replies: u64 = 0;
    let mut reader = FrameReader::new(rd, config.max_frame);
    tracing::debug!(conn = ctx.id, %peer, "connection opened");

    // The idle deadline is one timer for the connection's life, moved only when it fires: a
    // fresh `sleep_until` per frame registered and cancelled a timer-wheel entry for every
    // request (part of the +2.8 µs per message the send path gained in issues 14/15). A frame
    // only records when it arrived; the timer, on waking, re-arms from that instant.
    let idle = config.max_idle;
    let mut last_frame = tokio::time::Instant::now();
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    let max_queued = config.max_queued_bytes_per_connection;
    let mut closed = ctx.channel.watch_closed();
    let (reason, shutting_down) = loop {
        if ctx.channel.queued_bytes() > max_queued {
            tokio::select! {
                _ = ctx.channel.wait_queued_below(max_queued) => {}
                _ = shutdown.wait_for(|stop| *stop) => break ("server shutting down".to_string(), true),
            }
            last_frame = tokio::time::Instant::now();
            continue;
        }
        let next = tokio::select! {
            next = reader.next() => next,
            _ = shutdown.wait_for(|stop| *stop) => break ("server shutting down".to_string(), true),
            _ = closed.wait_for(|c| *c) => break ("closed by the writer".to_string(), false),
            _ = &mut idle_timer, if !idle.is_zero() => {
                let now = tokio::time::Instant::now();
                let deadline = last_frame + idle;
                // A frame arrived since the timer was set, or a long-polling pull or a slow
                // send is still running: that is not idleness.
                if deadline > now {
                    idle_timer.as_mut().reset(deadline);
                    continue;
                }
                if in_flight.available_permits() < max_in_flight {
                    last_frame = now;
                    idle_timer.as_mut().reset(now + idle);
                    continue;
                }
                tracing::info!(conn = ctx.id, %peer, idle_s = idle.as_secs_f64(),
                    "closing an idle connection (serverChannelMaxIdleTimeSeconds)");
                break (format!("idle for {:?}", idle), false);
            }
        };
        last_frame = tokio::time::Instant::now();
        let req = match next {
            Ok(Some(cmd)) if cmd.is_response() => {
                ctx.channel.complete(cmd);
                continue;
            }
            Ok(Some(cmd)) => cmd,
            Ok(None) => break ("closed by peer".to_string(), false),
            Err(e @ (ReadError::Io(_) | ReadError::TruncatedFrame(_))) => {
                tracing::debug!(conn = ctx.id, %peer, error = %e, "connection lost");
                break (e.to_string(), false);
            }
            Err(e) => {
                tracing::warn!(conn = ctx.id, %peer, error = %e, "bad frame; closing this connection");
                break (e.to_string(), false);
            }
        };
        match in_flight.clone().try_acquire_owned() {
            Ok(permit) => spawn_request(handler.clone(), ctx.clone(), req, permit),
            Err(_) => {
                busy_replies += 1;
                if busy_replies == 1 || busy_replies.is_multiple_of(1000) {
                    tracing::warn!(conn = ctx.id, %peer, limit = max_in_flight, busy_replies,
                        "too many requests in flight on one connection; answering SYSTEM_BUSY");
                }
                if !req.is_oneway() {
                    let busy = RemotingCommand::response_to(&req, response_code::SYSTEM_BUSY)
                        .with_remark("[OVERLOAD]system busy, start flow control for a while");
                    let _ = ctx.channel.send(busy).await;
                }
            }
        }
    };

    if shutting_down {
        // Let running handlers answer before the socket goes.
        let all = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(config.shutdown_grace, in_flight.acquire_many(all)).await;
    }
    ctx.channel.close(&reason);
    handler.on_close(&ctx);
    if tokio::time::timeout(WRITER_LINGER, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    tracing::debug!(conn = ctx.id, %peer, %reason, "connection closed");
}

fn spawn_request<H: RequestHandler>(
    handler: Arc<H>,
    ctx: Arc<ChannelContext>,
    req: RemotingCommand,
    permit: OwnedSemaphorePermit,
) {
    // DEBUG, not INFO: with the fmt subscriber an enabled span formats its fields into a new
    // string when it is created, and a per-request span was 10 % of a three-node leader's CPU
    // under `bench produce` (2.2 µs per message). Disabled, it costs a cached level check and
    // its fields are never evaluated; `RUST_LOG=debug` brings it back. Logs a handler writes
    // name what they are about themselves.
    let span = tracing::debug_span!(
        "request",
        code = req.code,
        code_name = request_code_name(req.code).unwrap_or("?"),
        opaque = req.opaque,
        peer = %ctx.peer,
        topic = tracing::field::Empty,
    );
    tokio::spawn(
        async move {
            let (code, opaque, serialize_type) = (req.code, req.opaque, req.serialize_type);
            let oneway = req.is_oneway();
            // Boxed: the handler's future holds the state of its largest processor, and tokio
            // moves a task's future by value when it spawns it and again when it finishes, so
            // inline it made every request copy that much memory (≈ 3 % of a leader's CPU in
            // memcpy). One small allocation instead.
            let handled = AssertUnwindSafe(Box::pin(handler.handle(ctx.clone(), req)))
                .catch_unwind()
                .await;
            let resp = match handled {
                Ok(resp) => resp,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    tracing::error!(code, opaque, panic = %what, "request handler panicked");
                    Some(
                        RemotingCommand::response(response_code::SYSTEM_ERROR).with_remark(
                            format!("request code {code} failed: handler panicked: {what}"),
                        ),
                    )
                }
            };
            if let (Some(mut resp), false) = (resp, oneway) {
                resp.opaque = opaque;
                resp.flag = (resp.flag | FLAG_RESPONSE) & !FLAG_ONEWAY;
                resp.serialize_type = serialize_type;
                if let Err(e) = ctx.channel.send(resp).await {
                    tracing::debug!(error = %e, "response not sent");
                }
            }
            drop(permit);
        }
        .instrument(span),
    );
}
