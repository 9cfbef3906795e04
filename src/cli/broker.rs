//! `ledgermq broker -c broker.conf`: load and validate the config, start the node, run until
//! SIGINT/SIGTERM, then shut down gracefully.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::{self, BrokerConfig};

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
        // Validation already refused it unless LEDGERMQ_UNSAFE=1; say it loudly on stderr too.
        eprintln!(
            "{}: unsafeAckBeforeCommit=true (LEDGERMQ_UNSAFE=1): this broker acknowledges sends \
             before a quorum commits them and WILL LOSE acknowledged messages; test use only",
            args.config.display()
        );
    }
    let what = format!(
        "starting broker {} from {}",
        cfg.broker_name,
        args.config.display()
    );
    let broker = crate::broker::Broker::start(cfg).await.context(what)?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    broker.shutdown().await;
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
