//! [`ClientError`]: why a client call failed, in terms a tool can print as one line and a
//! caller can act on (retry, refresh the route, give up).

use crate::message::MessageError;
use crate::protocol::HeaderError;
use crate::remoting::{response_code, response_code_name, RemotingError};

/// Everything that can go wrong in the producer, consumer and admin clients.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: connect failed, timed out, or the connection closed. (Not a `#[source]`:
    /// its text already includes the cause, and tools print the whole chain on one line.)
    #[error("{0}")]
    Remoting(RemotingError),
    /// A broker or name server answered with a code the caller does not treat as success.
    #[error("{addr} answered {}: {remark}", code_label(*.code))]
    Remote {
        addr: String,
        code: i32,
        remark: String,
    },
    /// `namesrvAddr` named no address.
    #[error(
        "no name server address: give -n host:port (several separated by ';') or set NAMESRV_ADDR"
    )]
    NoNamesrv,
    /// The name servers know no route for the topic (GET_ROUTEINFO_BY_TOPIC answered 17).
    #[error("topic {0} does not exist: no name server has a route for it")]
    TopicNotExist(String),
    /// The route names no broker group that can take a write now (e.g. mid-election).
    #[error("no writable queue with a master for topic {topic}: {why}")]
    NoRoute { topic: String, why: String },
    /// A response whose header or body could not be read.
    #[error("bad answer from {addr}: {what}")]
    BadResponse { addr: String, what: String },
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The producer gave up: attempts or time ran out; `last` is the final failure.
    #[error(
        "sending to topic {topic} failed after {attempts} attempt(s) in {elapsed_ms} ms: {last}"
    )]
    SendFailed {
        topic: String,
        attempts: u32,
        elapsed_ms: u64,
        last: Box<ClientError>,
    },
    /// The query ran and found nothing (no message for a key, no offsets for a group).
    #[error("{0}")]
    NotFound(String),
    /// The caller asked for something the protocol cannot express.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The client was shut down while the call waited.
    #[error("the client is shut down")]
    Shutdown,
}

impl From<RemotingError> for ClientError {
    fn from(e: RemotingError) -> ClientError {
        ClientError::Remoting(e)
    }
}

fn code_label(code: i32) -> String {
    match response_code_name(code) {
        Some(name) => format!("{name} ({code})"),
        None => format!("code {code}"),
    }
}

/// Response codes on which a send is retried (Java's `retryResponseCodes`): the next attempt
/// refreshes the route, so a new master or a fixed topic is picked up.
const RETRY_SEND_CODES: [i32; 6] = [
    response_code::TOPIC_NOT_EXIST,
    response_code::SERVICE_NOT_AVAILABLE,
    response_code::SYSTEM_ERROR,
    response_code::NO_PERMISSION,
    response_code::NO_BUYER_ID,
    response_code::NOT_IN_CURRENT_UNIT,
];

impl ClientError {
    /// True when a send may succeed if retried after a route refresh: no answer at all (the
    /// broker may be dead or deposed), a retryable code (SERVICE_NOT_AVAILABLE is what a Raft
    /// follower or a leader without quorum answers), or no master in the route yet.
    pub fn is_retryable_send(&self) -> bool {
        match self {
            ClientError::Remoting(e) => !matches!(e, RemotingError::Codec(_)),
            // An ACL refusal comes as SYSTEM_ERROR, a retryable code; retrying cannot change
            // the account's permissions, only slow the answer down.
            ClientError::Remote { code, remark, .. } => {
                RETRY_SEND_CODES.contains(code) && !is_acl_refusal(remark)
            }
            ClientError::NoRoute { .. } => true,
            _ => false,
        }
    }

    /// True when the peer could not be reached or did not answer, as opposed to answering
    /// with an error: the caller should try another node.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Remoting(e) if !matches!(e, RemotingError::Codec(_)))
    }

    /// The response code, for `Remote` errors.
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Remote { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Whether a remark is a broker's ACL refusal (`AclException`, answered with SYSTEM_ERROR).
pub fn is_acl_refusal(remark: &str) -> bool {
    remark.contains("AclException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_errors_name_the_code() {
        let e = ClientError::Remote {
            addr: "127.0.0.1:10911".into(),
            code: 14,
            remark: "not the master".into(),
        };
        assert_eq!(
            e.to_string(),
            "127.0.0.1:10911 answered SERVICE_NOT_AVAILABLE (14): not the master"
        );
        assert!(e.is_retryable_send());
        assert!(!e.is_unreachable());
        let e = ClientError::Remote {
            addr: "a".into(),
            code: 13,
            remark: "too big".into(),
        };
        assert!(!e.is_retryable_send());
        let e = ClientError::Remote {
            addr: "a".into(),
            code: 9999,
            remark: String::new(),
        };
        assert_eq!(e.to_string(), "a answered code 9999: ");
        let e = ClientError::Remote {
            addr: "a".into(),
            code: 1,
            remark: "org.apache.rocketmq.acl.common.AclException: No accessKey is configured"
                .into(),
        };
        assert!(!e.is_retryable_send(), "an ACL refusal is final");
    }

    #[test]
    fn unreachable_peers_are_retryable() {
        let e = ClientError::from(RemotingError::Timeout {
            addr: "a".into(),
            code: 310,
            millis: 3000,
        });
        assert!(e.is_retryable_send() && e.is_unreachable());
        assert!(!ClientError::TopicNotExist("T".into()).is_retryable_send());
    }
}
