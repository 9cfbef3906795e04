//! `ledgermq broker -c broker.conf [-c broker-g1.conf ...]`: load and validate the configs,
//! start the members (one per file: several files run several Raft groups' members in this one
//! process), run until SIGINT/SIGTERM, then shut down gracefully.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::broker::ThreadLayout;
use crate::config::{self, BrokerConfig};

#[derive(Args, Debug)]
pub struct BrokerArgs {
    /// The broker.conf to load (RocketMQ properties). Repeat it to host one member of each of
    /// several Raft groups in this process (multi-Raft): each file is a complete one-member
    /// config with its own brokerName, ports and store paths.
    #[arg(short = 'c', long = "configFile", required = true, num_args = 1)]
    config: Vec<PathBuf>,
    /// Run the broker's work on one thread: every hosted member's Raft node and the client
    /// side share one runtime worker, instead of a thread per member plus client workers (the
    /// flush threads and the blocking pool, which wait on the disk, remain). For
    /// hosts that run more broker processes than they have pairs of CPUs (`fast-try` on a
    /// small machine chooses it that way); on a machine of its own a broker caps its request
    /// work at one core with it.
    #[arg(long = "single-thread")]
    single_thread: bool,
}

impl BrokerArgs {
    /// Worker threads for the process's client-facing runtime (frames, headers, answers,
    /// pulls): the CPUs left once each hosted member's Raft node has its own thread
    /// (`raft/node/thread.rs`), and at least one. More workers than that only wake each
    /// other: on two cores, one worker beside the Raft thread sent 17 % more messages per
    /// second than two (BENCHMARKS.md, "One thread per Raft node"). `TOKIO_WORKER_THREADS`
    /// overrides it (None: let the runtime read it). `--single-thread` means one, whatever
    /// the environment says.
    pub fn client_workers(&self) -> Option<usize> {
        if self.single_thread {
            return Some(1);
        }
        if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
            return None;
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some(cpus.saturating_sub(self.config.len()).max(1))
    }
}

pub async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let mut cfgs = Vec::new();
    for path in &args.config {
        let mut cfg = BrokerConfig::from_file(path, config::unsafe_env_from_process())?;
        cfg.apply_env_defaults()?;
        cfg.prepare_store_dirs()?;
        if cfg.unsafe_ack_before_commit {
            // Validation already refused it unless LEDGERMQ_UNSAFE=1; say it loudly on stderr.
            eprintln!(
                "{}: unsafeAckBeforeCommit=true (LEDGERMQ_UNSAFE=1): this broker acknowledges \
                 sends before a quorum commits them and WILL LOSE acknowledged messages; test \
                 use only",
                path.display()
            );
        }
        cfgs.push(cfg);
    }
    let what = match cfgs.as_slice() {
        [one] => format!(
            "starting broker {} from {}",
            one.broker_name,
            one.origin.display()
        ),
        many => format!(
            "starting {} group members ({})",
            many.len(),
            many.iter()
                .map(|c| c.broker_name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let threads = match args.single_thread {
        true => ThreadLayout::OneThread,
        false => ThreadLayout::RaftThreadPerMember,
    };
    let host = crate::broker::BrokerHost::start(cfgs, threads)
        .await
        .context(what)?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    host.shutdown().await;
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
