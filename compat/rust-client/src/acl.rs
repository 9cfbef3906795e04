//! `--access-key/--secret-key`: sign every request with the client's own
//! `AclClientRPCHook` (RocketMQ ACL 1.0, HmacSHA1), as an application would. Without the
//! flags the client sends unsigned requests, which an ACL broker must refuse.

use std::sync::Arc;

use clap::Args;
use rocketmq_client_rust::{AclClientRPCHook, SessionCredentials};
use rocketmq_transport::api::RPCHook;

#[derive(Args, Clone, Debug, Default)]
pub struct AclArgs {
    /// ACL access key (with --secret-key).
    #[arg(long)]
    pub access_key: Option<String>,
    /// ACL secret key (with --access-key).
    #[arg(long)]
    pub secret_key: Option<String>,
}

impl AclArgs {
    /// The hook to give the producer or consumer builder; `Err` if only one key was given.
    pub fn rpc_hook(&self) -> Result<Option<Arc<dyn RPCHook>>, String> {
        match (&self.access_key, &self.secret_key) {
            (None, None) => Ok(None),
            (Some(ak), Some(sk)) => {
                let credentials = SessionCredentials::with_keys(ak.clone(), sk.clone());
                Ok(Some(Arc::new(AclClientRPCHook::new(credentials))))
            }
            _ => Err("--access-key and --secret-key go together".into()),
        }
    }
}
