//! The ACL keys of `broker.conf` and `namesrv.conf`: `aclEnable` (RocketMQ's),
//! `rocketmq.acl.plain.file` (RocketMQ's system property, here also a file key) and
//! `raftPeerSecret` (LedgerMQ's: the shared secret Raft peers prove to each other).
//!
//! `rocketmq.acl.plain.file` defaults to `plain_acl.yml`; a relative path is taken from the
//! directory of the config file that names it, so a broker.conf in an install's `conf/` finds
//! `conf/plain_acl.yml` as RocketMQ does (`$ROCKETMQ_HOME/conf/plain_acl.yml`), and a layout
//! directory carries its own file.

use std::path::{Path, PathBuf};

/// `raftPeerSecret`: kept out of `Debug`, logs and `getBrokerConfig`.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerSecret(String);

impl PeerSecret {
    /// Shorter secrets are refused: the handshake is only as strong as the secret.
    pub const MIN_LEN: usize = 8;

    pub fn new(secret: impl Into<String>) -> Result<PeerSecret, String> {
        let s: String = secret.into();
        if s.len() < Self::MIN_LEN {
            return Err(format!(
                "the secret must be at least {} characters",
                Self::MIN_LEN
            ));
        }
        Ok(PeerSecret(s))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for PeerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerSecret(<redacted>)")
    }
}

/// An ACL account a process signs its own requests with (`namesrvAccessKey`/
/// `namesrvSecretKey`: the broker's registration with ACL name servers). `Debug` redacts the
/// secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountKeys {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for AccountKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountKeys({}, <redacted>)", self.access_key)
    }
}

/// The ACL settings of one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclSettings {
    /// `aclEnable`: check every request against [`Self::acl_file`].
    pub acl_enable: bool,
    /// `rocketmq.acl.plain.file`, resolved (see the module comment).
    pub acl_file: PathBuf,
    /// `raftPeerSecret` (broker only); required when `aclEnable=true`.
    pub raft_peer_secret: Option<PeerSecret>,
    /// `namesrvAccessKey` + `namesrvSecretKey` (broker only): the account the broker signs its
    /// registrations with, for name servers with `aclEnable=true` (an `admin` account there).
    pub namesrv_account: Option<AccountKeys>,
}

/// The file name RocketMQ uses.
pub const DEFAULT_ACL_FILE: &str = "plain_acl.yml";

impl AclSettings {
    /// Defaults for a config read from `origin`.
    pub fn defaults_for(origin: &Path) -> AclSettings {
        AclSettings {
            acl_enable: false,
            acl_file: resolve(origin, Path::new(DEFAULT_ACL_FILE)),
            raft_peer_secret: None,
            namesrv_account: None,
        }
    }
}

/// `file` as written in the config at `origin`: absolute as is, relative from `origin`'s
/// directory.
pub fn resolve(origin: &Path, file: &Path) -> PathBuf {
    if file.is_absolute() {
        return file.to_path_buf();
    }
    match origin.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(file),
        _ => file.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_files_are_beside_the_config() {
        let d = AclSettings::defaults_for(Path::new("/opt/rmq/conf/broker.conf"));
        assert_eq!(d.acl_file, PathBuf::from("/opt/rmq/conf/plain_acl.yml"));
        assert_eq!(
            resolve(Path::new("broker.conf"), Path::new("acl.yml")),
            PathBuf::from("acl.yml")
        );
        assert_eq!(
            resolve(Path::new("/a/b.conf"), Path::new("/etc/acl.yml")),
            PathBuf::from("/etc/acl.yml")
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert!(PeerSecret::new("short").is_err());
        let s = PeerSecret::new("a-long-enough-secret").unwrap();
        assert!(!format!("{s:?}").contains("long"));
    }
}
