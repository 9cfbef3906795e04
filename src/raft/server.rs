//! The peer transport, server side: accepts peer connections and answers Raft RPCs, pre-votes,
//! leadership transfer and the admin/test requests.
//!
//! Each request is handled in its own task and answered by id, so a slow snapshot install never
//! holds up a heartbeat. A malformed frame closes that connection only, with a log line naming
//! the peer; everyone else keeps being served.

use std::net::SocketAddr;
use std::sync::Arc;

use openraft::raft::AppendEntriesResponse;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::election;
use super::node::NodeCore;
use super::rpc::{encode_frame, read_frame, Frame, FrameError, PeerRequest, PeerResponse};

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    core: Arc<NodeCore>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, peer, core.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "peer accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    core: Arc<NodeCore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (r, w) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    let writer = tokio::spawn(async move {
        let mut w = BufWriter::with_capacity(256 * 1024, w);
        while let Some(buf) = rx.recv().await {
            if w.write_all(&buf).await.is_err() {
                return;
            }
            // Coalesce answers that are already waiting into one flush.
            while let Ok(more) = rx.try_recv() {
                if w.write_all(&more).await.is_err() {
                    return;
                }
            }
            if w.flush().await.is_err() {
                return;
            }
        }
    });
    let mut r = BufReader::with_capacity(256 * 1024, r);
    loop {
        let frame = tokio::select! {
            f = read_frame::<_, PeerRequest>(&mut r) => f,
            _ = shutdown.changed() => break,
        };
        match frame {
            Ok(Frame { id, body }) => {
                let core = core.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let resp = handle(&core, body).await;
                    respond(&tx, id, resp).await;
                });
            }
            Err(FrameError::Closed) => break,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "bad frame from peer; closing that connection");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

async fn respond(tx: &mpsc::Sender<Vec<u8>>, id: u64, body: PeerResponse) {
    let mut buf = Vec::new();
    match encode_frame(&Frame { id, body }, &mut buf) {
        Ok(()) => {
            let _ = tx.send(buf).await;
        }
        Err(e) => tracing::error!(error = %e, "cannot encode peer response"),
    }
}

async fn handle(core: &NodeCore, req: PeerRequest) -> PeerResponse {
    match req {
        PeerRequest::AppendEntries(rpc) => {
            core.append_stats.count(rpc.entries.is_empty());
            let res = core.raft.append_entries(rpc).await;
            if matches!(
                res,
                Ok(AppendEntriesResponse::Success
                    | AppendEntriesResponse::PartialSuccess(_)
                    | AppendEntriesResponse::Conflict)
            ) {
                core.contact.touch();
            }
            PeerResponse::AppendEntries(res)
        }
        PeerRequest::Vote(rpc) => PeerResponse::Vote(core.raft.vote(rpc).await),
        PeerRequest::InstallSnapshot(rpc) => {
            let res = core.raft.install_snapshot(rpc).await;
            if res.is_ok() {
                core.contact.touch();
            }
            PeerResponse::InstallSnapshot(res)
        }
        PeerRequest::PreVote(req) => PeerResponse::PreVote(election::handle_prevote(core, &req)),
        PeerRequest::TimeoutNow { from, .. } => {
            PeerResponse::TimeoutNow(election::handle_timeout_now(core, from).await)
        }
        PeerRequest::Write(cmd) => PeerResponse::Write(core.write(cmd).await),
        PeerRequest::Status => PeerResponse::Status(core.status()),
        PeerRequest::Read { from, max } => {
            PeerResponse::Read(core.read_committed(from, max as usize))
        }
        PeerRequest::Digest { from, upto } => PeerResponse::Digest(core.digest(from, upto)),
        PeerRequest::JoinLearner { id, addr } => {
            PeerResponse::JoinLearner(core.admit_learner(id, addr).await)
        }
    }
}
