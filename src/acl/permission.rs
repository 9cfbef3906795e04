//! Permissions as RocketMQ 4.9's `Permission`: the bits an account owns on a topic or group
//! (`DENY`, `PUB`, `SUB`, `PUB|SUB`), how a needed permission is checked against an owned one,
//! and which request codes need an admin account.

use crate::remoting::codes::request_code as rc;

/// A permission byte, with RocketMQ's bit values so that logs and tests read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perm(u8);

impl Perm {
    pub const DENY: Perm = Perm(1);
    /// Needed, never owned: "PUB or SUB, either will do".
    pub const ANY: Perm = Perm(1 << 1);
    pub const PUB: Perm = Perm(1 << 2);
    pub const SUB: Perm = Perm(1 << 3);
    pub const PUB_SUB: Perm = Perm((1 << 2) | (1 << 3));

    /// Parses `plain_acl.yml`'s spelling. As RocketMQ's `parsePermFromString`, anything it does
    /// not know means DENY; `None` lets the caller log the unknown word.
    pub fn parse(word: &str) -> Option<Perm> {
        match word.trim().to_ascii_uppercase().as_str() {
            "PUB" => Some(Perm::PUB),
            "SUB" => Some(Perm::SUB),
            "PUB|SUB" | "SUB|PUB" => Some(Perm::PUB_SUB),
            "DENY" => Some(Perm::DENY),
            _ => None,
        }
    }

    /// `Permission.checkPermission`: an owned DENY refuses everything; ANY is satisfied by PUB
    /// or SUB; otherwise the needed bit must be owned.
    pub fn allows(self, needed: Perm) -> bool {
        if self.0 & Perm::DENY.0 != 0 {
            return false;
        }
        if needed.0 & Perm::ANY.0 != 0 {
            return self.0 & (Perm::PUB.0 | Perm::SUB.0) != 0;
        }
        needed.0 & self.0 != 0
    }

    /// The name RocketMQ writes (`PUB|SUB` for both).
    pub fn name(self) -> &'static str {
        match self {
            Perm::DENY => "DENY",
            Perm::ANY => "ANY",
            Perm::PUB => "PUB",
            Perm::SUB => "SUB",
            Perm::PUB_SUB => "PUB|SUB",
            _ => "?",
        }
    }
}

impl std::fmt::Display for Perm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Request codes only an `admin: true` account may send (RocketMQ's `Permission.ADMIN_CODE`).
pub const ADMIN_CODES: &[i32] = &[
    rc::UPDATE_AND_CREATE_TOPIC,
    rc::UPDATE_BROKER_CONFIG,
    rc::DELETE_TOPIC_IN_BROKER,
    rc::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    rc::DELETE_SUBSCRIPTIONGROUP,
];

/// `Permission.needAdminPerm`.
pub fn needs_admin(code: i32) -> bool {
    ADMIN_CODES.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rocketmq_spellings_and_unknown_words_are_none() {
        assert_eq!(Perm::parse("PUB"), Some(Perm::PUB));
        assert_eq!(Perm::parse(" sub "), Some(Perm::SUB));
        assert_eq!(Perm::parse("PUB|SUB"), Some(Perm::PUB_SUB));
        assert_eq!(Perm::parse("SUB|PUB"), Some(Perm::PUB_SUB));
        assert_eq!(Perm::parse("DENY"), Some(Perm::DENY));
        assert_eq!(Perm::parse("READ"), None);
    }

    #[test]
    fn check_permission_as_rocketmq() {
        assert!(Perm::PUB.allows(Perm::PUB));
        assert!(!Perm::PUB.allows(Perm::SUB));
        assert!(Perm::PUB_SUB.allows(Perm::SUB));
        assert!(!Perm::DENY.allows(Perm::PUB));
        assert!(!Perm::DENY.allows(Perm::ANY));
        assert!(Perm::SUB.allows(Perm::ANY));
    }

    #[test]
    fn admin_codes() {
        assert!(needs_admin(rc::UPDATE_AND_CREATE_TOPIC));
        assert!(needs_admin(rc::DELETE_TOPIC_IN_BROKER));
        assert!(!needs_admin(rc::SEND_MESSAGE));
        assert!(!needs_admin(rc::GET_BROKER_CONFIG));
    }
}
