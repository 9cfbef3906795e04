//! What the server and the client share about one TCP connection: reading frames
//! ([`FrameReader`]), the single writer task ([`write_loop`]), and the [`Channel`] that queues
//! outgoing commands and matches responses to requests by opaque.
//!
//! Both directions use the same machinery because RocketMQ is symmetric on a connection: the
//! client sends requests and the broker answers, but the broker also sends requests
//! (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, ...) on the connection the client
//! opened, and the client answers those.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;

use super::codec::{self, CodecError};
use super::codes::response_code;
use super::command::{next_opaque, RemotingCommand, FLAG_ONEWAY, FLAG_RESPONSE};
use super::error::RemotingError;

/// Commands waiting for the writer, per connection. A full queue means the peer stopped reading:
/// responses wait for room (backpressure on that connection's handlers), server pushes fail.
pub(crate) const WRITE_QUEUE: usize = 1024;

const READ_CHUNK: usize = 64 * 1024;
const MIN_SPARE: usize = 4 * 1024;
const RESERVE_STEP: usize = 1024 * 1024;
const WRITE_BUFFER: usize = 64 * 1024;

type Reply = oneshot::Sender<Result<RemotingCommand, RemotingError>>;

/// `now + timeout`, without overflowing on a "forever" timeout such as `Duration::MAX`.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The sending side of one connection, shared by everyone who writes to it.
pub(crate) struct Channel {
    /// The peer's address, for errors and logs.
    addr: String,
    tx: mpsc::Sender<RemotingCommand>,
    pending: Mutex<HashMap<i32, Reply>>,
    closed: watch::Sender<bool>,
    close_reason: Mutex<String>,
    /// Bytes of the commands queued for the writer and not yet written (bodies plus a header
    /// allowance): what a peer that stops reading makes this process hold.
    queued_bytes: AtomicUsize,
    /// Signalled by the writer whenever it has written something.
    drained: Notify,
}

/// What a queued command is counted as: its body (all parts) plus an allowance for its header.
fn queued_cost(cmd: &RemotingCommand) -> usize {
    cmd.body_len() + 256
}

/// A command counted as queued that may not have reached the queue yet.
struct Counted<'a> {
    channel: &'a Channel,
    cost: usize,
}

impl Counted<'_> {
    /// The command is in the queue: the writer takes it off the count.
    fn keep(mut self) {
        self.cost = 0;
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if self.cost > 0 {
            self.channel
                .queued_bytes
                .fetch_sub(self.cost, Ordering::Relaxed);
        }
    }
}

/// Takes a written (or dropped) command's bytes off the count when it goes.
struct Dequeued<'a> {
    channel: &'a Channel,
    cost: usize,
}

impl Drop for Dequeued<'_> {
    fn drop(&mut self) {
        self.channel
            .queued_bytes
            .fetch_sub(self.cost, Ordering::Relaxed);
        self.channel.drained.notify_waiters();
    }
}

impl Channel {
    /// A channel and the receiver its writer task drains.
    pub(crate) fn new(addr: String) -> (Channel, mpsc::Receiver<RemotingCommand>) {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let channel = Channel {
            addr,
            tx,
            pending: Mutex::new(HashMap::new()),
            closed: watch::Sender::new(false),
            close_reason: Mutex::new(String::new()),
            queued_bytes: AtomicUsize::new(0),
            drained: Notify::new(),
        };
        (channel, rx)
    }

    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// A receiver of the closed flag, for a loop that waits on it at every turn (subscribing
    /// once instead of at every frame).
    pub(crate) fn watch_closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// Resolves once the connection is closed.
    pub(crate) async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|closed| *closed).await;
    }

    /// Marks the connection closed and fails every waiting request. Idempotent; the first
    /// reason is kept.
    pub(crate) fn close(&self, reason: &str) {
        {
            let mut r = self.close_reason.lock();
            if r.is_empty() {
                *r = reason.to_string();
            }
        }
        // The flag goes up before the table is drained, so a request registered after the
        // drain sees it (see `request`).
        self.closed.send_replace(true);
        let waiting: Vec<Reply> = self.pending.lock().drain().map(|(_, r)| r).collect();
        for reply in waiting {
            let _ = reply.send(Err(self.closed_error()));
        }
    }

    fn closed_error(&self) -> RemotingError {
        let reason = self.close_reason.lock().clone();
        RemotingError::ConnectionClosed {
            addr: self.addr.clone(),
            reason: if reason.is_empty() {
                "closed".into()
            } else {
                reason
            },
        }
    }

    /// Bytes queued for the writer and not yet written.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// Waits until at most `limit` bytes are queued (or the connection closes).
    pub(crate) async fn wait_queued_below(&self, limit: usize) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.queued_bytes() <= limit || self.is_closed() {
                return;
            }
            tokio::select! {
                _ = drained => {}
                _ = self.closed() => return,
            }
        }
    }

    /// Counts `cmd` as queued. The count is given back when the returned guard drops, unless
    /// it is [`Counted::keep`]: queuing failed, or the sending future was cancelled.
    fn count_queued(&self, cmd: &RemotingCommand) -> Counted<'_> {
        let cost = queued_cost(cmd);
        self.queued_bytes.fetch_add(cost, Ordering::Relaxed);
        Counted {
            channel: self,
            cost,
        }
    }

    /// Queues a response (or anything else) for the writer, waiting for room.
    pub(crate) async fn send(&self, cmd: RemotingCommand) -> Result<(), RemotingError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let counted = self.count_queued(&cmd);
        self.tx.send(cmd).await.map_err(|_| self.closed_error())?;
        counted.keep();
        Ok(())
    }

    /// Queues a command without waiting: fails at once if the peer is not keeping up.
    pub(crate) fn try_send(&self, cmd: RemotingCommand) -> Result<(), RemotingError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let counted = self.count_queued(&cmd);
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => RemotingError::SendQueueFull {
                addr: self.addr.clone(),
            },
            mpsc::error::TrySendError::Closed(_) => self.closed_error(),
        })?;
        counted.keep();
        Ok(())
    }

    /// Sends a oneway request, waiting at most until `deadline` for room in the queue.
    pub(crate) async fn send_oneway(
        &self,
        mut cmd: RemotingCommand,
        deadline: Instant,
    ) -> Result<(), RemotingError> {
        cmd.flag = (cmd.flag & !FLAG_RESPONSE) | FLAG_ONEWAY;
        match tokio::time::timeout_at(deadline, self.send(cmd)).await {
            Ok(r) => r,
            Err(_) => Err(RemotingError::SendQueueFull {
                addr: self.addr.clone(),
            }),
        }
    }

    /// Sends a request and waits until `deadline` for the response with the same opaque;
    /// `timeout` is only what a timeout error reports (the caller's whole budget).
    ///
    /// If another request with this opaque is already waiting on the connection (a caller
    /// reused a command), the request gets a fresh opaque rather than steal the other's answer.
    pub(crate) async fn request(
        &self,
        mut cmd: RemotingCommand,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        cmd.flag &= !(FLAG_RESPONSE | FLAG_ONEWAY);
        let code = cmd.code;
        let (reply, answer) = oneshot::channel();
        {
            let mut pending = self.pending.lock();
            while pending.contains_key(&cmd.opaque) {
                cmd.opaque = next_opaque();
            }
            pending.insert(cmd.opaque, reply);
        }
        let opaque = cmd.opaque;
        // Closed after our insert but `close` drained before it: our entry would never fail.
        if self.is_closed() {
            self.pending.lock().remove(&opaque);
            return Err(self.closed_error());
        }
        let timed_out = || RemotingError::Timeout {
            addr: self.addr.clone(),
            code,
            millis: timeout.as_millis() as u64,
        };
        let counted = self.count_queued(&cmd);
        match tokio::time::timeout_at(deadline, self.tx.send(cmd)).await {
            Ok(Ok(())) => counted.keep(),
            Ok(Err(_)) => {
                self.pending.lock().remove(&opaque);
                return Err(self.closed_error());
            }
            Err(_) => {
                self.pending.lock().remove(&opaque);
                return Err(timed_out());
            }
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                self.pending.lock().remove(&opaque);
                Err(timed_out())
            }
        }
    }

    /// Hands a response to the request waiting for its opaque; a late or unknown one is dropped.
    pub(crate) fn complete(&self, resp: RemotingCommand) {
        let waiting = self.pending.lock().remove(&resp.opaque);
        match waiting {
            Some(reply) => {
                let _ = reply.send(Ok(resp));
            }
            None => tracing::debug!(
                peer = %self.addr,
                opaque = resp.opaque,
                code = resp.code,
                "response matches no waiting request (timed out already?); dropped"
            ),
        }
    }

    /// Fails one waiting request, e.g. because it could not be encoded.
    fn fail(&self, opaque: i32, err: RemotingError) {
        if let Some(reply) = self.pending.lock().remove(&opaque) {
            let _ = reply.send(Err(err));
        }
    }
}

/// Why reading from a connection stopped with an error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("malformed frame: {0}")]
    Codec(#[from] CodecError),
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed in the middle of a frame ({0} bytes buffered)")]
    TruncatedFrame(usize),
}

/// Buffered frame reading over the read half (mini-redis `Connection::read_frame`).
pub(crate) struct FrameReader {
    rd: OwnedReadHalf,
    buf: BytesMut,
    max_frame: usize,
}

impl FrameReader {
    pub(crate) fn new(rd: OwnedReadHalf, max_frame: usize) -> FrameReader {
        FrameReader {
            rd,
            buf: BytesMut::with_capacity(READ_CHUNK),
            max_frame,
        }
    }

    /// The next command, or `None` on a clean end of stream. Cancel-safe: a partial frame stays
    /// buffered, so this can sit in a `select!`.
    pub(crate) async fn next(&mut self) -> Result<Option<RemotingCommand>, ReadError> {
        loop {
            if let Some(cmd) = codec::decode(&mut self.buf, self.max_frame)? {
                return Ok(Some(cmd));
            }
            // Room for the frame in progress (its length already passed the max_frame check in
            // `decode`), growing by at most RESERVE_STEP at a time so a peer that announces a
            // large frame and then trickles bytes does not get it all allocated up front; and
            // always some spare room to read into.
            let frame_len = self
                .buf
                .first_chunk::<4>()
                .map_or(0, |p| i32::from_be_bytes(*p).max(0) as usize + 4);
            let want = frame_len
                .min(self.buf.len() + RESERVE_STEP)
                .max(self.buf.len() + MIN_SPARE);
            if self.buf.capacity() < want {
                self.buf.reserve(want.max(READ_CHUNK) - self.buf.len());
            }
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::TruncatedFrame(self.buf.len()))
                };
            }
        }
    }
}

/// Most buffers one `writev` takes (Linux's `IOV_MAX`); a longer list is written in turns.
const IOV_MAX: usize = 1024;

/// Body parts shorter than this are copied next to the frame head instead of getting a buffer
/// of their own in the `writev`: for a few hundred bytes the copy is cheaper than the kernel's
/// work per buffer, and small answers of a burst still go out as one contiguous write.
const COPY_BELOW: usize = 512;

/// One piece of what is waiting to be written, in wire order.
enum Chunk {
    /// `staged[..end]` from where the previous staged chunk ended: frame heads and small bodies.
    Staged { end: usize },
    /// A body buffer sent as it is (shared with whoever made it, e.g. a mapped segment).
    Part(bytes::Bytes),
}

/// The frames a writer has encoded and not yet written: heads (and small bodies) copied into
/// one buffer, larger body buffers referenced as they are, so one `writev` sends a burst of
/// answers without joining anything.
struct Outgoing {
    staged: BytesMut,
    chunks: Vec<Chunk>,
    /// Bytes of the [`Chunk::Part`]s.
    parts_len: usize,
}

impl Outgoing {
    fn new() -> Outgoing {
        Outgoing {
            staged: BytesMut::with_capacity(WRITE_BUFFER),
            chunks: Vec::new(),
            parts_len: 0,
        }
    }

    /// Bytes waiting to be written.
    fn len(&self) -> usize {
        self.staged.len() + self.parts_len
    }

    /// Records that `staged` grew to its current length: the new bytes extend the last chunk
    /// when that one is staged too, so copied pieces stay one buffer.
    fn staged_grew(&mut self) {
        let end = self.staged.len();
        match self.chunks.last_mut() {
            Some(Chunk::Staged { end: last }) => *last = end,
            _ => self.chunks.push(Chunk::Staged { end }),
        }
    }

    /// Appends one body buffer: copied when small, referenced otherwise.
    fn push_body(&mut self, part: &bytes::Bytes) {
        if part.is_empty() {
            return;
        }
        if part.len() < COPY_BELOW {
            self.staged.extend_from_slice(part);
            self.staged_grew();
        } else {
            self.parts_len += part.len();
            self.chunks.push(Chunk::Part(part.clone()));
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Writes everything waiting, in order, then forgets it. Partial writes continue where
    /// they stopped; more than [`IOV_MAX`] buffers take several calls.
    async fn write_to(&mut self, wr: &mut OwnedWriteHalf) -> std::io::Result<()> {
        if let [Chunk::Staged { end }] = self.chunks[..] {
            // One contiguous buffer (every answer of the burst was small): a plain write.
            wr.write_all(&self.staged[..end]).await?;
        } else if !self.chunks.is_empty() {
            let bufs: Vec<&[u8]> = {
                let mut from = 0;
                self.chunks
                    .iter()
                    .map(|c| match c {
                        Chunk::Staged { end } => {
                            let b = &self.staged[from..*end];
                            from = *end;
                            b
                        }
                        Chunk::Part(p) => &p[..],
                    })
                    .collect()
            };
            write_all_vectored(wr, &bufs).await?;
        }
        self.staged.clear();
        self.chunks.clear();
        self.parts_len = 0;
        Ok(())
    }
}

/// Writes `bufs` back to back with as few `writev` calls as the socket allows.
async fn write_all_vectored(wr: &mut OwnedWriteHalf, bufs: &[&[u8]]) -> std::io::Result<()> {
    let mut first = 0; // the buffer the next write starts in
    let mut skip = 0; // bytes of `bufs[first]` already written
    let mut slices: Vec<std::io::IoSlice<'_>> = Vec::with_capacity(bufs.len().min(IOV_MAX));
    while first < bufs.len() {
        slices.clear();
        slices.push(std::io::IoSlice::new(&bufs[first][skip..]));
        slices.extend(
            bufs[first + 1..]
                .iter()
                .take(IOV_MAX - 1)
                .map(|b| std::io::IoSlice::new(b)),
        );
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        // Advance past what was written.
        while first < bufs.len() {
            let left = bufs[first].len() - skip;
            if n < left {
                skip += n;
                break;
            }
            n -= left;
            first += 1;
            skip = 0;
        }
    }
    Ok(())
}

/// The one task that writes to a connection: drains the channel's queue, coalescing whatever is
/// waiting into one write (a `writev` when answers carry large or multi-part bodies). When the
/// channel closes it writes what is already queued and ends.
///
/// A response that cannot be sent as it is (too large for the peer's frame limit, or not
/// encodable) is replaced by a SYSTEM_ERROR response, so the peer is answered rather than left
/// to time out; a request that cannot be sent fails its waiter.
pub(crate) async fn write_loop(
    channel: std::sync::Arc<Channel>,
    mut rx: mpsc::Receiver<RemotingCommand>,
    mut wr: OwnedWriteHalf,
    max_frame: usize,
) {
    let mut out = Outgoing::new();
    let mut closed = channel.closed.subscribe();
    loop {
        let first = tokio::select! {
            biased;
            cmd = rx.recv() => cmd,
            _ = closed.wait_for(|c| *c) => None,
        };
        let Some(first) = first else { break };
        let mut next = Some(first);
        let mut yielded = false;
        loop {
            while let Some(cmd) = next {
                write_one(&channel, &mut out, cmd, max_frame);
                if out.len() >= WRITE_BUFFER || out.chunks.len() >= IOV_MAX {
                    if let Err(e) = out.write_to(&mut wr).await {
                        channel.close(&format!("write failed: {e}"));
                        return;
                    }
                }
                next = rx.try_recv().ok();
            }
            // Answers come in bursts: one Raft commit wakes every send it acknowledged, but the
            // first answer wakes this task before the others are queued. Yielding once lets
            // the rest of the burst in, so one write carries them all (a write on loopback
            // costs several µs of CPU, more than the answer itself); at one request in flight
            // it costs one pass through the scheduler.
            if yielded || out.len() >= WRITE_BUFFER / 2 {
                break;
            }
            yielded = true;
            tokio::task::yield_now().await;
            next = rx.try_recv().ok();
            if next.is_none() {
                break;
            }
        }
        if !out.is_empty() {
            if let Err(e) = out.write_to(&mut wr).await {
                channel.close(&format!("write failed: {e}"));
                return;
            }
        }
    }
    // Closed: send what was queued before the close (e.g. answers during a graceful shutdown).
    while let Ok(cmd) = rx.try_recv() {
        write_one(&channel, &mut out, cmd, max_frame);
    }
    if out.write_to(&mut wr).await.is_ok() {
        let _ = wr.shutdown().await;
    }
}

/// Encodes `cmd` into `out` (its head copied, its body referenced or copied by size). The
/// queued-bytes count drops by its cost here: from now on its bytes are the writer's.
fn write_one(channel: &Channel, out: &mut Outgoing, cmd: RemotingCommand, max_frame: usize) {
    let _dequeued = Dequeued {
        channel,
        cost: queued_cost(&cmd),
    };
    let mark = out.staged.len();
    let problem = match codec::encode_head(&cmd, &mut out.staged) {
        Ok(len) if len <= max_frame => None,
        Ok(len) => {
            // Its head was appended; the answer goes out as SYSTEM_ERROR instead.
            out.staged.truncate(mark);
            Some(CodecError::FrameTooLarge {
                length: len,
                max: max_frame,
            })
        }
        Err(e) => Some(e),
    };
    let cmd = match problem {
        None => cmd,
        Some(e) if cmd.is_response() => {
            tracing::error!(peer = %channel.addr, code = cmd.code, opaque = cmd.opaque, error = %e,
                "response cannot be sent; answering SYSTEM_ERROR instead");
            let mut err = RemotingCommand::response_to(&cmd, response_code::SYSTEM_ERROR)
                .with_remark(format!("response could not be sent: {e}"));
            err.flag = cmd.flag;
            if codec::encode_head(&err, &mut out.staged).is_err() {
                return;
            }
            err
        }
        Some(e) => {
            tracing::warn!(peer = %channel.addr, code = cmd.code, opaque = cmd.opaque, error = %e,
                "request cannot be sent");
            channel.fail(cmd.opaque, RemotingError::Codec(e));
            return;
        }
    };
    out.staged_grew();
    out.push_body(&cmd.body);
    for part in &cmd.body_parts {
        out.push_body(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More buffers than one `writev` takes, into a socket that fills up before its reader
    /// starts: every byte arrives once, in order (partial writes resume at the right byte).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn vectored_writes_split_at_iov_max_and_resume_after_partial_writes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (_rd, mut wr) = client.unwrap().into_split();
        let (mut peer, _) = accepted.unwrap();
        let bufs: Vec<Vec<u8>> = (0..5_000usize)
            .map(|i| (0..(i % 3) * 1_000 + 1).map(|j| (i + j) as u8).collect())
            .collect();
        let want: Vec<u8> = bufs.iter().flatten().copied().collect();
        let reader = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            got
        });
        let slices: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
        write_all_vectored(&mut wr, &slices).await.unwrap();
        wr.shutdown().await.unwrap();
        drop(wr);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want);
    }
}
