//! ACL 1.0 as in RocketMQ 4.9 (`aclEnable=true`, `plain_acl.yml`): who may send which request.
//!
//! What it owns: reading `plain_acl.yml`, RocketMQ's request signature, the permission each
//! request code needs, the check itself and the hot reload of the file. The broker and the name
//! server call [`PlainAccessValidator::validate`] before dispatching a request; our clients sign
//! with [`SessionCredentials`] (an [`RpcHook`](crate::remoting::RpcHook) on the remoting client).
//! The Raft peer port's shared-secret handshake is the raft layer's (`raft::peer_auth`).
//!
//! What it must never do: log, print or answer with a secret key or an expected signature; or
//! let a request through because something could not be read (a malformed file keeps the last
//! good one; a malformed request is refused).
//!
//! ```text
//! config.rs          plain_acl.yml → AclTable (accounts, perms, white addresses)
//! remote_address.rs  whiteRemoteAddress patterns
//! permission.rs      DENY/PUB/SUB bits, checkPermission, admin-only codes
//! resource.rs        per request code: the topics/groups it needs and with which permission
//! signature.rs       HmacSHA1 content and signature; SessionCredentials (client side)
//! validator.rs       PlainAccessValidator: the check, in RocketMQ's order; the refusal answer
//! watcher.rs         hot reload, keeping the last good table
//! ```

pub mod config;
pub mod permission;
pub mod remote_address;
pub mod resource;
pub mod signature;
pub mod validator;
pub mod watcher;

pub use config::{AclConfigError, AclTable};
pub use permission::Perm;
pub use signature::SessionCredentials;
pub use validator::{AclDenied, PlainAccessValidator};
