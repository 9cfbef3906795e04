//! `ledgermq dashboard --namesrv ADDR[;ADDR] [--listen 127.0.0.1:8080] [--users FILE]
//! [--accessKey AK --secretKey SK] [--raftPeerSecret S]`: the web
//! dashboard, until SIGINT/SIGTERM. `--hash-password` turns a password read from stdin into a
//! line for the users file.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::credentials::CredentialArgs;
use super::say;
use crate::config::PeerSecret;
use crate::dashboard::{Dashboard, DashboardAcl, DashboardConfig};

#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// Name server address list, e.g. '192.168.0.1:9876;192.168.0.2:9876'.
    #[arg(
        short = 'n',
        long = "namesrv",
        visible_alias = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    namesrv: String,
    /// Where to serve the pages. Any address other than loopback needs --users.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Users file: `name = argon2-hash [admin]` per line; turns on the login.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Read a password from stdin, print its argon2 hash for the users file, and exit.
    #[arg(long)]
    hash_password: bool,
    /// Brokers with aclEnable=true: the account to sign requests with.
    #[command(flatten)]
    credentials: CredentialArgs,
    /// Brokers with aclEnable=true: their raftPeerSecret, for the Raft page.
    #[arg(
        long = "raftPeerSecret",
        env = "LEDGERMQ_RAFT_PEER_SECRET",
        hide_env_values = true
    )]
    raft_peer_secret: Option<String>,
}

pub async fn run(args: DashboardArgs) -> anyhow::Result<()> {
    if args.hash_password {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let password = line.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            bail!("the password read from stdin is empty");
        }
        say(crate::dashboard::hash_password(password)?);
        return Ok(());
    }
    let peer_secret = match args.raft_peer_secret {
        Some(s) => Some(PeerSecret::new(s).map_err(|e| anyhow::anyhow!("--raftPeerSecret: {e}"))?),
        None => None,
    };
    let acl = DashboardAcl {
        credentials: args.credentials.credentials()?,
        peer_secret,
    };
    let cfg = DashboardConfig {
        namesrv_addr: args.namesrv.clone(),
        listen: args.listen,
        users_file: args.users,
    };
    let dashboard = Dashboard::start_with_acl(cfg, acl)
        .await
        .context("starting the dashboard")?;
    eprintln!(
        "LedgerMQ dashboard: open http://{} (name server {})",
        dashboard.local_addr(),
        args.namesrv
    );
    super::broker::wait_for_signal().await;
    tracing::info!("dashboard shutting down");
    dashboard.shutdown().await;
    Ok(())
}
