//! Hot reload of `plain_acl.yml`: the file is re-read every [`RELOAD_INTERVAL`] and, when its
//! bytes changed, parsed and put in force whole. A file that does not parse keeps the last good
//! table in force and is logged (once per distinct bad content, so a broken file does not
//! flood the log); a deleted file also keeps the last table, as RocketMQ does.
//!
//! Comparing bytes rather than the modification time catches an edit made within the same
//! second as the last read, and costs one small read a second.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::config::AclTable;
use super::validator::PlainAccessValidator;

/// How often the file is checked: a change takes effect within about this long (the issue asks
/// for a few seconds; RocketMQ's watcher checks every 5 s).
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    Applied,
    /// The file changed but was not taken; the reason, for the log.
    Rejected(String),
}

/// Remembers what was last read, so unchanged bytes are not parsed again.
#[derive(Debug, Default)]
pub struct AclFileWatch {
    last: Option<Vec<u8>>,
}

impl AclFileWatch {
    /// Starts from the bytes the validator was loaded from (read again here).
    pub fn new(validator: &PlainAccessValidator) -> AclFileWatch {
        AclFileWatch {
            last: std::fs::read(validator.path()).ok(),
        }
    }

    /// Reads the file once and applies it if it changed and parses.
    pub fn check(&mut self, validator: &PlainAccessValidator) -> Reload {
        let path = validator.path();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                let why = format!("cannot read {}: {e}", path.display());
                // A missing file is reported once, like a bad one.
                if self.last.as_deref() == Some(b"") {
                    return Reload::Unchanged;
                }
                self.last = Some(Vec::new());
                return Reload::Rejected(why);
            }
        };
        if self.last.as_deref() == Some(bytes.as_slice()) {
            return Reload::Unchanged;
        }
        self.last = Some(bytes.clone());
        let text = String::from_utf8_lossy(&bytes);
        match AclTable::parse(&text, &path.display().to_string()) {
            Ok(table) => {
                validator.replace(table);
                Reload::Applied
            }
            Err(e) => Reload::Rejected(e.to_string()),
        }
    }
}

/// Checks the file every `interval` until `shutdown` turns true.
pub async fn run(
    validator: Arc<PlainAccessValidator>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut watch = AclFileWatch::new(&validator);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        match watch.check(&validator) {
            Reload::Unchanged => {}
            Reload::Applied => tracing::info!(
                file = %validator.path().display(),
                accounts = validator.table().accounts.len(),
                "plain_acl.yml changed; new ACL in force"
            ),
            Reload::Rejected(why) => tracing::error!(
                file = %validator.path().display(),
                error = %why,
                "plain_acl.yml changed but cannot be used; the last good ACL stays in force until it is fixed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "accounts:\n  - {accessKey: RocketMQ, secretKey: 12345678, defaultTopicPerm: PUB}\n";

    #[test]
    fn changes_apply_bad_files_keep_the_last_good_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain_acl.yml");
        std::fs::write(&path, GOOD).unwrap();
        let v = PlainAccessValidator::load(&path).unwrap();
        let mut w = AclFileWatch::new(&v);
        assert_eq!(w.check(&v), Reload::Unchanged);

        std::fs::write(&path, GOOD.replace("PUB", "DENY")).unwrap();
        assert_eq!(w.check(&v), Reload::Applied);
        let perm = v.table().accounts["RocketMQ"].default_topic_perm;
        assert_eq!(perm, crate::acl::Perm::DENY);

        std::fs::write(&path, "accounts: [\n").unwrap();
        assert!(matches!(w.check(&v), Reload::Rejected(_)));
        assert_eq!(
            w.check(&v),
            Reload::Unchanged,
            "a bad file is reported once"
        );
        assert_eq!(
            v.table().accounts["RocketMQ"].default_topic_perm,
            crate::acl::Perm::DENY
        );

        std::fs::remove_file(&path).unwrap();
        assert!(matches!(w.check(&v), Reload::Rejected(_)));
        assert_eq!(w.check(&v), Reload::Unchanged);
        assert!(v.table().accounts.contains_key("RocketMQ"));

        std::fs::write(&path, GOOD).unwrap();
        assert_eq!(w.check(&v), Reload::Applied);
        assert_eq!(
            v.table().accounts["RocketMQ"].default_topic_perm,
            crate::acl::Perm::PUB
        );
    }
}
