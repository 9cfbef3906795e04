//! Configuration files: `broker.conf` and `namesrv.conf` in Java `.properties` syntax with
//! RocketMQ's key names and defaults, so that an operator's existing files (including RocketMQ's
//! own `conf/dledger/broker-n0.conf`) start a LedgerMQ node unchanged.
//!
//! What this module owns: turning text into typed, validated [`BrokerConfig`] and
//! [`NamesrvConfig`] values, every default (each in one place: the `Default` impls), the one-line
//! [`ConfigError`] an operator sees when a file is wrong, and the start-up check that the store
//! directories are writable.
//!
//! What it must never do: open sockets, start Raft, or make a bad file "work" by guessing. A
//! misspelt key is kept and warned about (RocketMQ ignores unknown keys too), but a bad value is an
//! error naming the file and the key, because a broker that starts with a silently defaulted
//! `dLegerSelfId` or flush mode can lose acknowledged messages.
//!
//! Parsing reads no environment variable except `HOME` (which supplies the `$HOME/store` default
//! and `~/` expansion, as Java's `user.home` does for RocketMQ). The other environment inputs,
//! `NAMESRV_ADDR`, `ROCKETMQ_HOME` and `LEDGERMQ_UNSAFE`, are applied by separate explicit calls
//! ([`BrokerConfig::apply_env_defaults`], [`NamesrvConfig::apply_env_defaults`],
//! [`unsafe_env_from_process`]) so that parsing stays a pure function of the text in tests.

pub mod acl;
mod broker;
pub mod delay_levels;
pub mod keys;
mod members;
pub mod metrics_port;
mod namesrv;
mod peers;
pub mod properties;
mod roles;
mod store_dirs;
mod validate;
mod values;

use std::path::{Path, PathBuf};

pub use acl::{AclSettings, PeerSecret};
pub use broker::BrokerConfig;
pub use members::{check_members, peer_port};
pub use metrics_port::MetricsListen;
pub use namesrv::NamesrvConfig;
pub use peers::RaftPeer;
pub use properties::{Properties, Property, SyntaxError};
pub use roles::{BrokerRole, FlushDiskType};

/// The environment variable that unlocks test-only options such as `unsafeAckBeforeCommit`.
pub const UNSAFE_ENV: &str = "LEDGERMQ_UNSAFE";

/// Whether the process runs with `LEDGERMQ_UNSAFE=1`, the value to pass as `unsafe_env` to
/// [`BrokerConfig::parse`], [`BrokerConfig::from_file`] and [`BrokerConfig::validate`].
///
/// Kept outside parsing so that tests never depend on (or race over) the process environment.
pub fn unsafe_env_from_process() -> bool {
    std::env::var(UNSAFE_ENV).is_ok_and(|v| v == "1")
}

/// Why a configuration could not be used.
///
/// Its `Display` is always one line that names the file (and the key, where there is one), e.g.
/// `broker-n0.conf: dLegerSelfId: "n5" is not among dLegerPeers (n0, n1, n2)`, so that the
/// broker can print it and exit without the operator having to read a backtrace. Values are
/// quoted with Rust's `{:?}`, which escapes newlines and keeps the message on one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the file: {source}", .file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid `.properties` syntax (for example a malformed `\uXXXX` escape).
    #[error("{}:{line}: {message}", .file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    /// One key has a value of the wrong type or outside its range. `reason` quotes the value.
    #[error("{}{}: {key}: {reason}", .file.display(), LineSuffix(*.line))]
    BadValue {
        file: PathBuf,
        /// The line of the value, when it came from a file (not from the environment).
        line: Option<usize>,
        key: String,
        value: String,
        reason: String,
    },
    /// Keys that are each well-formed but do not fit together (self id not among the peers...).
    #[error("{}: {key}: {message}", .file.display())]
    Inconsistent {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// A store path could not be created, or a probe file could not be written in it.
    #[error("{}: {key}: cannot write to {path:?}: {source}", .file.display())]
    StorePath {
        file: PathBuf,
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    /// The configuration key at fault, if the error is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Io { .. } | ConfigError::Syntax { .. } => None,
            ConfigError::BadValue { key, .. }
            | ConfigError::Inconsistent { key, .. }
            | ConfigError::StorePath { key, .. } => Some(key),
        }
    }

    /// The file the configuration came from (`(defaults)` for a `Default` config, or a label
    /// such as `environment NAMESRV_ADDR` for a value taken from the environment).
    pub fn file(&self) -> &Path {
        match self {
            ConfigError::Io { file, .. }
            | ConfigError::Syntax { file, .. }
            | ConfigError::BadValue { file, .. }
            | ConfigError::Inconsistent { file, .. }
            | ConfigError::StorePath { file, .. } => file,
        }
    }

    /// The line in the file, where one is known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Syntax { line, .. } => Some(*line),
            ConfigError::BadValue { line, .. } => *line,
            _ => None,
        }
    }
}

/// Formats `:<line>` after the file name when the line is known, like a compiler diagnostic.
struct LineSuffix(Option<usize>);

impl std::fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(line) => write!(f, ":{line}"),
            None => Ok(()),
        }
    }
}

/// Reads a configuration file as text.
///
/// Java reads `.properties` files as ISO-8859-1; we read UTF-8 and fall back to ISO-8859-1 (each
/// byte is one char) when the bytes are not UTF-8, so both kinds of file load as their author
/// meant.
fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| char::from(b)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_displays_on_one_line_with_file_and_key() {
        let file = PathBuf::from("broker-n0.conf");
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let errors = [
            ConfigError::Io {
                file: file.clone(),
                source: io(),
            },
            ConfigError::Syntax {
                file: file.clone(),
                line: 3,
                message: "bad escape".into(),
            },
            ConfigError::BadValue {
                file: file.clone(),
                line: Some(7),
                key: "listenPort".into(),
                value: "x\ny".into(),
                reason: format!("{:?} is not a whole number", "x\ny"),
            },
            ConfigError::Inconsistent {
                file: file.clone(),
                key: "dLegerSelfId".into(),
                message: "\"n5\" is not among dLegerPeers (n0, n1, n2)".into(),
            },
            ConfigError::StorePath {
                file: file.clone(),
                key: "storePathCommitLog".into(),
                path: "/x/commitlog".into(),
                source: io(),
            },
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.starts_with("broker-n0.conf"), "{text}");
            assert_eq!(e.file(), file.as_path());
            if let Some(key) = e.key() {
                assert!(text.contains(key), "{text}");
            }
        }
        assert_eq!(
            errors[3].to_string(),
            "broker-n0.conf: dLegerSelfId: \"n5\" is not among dLegerPeers (n0, n1, n2)"
        );
        assert_eq!(
            errors[2].to_string(),
            "broker-n0.conf:7: listenPort: \"x\\ny\" is not a whole number"
        );
        assert_eq!(errors[0].key(), None);
        assert_eq!(errors[1].line(), Some(3));
    }

    #[test]
    fn latin1_files_are_read_like_java_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.conf");
        std::fs::write(&path, b"brokerName=caf\xe9\n").unwrap();
        assert_eq!(read_text(&path).unwrap(), "brokerName=café\n");
        std::fs::write(&path, "brokerName=café\n").unwrap();
        assert_eq!(read_text(&path).unwrap(), "brokerName=café\n");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let err = read_text(Path::new("/nonexistent/broker.conf")).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
        assert!(err
            .to_string()
            .starts_with("/nonexistent/broker.conf: cannot read"));
    }
}
