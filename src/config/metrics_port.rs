//! `metricsPort`: where a broker or name server serves Prometheus `/metrics` over HTTP.
//!
//! Unset, it is `listenPort + 2`. A fixed default (RocketMQ 5's exporter uses 5557) would make
//! the three nodes of one host collide; deriving it from the client port does not: the fast-try
//! nodes' client ports are 30911/30921/30931, so their metrics ports are 30913/30923/30933, and
//! the name server's is 9878. RocketMQ already claims `listenPort - 2` (the VIP channel) and
//! `listenPort + 1` (HA, and a LedgerMQ group of one's Raft port), so `+ 2` is the nearest
//! free neighbour. `0` switches the listener off.
//!
//! A port that was derived, not written, does not stop start-up when it cannot be bound (a
//! test or a second process may hold it): the process logs a warning and runs without
//! `/metrics`. A port written in the file must bind, like any other configured port.

use super::values;

/// The resolved metrics listener port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsListen {
    pub port: u16,
    /// Set in the configuration file (a bind failure is then fatal) rather than derived.
    pub explicit: bool,
}

/// How far above `listenPort` the default metrics port is.
pub const DEFAULT_OFFSET: u16 = 2;

/// Parses a `metricsPort` value: empty is "unset", else 0–65535.
pub(crate) fn parse(v: &str) -> Result<Option<u16>, String> {
    values::optional(v, |v| values::int_in(v, 0, u16::MAX))
}

/// The listener for a configured `metricsPort` next to a `listenPort`; `None` when switched off
/// or when the derived port would pass 65535.
pub fn resolve(configured: Option<u16>, listen_port: u16) -> Option<MetricsListen> {
    match configured {
        Some(0) => None,
        Some(port) => Some(MetricsListen {
            port,
            explicit: true,
        }),
        None => listen_port
            .checked_add(DEFAULT_OFFSET)
            .map(|port| MetricsListen {
                port,
                explicit: false,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_follows_the_client_port_and_zero_switches_off() {
        let derived = |p| resolve(None, p).map(|m| m.port);
        assert_eq!(
            [30911, 30921, 30931].map(derived),
            [Some(30913), Some(30923), Some(30933)]
        );
        assert_eq!(derived(9876), Some(9878));
        assert_eq!(derived(65534), None);
        assert_eq!(resolve(Some(0), 30911), None);
        assert_eq!(
            resolve(Some(9100), 30911),
            Some(MetricsListen {
                port: 9100,
                explicit: true
            })
        );
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("0"), Ok(Some(0)));
        assert!(parse("65536").is_err());
        assert!(parse("x").is_err());
    }
}
