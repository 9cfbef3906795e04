//! `ledgermq status -c FILE...`: the status table of a cluster given by its broker configs —
//! per node its RocketMQ role, Raft state, term, leader, last/commit/applied index, addresses
//! and the broker id it is registered with. `--wait N` first waits up to N seconds until every
//! broker group has a leader registered as master and every node follows a leader (what
//! `fast-try start` waits for).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;

use super::cluster::{is_whole, table, NodeSpec, Observer};
use super::credentials::CredentialArgs;
use super::say;
use crate::client::MqAdmin;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Broker config files of the cluster (e.g. cluster-conf/dledger/*.conf).
    #[arg(short = 'c', long = "conf", required = true, num_args = 1..)]
    confs: Vec<PathBuf>,
    /// Name server(s), `;`-separated, to show registrations (default: NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr", env = "NAMESRV_ADDR")]
    namesrv: Option<String>,
    /// Wait up to this many seconds until every broker group has a registered master and
    /// every node follows a leader; exit 1 with the table if that does not happen.
    #[arg(long, value_name = "SECS")]
    wait: Option<u64>,
    /// One JSON object per node instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    credentials: CredentialArgs,
}

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let specs = NodeSpec::load_all(&args.confs)?;
    let admin = match &args.namesrv {
        Some(n) => Some(MqAdmin::new(args.credentials.options(n.clone())?)?),
        None => None,
    };
    let obs = Observer::new(&specs, admin);
    let deadline = args.wait.map(|s| Instant::now() + Duration::from_secs(s));
    let views = loop {
        let views = obs.observe(&specs).await;
        match deadline {
            Some(d) if !is_whole(&views, obs.has_namesrv()) && Instant::now() < d => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => break views,
        }
    };
    if args.json {
        for v in &views {
            say(serde_json::to_string(v)?);
        }
    } else {
        for line in table(&views) {
            say(line);
        }
    }
    if let Some(secs) = args.wait {
        if !is_whole(&views, obs.has_namesrv()) {
            bail!("after {secs} s, not every broker group has a registered master with every node following it");
        }
    }
    Ok(())
}
