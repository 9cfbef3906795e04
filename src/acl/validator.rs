//! The check every request goes through when `aclEnable=true` (RocketMQ 4.9's
//! `PlainAccessValidator` + `PlainPermissionManager.validate`), in RocketMQ's order:
//!
//! 1. a remote address in `globalWhiteRemoteAddresses` passes;
//! 2. no `AccessKey` → refused; an `AccessKey` not in the file → refused;
//! 3. an address in the account's `whiteRemoteAddress` passes;
//! 4. the `Signature` must be the HmacSHA1 of the request under the account's secret;
//! 5. an admin request code needs an `admin: true` account;
//! 6. each topic/group the request touches ([`super::resource::needed`]) must be allowed by the
//!    account's `topicPerms`/`groupPerms`, else by its `defaultTopicPerm`/`defaultGroupPerm`. An
//!    admin account without any perms listed may touch everything.
//!
//! A refusal is answered as RocketMQ 4.9.x does — SYSTEM_ERROR (1), the `AclException` text as
//! remark — and the request is not executed. The remark names the account and the resource,
//! never a secret or the expected signature.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use super::config::{Account, AclConfigError, AclTable};
use super::permission::{needs_admin, Perm};
use super::resource;
use super::signature::{self, ACCESS_KEY, SIGNATURE};
use crate::protocol::topic_names::retry_group;
use crate::remoting::codes::response_code;
use crate::remoting::RemotingCommand;

/// Why a request was refused; `Display` is RocketMQ's `AclException` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AclDenied(pub String);

impl AclDenied {
    /// The answer RocketMQ 4.9.x gives: SYSTEM_ERROR with the exception as remark.
    pub fn response(&self, req: &RemotingCommand) -> RemotingCommand {
        RemotingCommand::response_to(req, response_code::SYSTEM_ERROR).with_remark(format!(
            "org.apache.rocketmq.acl.common.AclException: {}",
            self.0
        ))
    }
}

/// The validator of one `plain_acl.yml`: the table in force, replaced whole by the
/// [`watcher`](super::watcher) when the file changes, so a request sees either the old table or
/// the new one, never a mix.
#[derive(Debug)]
pub struct PlainAccessValidator {
    path: PathBuf,
    table: RwLock<Arc<AclTable>>,
}

impl PlainAccessValidator {
    /// Reads `path`; a missing or malformed file is an error at start (a broker with
    /// `aclEnable=true` must not start open).
    pub fn load(path: &Path) -> Result<PlainAccessValidator, AclConfigError> {
        let table = AclTable::from_file(path)?;
        Ok(PlainAccessValidator::with_table(path, table))
    }

    pub fn with_table(path: &Path, table: AclTable) -> PlainAccessValidator {
        PlainAccessValidator {
            path: path.to_path_buf(),
            table: RwLock::new(Arc::new(table)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The table in force.
    pub fn table(&self) -> Arc<AclTable> {
        self.table.read().clone()
    }

    /// Puts `table` in force for every request that starts from now on.
    pub fn replace(&self, table: AclTable) {
        *self.table.write() = Arc::new(table);
    }

    /// Checks `req` from `remote` (see the module comment).
    pub fn validate(&self, req: &RemotingCommand, remote: IpAddr) -> Result<(), AclDenied> {
        let table = self.table();
        let Some(account) = authenticate(&table, req, remote)? else {
            return Ok(());
        };
        let access_key = &account.access_key;
        if needs_admin(req.code) && !account.admin {
            return Err(AclDenied(format!(
                "Need admin permission for request code={}, but accessKey={access_key} is not",
                req.code
            )));
        }
        if account.admin && account.resource_perms.is_empty() {
            return Ok(());
        }
        let needed =
            resource::needed(req).map_err(|e| AclDenied(format!("{e}, accessKey={access_key}")))?;
        for (res, perm) in needed {
            let group = retry_group(&res);
            let owned = account
                .resource_perms
                .get(&res)
                .copied()
                .unwrap_or(if group.is_some() {
                    account.default_group_perm
                } else {
                    account.default_topic_perm
                });
            if !owned.allows(perm) {
                let what = match group {
                    Some(g) => format!("group={g}"),
                    None => format!("topic={res}"),
                };
                return Err(AclDenied(format!(
                    "No permission {needed} on {what} for accessKey={access_key} (it has {owned})",
                    needed = if perm == Perm::ANY {
                        "PUB or SUB"
                    } else {
                        perm.name()
                    },
                )));
            }
        }
        Ok(())
    }
}

impl PlainAccessValidator {
    /// The name server's check for requests that change its tables: the same authentication,
    /// and then an `admin: true` account (a white-listed address passes, as for the broker).
    pub fn validate_admin(&self, req: &RemotingCommand, remote: IpAddr) -> Result<(), AclDenied> {
        let table = self.table();
        match authenticate(&table, req, remote)? {
            None => Ok(()),
            Some(account) if account.admin => Ok(()),
            Some(account) => Err(AclDenied(format!(
                "Need admin permission for request code={}, but accessKey={} is not",
                req.code, account.access_key
            ))),
        }
    }
}

/// Steps 1-4 of the module comment: `Ok(None)` when a white address lets the request through
/// without a signature, `Ok(Some(account))` when it is signed by a known account.
fn authenticate<'t>(
    table: &'t AclTable,
    req: &RemotingCommand,
    remote: IpAddr,
) -> Result<Option<&'t Account>, AclDenied> {
    if table
        .global_white_remote_addresses
        .iter()
        .any(|p| p.matches(remote))
    {
        return Ok(None);
    }
    let Some(access_key) = req.ext_fields.get(ACCESS_KEY) else {
        return Err(AclDenied("No accessKey is configured".into()));
    };
    let Some(account) = table.accounts.get(access_key) else {
        return Err(AclDenied(format!("No acl config for {access_key}")));
    };
    if account.white_remote_address.matches(remote) {
        return Ok(None);
    }
    let sent = req.ext_fields.get(SIGNATURE).unwrap_or("");
    if !signature::verify_request(req, &account.secret_key, sent) {
        return Err(AclDenied(format!(
            "Check signature failed for accessKey={access_key}"
        )));
    }
    Ok(Some(account))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::signature::SessionCredentials;
    use crate::remoting::codes::request_code as rc;

    const FILE: &str = r#"
globalWhiteRemoteAddresses: [10.10.103.*]
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms: [topicA=DENY, topicB=PUB|SUB, topicC=SUB]
    groupPerms: [groupA=DENY, groupB=PUB|SUB]
  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    admin: true
"#;

    fn validator() -> PlainAccessValidator {
        let table = AclTable::parse(FILE, "test").unwrap();
        PlainAccessValidator::with_table(Path::new("test"), table)
    }

    fn local() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    fn send(topic: &str) -> RemotingCommand {
        let mut r = RemotingCommand::request(rc::SEND_MESSAGE_V2);
        r.ext_fields.insert("a", "PG");
        r.ext_fields.insert("b", topic);
        r.body = bytes::Bytes::from_static(b"payload");
        r
    }

    fn signed(mut r: RemotingCommand, ak: &str, sk: &str) -> RemotingCommand {
        SessionCredentials::new(ak, sk).sign_request(&mut r);
        r
    }

    fn denied(v: &PlainAccessValidator, r: &RemotingCommand) -> String {
        v.validate(r, local()).unwrap_err().to_string()
    }

    #[test]
    fn a_permitted_signed_send_passes() {
        let v = validator();
        v.validate(&signed(send("topicB"), "RocketMQ", "12345678"), local())
            .unwrap();
    }

    #[test]
    fn missing_unknown_and_wrong_credentials_are_refused() {
        let v = validator();
        assert_eq!(denied(&v, &send("topicB")), "No accessKey is configured");
        assert_eq!(
            denied(&v, &signed(send("topicB"), "nobody1", "12345678")),
            "No acl config for nobody1"
        );
        let wrong = denied(&v, &signed(send("topicB"), "RocketMQ", "wrongsecret"));
        assert_eq!(wrong, "Check signature failed for accessKey=RocketMQ");
        // Signed, then changed on the way: the signature no longer fits.
        let mut tampered = signed(send("topicB"), "RocketMQ", "12345678");
        tampered.ext_fields.insert("b", "topicC");
        assert!(denied(&v, &tampered).starts_with("Check signature failed"));
    }

    #[test]
    fn topic_and_group_permissions_and_defaults() {
        let v = validator();
        let e = denied(&v, &signed(send("topicA"), "RocketMQ", "12345678"));
        assert!(
            e.contains("topic=topicA") && e.contains("accessKey=RocketMQ"),
            "{e}"
        );
        assert!(!e.contains("12345678"));
        // Default topic perm is DENY.
        assert!(denied(&v, &signed(send("other"), "RocketMQ", "12345678")).contains("topic=other"));
        // topicC is SUB only.
        assert!(denied(&v, &signed(send("topicC"), "RocketMQ", "12345678")).contains("PUB"));
        let pull = |group: &str| {
            let mut r = RemotingCommand::request(rc::PULL_MESSAGE);
            r.ext_fields.insert("topic", "topicC");
            r.ext_fields.insert("consumerGroup", group);
            signed(r, "RocketMQ", "12345678")
        };
        v.validate(&pull("groupB"), local()).unwrap();
        // Default group perm SUB.
        v.validate(&pull("anyGroup"), local()).unwrap();
        assert!(denied(&v, &pull("groupA")).contains("group=groupA"));
    }

    #[test]
    fn admin_codes_need_an_admin_account_and_admins_pass() {
        let v = validator();
        let create = || {
            let mut r = RemotingCommand::request(rc::UPDATE_AND_CREATE_TOPIC);
            r.ext_fields.insert("topic", "T");
            r
        };
        let e = denied(&v, &signed(create(), "RocketMQ", "12345678"));
        assert!(
            e.starts_with("Need admin permission for request code=17"),
            "{e}"
        );
        v.validate(&signed(create(), "rocketmq2", "12345678"), local())
            .unwrap();
        v.validate(&signed(send("anything"), "rocketmq2", "12345678"), local())
            .unwrap();
    }

    #[test]
    fn the_name_servers_admin_check() {
        let v = validator();
        let reg = || RemotingCommand::request(rc::REGISTER_BROKER).with_ext("brokerName", "b");
        assert!(v.validate_admin(&reg(), local()).is_err());
        let e = v
            .validate_admin(&signed(reg(), "RocketMQ", "12345678"), local())
            .unwrap_err();
        assert!(e.to_string().contains("accessKey=RocketMQ is not"), "{e}");
        v.validate_admin(&signed(reg(), "rocketmq2", "12345678"), local())
            .unwrap();
        assert!(v
            .validate_admin(&signed(reg(), "rocketmq2", "wrong-secret"), local())
            .is_err());
    }

    #[test]
    fn white_addresses_skip_the_checks() {
        let v = validator();
        v.validate(&send("topicA"), "10.10.103.7".parse().unwrap())
            .unwrap();
        // rocketmq2's own white range: no signature needed from there.
        let mut r = send("topicA");
        r.ext_fields.insert(ACCESS_KEY, "rocketmq2");
        v.validate(&r, "192.168.1.9".parse().unwrap()).unwrap();
        assert!(v.validate(&r, local()).is_err());
    }

    #[test]
    fn a_replaced_table_applies_to_the_next_request() {
        let v = validator();
        let r = signed(send("topicB"), "RocketMQ", "12345678");
        v.validate(&r, local()).unwrap();
        let stricter = FILE.replace("topicB=PUB|SUB", "topicB=DENY");
        v.replace(AclTable::parse(&stricter, "test").unwrap());
        assert!(v.validate(&r, local()).is_err());
    }

    #[test]
    fn the_refusal_is_system_error_with_the_exception_text() {
        let v = validator();
        let req = send("topicB");
        let resp = v.validate(&req, local()).unwrap_err().response(&req);
        assert_eq!(resp.code, response_code::SYSTEM_ERROR);
        assert_eq!(
            resp.remark.as_deref(),
            Some("org.apache.rocketmq.acl.common.AclException: No accessKey is configured")
        );
    }
}
