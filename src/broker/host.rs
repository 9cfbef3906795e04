//! One `ledgermq broker` process and the group members it hosts (multi-Raft): `-c` once is one
//! broker as RocketMQ runs it; `-c` several times runs one member of each of several Raft
//! groups (`RaftNode00`, `RaftNode01`, ...) in this one process, as a node of a multi-Raft
//! cluster does.
//!
//! Per member (group): everything [`Broker`] owns — its CommitLog, state machine, Raft node,
//! client port, registration as its own `brokerName`. Per process: the runtime, one `/metrics`
//! endpoint (on the first member's `metricsPort`, every series labelled `group`), the log
//! (each member's lines carry a `group` span field) and shutdown.
//!
//! Isolation: a member whose store cannot be opened at start is left out (logged) and the
//! others start; a configuration the members cannot share, or a port in use, stops the whole
//! start (an operator's mistake). Once running, nothing here waits on one member for another.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::context::BrokerContext;
use super::{Broker, BrokerError};
use crate::config::{self, BrokerConfig};

/// How a broker process spreads its work over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThreadLayout {
    /// Each member's Raft node on a thread of its own (`raft/node/thread.rs`), the client side
    /// (frames, headers, answers, pulls) on the process's runtime: a leader's request path
    /// uses the cores the Raft threads leave.
    #[default]
    RaftThreadPerMember,
    /// Every member's Raft node on the process's runtime, which the caller runs with one
    /// worker: the broker's work on one thread (the flush threads and the blocking pool, which
    /// wait on the disk, remain). For a host that runs more broker processes
    /// than it has CPUs to give each two (three nodes on a two-CPU machine, as fast-try does):
    /// there a message's hand-offs between a Raft thread and a client worker only wait for a
    /// CPU another process holds (BENCHMARKS.md, "One thread per broker process").
    OneThread,
}

pub struct BrokerHost {
    members: Vec<Broker>,
    shutdown_tx: watch::Sender<bool>,
    metrics: Option<JoinHandle<()>>,
}

impl BrokerHost {
    /// Checks that the members can share a process, starts them side by side, then the one
    /// `/metrics` listener.
    pub async fn start(
        cfgs: Vec<BrokerConfig>,
        threads: ThreadLayout,
    ) -> Result<BrokerHost, BrokerError> {
        config::check_members(&cfgs)?;
        let first = cfgs.first().cloned().ok_or(BrokerError::NothingStarted)?;
        let starts = cfgs.into_iter().map(|cfg| {
            let span = tracing::info_span!("group", group = %cfg.d_leger_group);
            let origin = cfg.origin.clone();
            async move { (origin, Broker::start_member(cfg, threads).await) }.instrument(span)
        });
        let results = futures::future::join_all(starts).await;
        let mut members = Vec::new();
        let mut setup_error = None;
        for (origin, r) in results {
            match r {
                Ok(b) => members.push(b),
                Err(e) if e.is_setup() => {
                    tracing::error!(conf = %origin.display(), error = %e, "member cannot start");
                    setup_error.get_or_insert(e);
                }
                Err(e) => tracing::error!(
                    conf = %origin.display(),
                    error = %e,
                    "member did not start; the other members of this process run without it"
                ),
            }
        }
        if let Some(e) = setup_error {
            shutdown_all(members).await;
            return Err(e);
        }
        if members.is_empty() {
            return Err(BrokerError::NothingStarted);
        }
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let contexts: Vec<Arc<BrokerContext>> =
            members.iter().map(|m| m.context().clone()).collect();
        let metrics = crate::metrics::start_listener(
            first
                .broker_ip1
                .parse()
                .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])),
            first.metrics_listen(),
            super::metrics::collector(contexts),
            shutdown_rx,
        )
        .await;
        let metrics = match metrics {
            Ok(task) => task,
            Err(e) => {
                // Stop what was started, so the ports are free for a corrected restart.
                shutdown_all(members).await;
                return Err(e.into());
            }
        };
        Ok(BrokerHost {
            members,
            shutdown_tx,
            metrics,
        })
    }

    /// Every running member's context, in `-c` order.
    pub fn contexts(&self) -> Vec<Arc<BrokerContext>> {
        self.members.iter().map(|m| m.context().clone()).collect()
    }

    /// Stops every member side by side (each as a single broker stops), then `/metrics`.
    pub async fn shutdown(self) {
        shutdown_all(self.members).await;
        let _ = self.shutdown_tx.send(true);
        if let Some(t) = self.metrics {
            let _ = t.await;
        }
    }
}

async fn shutdown_all(members: Vec<Broker>) {
    futures::future::join_all(members.into_iter().map(|m| {
        let span = tracing::info_span!("group", group = %m.context().cfg.d_leger_group);
        m.shutdown().instrument(span)
    }))
    .await;
}
