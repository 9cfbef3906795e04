//! The members one process hosts (`ledgermq broker -c a.conf -c b.conf ...`, multi-Raft): each
//! file is a complete one-member `broker.conf`, already valid on its own, and this module checks
//! that they can live together in one process before anything starts. Two members sharing a
//! store path would corrupt each other silently; two sharing a client port could not both
//! start; and the peer transport routes an inbound frame to a member by the peer port it names,
//! so a peer port may belong to one member of the process only (whatever its IP).
//!
//! What it must never do: judge a single file on its own (that is `validate.rs`).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::keys as k;
use super::{BrokerConfig, ConfigError};

/// What two members of one process must not share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Claim {
    BrokerName(String),
    Group(String),
    ClientAddr(String),
    PeerPort(u16),
    StorePath(PathBuf),
}

/// Checks that `members` can run in one process. The error names the later file, the key and
/// the earlier file that already uses the value.
pub fn check_members(members: &[BrokerConfig]) -> Result<(), ConfigError> {
    let mut seen: HashMap<Claim, &Path> = HashMap::new();
    for m in members {
        for (key, claim) in claims(m) {
            if let Some(other) = seen.insert(claim.clone(), &m.origin) {
                return Err(ConfigError::Inconsistent {
                    file: m.origin.clone(),
                    key: key.to_string(),
                    message: format!(
                        "{} is also used by {} in this process; each member of one process \
                         needs its own brokerName, dLegerGroup, ports and store paths",
                        describe(&claim),
                        other.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The peer port a member listens on: its own `dLegerPeers` entry, or its HA port.
pub fn peer_port(m: &BrokerConfig) -> Option<u16> {
    m.raft_peers()
        .into_iter()
        .find(|p| p.node_id == m.self_node_id())
        .and_then(|p| p.port())
}

fn claims(m: &BrokerConfig) -> Vec<(&'static str, Claim)> {
    let mut out = vec![
        (k::BROKER_NAME, Claim::BrokerName(m.broker_name.clone())),
        (k::D_LEGER_GROUP, Claim::Group(m.d_leger_group.clone())),
        (
            k::LISTEN_PORT,
            Claim::ClientAddr(format!("{}:{}", m.broker_ip1, m.listen_port)),
        ),
    ];
    if let Some(port) = peer_port(m) {
        let key = if m.enable_d_leger_commit_log {
            k::D_LEGER_PEERS
        } else {
            k::HA_LISTEN_PORT
        };
        out.push((key, Claim::PeerPort(port)));
    }
    for (key, path) in [
        (k::STORE_PATH_ROOT_DIR, &m.store_path_root_dir),
        (k::STORE_PATH_COMMIT_LOG, &m.store_path_commit_log),
        (k::STORE_PATH_CONSUME_QUEUE, &m.store_path_consume_queue),
        (k::STORE_PATH_INDEX, &m.store_path_index),
        (k::STORE_CHECKPOINT, &m.store_checkpoint),
        (k::ABORT_FILE, &m.abort_file),
    ] {
        out.push((key, Claim::StorePath(normal(path))));
    }
    out
}

fn describe(c: &Claim) -> String {
    match c {
        Claim::BrokerName(n) => format!("brokerName {n:?}"),
        Claim::Group(g) => format!("dLegerGroup {g:?}"),
        Claim::ClientAddr(a) => format!("client address {a}"),
        Claim::PeerPort(p) => format!("peer port {p}"),
        Claim::StorePath(p) => format!("store path {:?}", p.display().to_string()),
    }
}

/// `p` with `.` dropped and `..` applied, so two spellings of one path compare equal.
fn normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(node: u32, group: u32) -> String {
        format!(
            "brokerName=RaftNode0{group}\nlistenPort={}\nstorePathRootDir=/s/n{node}/g{group}\n\
             enableDLegerCommitLog=true\ndLegerGroup=RaftNode0{group}\n\
             dLegerPeers=n0-127.0.0.1:{p0};n1-127.0.0.1:{p1}\ndLegerSelfId=n{node}\n",
            30911 + 10 * node + 100 * group,
            p0 = 40911 + 10 * group,
            p1 = 40912 + 10 * group,
        )
    }

    fn parse(text: &str, name: &str) -> BrokerConfig {
        BrokerConfig::parse(text, Path::new(name), false).unwrap()
    }

    #[test]
    fn a_node_with_one_member_per_group_is_fine() {
        let m: Vec<BrokerConfig> = (0..3)
            .map(|g| parse(&member(0, g), &format!("g{g}.conf")))
            .collect();
        check_members(&m).unwrap();
        assert_eq!(peer_port(&m[2]), Some(40931));
        check_members(&m[..1]).unwrap();
    }

    #[test]
    fn shared_names_ports_and_paths_are_refused_naming_both_files() {
        let a = parse(&member(0, 0), "a.conf");
        let cases = [
            // The same group twice.
            (
                member(0, 0).replace("listenPort=30911", "listenPort=1000"),
                "brokerName",
            ),
            (
                member(0, 1).replace("dLegerGroup=RaftNode01", "dLegerGroup=RaftNode00"),
                "dLegerGroup",
            ),
            (
                member(0, 1).replace("listenPort=31011", "listenPort=30911"),
                "listenPort",
            ),
            (
                member(0, 1).replace("127.0.0.1:40921", "127.0.0.9:40911"),
                "dLegerPeers",
            ),
            (
                member(0, 1).replace("storePathRootDir=/s/n0/g1", "storePathRootDir=/s/n0/./g0"),
                "storePathRootDir",
            ),
            (
                format!("{}storePathCommitLog=/s/n0/g0/commitlog\n", member(0, 1)),
                "storePathCommitLog",
            ),
        ];
        for (text, key) in cases {
            let b = parse(&text, "b.conf");
            let err = check_members(&[a.clone(), b]).unwrap_err();
            assert_eq!(err.key(), Some(key), "{err}");
            let msg = err.to_string();
            assert!(msg.starts_with("b.conf: "), "{msg}");
            assert!(msg.contains("a.conf"), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }
}
