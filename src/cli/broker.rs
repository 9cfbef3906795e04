//! `ledgermq broker -c broker.conf`: load and validate the config, start the node, run until
//! SIGINT/SIGTERM, then shut down gracefully.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::config::{self, BrokerConfig};
use crate::raft::{RaftNode, RaftNodeConfig};

#[derive(Args, Debug)]
pub struct BrokerArgs {
    /// The broker.conf to load (RocketMQ properties).
    #[arg(short = 'c', long = "configFile")]
    config: PathBuf,
}

pub async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let mut cfg = BrokerConfig::from_file(&args.config, config::unsafe_env_from_process())?;
    cfg.apply_env_defaults()?;
    cfg.prepare_store_dirs()?;
    if cfg.unsafe_ack_before_commit {
        bail!(
            "{}: unsafeAckBeforeCommit is not available in this build",
            args.config.display()
        );
    }
    let node_cfg = RaftNodeConfig::from_broker_config(&cfg);
    let node = RaftNode::start(node_cfg).await.with_context(|| {
        format!(
            "starting broker {} from {}",
            cfg.broker_name,
            args.config.display()
        )
    })?;
    tracing::info!(
        cluster = %cfg.broker_cluster_name,
        broker = %cfg.broker_name,
        group = %cfg.d_leger_group,
        node = node.core().id,
        raft = %node.core().addr,
        "broker started"
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    node.shutdown().await;
    Ok(())
}

pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the broker");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
