//! `namesrv.conf`: the name server's port and where it keeps its KV config, with RocketMQ's key
//! names and defaults. Same rules as `broker.conf`: unknown keys are kept and warned about, bad
//! values are errors naming the file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::acl::{self, AclSettings};
use super::keys as k;
use super::metrics_port::{self, MetricsListen};
use super::values::{self, Source};
use super::ConfigError;

/// The name server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamesrvConfig {
    /// Where this configuration came from, for error messages (`(defaults)` for `Default`).
    pub origin: PathBuf,
    /// Port for clients and brokers, 1–65535.
    pub listen_port: u16,
    /// RocketMQ's install directory; only informational here (we ship no Java libs). `None`
    /// unless set by the key or, via [`Self::apply_env_defaults`], by `ROCKETMQ_HOME`.
    pub rocketmq_home: Option<PathBuf>,
    /// The name server's persisted KV config (`$HOME/namesrv/kvConfig.json` by default).
    pub kv_config_path: PathBuf,
    /// `metricsPort` (LedgerMQ): the port of the Prometheus `/metrics` listener. `None` means
    /// `listenPort + 2` (9878 by default); `Some(0)` switches it off. See
    /// [`super::metrics_port`].
    pub metrics_port: Option<u16>,
    /// `aclEnable` and `rocketmq.acl.plain.file`: with ACL on, the requests that change the
    /// route tables (register/unregister broker, delete topic, KV writes) need an admin account.
    pub acl: AclSettings,
    /// Keys this version does not know, kept and warned about at load.
    pub unknown: BTreeMap<String, String>,
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        let home = values::home_dir().unwrap_or_else(|| PathBuf::from("."));
        Self {
            origin: PathBuf::from("(defaults)"),
            listen_port: 9876,
            rocketmq_home: None,
            kv_config_path: home.join("namesrv").join("kvConfig.json"),
            metrics_port: None,
            acl: AclSettings::defaults_for(Path::new("(defaults)")),
            unknown: BTreeMap::new(),
        }
    }
}

impl NamesrvConfig {
    /// Reads and parses a `namesrv.conf`; see [`NamesrvConfig::parse`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&super::read_text(path)?, path)
    }

    /// Parses `namesrv.conf` text; `origin` names it in errors and warnings. Reads no
    /// environment variable except `HOME`.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let mut src = Source::new(text, origin)?;
        let d = Self::default();
        let home = values::home_dir();
        let path = |v: &str| values::path(v, home.as_deref());
        let mut cfg = Self {
            origin: origin.to_path_buf(),
            listen_port: src
                .get(k::LISTEN_PORT, |v| values::int_in(v, 1, u16::MAX))?
                .unwrap_or(d.listen_port),
            rocketmq_home: src
                .get(k::ROCKETMQ_HOME, |v| values::optional(v, path))?
                .flatten(),
            kv_config_path: src
                .get(k::KV_CONFIG_PATH, path)?
                .unwrap_or(d.kv_config_path),
            metrics_port: src.get(k::METRICS_PORT, metrics_port::parse)?.flatten(),
            acl: AclSettings::defaults_for(origin),
            unknown: BTreeMap::new(),
        };
        if let Some(on) = src.get(k::ACL_ENABLE, values::boolean)? {
            cfg.acl.acl_enable = on;
        }
        if let Some(file) = src.get(k::ACL_PLAIN_FILE, path)? {
            cfg.acl.acl_file = acl::resolve(origin, &file);
        }
        cfg.unknown = src.finish();
        if cfg.metrics_port == Some(cfg.listen_port) {
            return Err(ConfigError::Inconsistent {
                file: origin.to_path_buf(),
                key: k::METRICS_PORT.into(),
                message: format!("{} is also listenPort; they must differ", cfg.listen_port),
            });
        }
        Ok(cfg)
    }

    /// Where `/metrics` listens (on every interface, like the name server itself), or `None`
    /// when it is switched off.
    pub fn metrics_listen(&self) -> Option<MetricsListen> {
        metrics_port::resolve(self.metrics_port, self.listen_port)
    }

    /// Fills `rocketmqHome` from `ROCKETMQ_HOME` when the file did not set it, as RocketMQ does.
    pub fn apply_env_defaults(&mut self) {
        if self.rocketmq_home.is_none() {
            self.rocketmq_home = std::env::var_os("ROCKETMQ_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from);
        }
    }

    /// Every known key with its effective value, then unknown keys; `None` is an empty value.
    pub fn to_properties(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (k::LISTEN_PORT.to_string(), self.listen_port.to_string()),
            (
                k::ROCKETMQ_HOME.to_string(),
                self.rocketmq_home
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            (
                k::KV_CONFIG_PATH.to_string(),
                self.kv_config_path.display().to_string(),
            ),
            (
                k::METRICS_PORT.to_string(),
                self.metrics_port.map(|p| p.to_string()).unwrap_or_default(),
            ),
        ];
        out.extend(self.unknown.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::to_text;

    fn parse(text: &str) -> Result<NamesrvConfig, ConfigError> {
        NamesrvConfig::parse(text, Path::new("namesrv.conf"))
    }

    #[test]
    fn defaults() {
        let cfg = parse("").unwrap();
        assert_eq!(cfg.listen_port, 9876);
        assert_eq!(cfg.rocketmq_home, None);
        let home = values::home_dir().unwrap_or_else(|| PathBuf::from("."));
        assert_eq!(cfg.kv_config_path, home.join("namesrv/kvConfig.json"));
        assert!(cfg.unknown.is_empty());
        assert_eq!(
            cfg.metrics_listen().map(|m| (m.port, m.explicit)),
            Some((9878, false))
        );
        assert_eq!(
            NamesrvConfig {
                origin: "namesrv.conf".into(),
                ..NamesrvConfig::default()
            },
            cfg
        );
    }

    #[test]
    fn acl_keys() {
        let cfg = NamesrvConfig::parse(
            "aclEnable=true\nrocketmq.acl.plain.file=acl.yml\n",
            Path::new("/etc/lmq/namesrv.conf"),
        )
        .unwrap();
        assert!(cfg.acl.acl_enable);
        assert_eq!(cfg.acl.acl_file, PathBuf::from("/etc/lmq/acl.yml"));
        assert!(cfg.unknown.is_empty());
        assert!(!parse("").unwrap().acl.acl_enable);
    }

    #[test]
    fn keys_override_and_unknown_keys_are_kept() {
        let cfg = parse(
            "listenPort=19876\nrocketmqHome=/opt/rocketmq\nkvConfigPath=/data/kv.json\n\
             orderMessageEnable=true\n",
        )
        .unwrap();
        assert_eq!(cfg.listen_port, 19876);
        assert_eq!(cfg.rocketmq_home, Some("/opt/rocketmq".into()));
        assert_eq!(cfg.kv_config_path, PathBuf::from("/data/kv.json"));
        assert_eq!(
            cfg.unknown.get("orderMessageEnable").map(String::as_str),
            Some("true")
        );
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        for (text, key, needle) in [
            (
                "listenPort=abc",
                "listenPort",
                "\"abc\" is not a whole number",
            ),
            ("\nlistenPort=0", "listenPort", "below the minimum of 1"),
            ("listenPort=-1", "listenPort", "negative"),
            ("listenPort=70000", "listenPort", "too large"),
            ("kvConfigPath=", "kvConfigPath", "is empty"),
            ("metricsPort=70000", "metricsPort", "too large"),
            (
                "listenPort=9000\nmetricsPort=9000",
                "metricsPort",
                "is also listenPort",
            ),
        ] {
            let err = parse(text).unwrap_err();
            let msg = err.to_string();
            assert_eq!(err.key(), Some(key), "{msg}");
            assert!(msg.starts_with("namesrv.conf:"), "{msg}");
            assert!(msg.contains(&format!(": {key}: ")), "{msg}");
            assert!(msg.contains(needle), "{msg}");
        }
        assert_eq!(parse("\nlistenPort=0").unwrap_err().line(), Some(2));
    }

    #[test]
    fn round_trips_through_to_properties() {
        let cfg = parse("listenPort=1234\nrocketmqHome=/opt/mq\nmetricsPort=0\nextra=1").unwrap();
        assert_eq!(cfg.metrics_listen(), None);
        assert_eq!(parse(&to_text(&cfg.to_properties())).unwrap(), cfg);
        let cfg = parse("").unwrap();
        assert_eq!(parse(&to_text(&cfg.to_properties())).unwrap(), cfg);
    }

    #[test]
    fn from_file_reads_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("namesrv.conf");
        std::fs::write(&path, "listenPort=9999\n").unwrap();
        assert_eq!(NamesrvConfig::from_file(&path).unwrap().listen_port, 9999);
        std::fs::write(&path, "listenPort=x\n").unwrap();
        let err = NamesrvConfig::from_file(&path).unwrap_err();
        assert_eq!(err.file(), path.as_path());
        let missing = dir.path().join("missing.conf");
        let err = NamesrvConfig::from_file(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
    }
}
