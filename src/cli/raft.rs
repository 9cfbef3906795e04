//! `ledgermq raft status|append|read|digest`: drive a Raft group through its peer ports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Subcommand};

use crate::client::RaftAdminClient;
use crate::raft::LogCommand;

#[derive(Args, Debug)]
pub struct RaftArgs {
    #[command(subcommand)]
    cmd: RaftCmd,
}

#[derive(Subcommand, Debug)]
enum RaftCmd {
    /// Print each node's role, term, leader and indices.
    Status {
        /// Peer addresses, `;`-separated, as in dLegerPeers (ids optional: `n0-host:port`).
        #[arg(long)]
        peers: String,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Append raw entries through the leader; prints `ok index=.. value=..` per acknowledged
    /// entry, or a summary with --quiet.
    Append {
        #[arg(long)]
        peers: String,
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Entries in flight at once.
        #[arg(long, default_value_t = 1)]
        inflight: usize,
        /// Value prefix; the value is `<prefix>-<n>`.
        #[arg(long, default_value = "v")]
        prefix: String,
        /// Give up on one entry after this many milliseconds of retries.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        #[arg(long)]
        quiet: bool,
    },
    /// Print committed entries of one node, one line per command: `index term kind payload`.
    Read {
        #[arg(long)]
        peer: String,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 100)]
        max: u32,
    },
    /// Print the CRC of a node's CommitLog bytes for indices from..=upto (JSON).
    Digest {
        #[arg(long)]
        peer: String,
        #[arg(long)]
        from: u64,
        #[arg(long)]
        upto: u64,
    },
}

/// Accepts `n0-127.0.0.1:40911;n1-...` or plain `host:port;host:port`.
pub fn parse_peers(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('-') {
            Some((id, addr)) if !id.contains(':') && addr.contains(':') => addr.to_string(),
            _ => p.to_string(),
        })
        .collect()
}

pub async fn run(args: RaftArgs) -> anyhow::Result<()> {
    match args.cmd {
        RaftCmd::Status { peers, json } => {
            let client = RaftAdminClient::new(parse_peers(&peers));
            if !json {
                super::say(format_args!(
                    "{:<5} {:<22} {:<10} {:>5} {:>7} {:>10} {:>10} {:>10}",
                    "node", "address", "role", "term", "leader", "last", "commit", "applied"
                ));
            }
            for addr in client.peers() {
                match client.status(addr).await {
                    Ok(s) if json => super::say(format_args!("{}", serde_json::to_string(&s)?)),
                    Ok(s) => {
                        let opt =
                            |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
                        super::say(format_args!(
                            "{:<5} {:<22} {:<10} {:>5} {:>7} {:>10} {:>10} {:>10}",
                            format!("n{}", s.id),
                            s.addr,
                            s.state,
                            s.term,
                            s.leader
                                .map(|l| format!("n{l}"))
                                .unwrap_or_else(|| "-".into()),
                            opt(s.last_index),
                            opt(s.committed),
                            opt(s.applied)
                        ));
                    }
                    Err(e) if json => super::say(format_args!(
                        "{}",
                        serde_json::json!({"addr": addr, "error": e.to_string()})
                    )),
                    Err(e) => super::say(format_args!("{:<5} {:<22} DOWN ({e})", "?", addr)),
                }
            }
            Ok(())
        }
        RaftCmd::Append {
            peers,
            count,
            inflight,
            prefix,
            timeout_ms,
            quiet,
        } => {
            let client = Arc::new(RaftAdminClient::new(parse_peers(&peers)));
            let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..inflight.max(1) {
                let client = client.clone();
                let next = next.clone();
                let prefix = prefix.clone();
                tasks.push(tokio::spawn(async move {
                    let mut failed = 0u64;
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if n >= count {
                            return failed;
                        }
                        let value = format!("{prefix}-{n}");
                        let cmd = LogCommand::Raw(Bytes::from(value.clone()));
                        match client.write(cmd, Duration::from_millis(timeout_ms)).await {
                            Ok(ok) if !quiet => super::say(format_args!(
                                "ok index={} term={} value={value}",
                                ok.log_id.index, ok.log_id.leader_id.term
                            )),
                            Ok(_) => {}
                            Err(e) => {
                                failed += 1;
                                super::say(format_args!("fail value={value} error={e}"));
                            }
                        }
                    }
                }));
            }
            let mut failed = 0;
            for t in tasks {
                failed += t.await.context("append task")?;
            }
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "appended {} of {count} in {secs:.2}s ({:.0}/s), {failed} failed",
                count - failed,
                (count - failed) as f64 / secs.max(1e-9)
            );
            if failed > 0 {
                anyhow::bail!("{failed} appends were not acknowledged");
            }
            Ok(())
        }
        RaftCmd::Read { peer, from, max } => {
            let client = RaftAdminClient::new(vec![peer.clone()]);
            for e in client.read(&peer, from, max).await? {
                for (kind, payload) in &e.items {
                    super::say(format_args!(
                        "{} {} {} {}",
                        e.log_id.index,
                        e.log_id.leader_id.term,
                        kind,
                        String::from_utf8_lossy(payload)
                    ));
                }
                if e.items.is_empty() {
                    super::say(format_args!(
                        "{} {} {}",
                        e.log_id.index, e.log_id.leader_id.term, e.kind
                    ));
                }
            }
            Ok(())
        }
        RaftCmd::Digest { peer, from, upto } => {
            let client = RaftAdminClient::new(vec![peer.clone()]);
            let d = client.digest(&peer, from, upto).await?;
            super::say(format_args!("{}", serde_json::to_string(&d)?));
            Ok(())
        }
    }
}
