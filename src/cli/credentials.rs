//! `--accessKey/--secretKey`: the ACL account a tool signs its requests with, as RocketMQ's
//! `mqadmin -ak/-sk` (flags) or `conf/tools.yml` (here: the `LEDGERMQ_ACCESS_KEY` and
//! `LEDGERMQ_SECRET_KEY` environment variables, which keep the secret out of `ps`).

use anyhow::bail;
use clap::Args;

use crate::acl::SessionCredentials;
use crate::client::ClientOptions;

#[derive(Args, Debug, Clone, Default)]
pub struct CredentialArgs {
    /// ACL access key to sign requests with (brokers with aclEnable=true).
    #[arg(
        long = "accessKey",
        visible_alias = "ak",
        env = "LEDGERMQ_ACCESS_KEY",
        global = true
    )]
    pub access_key: Option<String>,
    /// ACL secret key; prefer the environment variable over the flag.
    #[arg(
        long = "secretKey",
        visible_alias = "sk",
        env = "LEDGERMQ_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_key: Option<String>,
}

impl CredentialArgs {
    /// Both keys or neither; one alone is a mistake worth saying.
    pub fn credentials(&self) -> anyhow::Result<Option<SessionCredentials>> {
        match (&self.access_key, &self.secret_key) {
            (None, None) => Ok(None),
            (Some(ak), Some(sk)) => Ok(Some(SessionCredentials::new(ak.clone(), sk.clone()))),
            (Some(_), None) => bail!("--accessKey needs --secretKey (or LEDGERMQ_SECRET_KEY)"),
            (None, Some(_)) => bail!("--secretKey needs --accessKey (or LEDGERMQ_ACCESS_KEY)"),
        }
    }

    /// Client options for `namesrv` that sign with these credentials, if any.
    pub fn options(&self, namesrv: impl Into<String>) -> anyhow::Result<ClientOptions> {
        Ok(ClientOptions::new(namesrv).with_credentials(self.credentials()?))
    }
}
