//! Node addresses: `host:port` values (`namesrvAddr`, `brokerIP1`) and the Raft group written as
//! RocketMQ's `dLegerPeers`, `n0-127.0.0.1:40911;n1-127.0.0.1:40912;...`.
//!
//! openraft names nodes by `u64`, DLedger by strings like `n0`. The number at the end of the
//! DLedger id is the openraft node id, so the operator's `n0/n1/n2` and the node ids in Raft's
//! logs and metrics agree without a separate mapping file.

use std::collections::HashSet;

/// One member of the Raft group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RaftPeer {
    /// The DLedger id as written in the config, e.g. `n0`.
    pub id: String,
    /// The openraft node id: the decimal number at the end of `id` (`n12` → 12).
    pub node_id: u64,
    /// `host:port` where this peer listens for Raft traffic.
    pub addr: String,
}

impl RaftPeer {
    /// The port of `addr`; `None` only for a peer built in code with a malformed address.
    pub fn port(&self) -> Option<u16> {
        split_addr(&self.addr).ok().map(|(_, port)| port)
    }
}

/// The openraft node id of a DLedger id: its trailing decimal digits.
pub(crate) fn node_id_of(id: &str) -> Result<u64, String> {
    let digits_at = id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let digits = &id[digits_at..];
    if digits.is_empty() {
        return Err(format!(
            "peer id {id:?} has no numeric suffix; ids must end in a number (n0, n1, ...) \
             because that number becomes the Raft node id"
        ));
    }
    digits
        .parse()
        .map_err(|_| format!("peer id {id:?} has a numeric suffix too large for a node id"))
}

/// `dLegerPeers`: `id-host:port` entries separated by `;`. The id ends at the first `-`, as in
/// DLedger, so host names may contain dashes. An empty value is an empty group (as if absent).
/// Uniqueness is checked by [`check_unique`] during validation, which also covers groups built in
/// code.
pub(crate) fn parse_peers(v: &str) -> Result<Vec<RaftPeer>, String> {
    let mut peers = Vec::new();
    for entry in v.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, addr) = entry
            .split_once('-')
            .map(|(id, addr)| (id.trim(), addr.trim()))
            .filter(|(id, _)| !id.is_empty())
            .ok_or_else(|| {
                format!("{entry:?} is not of the form id-host:port (e.g. n0-127.0.0.1:40911)")
            })?;
        let node_id = node_id_of(id)?;
        let addr = addr_of(addr).map_err(|e| format!("peer {id:?}: {e}"))?;
        peers.push(RaftPeer {
            id: id.to_string(),
            node_id,
            addr,
        });
    }
    Ok(peers)
}

/// Rejects a group where two peers share an id, a node number (`n1` and `n01`) or an address:
/// any of these would make two members indistinguishable to Raft, or to the network.
pub(crate) fn check_unique(peers: &[RaftPeer]) -> Result<(), String> {
    let (mut ids, mut nodes, mut addrs) = (HashSet::new(), HashSet::new(), HashSet::new());
    for p in peers {
        if !ids.insert(p.id.as_str()) {
            return Err(format!("peer id {:?} appears twice", p.id));
        }
        if !nodes.insert(p.node_id) {
            let first = peers
                .iter()
                .find(|q| q.node_id == p.node_id)
                .map_or("", |q| &q.id);
            return Err(format!(
                "peers {first:?} and {:?} both have node number {}",
                p.id, p.node_id
            ));
        }
        if !addrs.insert(p.addr.as_str()) {
            return Err(format!("address {:?} is used by two peers", p.addr));
        }
    }
    Ok(())
}

/// One `host:port` address, returned as written (trimmed).
pub(crate) fn addr_of(v: &str) -> Result<String, String> {
    split_addr(v)?;
    Ok(v.to_string())
}

/// `namesrvAddr`: `host:port` entries separated by `;`; an empty value means none.
pub(crate) fn addr_list(v: &str) -> Result<Vec<String>, String> {
    v.split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(addr_of)
        .collect()
}

/// A host name or IP address alone (`brokerIP1`): non-empty, no whitespace.
pub(crate) fn host(v: &str) -> Result<String, String> {
    if v.is_empty() || v.chars().any(char::is_whitespace) {
        return Err(format!("{v:?} is not a host name or IP address"));
    }
    Ok(v.to_string())
}

/// Joins a host and port, bracketing an IPv6 literal so the result splits back unambiguously.
pub(crate) fn join_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host:port` or `[ipv6]:port`; the port must be 1–65535 and the host non-empty.
fn split_addr(v: &str) -> Result<(&str, u16), String> {
    let shape = || format!("{v:?} is not host:port");
    let (host, port) = match v.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or_else(shape)?;
            (host, after.strip_prefix(':').ok_or_else(shape)?)
        }
        None => {
            let (host, port) = v.rsplit_once(':').ok_or_else(shape)?;
            if host.contains(':') {
                return Err(format!("{v:?}: write an IPv6 host in brackets, [::1]:port"));
            }
            (host, port)
        }
    };
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(format!("{v:?} has no valid host before the port"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok((host, p)),
        _ => Err(format!("{v:?} has port {port:?}; a port is 1-65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, node_id: u64, addr: &str) -> RaftPeer {
        RaftPeer {
            id: id.into(),
            node_id,
            addr: addr.into(),
        }
    }

    #[test]
    fn parses_rocketmq_dledger_peers() {
        let peers =
            parse_peers("n0-127.0.0.1:40911;n1-127.0.0.1:40912; n12-broker-2.svc:40913 ;").unwrap();
        assert_eq!(
            peers,
            vec![
                peer("n0", 0, "127.0.0.1:40911"),
                peer("n1", 1, "127.0.0.1:40912"),
                peer("n12", 12, "broker-2.svc:40913"),
            ]
        );
        assert_eq!(peers[2].port(), Some(40913));
        assert_eq!(parse_peers(""), Ok(vec![]));
        assert_eq!(parse_peers("n0-[::1]:1").unwrap()[0].port(), Some(1));
    }

    #[test]
    fn node_ids_come_from_the_numeric_suffix() {
        assert_eq!(node_id_of("n0"), Ok(0));
        assert_eq!(node_id_of("node07"), Ok(7));
        assert_eq!(node_id_of("42"), Ok(42));
        assert!(node_id_of("nx").unwrap_err().contains("no numeric suffix"));
        assert!(node_id_of("n99999999999999999999")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn malformed_peers_are_rejected() {
        for (value, needle) in [
            ("n0:127.0.0.1:1", "not of the form id-host:port"),
            ("-127.0.0.1:1", "not of the form"),
            ("nx-127.0.0.1:1", "no numeric suffix"),
            ("n0-127.0.0.1", "not host:port"),
            ("n0-127.0.0.1:0", "port \"0\""),
            ("n0-127.0.0.1:65536", "1-65535"),
            ("n0-127.0.0.1:+1", "1-65535"),
            ("n0-:40911", "no valid host"),
            ("n0-::1:40911", "brackets"),
        ] {
            let err = parse_peers(value).unwrap_err();
            assert!(err.contains(needle), "{value}: {err}");
        }
    }

    #[test]
    fn uniqueness() {
        let ok = [peer("n0", 0, "a:1"), peer("n1", 1, "a:2")];
        assert_eq!(check_unique(&ok), Ok(()));
        let err = check_unique(&[peer("n0", 0, "a:1"), peer("n0", 0, "a:2")]).unwrap_err();
        assert!(err.contains("\"n0\" appears twice"), "{err}");
        let err = check_unique(&[peer("n1", 1, "a:1"), peer("n01", 1, "a:2")]).unwrap_err();
        assert!(err.contains("both have node number 1"), "{err}");
        let err = check_unique(&[peer("n0", 0, "a:1"), peer("n1", 1, "a:1")]).unwrap_err();
        assert!(err.contains("\"a:1\" is used by two peers"), "{err}");
    }

    #[test]
    fn address_lists_and_hosts() {
        assert_eq!(
            addr_list("127.0.0.1:9876; ns2:9876;"),
            Ok(vec!["127.0.0.1:9876".into(), "ns2:9876".into()])
        );
        assert!(addr_list("127.0.0.1").is_err());
        assert_eq!(host("10.0.0.1"), Ok("10.0.0.1".into()));
        assert!(host("").is_err());
        assert!(host("a b").is_err());
        assert_eq!(join_addr("10.0.0.1", 10912), "10.0.0.1:10912");
        assert_eq!(join_addr("::1", 10912), "[::1]:10912");
    }
}
