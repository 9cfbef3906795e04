//! [`RemotingError`]: why a request to a peer got no answer.

use super::codec::CodecError;

/// Why a request (client → server, or server → client on the client's connection) failed.
///
/// Only `ConnectFailed` and `SendQueueFull` guarantee the peer never saw the request. After
/// `Timeout` or `ConnectionClosed` the peer may or may not have processed it.
#[derive(Debug, thiserror::Error)]
pub enum RemotingError {
    #[error("cannot connect to {addr}: {source}")]
    ConnectFailed {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer from {addr} to request code {code} within {millis} ms")]
    Timeout {
        addr: String,
        code: i32,
        millis: u64,
    },
    #[error("connection to {addr} closed ({reason})")]
    ConnectionClosed { addr: String, reason: String },
    #[error("the write queue to {addr} is full; the peer is not reading")]
    SendQueueFull { addr: String },
    #[error("cannot encode the request: {0}")]
    Codec(#[from] CodecError),
}
