//! RocketMQ's remoting protocol: the frame codec, [`RemotingCommand`], the request and response
//! codes, and TCP server and client connection handling (opaque matching, oneway, timeouts,
//! server-initiated requests on a client's connection).
//!
//! What it owns: bytes ⇄ commands, and getting each command to the right peer and each response
//! to the request that waits for it. Wire facts are checked against Apache RocketMQ 4.9.x
//! (`RemotingCommand`, `RocketMQSerializable`, `NettyDecoder`, `NettyRemotingAbstract`).
//!
//! What it must never do: broker or name-server logic. It does not know what a code means,
//! which header fields a code needs, or which codes are supported: the [`RequestHandler`] a
//! broker or name server plugs into [`serve`] decides, and answers unknown codes with
//! [`not_supported`]. Typed headers and JSON bodies live in `protocol/`.
//!
//! ```text
//! codes.rs       request_code / response_code constants and their names
//! command.rs     RemotingCommand, LanguageCode, SerializeType, opaque counter
//! ext_fields.rs  ExtFields, the small Vec-backed map of a command's custom header
//! codec.rs       frame check/parse/encode; codec/json.rs and codec/binary.rs are the headers
//! connection.rs  frame reader, writer task, response matching (shared by server and client)
//! server.rs      serve(), RequestHandler, ChannelContext
//! client.rs      RemotingClient, InboundRequest
//! ```

pub mod client;
pub mod codec;
pub mod codes;
pub mod command;
mod connection;
pub mod error;
pub mod ext_fields;
pub mod server;

pub use client::{ClientConfig, InboundRequest, RemotingClient, RpcHook};
pub use codec::{decode, encode, CodecError, DEFAULT_MAX_FRAME};
pub use codes::{request_code, request_code_name, response_code, response_code_name};
pub use command::{
    next_opaque, not_supported, LanguageCode, RemotingCommand, SerializeType, LEDGERMQ_VERSION,
};
pub use error::RemotingError;
pub use ext_fields::ExtFields;
pub use server::{serve, ChannelContext, RequestHandler, ServerConfig};

#[cfg(test)]
mod tests;
