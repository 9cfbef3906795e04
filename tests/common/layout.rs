//! One of `cluster-conf/`'s ready-made layouts, started as real processes from its own files.
//!
//! The files are used as committed, with three substitutions so a test can run beside
//! fast-try and other tests: `127.0.0.1` becomes the test's own loopback address, the name
//! server's `9876` its own port, and `/tmp/ledgermq` a temporary directory. Roles, ids, flush
//! types and the ports between brokers are the layout's own. Processes are grouped as fast-try
//! groups them: `broker-<node>-g<k>.conf` files are the members of one process `broker-<node>`
//! (multi-Raft), any other file is a process of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use ledgermq::client::{ClientOptions, MqAdmin, RaftAdminClient};

use super::{namesrv_port, shifted_block, spawn_brokers, spawn_namesrv};

pub struct LayoutBroker {
    /// The file's stem: `broker-a`, `broker-a-s`, `broker-n0`, `broker-n0-g1`, ...
    pub name: String,
    pub conf: PathBuf,
    /// The log of the process hosting it.
    pub log: PathBuf,
    /// The process hosting it (`broker-n0` for `broker-n0-g1`; its own name otherwise).
    pub process: String,
    /// Its `brokerName`.
    pub broker_name: String,
    /// `ip:listenPort`, where clients talk to it.
    pub client_addr: String,
    /// `ip:listenPort+1`: the HA (Raft) port of a master/slave broker.
    pub ha_addr: String,
    /// Its Raft peer address: its own `dLegerPeers` entry, or `ha_addr` without DLedger.
    pub raft_addr: String,
}

/// One `ledgermq broker` process and the members it hosts.
pub struct LayoutProcess {
    pub name: String,
    pub confs: Vec<PathBuf>,
    pub log: PathBuf,
    child: Option<Child>,
}

pub struct Layout {
    pub dir: tempfile::TempDir,
    pub namesrv: String,
    namesrv_child: Option<Child>,
    pub brokers: BTreeMap<String, LayoutBroker>,
    pub procs: BTreeMap<String, LayoutProcess>,
}

/// The process a layout file's member runs in: `broker-n0` for `broker-n0-g2`.
pub fn process_of(stem: &str) -> String {
    if let Some((node, g)) = stem.rsplit_once("-g") {
        if node.starts_with("broker-")
            && node.matches('-').count() == 1
            && !g.is_empty()
            && g.bytes().all(|b| b.is_ascii_digit())
        {
            return node.to_string();
        }
    }
    stem.to_string()
}

/// The checkout the tests run from. Cargo sets `CARGO_MANIFEST_DIR` when it runs a test, and
/// that beats the compile-time value: a target dir shared between checkouts (the CI cache) may
/// hold a test binary built in another, since-deleted clone.
fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The broker config files of a layout (`""` is the single `cluster-conf/broker.conf`).
pub fn layout_files(layout: &str) -> Vec<PathBuf> {
    let root = repo_root().join("cluster-conf");
    if layout.is_empty() {
        return vec![root.join("broker.conf")];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(layout))
        .expect("layout directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("conf" | "properties")
            )
        })
        .collect();
    files.sort();
    files
}

fn value_of(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

impl Layout {
    /// Starts a name server and every broker of `layout` on `127.0.<block>.1`; `extra` lines are
    /// appended to every broker file (keys the layout does not set).
    pub fn start(layout: &str, block: u8, extra: &str) -> Layout {
        let block = shifted_block(block);
        let ip = format!("127.0.{block}.1");
        let dir = tempfile::tempdir().expect("tempdir");
        let namesrv = format!("{ip}:{}", namesrv_port(block));
        let namesrv_child = spawn_namesrv(dir.path(), block);
        let mut brokers = BTreeMap::new();
        let mut procs: BTreeMap<String, LayoutProcess> = BTreeMap::new();
        for file in layout_files(layout) {
            let name = file
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("file name")
                .to_string();
            let text = std::fs::read_to_string(&file).expect("read layout file");
            let text = text
                .replace("127.0.0.1:9876", &namesrv)
                .replace("127.0.0.1", &ip)
                .replace("/tmp/ledgermq", &dir.path().display().to_string());
            let port = value_of(&text, "listenPort").expect("listenPort in every layout file");
            let conf = dir.path().join(file.file_name().expect("file name"));
            std::fs::write(&conf, format!("{text}\n{extra}\n")).expect("write config");
            let process = process_of(&name);
            let log = dir.path().join(format!("{process}.log"));
            let ha_addr = format!(
                "{ip}:{}",
                port.parse::<u16>().expect("numeric listenPort") + 1
            );
            let raft_addr = match (
                value_of(&text, "dLegerSelfId"),
                value_of(&text, "dLegerPeers"),
            ) {
                (Some(me), Some(peers)) => peers
                    .split(';')
                    .find_map(|p| {
                        let (id, addr) = p.trim().split_once('-')?;
                        (id.trim() == me).then(|| addr.trim().to_string())
                    })
                    .expect("dLegerSelfId among dLegerPeers"),
                _ => ha_addr.clone(),
            };
            procs
                .entry(process.clone())
                .or_insert_with(|| LayoutProcess {
                    name: process.clone(),
                    confs: Vec::new(),
                    log: log.clone(),
                    child: None,
                })
                .confs
                .push(conf.clone());
            brokers.insert(
                name.clone(),
                LayoutBroker {
                    name,
                    conf,
                    log,
                    process,
                    broker_name: value_of(&text, "brokerName").expect("brokerName"),
                    client_addr: format!("{ip}:{port}"),
                    ha_addr,
                    raft_addr,
                },
            );
        }
        let mut l = Layout {
            dir,
            namesrv,
            namesrv_child: Some(namesrv_child),
            brokers,
            procs,
        };
        let names: Vec<String> = l.procs.keys().cloned().collect();
        for n in names {
            l.start_broker(&n);
        }
        l
    }

    /// The process named `name`, or the one hosting broker `name`.
    fn process_name(&self, name: &str) -> String {
        match self.brokers.get(name) {
            Some(b) => b.process.clone(),
            None => name.to_string(),
        }
    }

    /// Starts the process hosting broker `name` (or the process `name`).
    pub fn start_broker(&mut self, name: &str) {
        let p = self.process_name(name);
        let p = self.procs.get_mut(&p).expect("known broker or process");
        assert!(p.child.is_none(), "{name} is already running");
        p.child = Some(spawn_brokers(&p.confs, &p.log));
    }

    /// SIGKILL of the process hosting `name` (every member in it), like a crash or `kill -9`.
    pub fn kill(&mut self, name: &str) {
        let p = self.process_name(name);
        if let Some(mut c) = self.procs.get_mut(&p).and_then(|p| p.child.take()) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the process hosting `name` runs.
    pub fn is_running(&self, name: &str) -> bool {
        self.procs
            .get(&self.process_name(name))
            .is_some_and(|p| p.child.is_some())
    }

    /// The process id of the running process hosting `name` (for tools that signal it).
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs
            .get(&self.process_name(name))
            .and_then(|p| p.child.as_ref().map(|c| c.id()))
    }

    pub fn addr(&self, name: &str) -> String {
        self.brokers[name].client_addr.clone()
    }

    pub fn admin(&self) -> MqAdmin {
        MqAdmin::new(ClientOptions::new(self.namesrv.clone())).expect("admin client")
    }

    /// Waits until the name server lists exactly `want` (broker name → broker ids).
    pub async fn wait_registered(&self, want: &[(&str, &[i64])], within: Duration) {
        let admin = self.admin();
        let deadline = Instant::now() + within;
        let mut seen = String::new();
        loop {
            if let Ok(info) = admin.cluster_info().await {
                let got: BTreeMap<String, Vec<i64>> = info
                    .broker_addr_table
                    .iter()
                    .map(|(name, bd)| (name.clone(), bd.broker_addrs.keys().copied().collect()))
                    .collect();
                let expected: BTreeMap<String, Vec<i64>> = want
                    .iter()
                    .map(|(n, ids)| (n.to_string(), ids.to_vec()))
                    .collect();
                if got == expected {
                    return;
                }
                seen = format!("{got:?}");
            }
            if Instant::now() > deadline {
                self.dump_logs();
                panic!("registrations are not {want:?} within {within:?}; last seen {seen}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every running slave (a name ending in `-s`) follows its master.
    pub async fn wait_slaves_attached(&self, within: Duration) {
        let slaves: Vec<&LayoutBroker> = self
            .brokers
            .values()
            .filter(|b| b.name.ends_with("-s") && self.is_running(&b.name))
            .collect();
        let client = RaftAdminClient::new(slaves.iter().map(|b| b.ha_addr.clone()).collect());
        let deadline = Instant::now() + within;
        for b in slaves {
            loop {
                let status = client.status(&b.ha_addr).await;
                if status.as_ref().is_ok_and(|s| s.leader == Some(0)) {
                    break;
                }
                if Instant::now() > deadline {
                    self.dump_logs();
                    panic!(
                        "{} does not follow its master within {within:?}: {status:?}",
                        b.name
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    pub fn dump_logs(&self) {
        for p in self.procs.values() {
            dump(&p.name, &p.log);
        }
        dump("namesrv", &self.dir.path().join("namesrv.log"));
    }
}

fn dump(name: &str, log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    eprintln!("----- {name} log tail ({}) -----", log.display());
    for l in tail.into_iter().rev() {
        eprintln!("{l}");
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        for p in self.procs.values_mut() {
            if let Some(mut c) = p.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some(mut c) = self.namesrv_child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            self.dump_logs();
        }
    }
}
