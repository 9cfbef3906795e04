//! The test network: one network namespace per host (the broker nodes `n0..`, the name server
//! `ns`, the clients `c`) and a switch namespace holding a bridge, each host joined to it by a
//! veth pair, all on a private /24. Nothing is created in the host's own namespace, so the
//! machine's links and firewall rules are never touched, and partitions are iptables rules
//! inside the nodes' own namespaces.
//!
//! Names carry a run id (`lmqj-<id>-n0`, links `js-<id>-n0` / `jh-<id>-n0`) and the owning
//! process id is written to `/run/ledgermq-jepsen/<id>.pid`, so the start-up [`sweep`] can tell
//! a crashed run's leftovers from a run still going. [`Topology`] tears everything down when
//! dropped, which also happens when a test panics.

pub mod netns;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use rand::Rng;

/// Prefix of every namespace this suite creates.
pub const NS_PREFIX: &str = "lmqj-";
/// Where each run's owner pid is kept.
pub const STATE_DIR: &str = "/run/ledgermq-jepsen";

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("jepsen needs root (network namespaces, iptables, tc); run it as root, e.g. sudo -E")]
    NotRoot,
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("connectivity check failed: {0}")]
    Unreachable(String),
    #[error("jepsen needs {0}, which cannot be run here; no fault would be applied without it (apt-get install -y iproute2 iptables)")]
    MissingTools(String),
}

/// One host of the test network.
#[derive(Debug, Clone)]
pub struct Host {
    /// `n0`, `n1`, `n2`, `ns`, `c`.
    pub name: String,
    pub netns: String,
    pub ip: Ipv4Addr,
    /// The host's end of its veth pair, inside its namespace.
    pub ifname: String,
}

/// The namespaces, bridge and links of one run.
pub struct Topology {
    pub run_id: String,
    pub hosts: Vec<Host>,
    switch_ns: String,
    pid_file: PathBuf,
    torn_down: bool,
}

/// Fails with one clear line unless the process runs as root.
pub fn require_root() -> Result<(), TopologyError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(TopologyError::NotRoot);
    }
    Ok(())
}

/// The programs every run needs: `ip` builds the network and runs commands in it, `iptables`
/// makes the partitions (and every heal flushes its chains), `tc` degrades links.
pub const TOOLS: [(&str, &str); 3] = [("ip", "-V"), ("iptables", "-V"), ("tc", "-V")];

/// Fails, naming each missing program, unless [`TOOLS`] all run. Checked before anything is
/// created: a run whose faults cannot be applied would otherwise test nothing and could still
/// end looking valid.
pub fn require_tools() -> Result<(), TopologyError> {
    let missing: Vec<String> = TOOLS
        .iter()
        .filter_map(|(tool, version_flag)| {
            match std::process::Command::new(tool)
                .arg(version_flag)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
            {
                Ok(s) if s.success() => None,
                Ok(s) => Some(format!(
                    "`{tool}` (`{tool} {version_flag}` exited with {s})"
                )),
                Err(e) => Some(format!("`{tool}` ({e})")),
            }
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TopologyError::MissingTools(missing.join(", ")))
    }
}

/// A fresh run id: 6 hex digits.
pub fn new_run_id() -> String {
    format!("{:06x}", rand::thread_rng().gen_range(0..0x100_0000u32))
}

impl Topology {
    /// Creates the network for `nodes` broker nodes plus the name server and the clients, and
    /// checks that every host reaches every other. On any error, what was created is removed.
    pub fn create(run_id: &str, nodes: usize) -> Result<Topology, TopologyError> {
        require_root()?;
        let third = u8::from_str_radix(&run_id[..2], 16).unwrap_or(1).max(1);
        let ip = |last: u8| Ipv4Addr::new(10, 77, third, last);
        let mut names: Vec<(String, u8)> = (0..nodes)
            .map(|i| (format!("n{i}"), 10 + i as u8))
            .collect();
        names.push(("ns".into(), 20));
        names.push(("c".into(), 30));
        let hosts = names
            .into_iter()
            .map(|(name, last)| Host {
                netns: format!("{NS_PREFIX}{run_id}-{name}"),
                ifname: format!("jh-{run_id}-{name}"),
                ip: ip(last),
                name,
            })
            .collect();
        let t = Topology {
            run_id: run_id.to_string(),
            hosts,
            switch_ns: format!("{NS_PREFIX}{run_id}-sw"),
            pid_file: PathBuf::from(STATE_DIR).join(format!("{run_id}.pid")),
            torn_down: false,
        };
        // The pid file goes first, so a sweep by a concurrent run leaves this one alone.
        std::fs::create_dir_all(STATE_DIR)
            .and_then(|_| std::fs::write(&t.pid_file, std::process::id().to_string()))
            .map_err(|e| TopologyError::Command {
                command: format!("write {}", t.pid_file.display()),
                message: e.to_string(),
            })?;
        t.build()?;
        t.verify()?;
        Ok(t)
    }

    fn build(&self) -> Result<(), TopologyError> {
        use netns::run;
        let sw = self.switch_ns.as_str();
        let bridge = format!("jb-{}", self.run_id);
        run("ip", &["netns", "add", sw])?;
        run("ip", &["-n", sw, "link", "add", &bridge, "type", "bridge"])?;
        run("ip", &["-n", sw, "link", "set", &bridge, "up"])?;
        for h in &self.hosts {
            let sw_end = format!("js-{}-{}", self.run_id, h.name);
            run("ip", &["netns", "add", &h.netns])?;
            run("ip", &["-n", &h.netns, "link", "set", "lo", "up"])?;
            run(
                "ip",
                &[
                    "-n", sw, "link", "add", &sw_end, "type", "veth", "peer", "name", &h.ifname,
                    "netns", &h.netns,
                ],
            )?;
            run("ip", &["-n", sw, "link", "set", &sw_end, "master", &bridge])?;
            run("ip", &["-n", sw, "link", "set", &sw_end, "up"])?;
            let cidr = format!("{}/24", h.ip);
            run(
                "ip",
                &["-n", &h.netns, "addr", "add", &cidr, "dev", &h.ifname],
            )?;
            run("ip", &["-n", &h.netns, "link", "set", &h.ifname, "up"])?;
        }
        Ok(())
    }

    /// From every host, connects to a closed port on every other host: a refusal proves the
    /// path works (the peer's kernel answered), a timeout means it does not.
    pub fn verify(&self) -> Result<(), TopologyError> {
        let mut problems = Vec::new();
        for from in &self.hosts {
            let targets: Vec<Ipv4Addr> = self
                .hosts
                .iter()
                .filter(|h| h.name != from.name)
                .map(|h| h.ip)
                .collect();
            let ns = from.netns.clone();
            let result = std::thread::scope(|s| {
                s.spawn(|| -> Result<Vec<Ipv4Addr>, TopologyError> {
                    let _inside = netns::Entered::enter(&ns)?;
                    Ok(targets
                        .iter()
                        .copied()
                        .filter(|ip| !reachable(*ip))
                        .collect())
                })
                .join()
            });
            match result {
                Ok(Ok(bad)) => {
                    for ip in bad {
                        problems.push(format!("{} cannot reach {ip}", from.name));
                    }
                }
                Ok(Err(e)) => problems.push(e.to_string()),
                Err(_) => problems.push(format!("the check from {} panicked", from.name)),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TopologyError::Unreachable(problems.join("; ")))
        }
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Kills whatever still runs inside the namespaces and deletes them (the veth pairs and
    /// the bridge go with them). Safe to call twice.
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        let mut all: Vec<String> = self.hosts.iter().map(|h| h.netns.clone()).collect();
        all.push(self.switch_ns.clone());
        remove_namespaces(&all);
        let _ = std::fs::remove_file(&self.pid_file);
        tracing::info!(run = %self.run_id, "network torn down");
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn reachable(ip: Ipv4Addr) -> bool {
    let addr = SocketAddr::from((ip, 9));
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

/// SIGKILLs every process inside each namespace, then deletes the namespaces.
fn remove_namespaces(names: &[String]) {
    for ns in names {
        for pid in netns::pids(ns) {
            // SAFETY: plain kill(2) of a process living in a namespace this suite created.
            unsafe {
                libc::kill(pid, libc::SIGCONT);
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    for ns in names {
        // Give killed processes a moment to exit so the namespace really goes away.
        for _ in 0..50 {
            if netns::pids(ns).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Err(e) = netns::run("ip", &["netns", "del", ns]) {
            tracing::warn!(netns = %ns, error = %e, "could not delete the namespace");
        }
    }
}

/// Removes the namespaces of earlier runs whose owner process is gone (a crash, kill -9).
/// Returns the namespaces removed.
pub fn sweep() -> Result<Vec<String>, TopologyError> {
    require_root()?;
    let Ok(entries) = std::fs::read_dir(netns::NETNS_DIR) else {
        return Ok(Vec::new());
    };
    let mut by_run: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let run = rest.split('-').next().unwrap_or_default().to_string();
        by_run.entry(run).or_default().push(name);
    }
    let mut removed = Vec::new();
    for (run, names) in by_run {
        let pid_file = PathBuf::from(STATE_DIR).join(format!("{run}.pid"));
        let owner: Option<i32> = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        if owner.is_some_and(netns::alive) {
            continue;
        }
        tracing::warn!(run = %run, namespaces = ?names, "removing leftovers of a crashed run");
        remove_namespaces(&names);
        let _ = std::fs::remove_file(&pid_file);
        removed.extend(names);
    }
    remove_stale_pid_files();
    Ok(removed)
}

/// Deletes owner files of runs that are gone and left no namespace (a crash between writing
/// the file and creating the first namespace, or after deleting the last one).
fn remove_stale_pid_files() {
    let Ok(entries) = std::fs::read_dir(STATE_DIR) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "pid") {
            continue;
        }
        let owner: Option<i32> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        if !owner.is_some_and(netns::alive) {
            let _ = std::fs::remove_file(&path);
        }
    }
}
