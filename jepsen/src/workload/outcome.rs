//! Turning a failed send into `fail` (certainly not stored) or `info` (maybe stored).
//!
//! The rule is Jepsen's: claim `fail` only when the message provably never reached the Raft
//! log. Everything else is `info`, because calling a maybe-stored message failed is how a
//! checker invents "false fail" anomalies. The broker answers SERVICE_NOT_AVAILABLE (14) both
//! before proposing (not the master, no quorum, transfer, disk full) and after (commit timeout,
//! leadership lost with the entry in flight), so its remark decides; the remarks matched here
//! are the ones written before any proposal in `broker/processor/send.rs` and `raft/node.rs`.

use ledgermq::client::ClientError;
use ledgermq::remoting::{response_code, RemotingError};

use crate::history::OpType;

/// Remarks of SERVICE_NOT_AVAILABLE that the broker only gives before proposing anything.
const REFUSED_BEFORE_PROPOSAL: [&str; 4] = [
    // check_writable: this node is not the master.
    "is not the master",
    // NodeCore::write: no quorum heard within the lease.
    "has not heard from a quorum",
    // NodeCore::write: leadership transfer in progress.
    "leadership is moving",
    // check_writable: disk full.
    "disk is full",
];

/// `fail` or `info` for a send that did not complete `ok`.
pub fn classify(e: &ClientError) -> OpType {
    match e {
        ClientError::SendFailed { last, .. } => classify(last),
        // Nothing was written to the socket.
        ClientError::Remoting(RemotingError::ConnectFailed { .. } | RemotingError::Codec(_)) => {
            OpType::Fail
        }
        // Sent, no answer: maybe stored.
        ClientError::Remoting(_) => OpType::Info,
        ClientError::Remote { code, remark, .. } => match *code {
            response_code::SERVICE_NOT_AVAILABLE
                if REFUSED_BEFORE_PROPOSAL.iter().any(|r| remark.contains(r)) =>
            {
                OpType::Fail
            }
            // Timeouts, lost leadership with the entry in flight, a stopped core.
            response_code::SERVICE_NOT_AVAILABLE => OpType::Info,
            // Also used for an unexpected apply result, after commit.
            response_code::SYSTEM_ERROR => OpType::Info,
            // Validation refusals (MESSAGE_ILLEGAL, NO_PERMISSION, TOPIC_NOT_EXIST ...): the
            // message never entered the log, or the state machine rejected it on every node.
            _ => OpType::Fail,
        },
        // Decided before sending anything: no route, no master, bad argument.
        ClientError::NoNamesrv
        | ClientError::TopicNotExist(_)
        | ClientError::NoRoute { .. }
        | ClientError::InvalidArgument(_)
        | ClientError::Header(_)
        | ClientError::Message(_)
        | ClientError::NotFound(_) => OpType::Fail,
        // An answer we could not read, or a shutdown mid-call.
        ClientError::BadResponse { .. } | ClientError::Shutdown => OpType::Info,
    }
}

/// The address a failed send went to, when the error names it.
pub fn error_addr(e: &ClientError) -> Option<&str> {
    match e {
        ClientError::SendFailed { last, .. } => error_addr(last),
        ClientError::Remote { addr, .. } | ClientError::BadResponse { addr, .. } => Some(addr),
        ClientError::Remoting(
            RemotingError::ConnectFailed { addr, .. }
            | RemotingError::Timeout { addr, .. }
            | RemotingError::ConnectionClosed { addr, .. }
            | RemotingError::SendQueueFull { addr },
        ) => Some(addr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(code: i32, remark: &str) -> ClientError {
        ClientError::Remote {
            addr: "10.77.1.10:10911".into(),
            code,
            remark: remark.into(),
        }
    }

    #[test]
    fn refusals_before_proposal_are_failures() {
        for remark in [
            "broker 10.77.1.10:10911 is not the master of RaftNode00 (Raft leader is n1); the client will retry on the master",
            "service not available now: the leader has not heard from a quorum for 900 ms; it may be partitioned; broker x is not able to commit (leader n0)",
            "service not available now: the broker's disk is full (more than 90% used, or less than two segments free)",
        ] {
            assert_eq!(classify(&remote(14, remark)), OpType::Fail, "{remark}");
        }
        assert_eq!(classify(&remote(13, "too big")), OpType::Fail);
        let refused = ClientError::Remoting(RemotingError::ConnectFailed {
            addr: "a".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        });
        assert_eq!(classify(&refused), OpType::Fail);
        let no_master = ClientError::NoRoute {
            topic: "t".into(),
            why: "no master".into(),
        };
        assert_eq!(classify(&no_master), OpType::Fail);
    }

    #[test]
    fn anything_that_may_have_been_stored_is_indeterminate() {
        for remark in [
            "service not available now: no commit within 3000 ms; the write may or may not be applied; broker x is not able to commit (leader n0)",
            "service not available now: not the leader (leader: n1 at 10.77.1.11:40911); broker x is not able to commit (leader n1)",
            "service not available now: raft stopped: raft stopped before answering; ...",
        ] {
            assert_eq!(classify(&remote(14, remark)), OpType::Info, "{remark}");
        }
        let timeout = ClientError::Remoting(RemotingError::Timeout {
            addr: "a".into(),
            code: 310,
            millis: 5000,
        });
        assert_eq!(classify(&timeout), OpType::Info);
        let wrapped = ClientError::SendFailed {
            topic: "t".into(),
            attempts: 1,
            elapsed_ms: 5000,
            last: Box::new(timeout),
        };
        assert_eq!(classify(&wrapped), OpType::Info);
        assert_eq!(error_addr(&wrapped), Some("a"));
        assert_eq!(
            classify(&remote(1, "unexpected apply result")),
            OpType::Info
        );
    }
}
