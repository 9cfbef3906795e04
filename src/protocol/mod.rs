//! Typed RocketMQ protocol data shared by the broker, the name server and the state machine.

pub mod topic;
