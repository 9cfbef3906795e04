//! Small wrappers around `ip`, `iptables`, `tc` and `setns(2)`: the only places the suite
//! touches the kernel's network configuration. Every command names a namespace the suite
//! created (`ip -n NS ...`, `ip netns exec NS ...`), never the host's own.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;

use super::TopologyError;

/// Runs a command and fails with its stderr if it exits non-zero.
pub fn run(program: &str, args: &[&str]) -> Result<String, TopologyError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| TopologyError::Command {
            command: format!("{program} {}", args.join(" ")),
            message: format!("cannot run it: {e} (apt-get install -y iproute2 iptables)"),
        })?;
    if !out.status.success() {
        return Err(TopologyError::Command {
            command: format!("{program} {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip netns exec NS program args...`
pub fn exec_in(ns: &str, program: &str, args: &[&str]) -> Result<String, TopologyError> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// The network namespace files `ip netns` keeps.
pub const NETNS_DIR: &str = "/run/netns";

/// Opens a named namespace, for `setns`.
pub fn open(ns: &str) -> Result<File, TopologyError> {
    let path = format!("{NETNS_DIR}/{ns}");
    File::open(&path).map_err(|e| TopologyError::Command {
        command: format!("open {path}"),
        message: e.to_string(),
    })
}

/// Moves the calling thread into the network namespace `fd`. Only this thread moves: sockets
/// it opens afterwards live in that namespace, and children it forks start there.
pub fn setns(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: setns only reads the descriptor; an invalid one is reported as an error.
    let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Puts the calling thread into a namespace and back into the one it was in when dropped.
pub struct Entered {
    original: File,
}

impl Entered {
    pub fn enter(ns: &str) -> Result<Entered, TopologyError> {
        let original =
            File::open("/proc/thread-self/ns/net").map_err(|e| TopologyError::Command {
                command: "open /proc/thread-self/ns/net".into(),
                message: e.to_string(),
            })?;
        let target = open(ns)?;
        setns(target.as_raw_fd()).map_err(|e| TopologyError::Command {
            command: format!("setns {ns}"),
            message: e.to_string(),
        })?;
        Ok(Entered { original })
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Err(e) = setns(self.original.as_raw_fd()) {
            tracing::error!(error = %e, "cannot return to the original network namespace");
        }
    }
}

/// Process ids inside a namespace (`ip netns pids`).
pub fn pids(ns: &str) -> Vec<i32> {
    run("ip", &["netns", "pids", ns])
        .map(|out| {
            out.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// True if a process with this id exists.
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}
