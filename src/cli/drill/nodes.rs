//! The broker processes the drill faults: found through the run directory's pid files (as
//! `fast-try` writes them), killed with SIGKILL or paused with SIGSTOP, and restarted with the
//! same config, appending to the same log and updating the pid file, so `fast-try stop` still
//! stops them afterwards.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};

use crate::cli::cluster::NodeSpec;

pub struct Processes {
    run_dir: PathBuf,
    /// Brokers this drill restarted: reaped after a kill so a dead one is not a zombie that
    /// still answers `kill -0`.
    children: HashMap<String, Child>,
    /// Nodes this drill has faulted and not yet healed: paused (true) or killed (false).
    faulted: HashMap<String, (NodeSpec, bool)>,
}

impl Processes {
    pub fn new(run_dir: &Path) -> Processes {
        Processes {
            run_dir: run_dir.to_path_buf(),
            children: HashMap::new(),
            faulted: HashMap::new(),
        }
    }

    fn pid_file(&self, node: &NodeSpec) -> PathBuf {
        self.run_dir.join("pids").join(format!("{}.pid", node.name))
    }

    /// The pid of `node`'s running broker, checked against its command line so a stale pid
    /// file can never make the drill signal an unrelated process.
    pub fn pid(&self, node: &NodeSpec) -> anyhow::Result<i32> {
        let file = self.pid_file(node);
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "no pid file {} for {}: was the cluster started with scripts/fast-try.sh \
                 (or --run-dir pointed at its run directory)?",
                file.display(),
                node.name
            )
        })?;
        let pid: i32 = text
            .trim()
            .parse()
            .with_context(|| format!("{} does not hold a pid", file.display()))?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let conf_name = node
            .conf
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !cmdline.contains("broker") || !cmdline.contains(&conf_name) {
            bail!(
                "pid {pid} from {} is not {}'s broker (command line: {cmdline:?}); is it running?",
                file.display(),
                node.name
            );
        }
        Ok(pid)
    }

    fn signal(&mut self, node: &NodeSpec, sig: i32) -> anyhow::Result<()> {
        let pid = self.pid(node)?;
        // SAFETY: kill(2) with a pid checked above to be this node's broker.
        if unsafe { libc::kill(pid, sig) } != 0 {
            bail!(
                "cannot signal {} (pid {pid}): {}",
                node.name,
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// SIGKILL: a crash at an arbitrary instant.
    pub fn kill(&mut self, node: &NodeSpec) -> anyhow::Result<()> {
        self.signal(node, libc::SIGKILL)?;
        self.faulted
            .insert(node.name.clone(), (node.clone(), false));
        if let Some(mut c) = self.children.remove(&node.name) {
            let _ = c.wait();
        }
        Ok(())
    }

    /// SIGSTOP: the process freezes with its sockets open (a long GC pause, a stalled VM).
    pub fn pause(&mut self, node: &NodeSpec) -> anyhow::Result<()> {
        self.signal(node, libc::SIGSTOP)?;
        self.faulted.insert(node.name.clone(), (node.clone(), true));
        Ok(())
    }

    pub fn resume(&mut self, node: &NodeSpec) -> anyhow::Result<()> {
        self.signal(node, libc::SIGCONT)?;
        self.faulted.remove(&node.name);
        Ok(())
    }

    /// Resumes or restarts every node the drill left faulted: an interrupted drill must not
    /// leave the operator's cluster with a node stopped.
    pub fn heal_all(&mut self) -> anyhow::Result<()> {
        let faulted: Vec<(NodeSpec, bool)> = self.faulted.values().cloned().collect();
        for (node, paused) in faulted {
            if paused {
                self.resume(&node)?;
            } else {
                self.restart(&node)?;
            }
        }
        Ok(())
    }

    /// Starts `node`'s broker again from its config, in its own process group (a Ctrl-C of the
    /// drill does not stop the cluster), logging where fast-try logs.
    pub fn restart(&mut self, node: &NodeSpec) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().context("cannot find the ledgermq binary")?;
        let logs = self.run_dir.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let log_path = logs.join(format!("{}.log", node.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let child = Command::new(exe)
            .arg("broker")
            .arg("-c")
            .arg(&node.conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("duplicating the log handle")?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", node.name))?;
        let pid_file = self.pid_file(node);
        if let Some(dir) = pid_file.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&pid_file, format!("{}\n", child.id()))
            .with_context(|| format!("writing {}", pid_file.display()))?;
        self.children.insert(node.name.clone(), child);
        self.faulted.remove(&node.name);
        Ok(())
    }
}
