//! `plain_acl.yml`: RocketMQ 4.9's ACL file, read into an [`AclTable`].
//!
//! The format is RocketMQ's (`globalWhiteRemoteAddresses`, `accounts` with `accessKey`,
//! `secretKey`, `whiteRemoteAddress`, `admin`, `defaultTopicPerm`, `defaultGroupPerm`,
//! `topicPerms`, `groupPerms`). The file is read through a generic YAML value rather than a
//! typed struct because RocketMQ's own sample writes `secretKey: 12345678`, which YAML reads as a
//! number; every scalar is taken as its text, as SnakeYAML-to-String does.
//!
//! Anything that would change what is allowed if guessed — an unknown permission word, a bad
//! address pattern, an account without keys, a duplicate access key — is an error naming the
//! account, never a silent default, so a typo cannot open the broker. The table never prints a
//! secret (its `Debug` redacts it).

use std::collections::HashMap;
use std::path::Path;

use serde_yaml_ng::Value;

use super::permission::Perm;
use super::remote_address::RemoteAddressPattern;
use crate::protocol::topic_names::retry_topic;

/// Why a `plain_acl.yml` was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: not valid YAML: {reason}")]
    Yaml { path: String, reason: String },
    #[error("{path}: {what}")]
    Invalid { path: String, what: String },
}

/// One account of the file, resolved: resource keys are topics, and `%RETRY%group` for groups
/// (RocketMQ checks a group as its retry topic).
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub access_key: String,
    pub secret_key: String,
    pub white_remote_address: RemoteAddressPattern,
    pub admin: bool,
    pub default_topic_perm: Perm,
    pub default_group_perm: Perm,
    pub resource_perms: HashMap<String, Perm>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("white_remote_address", &self.white_remote_address)
            .field("admin", &self.admin)
            .field("default_topic_perm", &self.default_topic_perm)
            .field("default_group_perm", &self.default_group_perm)
            .field("resource_perms", &self.resource_perms)
            .finish()
    }
}

/// The whole file, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclTable {
    pub global_white_remote_addresses: Vec<RemoteAddressPattern>,
    pub accounts: HashMap<String, Account>,
}

/// RocketMQ refuses keys shorter than this (`AclUtils`/`PlainPermissionManager`).
const MIN_KEY_LEN: usize = 6;

impl AclTable {
    pub fn from_file(path: &Path) -> Result<AclTable, AclConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| AclConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        AclTable::parse(&text, &path.display().to_string())
    }

    /// Parses the file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<AclTable, AclConfigError> {
        let invalid = |what: String| AclConfigError::Invalid {
            path: origin.to_string(),
            what,
        };
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| AclConfigError::Yaml {
            path: origin.to_string(),
            reason: e.to_string(),
        })?;
        let root = match doc {
            Value::Mapping(m) => m,
            Value::Null => return Err(invalid("the file is empty".into())),
            _ => return Err(invalid("the top level must be a mapping".into())),
        };
        let mut table = AclTable::default();
        for (key, value) in &root {
            match scalar(key).as_deref() {
                Some("globalWhiteRemoteAddresses") => {
                    for item in list(value, "globalWhiteRemoteAddresses").map_err(invalid)? {
                        let pattern = RemoteAddressPattern::parse(&item)
                            .map_err(|e| invalid(format!("globalWhiteRemoteAddresses: {e}")))?;
                        table.global_white_remote_addresses.push(pattern);
                    }
                }
                Some("accounts") => {
                    let Value::Sequence(items) = value else {
                        if value.is_null() {
                            continue;
                        }
                        return Err(invalid("accounts must be a list".into()));
                    };
                    for (i, item) in items.iter().enumerate() {
                        let account = account(item)
                            .map_err(|e| invalid(format!("account #{}: {e}", i + 1)))?;
                        if table.accounts.contains_key(&account.access_key) {
                            return Err(invalid(format!(
                                "accessKey {} appears twice",
                                account.access_key
                            )));
                        }
                        table.accounts.insert(account.access_key.clone(), account);
                    }
                }
                // RocketMQ 4.9.3+ writes a dataVersion block when it edits the file itself.
                Some(other) => {
                    tracing::debug!(file = origin, key = other, "plain_acl.yml key ignored")
                }
                None => return Err(invalid("a top-level key is not text".into())),
            }
        }
        Ok(table)
    }
}

fn account(item: &Value) -> Result<Account, String> {
    let Value::Mapping(m) = item else {
        return Err("must be a mapping".into());
    };
    let get = |k: &str| m.get(k).filter(|v| !v.is_null());
    let text = |k: &str| -> Result<Option<String>, String> {
        match get(k) {
            None => Ok(None),
            Some(v) => scalar(v)
                .map(Some)
                .ok_or_else(|| format!("{k} must be a scalar")),
        }
    };
    let access_key = text("accessKey")?.ok_or("accessKey is missing")?;
    let secret_key = text("secretKey")?
        .ok_or_else(|| format!("accessKey {access_key}: secretKey is missing"))?;
    if access_key.len() < MIN_KEY_LEN {
        return Err(format!(
            "accessKey {access_key} is shorter than {MIN_KEY_LEN} characters"
        ));
    }
    if secret_key.len() < MIN_KEY_LEN {
        return Err(format!(
            "accessKey {access_key}: secretKey is shorter than {MIN_KEY_LEN} characters"
        ));
    }
    let ctx = |e: String| format!("accessKey {access_key}: {e}");
    let white_remote_address =
        RemoteAddressPattern::parse(&text("whiteRemoteAddress")?.unwrap_or_default())
            .map_err(ctx)?;
    let admin = match text("admin")?.as_deref() {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(ctx(format!("admin must be true or false, not `{v}`"))),
    };
    let perm = |k: &str| -> Result<Perm, String> {
        match text(k)? {
            None => Ok(Perm::DENY),
            Some(w) => Perm::parse(&w).ok_or_else(|| {
                ctx(format!(
                    "{k}: unknown permission `{w}` (DENY, PUB, SUB, PUB|SUB)"
                ))
            }),
        }
    };
    let default_topic_perm = perm("defaultTopicPerm")?;
    let default_group_perm = perm("defaultGroupPerm")?;
    let mut resource_perms = HashMap::new();
    for (key, is_group) in [("topicPerms", false), ("groupPerms", true)] {
        let Some(v) = get(key) else { continue };
        for entry in list(v, key).map_err(ctx)? {
            let (name, word) = entry
                .rsplit_once('=')
                .ok_or_else(|| ctx(format!("{key}: `{entry}` is not name=PERM")))?;
            let p = Perm::parse(word)
                .ok_or_else(|| ctx(format!("{key}: unknown permission `{word}` in `{entry}`")))?;
            let name = name.trim();
            let resource = if is_group {
                retry_topic(name)
            } else {
                name.to_string()
            };
            resource_perms.insert(resource, p);
        }
    }
    Ok(Account {
        access_key,
        secret_key,
        white_remote_address,
        admin,
        default_topic_perm,
        default_group_perm,
        resource_perms,
    })
}

/// A YAML list of scalars (null is empty).
fn list(v: &Value, key: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .filter(|i| !i.is_null())
            .map(|i| scalar(i).ok_or_else(|| format!("{key}: every item must be a scalar")))
            .collect(),
        _ => Err(format!("{key} must be a list")),
    }
}

/// A scalar's text, as RocketMQ reads it into a `String`.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RocketMQ 4.9's `distribution/conf/plain_acl.yml` sample, as shipped.
    pub(crate) const SAMPLE: &str = r#"
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true
"#;

    #[test]
    fn reads_rocketmqs_sample() {
        let t = AclTable::parse(SAMPLE, "sample").unwrap();
        assert_eq!(t.global_white_remote_addresses.len(), 2);
        let a = &t.accounts["RocketMQ"];
        assert_eq!(a.secret_key, "12345678");
        assert_eq!(a.white_remote_address, RemoteAddressPattern::Blank);
        assert!(!a.admin);
        assert_eq!(a.default_topic_perm, Perm::DENY);
        assert_eq!(a.default_group_perm, Perm::SUB);
        assert_eq!(a.resource_perms["topicB"], Perm::PUB_SUB);
        assert_eq!(a.resource_perms["%RETRY%groupA"], Perm::DENY);
        let admin = &t.accounts["rocketmq2"];
        assert!(admin.admin);
        assert_eq!(admin.default_topic_perm, Perm::DENY);
    }

    #[test]
    fn mistakes_are_errors_naming_the_account() {
        let cases = [
            ("accounts:\n  - accessKey: RocketMQ\n", "secretKey is missing"),
            ("accounts:\n  - accessKey: abc\n    secretKey: 12345678\n", "shorter"),
            (
                "accounts:\n  - accessKey: RocketMQ\n    secretKey: 12345678\n    defaultTopicPerm: READ\n",
                "unknown permission `READ`",
            ),
            (
                "accounts:\n  - accessKey: RocketMQ\n    secretKey: 12345678\n    topicPerms: [topicA]\n",
                "not name=PERM",
            ),
            (
                "accounts:\n  - {accessKey: RocketMQ, secretKey: 12345678}\n  - {accessKey: RocketMQ, secretKey: 87654321}\n",
                "appears twice",
            ),
            ("globalWhiteRemoteAddresses: [10.0.0]\n", "not an address pattern"),
            ("accounts: [\n", "not valid YAML"),
            ("", "empty"),
        ];
        for (text, want) in cases {
            let e = AclTable::parse(text, "f").unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t = AclTable::parse(SAMPLE, "sample").unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("12345678"), "{shown}");
    }
}
