//! The broker processes the drill faults. A node is a process: it may host one group member
//! (one `-c` file) or several (multi-Raft, one `-c` per member), so a member's process is found
//! by scanning the run directory's pid files (as `fast-try` writes them) for the process whose
//! `-c` files include the member's config; a kill or pause takes every member in it. A killed
//! process is restarted with exactly its old command line and working directory, appending to
//! its log and updating its pid file, so `fast-try stop` still stops it afterwards.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};

use crate::cli::cluster::NodeSpec;
use crate::cli::shutdown::{configs_of, same_file, split_cmdline};

/// One broker process, as found through its pid file.
#[derive(Debug, Clone)]
pub struct Process {
    /// The pid file's stem (`broker-n0`): also the name of its log.
    pub name: String,
    pub pid: i32,
    /// Its command line and working directory, to restart it as it was.
    argv: Vec<String>,
    cwd: Option<PathBuf>,
    /// Its config files, one per member it hosts.
    pub confs: Vec<PathBuf>,
}

impl Process {
    /// True if this process hosts the member `node`.
    pub fn hosts(&self, node: &NodeSpec) -> bool {
        self.confs.iter().any(|c| same_file(c, &node.conf))
    }
}

pub struct Processes {
    run_dir: PathBuf,
    /// Brokers this drill restarted: reaped after a kill so a dead one is not a zombie that
    /// still answers `kill -0`.
    children: HashMap<String, Child>,
    /// Processes this drill has faulted and not yet healed: paused (true) or killed (false).
    faulted: HashMap<String, (Process, bool)>,
}

impl Processes {
    pub fn new(run_dir: &Path) -> Processes {
        Processes {
            run_dir: run_dir.to_path_buf(),
            children: HashMap::new(),
            faulted: HashMap::new(),
        }
    }

    fn pid_dir(&self) -> PathBuf {
        self.run_dir.join("pids")
    }

    /// The running broker process hosting `node`, checked against its command line so a stale
    /// pid file can never make the drill signal an unrelated process.
    pub fn find(&self, node: &NodeSpec) -> anyhow::Result<Process> {
        let dir = self.pid_dir();
        let entries = std::fs::read_dir(&dir).with_context(|| {
            format!(
                "no pid directory {}: was the cluster started with scripts/fast-try.sh \
                 (or --run-dir pointed at its run directory)?",
                dir.display()
            )
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("pid") {
                continue;
            }
            let Some(p) = read_process(&path) else {
                continue;
            };
            if p.hosts(node) {
                return Ok(p);
            }
        }
        bail!(
            "no running broker process in {} hosts {} ({}); is it running?",
            dir.display(),
            node.name,
            node.conf.display()
        )
    }

    fn signal(&mut self, p: &Process, sig: i32) -> anyhow::Result<()> {
        // SAFETY: kill(2) with a pid whose command line was just checked to be a broker
        // hosting the member asked for.
        if unsafe { libc::kill(p.pid, sig) } != 0 {
            bail!(
                "cannot signal {} (pid {}): {}",
                p.name,
                p.pid,
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// SIGKILL: a crash at an arbitrary instant, of every member in the process.
    pub fn kill(&mut self, p: &Process) -> anyhow::Result<()> {
        self.signal(p, libc::SIGKILL)?;
        self.faulted.insert(p.name.clone(), (p.clone(), false));
        if let Some(mut c) = self.children.remove(&p.name) {
            let _ = c.wait();
        }
        Ok(())
    }

    /// SIGTERM, as `mqshutdown broker` sends, and waits until the process has exited (a
    /// graceful stop: answered requests, unregistered, leadership handed off); SIGKILL if it
    /// is still there after 15 s.
    pub fn stop(&mut self, p: &Process) -> anyhow::Result<()> {
        self.signal(p, libc::SIGTERM)?;
        self.faulted.insert(p.name.clone(), (p.clone(), false));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        if let Some(mut c) = self.children.remove(&p.name) {
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
            return Ok(());
        }
        let proc_dir = std::path::PathBuf::from(format!("/proc/{}", p.pid));
        while proc_dir.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if proc_dir.exists() {
            self.signal(p, libc::SIGKILL)?;
        }
        Ok(())
    }

    /// SIGSTOP: the process freezes with its sockets open (a long GC pause, a stalled VM).
    pub fn pause(&mut self, p: &Process) -> anyhow::Result<()> {
        self.signal(p, libc::SIGSTOP)?;
        self.faulted.insert(p.name.clone(), (p.clone(), true));
        Ok(())
    }

    pub fn resume(&mut self, p: &Process) -> anyhow::Result<()> {
        self.signal(p, libc::SIGCONT)?;
        self.faulted.remove(&p.name);
        Ok(())
    }

    /// Resumes or restarts every process the drill left faulted: an interrupted drill must
    /// not leave the operator's cluster with a node stopped.
    pub fn heal_all(&mut self) -> anyhow::Result<()> {
        let faulted: Vec<(Process, bool)> = self.faulted.values().cloned().collect();
        for (p, paused) in faulted {
            if paused {
                self.resume(&p)?;
            } else {
                self.restart(&p)?;
            }
        }
        Ok(())
    }

    /// Starts a killed process again with its old arguments and working directory, in its own
    /// process group (a Ctrl-C of the drill does not stop the cluster), logging where fast-try
    /// logs.
    pub fn restart(&mut self, p: &Process) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().context("cannot find the ledgermq binary")?;
        let logs = self.run_dir.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let log_path = logs.join(format!("{}.log", p.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut cmd = Command::new(exe);
        cmd.args(p.argv.iter().skip(1))
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("duplicating the log handle")?)
            .stderr(log)
            .process_group(0);
        if let Some(cwd) = &p.cwd {
            cmd.current_dir(cwd);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", p.name))?;
        let pid_file = self.pid_dir().join(format!("{}.pid", p.name));
        std::fs::create_dir_all(self.pid_dir())
            .with_context(|| format!("creating {}", self.pid_dir().display()))?;
        std::fs::write(&pid_file, format!("{}\n", child.id()))
            .with_context(|| format!("writing {}", pid_file.display()))?;
        self.children.insert(p.name.clone(), child);
        self.faulted.remove(&p.name);
        Ok(())
    }
}

/// The broker process a pid file names, if it is running and is a `ledgermq broker`.
fn read_process(pid_file: &Path) -> Option<Process> {
    let name = pid_file.file_stem()?.to_str()?.to_string();
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let argv = split_cmdline(&std::fs::read(format!("/proc/{pid}/cmdline")).ok()?);
    let sub = argv.get(1).map(String::as_str);
    if !matches!(sub, Some("broker" | "mqbroker")) {
        return None;
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    let confs = configs_of(&argv, cwd.as_deref());
    Some(Process {
        name,
        pid,
        argv,
        cwd,
        confs,
    })
}
