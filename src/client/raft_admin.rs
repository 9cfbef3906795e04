//! A client of the peer port's admin requests: status, raw writes, committed reads and log
//! digests. `ledgermq raft ...`, the cluster tests and `bench` use it to drive a group without
//! the RocketMQ protocol.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::PeerSecret;
use crate::raft::network::{PeerClient, TransportError};
use crate::raft::rpc::{NodeStatus, PeerRequest, PeerResponse, ReadEntry, WriteError, WriteOk};
use crate::raft::LogCommand;
use crate::store::LogDigest;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{0}")]
    Remote(String),
    #[error("unexpected answer from {0}")]
    Unexpected(String),
}

/// Talks to the nodes of one group by their peer addresses.
pub struct RaftAdminClient {
    peers: Vec<String>,
    /// `raftPeerSecret` to prove on each connection (nodes with `aclEnable=true` need it).
    secret: Option<PeerSecret>,
    clients: Mutex<HashMap<String, PeerClient>>,
    leader: Mutex<Option<String>>,
    call_timeout: Duration,
}

impl RaftAdminClient {
    pub fn new(peers: Vec<String>) -> RaftAdminClient {
        RaftAdminClient {
            peers,
            secret: None,
            clients: Mutex::new(HashMap::new()),
            leader: Mutex::new(None),
            call_timeout: Duration::from_secs(5),
        }
    }

    /// Bounds each call. Observers that poll many nodes use a short one so that a paused
    /// (SIGSTOPped) node, which keeps its socket open but never answers, reads as down quickly.
    pub fn with_call_timeout(mut self, call_timeout: Duration) -> RaftAdminClient {
        self.call_timeout = call_timeout;
        self
    }

    /// Proves `secret` (`raftPeerSecret`) to the nodes; needed when they run with ACL on.
    pub fn with_peer_secret(mut self, secret: Option<PeerSecret>) -> RaftAdminClient {
        self.secret = secret;
        self
    }

    pub fn peers(&self) -> &[String] {
        &self.peers
    }

    fn client(&self, addr: &str) -> PeerClient {
        let mut clients = self.clients.lock();
        clients
            .entry(addr.to_string())
            .or_insert_with(|| {
                let idx = self
                    .peers
                    .iter()
                    .position(|p| p == addr)
                    .unwrap_or(usize::MAX);
                PeerClient::spawn_with_secret(
                    idx as u64,
                    addr.to_string(),
                    None,
                    self.secret.clone(),
                )
            })
            .clone()
    }

    pub async fn status(&self, addr: &str) -> Result<NodeStatus, AdminError> {
        match self
            .client(addr)
            .call(PeerRequest::Status, self.call_timeout)
            .await?
        {
            PeerResponse::Status(s) => Ok(s),
            _ => Err(AdminError::Unexpected(addr.into())),
        }
    }

    /// The leader's id and address, if some node reports one and it answers as leader.
    pub async fn find_leader(&self) -> Option<NodeStatus> {
        for addr in &self.peers {
            if let Ok(s) = self.status(addr).await {
                if s.state == "Leader" {
                    *self.leader.lock() = Some(addr.clone());
                    return Some(s);
                }
            }
        }
        None
    }

    /// Writes `cmd` through the leader, following leader hints and retrying retryable errors
    /// until `deadline` passes. A retried write may be applied twice (at-least-once).
    pub async fn write(&self, cmd: LogCommand, deadline: Duration) -> Result<WriteOk, AdminError> {
        let until = Instant::now() + deadline;
        let mut next = 0usize;
        let mut last_err = AdminError::Remote("no node answered".into());
        while Instant::now() < until {
            let addr = match self.leader.lock().clone() {
                Some(a) => a,
                None => {
                    next = (next + 1) % self.peers.len().max(1);
                    match self.peers.get(next) {
                        Some(a) => a.clone(),
                        None => return Err(AdminError::Remote("no peers configured".into())),
                    }
                }
            };
            match self
                .client(&addr)
                .call(PeerRequest::Write(cmd.clone()), self.call_timeout)
                .await
            {
                Ok(PeerResponse::Write(Ok(ok))) => return Ok(ok),
                Ok(PeerResponse::Write(Err(WriteError::NotLeader { leader }))) => {
                    let hinted = leader
                        .map(|(_, a)| a)
                        .filter(|a| *a != addr && self.peers.contains(a));
                    if hinted.is_none() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    *self.leader.lock() = hinted;
                    last_err = AdminError::Write(WriteError::NotLeader { leader: None });
                }
                Ok(PeerResponse::Write(Err(e))) if e.is_retryable() => {
                    *self.leader.lock() = None;
                    last_err = e.into();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(PeerResponse::Write(Err(e))) => return Err(e.into()),
                Ok(_) => return Err(AdminError::Unexpected(addr)),
                Err(e) => {
                    *self.leader.lock() = None;
                    last_err = e.into();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        Err(last_err)
    }

    /// Committed entries of the node at `addr` from index `from`, at most `max`.
    pub async fn read(
        &self,
        addr: &str,
        from: u64,
        max: u32,
    ) -> Result<Vec<ReadEntry>, AdminError> {
        match self
            .client(addr)
            .call(PeerRequest::Read { from, max }, self.call_timeout)
            .await?
        {
            PeerResponse::Read(r) => r.map_err(AdminError::Remote),
            _ => Err(AdminError::Unexpected(addr.into())),
        }
    }

    /// Every committed entry of the node at `addr` from `from` to its applied index.
    pub async fn read_all(&self, addr: &str, from: u64) -> Result<Vec<ReadEntry>, AdminError> {
        let mut out: Vec<ReadEntry> = Vec::new();
        let mut at = from;
        loop {
            let batch = self.read(addr, at, 4096).await?;
            let Some(last) = batch.last() else {
                return Ok(out);
            };
            at = last.log_id.index + 1;
            out.extend(batch);
        }
    }

    pub async fn digest(&self, addr: &str, from: u64, upto: u64) -> Result<LogDigest, AdminError> {
        match self
            .client(addr)
            .call(PeerRequest::Digest { from, upto }, self.call_timeout)
            .await?
        {
            PeerResponse::Digest(r) => r.map_err(AdminError::Remote),
            _ => Err(AdminError::Unexpected(addr.into())),
        }
    }
}
