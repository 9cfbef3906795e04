//! `ledgermq namesrv [-c namesrv.conf]` (RocketMQ's `mqnamesrv`): serve routes on `listenPort`
//! (default 9876) until SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::NamesrvConfig;

#[derive(Args, Debug)]
pub struct NamesrvArgs {
    /// A namesrv.conf (RocketMQ properties: listenPort, ...).
    #[arg(short = 'c', long = "configFile")]
    config: Option<PathBuf>,
}

pub async fn run(args: NamesrvArgs) -> anyhow::Result<()> {
    let mut cfg = match &args.config {
        Some(p) => NamesrvConfig::from_file(p)?,
        None => NamesrvConfig::default(),
    };
    cfg.apply_env_defaults();
    let addr = format!("0.0.0.0:{}", cfg.listen_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| {
            format!("cannot listen on {addr} (listenPort); is another name server running?")
        })?;
    tracing::info!(%addr, "The Name Server boot success. serializeType=JSON");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let state = std::sync::Arc::new(crate::namesrv::NamesrvState::default());
    // /metrics on every interface, like the name server's own port.
    let metrics = crate::metrics::start_listener(
        std::net::Ipv4Addr::UNSPECIFIED.into(),
        cfg.metrics_listen(),
        crate::namesrv::metrics::collector(state.clone()),
        rx.clone(),
    )
    .await?;
    // With aclEnable=true a name server that cannot read its ACL must not start open.
    let acl = match cfg.acl.acl_enable {
        true => {
            let v = crate::acl::PlainAccessValidator::load(&cfg.acl.acl_file)
                .context("aclEnable=true but the ACL file cannot be used")?;
            let v = std::sync::Arc::new(v);
            tracing::info!(file = %cfg.acl.acl_file.display(),
                "aclEnable=true: broker registrations, topic deletions and KV writes need an admin account");
            tokio::spawn(crate::acl::watcher::run(
                v.clone(),
                crate::acl::watcher::RELOAD_INTERVAL,
                rx.clone(),
            ));
            Some(v)
        }
        false => None,
    };
    let server = tokio::spawn(crate::namesrv::serve_with_acl(listener, state, acl, rx));
    super::broker::wait_for_signal().await;
    tracing::info!("name server shutting down");
    let _ = tx.send(true);
    let _ = server.await;
    if let Some(m) = metrics {
        let _ = m.await;
    }
    Ok(())
}
