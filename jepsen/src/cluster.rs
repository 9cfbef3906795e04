//! The LedgerMQ processes of a run: a name server and three broker nodes, each a real
//! `ledgermq` process started inside its host's namespace from generated configs. A node hosts
//! one member of each of the run's Raft groups (`--groups`, default one): with several, the
//! node's process is started with one `-c` per member (multi-Raft), so a kill takes every
//! group's member on that node at once. This module
//! owns their pids: it is the only place that signals them (kill -9, SIGSTOP/SIGCONT), and it
//! signals nothing else.
//!
//! Children are spawned with `setns` into their namespace and `PR_SET_PDEATHSIG`, so they die
//! with the thread that started them even if the suite itself is killed; the start-up sweep
//! removes anything else a crash left behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ledgermq::client::RaftAdminClient;
use ledgermq::raft::NodeStatus;

use crate::topology::{netns, Host, Topology, TopologyError};

/// The client port of every node's member of group 0 (inside its own namespace); group `g`'s
/// member listens on `BROKER_PORT + 20·g`.
pub const BROKER_PORT: u16 = 10911;
/// The Raft peer port of group 0; group `g`'s is `PEER_PORT + g`.
pub const PEER_PORT: u16 = 40911;
pub const NAMESRV_PORT: u16 = 9876;

/// Group `g`'s name (`brokerName` and `dLegerGroup`): `RaftNode00`, `RaftNode01`, ...
pub fn group_name(g: usize) -> String {
    format!("RaftNode{g:02}")
}

pub fn broker_port(g: usize) -> u16 {
    BROKER_PORT + 20 * g as u16
}

pub fn peer_port(g: usize) -> u16 {
    PEER_PORT + g as u16
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {what} ({bin}): {source}")]
    Spawn {
        what: String,
        bin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the cluster did not become ready: {0}")]
    NotReady(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Options of the generated broker configs.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// `unsafeAckBeforeCommit=true` with `LEDGERMQ_UNSAFE=1`: the broker acknowledges before
    /// commit. Only the checker's self-test uses it.
    pub unsafe_ack_before_commit: bool,
    /// Raft groups; every node hosts one member of each, group `g` preferring node `g mod 3`
    /// as its leader. 0 is taken as 1.
    pub groups: usize,
}

/// One process: a broker node or the name server.
pub struct Proc {
    /// `n0`.. or `ns`.
    pub name: String,
    pub host: Host,
    /// One config per member (the name server: one).
    confs: Vec<PathBuf>,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
    netns: File,
    broker: bool,
    /// How many times it was started.
    pub starts: u32,
}

impl Proc {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }
}

/// The processes of one run.
pub struct Cluster {
    bin: PathBuf,
    pub nodes: Vec<Proc>,
    pub namesrv: Proc,
    unsafe_ack: bool,
    admin: RaftAdminClient,
    /// How many Raft groups every node hosts.
    pub groups: usize,
}

impl Cluster {
    /// Writes the configs under `dir` (stores in `dir/store`, logs in `dir/logs`); starts
    /// nothing yet.
    pub fn new(
        topology: &Topology,
        bin: &Path,
        dir: &Path,
        opts: &ClusterOptions,
    ) -> Result<Cluster, ClusterError> {
        let logs = dir.join("logs");
        let confs = dir.join("conf");
        for d in [&logs, &confs] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let ns_host = topology
            .host("ns")
            .ok_or_else(|| ClusterError::NotReady("no name-server host".into()))?
            .clone();
        let namesrv_addr = format!("{}:{NAMESRV_PORT}", ns_host.ip);
        let brokers: Vec<Host> = topology
            .hosts
            .iter()
            .filter(|h| h.name.starts_with('n') && h.name != "ns")
            .cloned()
            .collect();
        let groups = opts.groups.max(1);
        let mut nodes = Vec::new();
        for h in &brokers {
            let mut member_confs = Vec::new();
            for g in 0..groups {
                let name = group_name(g);
                let peers = brokers
                    .iter()
                    .map(|h| format!("{}-{}:{}", h.name, h.ip, peer_port(g)))
                    .collect::<Vec<_>>()
                    .join(";");
                let conf = confs.join(format!("broker-{}-g{g}.conf", h.name));
                let store = dir.join("store").join(&h.name).join(&name);
                let mut text = format!(
                    "# Generated by the Jepsen suite for node {node}, group {name}.\n\
                     brokerClusterName=JepsenCluster\nbrokerName={name}\nbrokerIP1={ip}\n\
                     listenPort={port}\nnamesrvAddr={namesrv_addr}\nstorePathRootDir={store}\n\
                     enableDLegerCommitLog=true\ndLegerGroup={name}\ndLegerPeers={peers}\n\
                     dLegerSelfId={node}\nmappedFileSizeCommitLog=16777216\nmaxMessageSize=65536\n\
                     raftElectionTimeoutMs=800\nraftHeartbeatIntervalMs=100\n\
                     autoCreateTopicEnable=true\ndefaultTopicQueueNums=8\n",
                    node = h.name,
                    ip = h.ip,
                    port = broker_port(g),
                    store = store.display(),
                );
                if groups > 1 {
                    // Spread the leaders: each node leads about groups/3 of them.
                    let preferred = &brokers[g % brokers.len()].name;
                    text.push_str(&format!("preferredLeaderId={preferred}\n"));
                }
                if opts.unsafe_ack_before_commit {
                    text.push_str("# TEST-ONLY: acknowledges before commit; loses acknowledged writes.\nunsafeAckBeforeCommit=true\n");
                }
                std::fs::write(&conf, text).map_err(io(&conf))?;
                member_confs.push(conf);
            }
            nodes.push(Proc {
                name: h.name.clone(),
                log: logs.join(format!("{}.log", h.name)),
                netns: netns::open(&h.netns)?,
                host: h.clone(),
                confs: member_confs,
                child: None,
                paused: false,
                broker: true,
                starts: 0,
            });
        }
        let ns_conf = confs.join("namesrv.conf");
        std::fs::write(&ns_conf, format!("listenPort={NAMESRV_PORT}\n")).map_err(io(&ns_conf))?;
        let namesrv = Proc {
            name: "ns".into(),
            log: logs.join("namesrv.log"),
            netns: netns::open(&ns_host.netns)?,
            host: ns_host,
            confs: vec![ns_conf],
            child: None,
            paused: false,
            broker: false,
            starts: 0,
        };
        let admin = RaftAdminClient::new(
            nodes
                .iter()
                .flat_map(|n| (0..groups).map(|g| format!("{}:{}", n.host.ip, peer_port(g))))
                .collect(),
        );
        Ok(Cluster {
            bin: bin.to_path_buf(),
            nodes,
            namesrv,
            unsafe_ack: opts.unsafe_ack_before_commit,
            admin,
            groups,
        })
    }

    pub fn namesrv_addr(&self) -> String {
        format!("{}:{NAMESRV_PORT}", self.namesrv.host.ip)
    }

    /// Node `i`'s member of group `g`: where clients reach it.
    pub fn broker_addr(&self, i: usize, g: usize) -> String {
        format!("{}:{}", self.nodes[i].host.ip, broker_port(g))
    }

    /// Node `i`'s member of group `g`: its Raft peer port.
    pub fn peer_addr(&self, i: usize, g: usize) -> String {
        format!("{}:{}", self.nodes[i].host.ip, peer_port(g))
    }

    /// The names of the run's groups, `RaftNode00`...
    pub fn group_names(&self) -> Vec<String> {
        (0..self.groups).map(group_name).collect()
    }

    /// The node name (`n0`..) owning an address such as `10.77.5.11:10911`.
    pub fn node_of(&self, addr: &str) -> Option<String> {
        let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
        self.nodes
            .iter()
            .find(|n| n.host.ip.to_string() == ip)
            .map(|n| n.name.clone())
    }

    /// Starts the name server and every node.
    pub fn start_all(&mut self) -> Result<(), ClusterError> {
        spawn(&self.bin, &mut self.namesrv, false)?;
        for i in 0..self.nodes.len() {
            self.start(i)?;
        }
        Ok(())
    }

    /// Starts node `i` (again, after a kill).
    pub fn start(&mut self, i: usize) -> Result<(), ClusterError> {
        let unsafe_ack = self.unsafe_ack;
        spawn(&self.bin, &mut self.nodes[i], unsafe_ack)
    }

    /// SIGKILL, like a crash; waits for the process to be gone without blocking the runtime.
    /// The whole run shares one thread with the clients, and a broker with mapped segments can
    /// take a few hundred milliseconds to exit: a blocking wait would freeze every client op
    /// for that long and show up as latency that is the suite's, not the broker's.
    ///
    /// Fails when there was no process to kill or SIGKILL could not be sent: the fault did not
    /// happen, and the run must not count it as survived.
    pub async fn kill(&mut self, i: usize) -> Result<(), String> {
        let n = &mut self.nodes[i];
        let Some(mut c) = n.child.take() else {
            return Err(format!("{} was not running", n.name));
        };
        let sent = c.kill();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while matches!(c.try_wait(), Ok(None)) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Reaps it (at once, unless it outlived the deadline above).
        let _ = c.wait();
        n.paused = false;
        sent.map_err(|e| format!("SIGKILL to {}: {e}", n.name))?;
        tracing::info!(node = %n.name, "killed (SIGKILL)");
        Ok(())
    }

    /// SIGKILL and a blocking wait: for shutdown and drop, where nothing else runs any more.
    fn kill_blocking(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if let Some(mut c) = n.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            n.paused = false;
        }
    }

    /// SIGSTOP: the process stays, silent, with its sockets open.
    /// Fails when the node has no process or the signal could not be sent.
    pub fn pause(&mut self, i: usize) -> Result<(), String> {
        let n = &mut self.nodes[i];
        let Some(pid) = n.pid() else {
            return Err(format!("{} is not running", n.name));
        };
        if !signal(pid, libc::SIGSTOP) {
            return Err(format!(
                "SIGSTOP to {} (pid {pid}): {}",
                n.name,
                std::io::Error::last_os_error()
            ));
        }
        n.paused = true;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if let Some(pid) = n.pid() {
            signal(pid, libc::SIGCONT);
        }
        n.paused = false;
    }

    /// Resumes paused nodes and restarts killed ones.
    pub fn heal_processes(&mut self) -> Result<(), ClusterError> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].paused {
                self.resume(i);
            }
            if !self.nodes[i].is_running() {
                self.start(i)?;
            }
        }
        Ok(())
    }

    /// Raft status of node `i`'s member of group `g`, or `None` if it does not answer within
    /// `within`.
    pub async fn status(&self, i: usize, g: usize, within: Duration) -> Option<NodeStatus> {
        let addr = self.peer_addr(i, g);
        tokio::time::timeout(within, self.admin.status(&addr))
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Every node's status in group `g`, asked concurrently (`None`: no answer within a
    /// second).
    pub async fn statuses(&self, g: usize) -> Vec<Option<NodeStatus>> {
        let futs = (0..self.nodes.len()).map(|i| self.status(i, g, Duration::from_secs(1)));
        futures::future::join_all(futs).await
    }

    /// The node that says it leads group `g`, with the highest term if several do.
    pub async fn leader(&self, g: usize) -> Option<usize> {
        self.statuses(g)
            .await
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.filter(|s| s.state == "Leader").map(|s| (s.term, i)))
            .max()
            .map(|(_, i)| i)
    }

    /// True when, in every group, one leader is followed by every node and all have applied
    /// the same index: the cluster has converged after the faults.
    pub async fn converged(&self) -> bool {
        for g in 0..self.groups {
            if !self.group_converged(g).await {
                return false;
            }
        }
        true
    }

    async fn group_converged(&self, g: usize) -> bool {
        let all = self.statuses(g).await;
        let Some(Some(leader)) = all
            .iter()
            .find(|s| s.as_ref().is_some_and(|s| s.state == "Leader"))
        else {
            return false;
        };
        all.iter().all(|s| {
            s.as_ref().is_some_and(|s| {
                s.leader == Some(leader.id)
                    && s.applied.is_some()
                    && s.applied == leader.applied
                    && s.applied == leader.last_index
            })
        })
    }

    /// Kills every process (resuming paused ones first so they can die).
    pub fn shutdown(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].paused {
                self.resume(i);
            }
            self.kill_blocking(i);
        }
        if let Some(mut c) = self.namesrv.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The tail of each node's log, for a failure message.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for p in self.nodes.iter().chain(std::iter::once(&self.namesrv)) {
            let text = std::fs::read_to_string(&p.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(lines).collect();
            out.push_str(&format!("----- {} ({}) -----\n", p.name, p.log.display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether the signal was delivered.
fn signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill(2) of a child this module spawned and still owns.
    unsafe { libc::kill(pid as i32, sig) == 0 }
}

fn spawn(bin: &Path, p: &mut Proc, unsafe_ack: bool) -> Result<(), ClusterError> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p.log)
        .map_err(io(&p.log))?;
    let log2 = log.try_clone().map_err(io(&p.log))?;
    let mut cmd = Command::new(bin);
    cmd.arg(if p.broker { "broker" } else { "namesrv" });
    for conf in &p.confs {
        cmd.arg("-c").arg(conf);
    }
    cmd.env("RUST_LOG", "info,openraft=warn")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    if unsafe_ack {
        cmd.env(ledgermq::config::UNSAFE_ENV, "1");
    } else {
        cmd.env_remove(ledgermq::config::UNSAFE_ENV);
    }
    let fd = p.netns.as_raw_fd();
    // SAFETY: between fork and exec the closure only makes two system calls (setns, prctl),
    // both async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            netns::setns(fd)?;
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| ClusterError::Spawn {
        what: p.name.clone(),
        bin: bin.display().to_string(),
        source,
    })?;
    p.starts += 1;
    tracing::info!(node = %p.name, pid = child.id(), start = p.starts, "started");
    p.child = Some(child);
    p.paused = false;
    Ok(())
}
