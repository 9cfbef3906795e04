//! The peer transport, server side: accepts peer connections and answers Raft RPCs, pre-votes,
//! leadership transfer and the admin/test requests.
//!
//! AppendEntries are answered in order on the connection's own task; every other request is
//! handled in its own task and answered by id, so a slow snapshot install never holds up a
//! heartbeat. A malformed frame closes that connection only, with a log line naming
//! the peer; everyone else keeps being served. With `raftPeerSecret`, a connection is served
//! only after the `peer_auth` handshake.

use std::net::SocketAddr;
use std::sync::Arc;

use openraft::raft::AppendEntriesResponse;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex};

use super::election;
use super::node::NodeCore;
use super::peer_auth::{ServerAuth, Verdict};
use super::rpc::{encode_frame, read_frame, Frame, FrameError, PeerRequest, PeerResponse};
use crate::config::PeerSecret;

/// Accepts connections until `shutdown` turns true.
/// With `secret`, every connection must pass the `raftPeerSecret` handshake first.
pub async fn serve(
    listener: TcpListener,
    core: Arc<NodeCore>,
    secret: Option<PeerSecret>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, peer, core.clone(), secret.clone(), shutdown.clone()));
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
    secret: Option<PeerSecret>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut auth = ServerAuth::new(secret);
    let (r, w) = stream.into_split();
    let w: Responder = Arc::new(Mutex::new(w));
    // Small on purpose: a frame larger than the buffer is read straight into its own
    // allocation (tokio's `BufReader` bypasses an empty buffer for large reads), so an
    // AppendEntries body is not copied through the buffer first.
    let mut r = BufReader::with_capacity(8 * 1024, r);
    loop {
        let frame = tokio::select! {
            f = read_frame::<_, PeerRequest>(&mut r) => f,
            _ = shutdown.changed() => break,
        };
        let Frame { id, body } = match frame {
            Ok(f) => f,
            Err(FrameError::Closed) => break,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "bad frame from peer; closing that connection");
                break;
            }
        };
        // With raftPeerSecret set, nothing is served before the handshake (peer_auth).
        match auth.check(&body) {
            Verdict::Serve => {}
            Verdict::Answer(resp) => {
                respond(&w, id, resp).await;
                continue;
            }
            Verdict::Close(resp, why) => {
                if let Some(resp) = resp {
                    respond(&w, id, resp).await;
                }
                tracing::warn!(%peer, reason = why,
                    "peer not authenticated (raftPeerSecret); closing that connection");
                break;
            }
        }
        // The leader keeps one AppendEntries in flight per follower, and openraft's core
        // handles them one at a time anyway, so they are answered right here: a task per
        // request plus a writer task cost two extra task switches per replication round,
        // a measurable share of a follower's CPU under load.
        if matches!(body, PeerRequest::AppendEntries(_)) {
            let resp = handle(&core, body).await;
            respond(&w, id, resp).await;
        } else {
            let core = core.clone();
            let w = w.clone();
            tokio::spawn(async move {
                let resp = handle(&core, body).await;
                respond(&w, id, resp).await;
            });
        }
    }
}

/// The write half of a peer connection, shared by the answers to its requests.
type Responder = Arc<Mutex<OwnedWriteHalf>>;

async fn respond(w: &Responder, id: u64, body: PeerResponse) {
    let mut buf = Vec::new();
    match encode_frame(&Frame { id, body }, &mut buf) {
        Ok(()) => {
            // A failed write means the connection is gone; the reader sees it next.
            let _ = w.lock().await.write_all(&buf).await;
        }
        Err(e) => tracing::error!(error = %e, "cannot encode peer response"),
    }
}

async fn handle(core: &NodeCore, req: PeerRequest) -> PeerResponse {
    match req {
        PeerRequest::AppendEntries(rpc) => {
            core.append_stats.count(rpc.entries.len());
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
        // The wire carries these errors as text; they are typed up to here.
        PeerRequest::Read { from, max } => PeerResponse::Read(
            core.read_committed(from, max as usize)
                .map_err(|e| e.to_string()),
        ),
        PeerRequest::Digest { from, upto } => {
            PeerResponse::Digest(core.digest(from, upto).map_err(|e| e.to_string()))
        }
        // Answered by `ServerAuth` before dispatch; never reaches here.
        PeerRequest::AuthHello { .. } | PeerRequest::AuthProof { .. } => {
            PeerResponse::AuthResult(false)
        }
        PeerRequest::JoinLearner { id, addr } => PeerResponse::JoinLearner(
            core.admit_learner(id, addr)
                .await
                .map_err(|e| e.to_string()),
        ),
    }
}
