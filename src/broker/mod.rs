//! The broker: RocketMQ request processors on top of the Raft node. Writes go through Raft
//! (SEND_OK only after quorum commit); reads come from committed data on any node.

pub mod message_store;
pub mod offsets;
