//! Server and client over loopback TCP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::*;

/// Echoes SEND_MESSAGE after `delayMs`, remembers the heartbeat's connection, answers
/// QUERY_MESSAGE with `size` bytes and VIEW_MESSAGE_BY_ID with [`parts`]`(count)` as a
/// multi-part body, nothing to UNREGISTER_CLIENT, panics on PULL_MESSAGE, and refuses
/// everything else.
#[derive(Default)]
struct TestHandler {
    heartbeat_ctx: Mutex<Option<Arc<ChannelContext>>>,
    closed: AtomicUsize,
    handled: AtomicUsize,
}

impl RequestHandler for TestHandler {
    async fn handle(
        &self,
        ctx: Arc<ChannelContext>,
        req: RemotingCommand,
    ) -> Option<RemotingCommand> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        match req.code {
            request_code::HEART_BEAT => {
                *self.heartbeat_ctx.lock() = Some(ctx);
                Some(RemotingCommand::response_to(&req, response_code::SUCCESS))
            }
            request_code::SEND_MESSAGE => {
                let delay = req.ext("delayMs").and_then(|d| d.parse().ok()).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                Some(
                    RemotingCommand::response_to(&req, response_code::SUCCESS)
                        .with_ext("id", req.ext("id").unwrap_or(""))
                        .with_body(req.body.clone()),
                )
            }
            request_code::QUERY_MESSAGE => {
                let size = req.ext("size").and_then(|d| d.parse().ok()).unwrap_or(0);
                Some(
                    RemotingCommand::response_to(&req, response_code::SUCCESS)
                        .with_body(vec![b'm'; size]),
                )
            }
            request_code::VIEW_MESSAGE_BY_ID => {
                let count = req.ext("count").and_then(|d| d.parse().ok()).unwrap_or(0);
                Some(
                    RemotingCommand::response_to(&req, response_code::SUCCESS)
                        .with_body_parts(parts(count)),
                )
            }
            request_code::UNREGISTER_CLIENT => None,
            request_code::PULL_MESSAGE => panic!("boom"),
            _ => Some(not_supported(&req)),
        }
    }

    fn on_close(&self, _ctx: &ChannelContext) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// `count` body parts of mixed sizes and contents, as a pull answer's (36-byte heads, tails of
/// about a KiB) with empty, tiny, just-copied, just-referenced and large ones among them, so the
/// writer's copy threshold and `writev` batching are both exercised.
fn parts(count: usize) -> Vec<Bytes> {
    (0..count)
        .map(|i| {
            let len = match i % 9 {
                0 => 36,
                1 => 1_100,
                2 => 0,
                3 => 1,
                4 => 511,
                5 => 512,
                6 => 36,
                7 => 20_000,
                _ => 2_000,
            };
            Bytes::from((0..len).map(|j| (i * 7 + j) as u8).collect::<Vec<u8>>())
        })
        .collect()
}

fn joined(parts: &[Bytes]) -> Vec<u8> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

struct Server {
    addr: SocketAddr,
    handler: Arc<TestHandler>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

async fn start(config: ServerConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(TestHandler::default());
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(serve(listener, handler.clone(), config, rx));
    Server {
        addr,
        handler,
        stop,
        task,
    }
}

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default()).0
}

fn send(id: &str, delay_ms: u64) -> RemotingCommand {
    RemotingCommand::request(request_code::SEND_MESSAGE)
        .with_ext("id", id)
        .with_ext("delayMs", delay_ms)
        .with_body(Bytes::from(format!("body-{id}")))
}

const T: Duration = Duration::from_secs(5);

async fn raw_write(s: &mut TcpStream, cmd: &RemotingCommand) {
    let mut out = BytesMut::new();
    encode(cmd, &mut out).unwrap();
    s.write_all(&out).await.unwrap();
}

/// The next command from a raw socket; `None` on EOF or if nothing comes within `wait`.
async fn raw_read(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    wait: Duration,
) -> Option<RemotingCommand> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(cmd) = decode(buf, DEFAULT_MAX_FRAME).unwrap() {
            return Some(cmd);
        }
        match tokio::time::timeout_at(deadline, s.read_buf(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(_)) => {}
        }
    }
}

/// True if the server closed the socket (EOF or reset) within `wait`.
async fn raw_closed(s: &mut TcpStream, wait: Duration) -> bool {
    let mut scratch = [0u8; 256];
    let deadline = Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut scratch)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn requests_in_flight_are_answered_out_of_order() {
    let server = start(ServerConfig::default()).await;
    let client = client();
    let addr = server.addr.to_string();
    let calls = [("slow", 400), ("mid", 200), ("fast", 0)].map(|(id, delay)| {
        let client = client.clone();
        let addr = addr.clone();
        async move {
            let resp = client.invoke(&addr, send(id, delay), T).await.unwrap();
            (id, resp, Instant::now())
        }
    });
    let results = futures::future::join_all(calls).await;
    for (id, resp, _) in &results {
        assert_eq!(resp.code, response_code::SUCCESS);
        assert!(resp.is_response());
        assert_eq!(resp.ext("id"), Some(*id));
        assert_eq!(resp.body, Bytes::from(format!("body-{id}")));
    }
    assert!(results[2].2 < results[1].2 && results[1].2 < results[0].2);
    assert_eq!(server.handler.handled.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn oneway_and_none_get_no_response() {
    let server = start(ServerConfig::default()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let mut oneway = send("ow", 0);
    oneway.mark_oneway();
    raw_write(&mut s, &oneway).await;
    raw_write(
        &mut s,
        &RemotingCommand::request(request_code::UNREGISTER_CLIENT),
    )
    .await;
    // An unknown code sent oneway: the handler answers not_supported, the server drops it.
    let mut unknown = RemotingCommand::request(9999);
    unknown.mark_oneway();
    raw_write(&mut s, &unknown).await;
    let hb = RemotingCommand::request(request_code::HEART_BEAT);
    raw_write(&mut s, &hb).await;
    let mut buf = BytesMut::new();
    let first = raw_read(&mut s, &mut buf, T)
        .await
        .expect("heartbeat answer");
    assert_eq!(first.opaque, hb.opaque);
    assert!(raw_read(&mut s, &mut buf, Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(server.handler.handled.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn unknown_codes_panics_and_binary_headers() {
    let server = start(ServerConfig::default()).await;
    let client = client();
    let addr = server.addr.to_string();

    let resp = client
        .invoke(&addr, RemotingCommand::request(9999), T)
        .await
        .unwrap();
    assert_eq!(resp.code, response_code::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(
        resp.remark.as_deref(),
        Some(" request type 9999 not supported")
    );

    let pull = RemotingCommand::request(request_code::PULL_MESSAGE);
    let resp = client.invoke(&addr, pull, T).await.unwrap();
    assert_eq!(resp.code, response_code::SYSTEM_ERROR);
    assert!(resp.remark.unwrap_or_default().contains("boom"));

    let bin = send("b", 0).with_serialize_type(SerializeType::RocketMq);
    let resp = client.invoke(&addr, bin, T).await.unwrap();
    assert_eq!(resp.serialize_type, SerializeType::RocketMq);
    assert_eq!(resp.ext("id"), Some("b"));
}

#[tokio::test]
async fn cpp_request_on_the_wire_gets_a_json_answer() {
    let server = start(ServerConfig::default()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let header = b"{\"code\":34,\"extFields\":{\"AccessKey\":\"\",\"OnsChannel\":\"ALIYUN\",\"Signature\":\"\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":77,\"remark\":\"\",\"version\":63}\n";
    let mut f = BytesMut::new();
    f.put_i32(4 + header.len() as i32);
    f.put_i32(header.len() as i32);
    f.put_slice(header);
    s.write_all(&f).await.unwrap();
    let mut buf = BytesMut::new();
    let resp = raw_read(&mut s, &mut buf, T).await.expect("answer");
    assert_eq!(resp.opaque, 77);
    assert!(resp.is_response());
    assert_eq!(resp.code, response_code::SUCCESS);
    assert_eq!(resp.serialize_type, SerializeType::Json);
}

#[tokio::test]
async fn a_bad_frame_closes_only_that_connection() {
    let server = start(ServerConfig::default()).await;
    let client = client();
    let addr = server.addr.to_string();
    client.invoke(&addr, send("a", 0), T).await.unwrap();

    let hostile: [&[u8]; 4] = [
        &[0, 0, 0, 6, 7, 0, 0, 2, b'{', b'}'],       // serialize type 7
        &[0xFF, 0xFF, 0xFF, 0xFF],                   // negative length
        &[0x7F, 0, 0, 0],                            // 2 GiB
        &[0, 0, 0, 7, 0, 0, 0, 3, b'{', b'x', b'}'], // invalid JSON
    ];
    for bytes in hostile {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        assert!(
            raw_closed(&mut s, T).await,
            "{bytes:?} must close the connection"
        );
    }
    // The well-behaved client kept its connection and is still served.
    let resp = client.invoke(&addr, send("b", 0), T).await.unwrap();
    assert_eq!(resp.ext("id"), Some("b"));
}

/// Two thousand idle connections (opened and never written to, like half-open ones) do not
/// keep a working client from being served, and each is closed once it has been idle for
/// `max_idle`; the working client, which keeps sending, keeps its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_do_not_starve_a_busy_client() {
    let max_idle = Duration::from_secs(3);
    let server = start(ServerConfig {
        max_idle,
        ..ServerConfig::default()
    })
    .await;
    let addr = server.addr.to_string();
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let client = client();
    let started = Instant::now();
    let mut sent = 0;
    // Keep the busy client going for twice the idle timeout: always answered.
    while started.elapsed() < 2 * max_idle {
        let id = format!("busy-{sent}");
        let resp = client.invoke(&addr, send(&id, 0), T).await.unwrap();
        assert_eq!(resp.ext("id"), Some(id.as_str()));
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every idle connection has been closed by now (allow a little scheduling slack).
    let deadline = Instant::now() + T;
    for s in &mut idle {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(raw_closed(s, left).await, "an idle connection stayed open");
    }
    // The busy client's connection is the same one it started with: still served.
    let resp = client.invoke(&addr, send("last", 0), T).await.unwrap();
    assert_eq!(resp.ext("id"), Some("last"));
    assert!(sent > 10, "{sent}");
}

/// A client that keeps sending requests for large answers and never reads them (a stalled
/// consumer) gets no more of its requests read once `max_queued_bytes_per_connection` of
/// answers wait for it: the server's memory for it stops growing. When it reads again, every
/// answer arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_its_answers_is_not_read_from() {
    const ANSWER: usize = 1 << 20;
    const REQUESTS: usize = 200;
    let server = start(ServerConfig {
        max_queued_bytes_per_connection: 2 * ANSWER,
        ..ServerConfig::default()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // One request every few milliseconds, as a client that keeps asking would; the requests
    // are small, so the socket takes them all even once the server stops reading.
    for _ in 0..REQUESTS {
        let req = RemotingCommand::request(request_code::QUERY_MESSAGE).with_ext("size", ANSWER);
        raw_write(&mut s, &req).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The answers handled are what fits in the queue cap plus what the kernel's socket buffers
    // took (a few MiB on loopback), far from all of them.
    let handled = server.handler.handled.load(Ordering::SeqCst);
    assert!(
        handled < REQUESTS / 2,
        "{handled} of {REQUESTS} requests handled for a client that reads nothing"
    );
    // Reading again drains everything.
    let mut buf = BytesMut::new();
    let mut got = 0;
    while got < REQUESTS {
        let cmd = raw_read(&mut s, &mut buf, T)
            .await
            .unwrap_or_else(|| panic!("answer {got} never came"));
        assert_eq!(cmd.body.len(), ANSWER);
        got += 1;
    }
    assert_eq!(server.handler.handled.load(Ordering::SeqCst), REQUESTS);
}

/// A frame whose length prefix is over the limit is refused on its first four bytes: the
/// server closes the connection without waiting for (or buffering) the body it announced.
#[tokio::test]
async fn a_frame_declared_over_the_limit_is_refused_before_its_body_is_read() {
    let server = start(ServerConfig {
        max_frame: 64 * 1024,
        ..ServerConfig::default()
    })
    .await;
    for declared in [64 * 1024 - 3, 16 << 20, i32::MAX as usize] {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        // Only the prefix: the socket stays open, so a server that waited for the body would
        // never close it.
        s.write_all(&(declared as i32).to_be_bytes()).await.unwrap();
        assert!(
            raw_closed(&mut s, T).await,
            "a {declared}-byte frame must be refused at once"
        );
    }
    // Exactly at the limit is still accepted.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(&(64i32 * 1024 - 4).to_be_bytes())
        .await
        .unwrap();
    assert!(!raw_closed(&mut s, Duration::from_millis(300)).await);
}

#[tokio::test]
async fn server_pushes_and_asks_on_the_clients_connection() {
    let server = start(ServerConfig::default()).await;
    let (client, mut inbound) = RemotingClient::new(ClientConfig::default());
    let addr = server.addr.to_string();
    let hb = RemotingCommand::request(request_code::HEART_BEAT);
    client.invoke(&addr, hb, T).await.unwrap();
    let ctx = server
        .handler
        .heartbeat_ctx
        .lock()
        .clone()
        .expect("heartbeat seen");

    let notify = RemotingCommand::request(request_code::NOTIFY_CONSUMER_IDS_CHANGED)
        .with_ext("consumerGroup", "cg");
    ctx.send_request_oneway(notify).unwrap();
    let got = tokio::time::timeout(T, inbound.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.addr, addr);
    assert_eq!(got.request.code, request_code::NOTIFY_CONSUMER_IDS_CHANGED);
    assert!(got.request.is_oneway());
    assert_eq!(got.request.ext("consumerGroup"), Some("cg"));

    let answering = tokio::spawn(async move {
        let req = inbound.recv().await.unwrap();
        assert_eq!(req.request.code, request_code::GET_CONSUMER_RUNNING_INFO);
        req.respond(RemotingCommand::response(response_code::SUCCESS).with_body(&b"running"[..]))
            .unwrap();
        inbound
    });
    let ask = RemotingCommand::request(request_code::GET_CONSUMER_RUNNING_INFO);
    let resp = ctx.send_request(ask, T).await.unwrap();
    assert_eq!(resp.code, response_code::SUCCESS);
    assert_eq!(&resp.body[..], b"running");
    let _inbound = answering.await.unwrap();

    // Once the client goes away the context says so and pushes fail.
    drop(client);
    tokio::time::timeout(T, ctx.closed()).await.unwrap();
    assert!(ctx.is_closed());
    let again = RemotingCommand::request(request_code::NOTIFY_CONSUMER_IDS_CHANGED);
    assert!(matches!(
        ctx.send_request_oneway(again),
        Err(RemotingError::ConnectionClosed { .. })
    ));
    let deadline = Instant::now() + T;
    while server.handler.closed.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        server.handler.closed.load(Ordering::SeqCst),
        1,
        "on_close once"
    );
}

#[tokio::test]
async fn connection_limit_closes_extra_connections() {
    let server = start(ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    })
    .await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    let hb = RemotingCommand::request(request_code::HEART_BEAT);
    raw_write(&mut first, &hb).await;
    let mut buf = BytesMut::new();
    assert!(raw_read(&mut first, &mut buf, T).await.is_some());

    let mut second = TcpStream::connect(server.addr).await.unwrap();
    assert!(raw_closed(&mut second, T).await, "over the limit: closed");

    drop(first);
    // The slot frees once the server has seen the first connection go.
    let deadline = Instant::now() + T;
    loop {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let hb = RemotingCommand::request(request_code::HEART_BEAT);
        raw_write(&mut s, &hb).await;
        let mut buf = BytesMut::new();
        if raw_read(&mut s, &mut buf, Duration::from_millis(500))
            .await
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn requests_over_the_in_flight_limit_are_answered_busy() {
    let server = start(ServerConfig {
        max_in_flight_per_connection: 1,
        ..ServerConfig::default()
    })
    .await;
    let client = client();
    let addr = server.addr.to_string();
    let slow = client.invoke(&addr, send("slow", 300), T);
    let busy = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.invoke(&addr, send("second", 0), T).await
    };
    let (slow, busy) = tokio::join!(slow, busy);
    assert_eq!(slow.unwrap().code, response_code::SUCCESS);
    let busy = busy.unwrap();
    assert_eq!(busy.code, response_code::SYSTEM_BUSY);
    assert!(busy.remark.unwrap_or_default().starts_with("[OVERLOAD]"));
}

#[tokio::test]
async fn graceful_shutdown_answers_what_is_in_flight() {
    let server = start(ServerConfig::default()).await;
    let client = client();
    let addr = server.addr.to_string();
    client.invoke(&addr, send("warm", 0), T).await.unwrap();
    let in_flight = client.invoke(&addr, send("late", 300), T);
    let stop = async {
        // Stop once the server is running the slow request.
        while server.handler.handled.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.stop.send_replace(true);
    };
    let (resp, ()) = tokio::join!(in_flight, stop);
    assert_eq!(resp.unwrap().ext("id"), Some("late"));
    tokio::time::timeout(T, server.task).await.unwrap().unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no longer listening"
    );
    assert_eq!(server.handler.closed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn client_timeouts_and_connect_failures() {
    let server = start(ServerConfig::default()).await;
    let client = client();
    let addr = server.addr.to_string();
    let err = client
        .invoke(&addr, send("slow", 1000), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RemotingError::Timeout {
                code: request_code::SEND_MESSAGE,
                millis: 100,
                ..
            }
        ),
        "{err}"
    );
    // The connection survives a timeout.
    assert!(client.invoke(&addr, send("ok", 0), T).await.is_ok());

    let unused = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = unused.local_addr().unwrap().to_string();
    drop(unused);
    let err = client.invoke(&dead, send("x", 0), T).await.unwrap_err();
    assert!(
        matches!(err, RemotingError::ConnectFailed { ref addr, .. } if *addr == dead),
        "{err}"
    );
    let err = client.invoke_oneway(&dead, send("x", 0)).await.unwrap_err();
    assert!(matches!(err, RemotingError::ConnectFailed { .. }), "{err}");
}

#[tokio::test]
async fn client_reconnects_after_the_connection_drops() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fake = tokio::spawn(async move {
        // First connection: read one request, then hang up without answering.
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        raw_read(&mut s, &mut buf, T).await.unwrap();
        drop(s);
        // Second connection: answer properly.
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        let req = raw_read(&mut s, &mut buf, T).await.unwrap();
        raw_write(
            &mut s,
            &RemotingCommand::response_to(&req, response_code::SUCCESS),
        )
        .await;
        s
    });
    let client = client();
    let err = client.invoke(&addr, send("1", 0), T).await.unwrap_err();
    assert!(
        matches!(err, RemotingError::ConnectionClosed { .. }),
        "{err}"
    );
    let resp = client.invoke(&addr, send("2", 0), T).await.unwrap();
    assert_eq!(resp.code, response_code::SUCCESS);
    let _s = fake.await.unwrap();
}

#[tokio::test]
async fn oneway_from_the_client_reaches_the_handler() {
    let server = start(ServerConfig::default()).await;
    let client = client();
    let addr = server.addr.to_string();
    client.invoke_oneway(&addr, send("ow", 0)).await.unwrap();
    let deadline = Instant::now() + T;
    while server.handler.handled.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_response_too_large_for_the_frame_limit_becomes_system_error() {
    let server = start(ServerConfig {
        max_frame: 1024,
        ..ServerConfig::default()
    })
    .await;
    let client = client();
    let addr = server.addr.to_string();
    let small = RemotingCommand::request(request_code::QUERY_MESSAGE).with_ext("size", 100);
    let resp = client.invoke(&addr, small, T).await.unwrap();
    assert_eq!((resp.code, resp.body.len()), (response_code::SUCCESS, 100));
    let big = RemotingCommand::request(request_code::QUERY_MESSAGE).with_ext("size", 2000);
    let resp = client.invoke(&addr, big, T).await.unwrap();
    assert_eq!(resp.code, response_code::SYSTEM_ERROR);
    assert!(resp.body.is_empty());
    assert!(resp.remark.unwrap_or_default().contains("exceeds"));
    // A "forever" timeout is accepted, and the connection is still fine.
    let resp = client
        .invoke(&addr, send("x", 0), Duration::MAX)
        .await
        .unwrap();
    assert_eq!(resp.ext("id"), Some("x"));
}

#[tokio::test]
async fn a_detached_context_hands_pushes_to_the_test() {
    let (ctx, mut pushed) = ChannelContext::detached("10.0.0.1:5555".parse().unwrap());
    let notify = RemotingCommand::request(request_code::NOTIFY_CONSUMER_IDS_CHANGED);
    ctx.send_request_oneway(notify).unwrap();
    let got = pushed.recv().await.unwrap();
    assert!(got.is_oneway() && !got.is_response());
    assert!(!ctx.is_closed());
    let err = ctx
        .send_request(
            RemotingCommand::request(request_code::GET_CONSUMER_RUNNING_INFO),
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RemotingError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn multi_megabyte_bodies_in_both_directions() {
    let server = start(ServerConfig::default()).await;
    let client = client();
    let addr = server.addr.to_string();
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let req = send("big", 0).with_body(body.clone());
    let resp = client.invoke(&addr, req, T).await.unwrap();
    assert_eq!(&resp.body[..], &body[..]);
    let req = RemotingCommand::request(request_code::QUERY_MESSAGE).with_ext("size", 5_000_000);
    let resp = client.invoke(&addr, req, T).await.unwrap();
    assert_eq!(resp.body.len(), 5_000_000);
}

/// A multi-part answer reaches the peer as the same bytes as the joined body: with a frame
/// length that counts every part, in bursts with other answers, with more parts than one
/// `writev` takes (IOV_MAX), and when a reader that is slow to read forces partial writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_part_bodies_arrive_as_the_joined_bytes() {
    let server = start(ServerConfig::default()).await;
    let client = Arc::new(client());
    let addr = server.addr.to_string();
    let view = |count: usize| {
        RemotingCommand::request(request_code::VIEW_MESSAGE_BY_ID).with_ext("count", count)
    };
    // Answers of every size at once on one connection, interleaved with single-body ones.
    let mut tasks = Vec::new();
    for count in [0usize, 1, 2, 9, 64, 100, 1_500, 3_000] {
        let (client, addr) = (client.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            let resp = client.invoke(&addr, view(count), T).await.unwrap();
            assert_eq!(resp.code, response_code::SUCCESS);
            assert!(resp.body_parts.is_empty(), "a decoded answer has one body");
            assert_eq!(
                resp.body.len(),
                joined(&parts(count)).len(),
                "{count} parts"
            );
            assert!(resp.body[..] == joined(&parts(count))[..], "{count} parts");
            let echo = client.invoke(&addr, send("e", 0), T).await.unwrap();
            assert_eq!(&echo.body[..], b"body-e");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // A reader that lets the socket fill before it reads: the writer's vectored writes stop
    // part-way and must resume at the right byte.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    for count in [3_000usize, 7, 2_048] {
        raw_write(&mut s, &view(count)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let cmd = raw_read(&mut s, &mut buf, T).await.expect("answer");
        seen.push(cmd.body.len());
        let count = match cmd.body.len() {
            n if n == joined(&parts(3_000)).len() => 3_000,
            n if n == joined(&parts(7)).len() => 7,
            _ => 2_048,
        };
        assert!(cmd.body[..] == joined(&parts(count))[..], "{count} parts");
    }
    seen.sort_unstable();
    let mut want: Vec<usize> = [3_000usize, 7, 2_048]
        .iter()
        .map(|&c| joined(&parts(c)).len())
        .collect();
    want.sort_unstable();
    assert_eq!(seen, want);
}

/// A multi-part answer over the frame limit is refused as a whole (its length counts every
/// part), answered SYSTEM_ERROR like a single-body one.
#[tokio::test]
async fn a_multi_part_answer_over_the_frame_limit_becomes_system_error() {
    let server = start(ServerConfig {
        max_frame: 2048,
        ..ServerConfig::default()
    })
    .await;
    let client = client();
    let addr = server.addr.to_string();
    // Seven parts hold 2,196 bytes: no single part is over the limit, all of them are.
    let req = RemotingCommand::request(request_code::VIEW_MESSAGE_BY_ID).with_ext("count", 7);
    let resp = client.invoke(&addr, req, T).await.unwrap();
    assert_eq!(resp.code, response_code::SYSTEM_ERROR);
    assert!(resp.body.is_empty());
    let req = RemotingCommand::request(request_code::VIEW_MESSAGE_BY_ID).with_ext("count", 5);
    let resp = client.invoke(&addr, req, T).await.unwrap();
    assert_eq!(resp.code, response_code::SUCCESS);
    assert!(resp.body[..] == joined(&parts(5))[..]);
}
