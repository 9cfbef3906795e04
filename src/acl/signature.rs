//! RocketMQ's request signature (`AclUtils.combineRequestContent`, `AclSigner`,
//! `AclClientRPCHook`), for the broker to check and for our tools to sign.
//!
//! The signed content is the values of the request's ext fields, sorted by name (Java's
//! `TreeMap`), without `Signature` and `_UNIQUE_KEY_QUERY`, concatenated with nothing between
//! them, as UTF-8, followed by the body bytes. `AccessKey` and `SecurityToken` are ext fields, so
//! they are signed too. The signature is `Base64(HmacSHA1(secretKey, content))`.
//!
//! Rust's `String` order is UTF-8 byte order and Java's is UTF-16 code-unit order; they differ
//! only for characters above U+FFFF, which never occur in RocketMQ's header names.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::remoting::{RemotingCommand, RpcHook};

/// Ext field names of `SessionCredentials`.
pub const ACCESS_KEY: &str = "AccessKey";
pub const SECRET_KEY: &str = "SecretKey";
pub const SIGNATURE: &str = "Signature";
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// `MixAll.UNIQUE_MSG_QUERY_FLAG`: added outside the header, so never signed.
pub const UNIQUE_MSG_QUERY_FLAG: &str = "_UNIQUE_KEY_QUERY";

type HmacSha1 = Hmac<Sha1>;

/// The signed ext fields of `req`, in signing order (by name; names are unique in a command,
/// so the order is total, as Java's `TreeMap`).
fn signed_fields(req: &RemotingCommand) -> Vec<(&str, &str)> {
    let mut fields: Vec<(&str, &str)> = req
        .ext_fields
        .iter()
        .filter(|(k, _)| *k != SIGNATURE && *k != UNIQUE_MSG_QUERY_FLAG)
        .collect();
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    fields
}

/// The bytes RocketMQ signs for `req` (see the module comment).
pub fn request_content(req: &RemotingCommand) -> Vec<u8> {
    let sorted = signed_fields(req);
    let mut out =
        Vec::with_capacity(sorted.iter().map(|(_, v)| v.len()).sum::<usize>() + req.body.len());
    for (_, v) in &sorted {
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(&req.body);
    out
}

/// [`verify`] of [`request_content`], without copying the body: the MAC reads the values and
/// the body where they are (a send's body can be megabytes).
pub fn verify_request(req: &RemotingCommand, secret_key: &str, signature: &str) -> bool {
    let Ok(raw) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut m = mac(secret_key, b"");
    for (_, v) in signed_fields(req) {
        m.update(v.as_bytes());
    }
    m.update(&req.body);
    m.verify_slice(&raw).is_ok()
}

fn mac(secret_key: &str, content: &[u8]) -> HmacSha1 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha1::new_from_slice(secret_key.as_bytes()) {
        Ok(m) => m,
        Err(e) => unreachable!("HMAC accepts keys of any length: {e}"),
    };
    mac.update(content);
    mac
}

/// `AclSigner.calSignature`: Base64(HmacSHA1(secret, content)).
pub fn sign(content: &[u8], secret_key: &str) -> String {
    STANDARD.encode(mac(secret_key, content).finalize().into_bytes())
}

/// Whether `signature` (as sent, Base64) is the signature of `content` under `secret_key`,
/// compared in constant time so the answer time does not leak how much of it was right.
pub fn verify(content: &[u8], secret_key: &str, signature: &str) -> bool {
    match STANDARD.decode(signature.trim()) {
        Ok(raw) => mac(secret_key, content).verify_slice(&raw).is_ok(),
        Err(_) => false,
    }
}

/// An account's keys, as a client holds them (`SessionCredentials`). Signing a request adds
/// `AccessKey`, the optional `SecurityToken` and `Signature` to its ext fields, as
/// `AclClientRPCHook.doBeforeRequest`. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    pub access_key: String,
    pub secret_key: String,
    pub security_token: Option<String>,
}

impl SessionCredentials {
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        SessionCredentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
        }
    }

    /// Signs `req` in place; a signature already on it is replaced.
    pub fn sign_request(&self, req: &mut RemotingCommand) {
        req.ext_fields.remove(SIGNATURE);
        req.ext_fields.insert(ACCESS_KEY, self.access_key.clone());
        if let Some(token) = &self.security_token {
            req.ext_fields.insert(SECURITY_TOKEN, token.clone());
        }
        let signature = sign(&request_content(req), &self.secret_key);
        req.ext_fields.insert(SIGNATURE, signature);
    }
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl RpcHook for SessionCredentials {
    fn before_request(&self, req: &mut RemotingCommand) {
        self.sign_request(req);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn hmac_sha1_matches_the_rfc_2202_vector() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = sign(b"what do ya want for nothing?", "Jefe");
        let raw = STANDARD.decode(sig).unwrap();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn content_is_sorted_values_then_body_without_signature() {
        let mut req = RemotingCommand::request(10);
        for (k, v) in [
            ("topic", "T"),
            ("b", "x"),
            ("AccessKey", "AK"),
            ("Signature", "S"),
            ("_UNIQUE_KEY_QUERY", "u"),
        ] {
            req.ext_fields.insert(k, v);
        }
        req.body = Bytes::from_static(b"BODY");
        // Sorted names: AccessKey, b, topic (uppercase before lowercase, as Java's TreeMap).
        assert_eq!(request_content(&req), b"AKxTBODY");
    }

    #[test]
    fn signed_requests_verify_and_any_change_breaks_them() {
        let creds = SessionCredentials::new("RocketMQ", "12345678");
        let mut req = RemotingCommand::request(10);
        req.ext_fields.insert("topic", "TopicTest");
        req.body = Bytes::from_static(b"hello");
        creds.sign_request(&mut req);
        assert_eq!(&req.ext_fields[ACCESS_KEY], "RocketMQ");
        let sig = req.ext_fields[SIGNATURE].to_string();
        assert!(verify(&request_content(&req), "12345678", &sig));
        assert!(!verify(&request_content(&req), "87654321", &sig));
        let mut tampered = req.clone();
        tampered.body = Bytes::from_static(b"hellO");
        assert!(!verify(&request_content(&tampered), "12345678", &sig));
        tampered = req.clone();
        tampered.ext_fields.insert("topic", "Other");
        assert!(!verify(&request_content(&tampered), "12345678", &sig));
        assert!(!verify(&request_content(&req), "12345678", "not base64!"));
        assert!(verify_request(&req, "12345678", &sig));
        assert!(!verify_request(&tampered, "12345678", &sig));
        assert!(!verify_request(&req, "wrong-secret", &sig));
        assert!(!format!("{creds:?}").contains("12345678"));
    }
}
