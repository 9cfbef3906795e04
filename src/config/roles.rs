//! The two enum-valued broker keys, `brokerRole` and `flushDiskType`, which together decide when
//! a SEND_OK is durable. Both accept RocketMQ's upper-case names in any case and print them back
//! in RocketMQ's spelling, so `getBrokerConfig` output matches RocketMQ's.

use std::fmt;

/// RocketMQ's fixed replication role. With `enableDLegerCommitLog=true` the role is decided by
/// Raft elections instead and this key is ignored, as in RocketMQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BrokerRole {
    /// The master acknowledges once the message is on its own log.
    #[default]
    AsyncMaster,
    /// The master acknowledges once a slave has the message too.
    SyncMaster,
    /// A read-only replica of a master with the same `brokerName`.
    Slave,
}

impl BrokerRole {
    /// The name as written in `broker.conf`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }

    pub(crate) fn parse(v: &str) -> Result<Self, String> {
        [Self::AsyncMaster, Self::SyncMaster, Self::Slave]
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(v))
            .ok_or_else(|| format!("{v:?} is not ASYNC_MASTER, SYNC_MASTER or SLAVE"))
    }
}

impl fmt::Display for BrokerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a write is forced to disk relative to its acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlushDiskType {
    /// Flush in the background every `flushIntervalCommitLog` ms; a quorum of page caches is the
    /// durability guarantee.
    #[default]
    AsyncFlush,
    /// Fsync before acknowledging (on every node of the quorum, see DESIGN invariant 1).
    SyncFlush,
}

impl FlushDiskType {
    /// The name as written in `broker.conf`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
            FlushDiskType::SyncFlush => "SYNC_FLUSH",
        }
    }

    pub(crate) fn parse(v: &str) -> Result<Self, String> {
        [Self::AsyncFlush, Self::SyncFlush]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(v))
            .ok_or_else(|| format!("{v:?} is not ASYNC_FLUSH or SYNC_FLUSH"))
    }
}

impl fmt::Display for FlushDiskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_any_case() {
        for role in [
            BrokerRole::AsyncMaster,
            BrokerRole::SyncMaster,
            BrokerRole::Slave,
        ] {
            assert_eq!(BrokerRole::parse(role.as_str()), Ok(role));
            assert_eq!(
                BrokerRole::parse(&role.to_string().to_lowercase()),
                Ok(role)
            );
        }
        for flush in [FlushDiskType::AsyncFlush, FlushDiskType::SyncFlush] {
            assert_eq!(FlushDiskType::parse(flush.as_str()), Ok(flush));
        }
        assert_eq!(BrokerRole::default(), BrokerRole::AsyncMaster);
        assert_eq!(FlushDiskType::default(), FlushDiskType::AsyncFlush);
        assert!(BrokerRole::parse("MASTER").is_err());
        assert!(FlushDiskType::parse("").is_err());
    }
}
