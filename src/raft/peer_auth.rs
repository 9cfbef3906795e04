//! Peer authentication: with `raftPeerSecret` set (required by `aclEnable=true`), a peer
//! connection serves nothing — no AppendEntries, vote, snapshot, write or admin request — until
//! the connecting side has proved it knows the secret (invariant 7: with ACL on, no request
//! without a valid credential changes state, on the Raft peer port either).
//!
//! The handshake is a mutual challenge-response, the first two exchanges on a connection:
//!
//! ```text
//! client → AuthHello { client_nonce }
//! server → AuthChallenge { server_nonce, server_proof = HMAC(secret, "server" | cn | sn) }
//! client    checks server_proof (a process without the secret cannot pose as a peer either)
//! client → AuthProof { proof = HMAC(secret, "client" | cn | sn) }
//! server → AuthResult(true), or false and closes the connection
//! ```
//!
//! Fresh random nonces on both sides make a recorded handshake useless for a replay, and the
//! secret itself never crosses the wire. Any other request before the proof closes the
//! connection without an answer. The HMAC is SHA-1 based, as RocketMQ's request signature; one
//! per connection, so it costs nothing on the replication path. (Confidentiality and the
//! integrity of later frames are out of scope, as for RocketMQ's own ports: use a private
//! network or a tunnel for that.)

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use tokio::io::{AsyncRead, AsyncWrite};

use super::rpc::{read_frame, write_frame, Frame, FrameError, PeerRequest, PeerResponse};
use crate::config::PeerSecret;

/// Bytes of each nonce.
pub const NONCE_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum PeerAuthError {
    #[error("peer handshake: {0}")]
    Frame(#[from] FrameError),
    #[error("peer handshake: the peer is not configured with raftPeerSecret, or with another one")]
    ServerNotProven,
    #[error("peer handshake: the peer refused our raftPeerSecret (the nodes' secrets differ)")]
    Refused,
    #[error("peer handshake: unexpected answer {0}")]
    Unexpected(&'static str),
}

fn proof(secret: &PeerSecret, role: &[u8], client_nonce: &[u8], server_nonce: &[u8]) -> Hmac<Sha1> {
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.expose()) {
        Ok(m) => m,
        Err(e) => unreachable!("HMAC accepts keys of any length: {e}"),
    };
    mac.update(b"ledgermq-raft-peer-");
    mac.update(role);
    mac.update(client_nonce);
    mac.update(server_nonce);
    mac
}

fn nonce() -> Vec<u8> {
    let mut n = vec![0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut n);
    n
}

/// The connecting side: proves the secret on a fresh connection, and checks the server knows
/// it too. Frame ids 0 are used; the connection's own ids start at 1.
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &PeerSecret,
) -> Result<(), PeerAuthError> {
    let client_nonce = nonce();
    let hello = PeerRequest::AuthHello {
        client_nonce: client_nonce.clone(),
    };
    write_frame(stream, &Frame { id: 0, body: hello }).await?;
    let (server_nonce, server_proof) = match read_frame::<_, PeerResponse>(stream).await?.body {
        PeerResponse::AuthChallenge {
            server_nonce,
            server_proof,
        } => (server_nonce, server_proof),
        _ => return Err(PeerAuthError::Unexpected("to AuthHello")),
    };
    if server_nonce.len() != NONCE_LEN
        || proof(secret, b"server", &client_nonce, &server_nonce)
            .verify_slice(&server_proof)
            .is_err()
    {
        return Err(PeerAuthError::ServerNotProven);
    }
    let mine = proof(secret, b"client", &client_nonce, &server_nonce)
        .finalize()
        .into_bytes()
        .to_vec();
    write_frame(
        stream,
        &Frame {
            id: 0,
            body: PeerRequest::AuthProof { proof: mine },
        },
    )
    .await?;
    match read_frame::<_, PeerResponse>(stream).await?.body {
        PeerResponse::AuthResult(true) => Ok(()),
        PeerResponse::AuthResult(false) => Err(PeerAuthError::Refused),
        _ => Err(PeerAuthError::Unexpected("to AuthProof")),
    }
}

/// The accepting side's state for one connection.
#[derive(Debug)]
pub struct ServerAuth {
    secret: Option<PeerSecret>,
    /// The nonces of the challenge sent, until the proof arrives.
    pending: Option<(Vec<u8>, Vec<u8>)>,
    authenticated: bool,
}

/// What the server does with one request.
#[derive(Debug)]
pub enum Verdict {
    /// Serve it.
    Serve,
    /// Answer this (a handshake step) and keep reading.
    Answer(PeerResponse),
    /// Answer this, if anything, then close the connection.
    Close(Option<PeerResponse>, &'static str),
}

impl ServerAuth {
    /// Without a secret every request is served, as before ACL.
    pub fn new(secret: Option<PeerSecret>) -> ServerAuth {
        ServerAuth {
            authenticated: secret.is_none(),
            secret,
            pending: None,
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Decides what to do with `req` on this connection.
    pub fn check(&mut self, req: &PeerRequest) -> Verdict {
        match req {
            PeerRequest::AuthHello { client_nonce } => {
                let Some(secret) = &self.secret else {
                    // Nothing to prove with; an empty proof tells the client so.
                    return Verdict::Answer(PeerResponse::AuthChallenge {
                        server_nonce: Vec::new(),
                        server_proof: Vec::new(),
                    });
                };
                if client_nonce.len() != NONCE_LEN {
                    return Verdict::Close(None, "malformed AuthHello");
                }
                let server_nonce = nonce();
                let server_proof = proof(secret, b"server", client_nonce, &server_nonce)
                    .finalize()
                    .into_bytes()
                    .to_vec();
                self.pending = Some((client_nonce.clone(), server_nonce.clone()));
                Verdict::Answer(PeerResponse::AuthChallenge {
                    server_nonce,
                    server_proof,
                })
            }
            PeerRequest::AuthProof { proof: sent } => {
                let (Some(secret), Some((cn, sn))) = (&self.secret, self.pending.take()) else {
                    return Verdict::Close(
                        Some(PeerResponse::AuthResult(false)),
                        "AuthProof without AuthHello",
                    );
                };
                if proof(secret, b"client", &cn, &sn)
                    .verify_slice(sent)
                    .is_ok()
                {
                    self.authenticated = true;
                    Verdict::Answer(PeerResponse::AuthResult(true))
                } else {
                    Verdict::Close(
                        Some(PeerResponse::AuthResult(false)),
                        "wrong raftPeerSecret proof",
                    )
                }
            }
            _ if self.authenticated => Verdict::Serve,
            _ => Verdict::Close(None, "request before the raftPeerSecret handshake"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> PeerSecret {
        PeerSecret::new(s).unwrap()
    }

    /// Runs the server side of the handshake on `server` until it closes or authenticates.
    async fn serve_handshake(
        mut server: tokio::io::DuplexStream,
        mut auth: ServerAuth,
    ) -> (bool, tokio::io::DuplexStream) {
        loop {
            let Ok(frame) = read_frame::<_, PeerRequest>(&mut server).await else {
                return (false, server);
            };
            match auth.check(&frame.body) {
                Verdict::Serve => return (true, server),
                Verdict::Answer(resp) => {
                    write_frame(
                        &mut server,
                        &Frame {
                            id: frame.id,
                            body: resp,
                        },
                    )
                    .await
                    .unwrap();
                    if auth.is_authenticated() {
                        return (true, server);
                    }
                }
                Verdict::Close(resp, _) => {
                    if let Some(resp) = resp {
                        let _ = write_frame(
                            &mut server,
                            &Frame {
                                id: frame.id,
                                body: resp,
                            },
                        )
                        .await;
                    }
                    return (false, server);
                }
            }
        }
    }

    #[tokio::test]
    async fn the_same_secret_authenticates_both_ways() {
        let (mut c, s) = tokio::io::duplex(4096);
        let server = tokio::spawn(serve_handshake(
            s,
            ServerAuth::new(Some(secret("shared-secret"))),
        ));
        client_handshake(&mut c, &secret("shared-secret"))
            .await
            .unwrap();
        assert!(server.await.unwrap().0);
    }

    #[tokio::test]
    async fn different_secrets_fail_on_both_sides() {
        let (mut c, s) = tokio::io::duplex(4096);
        let server = tokio::spawn(serve_handshake(
            s,
            ServerAuth::new(Some(secret("shared-secret"))),
        ));
        let e = client_handshake(&mut c, &secret("other-secret"))
            .await
            .unwrap_err();
        // The client sees first that the server does not know *its* secret.
        assert!(matches!(e, PeerAuthError::ServerNotProven), "{e}");
        drop(c);
        assert!(!server.await.unwrap().0);
    }

    #[test]
    fn unauthenticated_raft_requests_close_the_connection() {
        let mut auth = ServerAuth::new(Some(secret("shared-secret")));
        for req in [
            PeerRequest::Status,
            PeerRequest::TimeoutNow { from: 1, term: 9 },
        ] {
            assert!(matches!(auth.check(&req), Verdict::Close(None, _)));
        }
        // A proof without a challenge, or a wrong one, is refused.
        let bogus = PeerRequest::AuthProof { proof: vec![0; 20] };
        assert!(matches!(
            auth.check(&bogus),
            Verdict::Close(Some(PeerResponse::AuthResult(false)), _)
        ));
        let hello = PeerRequest::AuthHello {
            client_nonce: vec![7; NONCE_LEN],
        };
        assert!(matches!(auth.check(&hello), Verdict::Answer(_)));
        assert!(matches!(
            auth.check(&bogus),
            Verdict::Close(Some(PeerResponse::AuthResult(false)), _)
        ));
        assert!(!auth.is_authenticated());
        // Without a secret configured, everything is served as before.
        assert!(matches!(
            ServerAuth::new(None).check(&PeerRequest::Status),
            Verdict::Serve
        ));
    }
}
