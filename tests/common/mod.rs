//! A Raft group of real `ledgermq broker` processes for cluster tests.
//!
//! Each test gets its own loopback block `127.0.<block>.0/24`: node `nI` listens on
//! `127.0.<block>.<I+1>:40911` and connects to its peers from that address, so a test can cut
//! links between nodes with iptables rules that match only its own addresses. Every process is
//! killed and every rule removed when the cluster is dropped, also when a test panics.

#![allow(dead_code)]

pub mod in_process;
pub mod layout;
pub mod requests;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ledgermq::client::RaftAdminClient;
use ledgermq::raft::NodeStatus;

pub struct Node {
    pub id: u64,
    pub addr: String,
    pub ip: String,
    pub conf: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Node {
    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    pub client: RaftAdminClient,
    rules: Vec<Vec<String>>,
    /// The name server's address, when the cluster was started with one.
    pub namesrv: Option<String>,
    /// Where that name server serves `/metrics`.
    pub namesrv_metrics: Option<String>,
    namesrv_child: Option<Child>,
    /// Extra `ledgermq broker` arguments for the nodes started from now on.
    pub broker_args: Vec<String>,
}

/// Starts `ledgermq broker -c conf`, appending its output to `log` (kept across restarts so a
/// failing test's dump shows every life of the node).
pub fn spawn_broker(conf: &Path, log: &Path) -> Child {
    spawn_brokers(&[conf.to_path_buf()], log)
}

/// Starts one `ledgermq broker` process hosting every member in `confs` (one `-c` each).
pub fn spawn_brokers(confs: &[PathBuf], log: &Path) -> Child {
    spawn_brokers_with(confs, log, &[])
}

/// [`spawn_brokers`] with extra `ledgermq broker` arguments (e.g. `--single-thread`).
pub fn spawn_brokers_with(confs: &[PathBuf], log: &Path, args: &[String]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open broker log");
    let mut cmd = Command::new(bin());
    cmd.arg("broker");
    for conf in confs {
        cmd.arg("-c").arg(conf);
    }
    cmd.args(args);
    cmd.env("RUST_LOG", "info,openraft=error")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .spawn()
        .expect("spawn ledgermq broker")
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ledgermq")
}

/// `LEDGERMQ_TEST_BLOCK_BASE` shifts every test's loopback block (and name-server port), so two
/// checkouts can run their cluster tests on one machine at once without sharing addresses or
/// iptables rules.
pub fn shifted_block(block: u8) -> u8 {
    let base: u8 = std::env::var("LEDGERMQ_TEST_BLOCK_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    block
        .checked_add(base)
        .expect("LEDGERMQ_TEST_BLOCK_BASE + block must stay below 256")
}

/// A test name server's client port, on every interface: `19000 + block`.
pub fn namesrv_port(block: u8) -> u16 {
    19000 + block as u16
}

/// A test name server's `/metrics` port, in a range of its own: `20000 + block`. The default
/// (`listenPort + 2`) is the name-server port of the test two blocks up, and both bind
/// 0.0.0.0, so tests running side by side would take each other's ports.
pub fn namesrv_metrics_port(block: u8) -> u16 {
    20000 + block as u16
}

/// Writes `namesrv.conf` for the test in `block` into `dir` and starts the name server, with
/// its output in `namesrv.log` there.
fn spawn_namesrv(dir: &Path, block: u8) -> Child {
    let conf = dir.join("namesrv.conf");
    std::fs::write(
        &conf,
        format!(
            "listenPort={}\nmetricsPort={}\n",
            namesrv_port(block),
            namesrv_metrics_port(block)
        ),
    )
    .expect("namesrv.conf");
    let log = std::fs::File::create(dir.join("namesrv.log")).expect("namesrv log");
    Command::new(bin())
        .args(["namesrv", "-c"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup"))
        .stderr(log)
        .spawn()
        .expect("spawn namesrv")
}

impl Cluster {
    /// Writes one broker.conf per node (with `extra` lines appended) and starts them all.
    pub fn start(block: u8, n: u64, extra: &str) -> Cluster {
        Self::start_inner(block, n, extra, false)
    }

    /// Like `start`, with a name server on `127.0.0.1:<19000 + block>` that the brokers register
    /// with; each broker's client port is `127.0.<block>.<I+1>:30911`.
    pub fn start_with_namesrv(block: u8, n: u64, extra: &str) -> Cluster {
        Self::start_inner(block, n, extra, true)
    }

    pub fn broker_addr(&self, id: u64) -> String {
        format!("{}:30911", self.nodes[id as usize].ip)
    }

    /// Like `start`, but starts no node: the test starts them with [`Cluster::start_node`],
    /// for example after cutting one off.
    pub fn configure(block: u8, n: u64, extra: &str) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::finish(dir, shifted_block(block), n, extra, None, None)
    }

    fn start_inner(block: u8, n: u64, extra: &str, with_namesrv: bool) -> Cluster {
        let block = shifted_block(block);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = if with_namesrv {
            // The name server binds 0.0.0.0:<port>, so give each test its own port.
            let addr_port = format!("127.0.0.1:{}", namesrv_port(block));
            let namesrv_child = Some(spawn_namesrv(dir.path(), block));
            Self::finish(dir, block, n, extra, Some(addr_port), namesrv_child)
        } else {
            Self::finish(dir, block, n, extra, None, None)
        };
        for i in 0..n {
            c.start_node(i);
        }
        c
    }

    fn finish(
        dir: tempfile::TempDir,
        block: u8,
        n: u64,
        extra: &str,
        namesrv: Option<String>,
        namesrv_child: Option<Child>,
    ) -> Cluster {
        let extra = match &namesrv {
            Some(a) => format!("namesrvAddr={a}\n{extra}"),
            None => extra.to_string(),
        };
        let extra = extra.as_str();
        let peers: Vec<(u64, String, String)> = (0..n)
            .map(|i| {
                let ip = format!("127.0.{block}.{}", i + 1);
                (i, format!("{ip}:40911"), ip)
            })
            .collect();
        let peer_list = peers
            .iter()
            .map(|(i, a, _)| format!("n{i}-{a}"))
            .collect::<Vec<_>>()
            .join(";");
        let mut nodes = Vec::new();
        for (i, addr, ip) in &peers {
            let root = dir.path().join(format!("n{i}"));
            let conf = dir.path().join(format!("broker-n{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "brokerClusterName=TestCluster\nbrokerName=RaftNode00\nbrokerIP1={ip}\nlistenPort=30911\n\
                     storePathRootDir={}\nenableDLegerCommitLog=true\ndLegerGroup=RaftNode00\n\
                     dLegerPeers={peer_list}\ndLegerSelfId=n{i}\nmappedFileSizeCommitLog=1048576\n\
                     maxMessageSize=65536\nraftElectionTimeoutMs=800\nraftHeartbeatIntervalMs=100\n{extra}\n",
                    root.display()
                ),
            )
            .expect("write config");
            nodes.push(Node {
                id: *i,
                addr: addr.clone(),
                ip: ip.clone(),
                conf,
                log: dir.path().join(format!("n{i}.log")),
                child: None,
                starts: 0,
            });
        }
        let client = RaftAdminClient::new(peers.iter().map(|(_, a, _)| a.clone()).collect());
        Cluster {
            dir,
            nodes,
            client,
            rules: Vec::new(),
            namesrv_metrics: namesrv
                .as_ref()
                .map(|_| format!("127.0.0.1:{}", namesrv_metrics_port(block))),
            namesrv,
            namesrv_child,
            broker_args: Vec::new(),
        }
    }

    pub fn start_node(&mut self, id: u64) {
        let node = &mut self.nodes[id as usize];
        assert!(node.child.is_none(), "n{id} is already running");
        node.starts += 1;
        node.child = Some(spawn_brokers_with(
            std::slice::from_ref(&node.conf),
            &node.log,
            &self.broker_args,
        ));
    }

    /// SIGKILL, like a crash or `kill -9`.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.nodes[id as usize].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait: a graceful shutdown.
    pub fn stop(&mut self, id: u64) {
        if let Some(mut c) = self.nodes[id as usize].child.take() {
            unsafe_sigterm(c.id());
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the process keeps its sockets open but answers nothing, like a long stall.
    pub fn pause(&mut self, id: u64) {
        self.signal(id, "-STOP");
    }

    /// SIGCONT after [`Cluster::pause`].
    pub fn resume(&mut self, id: u64) {
        self.signal(id, "-CONT");
    }

    fn signal(&self, id: u64, sig: &str) {
        if let Some(c) = &self.nodes[id as usize].child {
            let _ = Command::new("kill")
                .arg(sig)
                .arg(c.id().to_string())
                .status();
        }
    }

    pub fn addr(&self, id: u64) -> &str {
        &self.nodes[id as usize].addr
    }

    pub async fn status(&self, id: u64) -> Option<NodeStatus> {
        self.client.status(self.addr(id)).await.ok()
    }

    /// Waits until exactly one reachable node says it is leader, a quorum agrees on it, and
    /// its client port accepts connections (a broker listens there only once its Raft node
    /// runs, a moment after the node answers status).
    pub async fn wait_leader(&self, within: Duration) -> NodeStatus {
        let deadline = Instant::now() + within;
        loop {
            let mut leaders = Vec::new();
            let mut followers_of = std::collections::HashMap::new();
            for n in &self.nodes {
                if let Some(s) = self.status(n.id).await {
                    if s.state == "Leader" {
                        leaders.push(s.clone());
                    }
                    if let Some(l) = s.leader {
                        *followers_of.entry(l).or_insert(0usize) += 1;
                    }
                }
            }
            if let [l] = leaders.as_slice() {
                if followers_of.get(&l.id).copied().unwrap_or(0) > self.nodes.len() / 2
                    && tokio::net::TcpStream::connect(self.broker_addr(l.id))
                        .await
                        .is_ok()
                {
                    return l.clone();
                }
            }
            if Instant::now() > deadline {
                self.dump_logs();
                panic!("no agreed leader within {within:?} (leaders seen: {leaders:?})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until node `id` has applied at least `index`.
    pub async fn wait_applied(&self, id: u64, index: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.status(id).await {
                if s.applied.is_some_and(|a| a >= index) {
                    return;
                }
            }
            if Instant::now() > deadline {
                self.dump_logs();
                panic!("n{id} did not apply index {index} within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drops every packet between node `a` and node `b`, both directions.
    pub fn cut(&mut self, a: u64, b: u64) {
        let (ia, ib) = (
            self.nodes[a as usize].ip.clone(),
            self.nodes[b as usize].ip.clone(),
        );
        for (s, d) in [(ia.clone(), ib.clone()), (ib, ia)] {
            let rule = vec![
                "INPUT".to_string(),
                "-s".into(),
                s,
                "-d".into(),
                d,
                "-j".into(),
                "DROP".into(),
            ];
            iptables("-I", &rule);
            self.rules.push(rule);
        }
    }

    /// Cuts node `id` off from every other node (clients on 127.0.0.1 still reach it).
    pub fn isolate(&mut self, id: u64) {
        for other in 0..self.nodes.len() as u64 {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    pub fn heal(&mut self) {
        for rule in self.rules.drain(..) {
            iptables("-D", &rule);
        }
    }

    pub fn dump_logs(&self) {
        for n in &self.nodes {
            let text = std::fs::read_to_string(&n.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("----- n{} log tail ({}) -----", n.id, n.log.display());
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }

    pub fn store_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("n{id}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.heal();
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
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

fn iptables(op: &str, rule: &[String]) {
    let out = Command::new("iptables")
        .arg("-w")
        .arg(op)
        .args(rule)
        .output()
        .expect(
            "iptables must be installed (apt-get install -y iptables) and the tests run as root",
        );
    assert!(
        out.status.success() || op == "-D",
        "iptables {op} {rule:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn unsafe_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

pub fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
