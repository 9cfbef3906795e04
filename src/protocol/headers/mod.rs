//! Typed custom headers (extFields) of the RocketMQ 4.x requests and responses LedgerMQ serves,
//! one file per area. Field names are the Java field names, exactly; required fields are the
//! ones Java annotates `@CFNotNull` (see each type), with two deliberate relaxations noted on
//! [`CreateTopicRequestHeader`] and [`UnregisterClientRequestHeader`].
//!
//! Every header implements [`CommandHeader`](crate::protocol::header::CommandHeader):
//! `from_ext` for the side that receives it, `to_ext` for the side that sends it.

/// Declares a header made of one required string field.
macro_rules! string_header {
    ($(#[$doc:meta])* $name:ident { $field:ident: $wire:literal }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub $field: String,
        }

        impl $crate::protocol::header::CommandHeader for $name {
            fn from_ext(
                ext: &$crate::protocol::header::ExtFields,
            ) -> Result<Self, $crate::protocol::header::HeaderError> {
                Ok($name {
                    $field: $crate::protocol::header::req_str(ext, stringify!($name), $wire)?,
                })
            }

            fn to_ext(&self) -> $crate::protocol::header::ExtFields {
                let mut ext = $crate::protocol::header::ExtFields::new();
                $crate::protocol::header::put(&mut ext, $wire, &self.$field);
                ext
            }
        }
    };
}

mod admin;
mod client;
mod namesrv;
mod offset;
mod pull;
mod query;
mod send;
mod transaction;

pub use admin::{
    CreateTopicRequestHeader, DeleteTopicRequestHeader, GetBrokerConfigResponseHeader,
    GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
};
pub use client::{
    ConsumerSendMsgBackRequestHeader, EndTransactionRequestHeader,
    GetConsumerListByGroupRequestHeader, NotifyConsumerIdsChangedRequestHeader,
    UnregisterClientRequestHeader,
};
pub use namesrv::{
    DeleteKVConfigRequestHeader, GetKVConfigRequestHeader, GetKVConfigResponseHeader,
    GetRouteInfoRequestHeader, GetTopicsByClusterRequestHeader, PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader, QueryDataVersionResponseHeader, RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader, UnRegisterBrokerRequestHeader,
};
pub use offset::{
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, OffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    TimestampResponseHeader, UpdateConsumerOffsetRequestHeader,
};
pub use pull::{PullMessageRequestHeader, PullMessageResponseHeader, PullSysFlag};
pub use query::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
    UNIQUE_KEY_QUERY,
};
pub use send::{
    uses_v2_names, SendMessageRequestHeader, SendMessageRequestHeaderRef,
    SendMessageResponseHeader, SEND_BATCH_MESSAGE, SEND_MESSAGE_V2, SEND_REPLY_MESSAGE_V2,
};
pub use transaction::CheckTransactionStateRequestHeader;
