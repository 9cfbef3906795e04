//! `ledgermq status` and `ledgermq drill` against the real `dledger` layout: the status table
//! shows one master and two slaves, and a two-round drill kills the leader with SIGKILL,
//! restarts it from the pid file like fast-try's, and must find every acknowledged message.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::bin;
use common::layout::Layout;

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Kills whatever the pid files name: the brokers the drill restarted belong to no `Child`.
fn kill_from_pid_files(pids: &Path) {
    for entry in std::fs::read_dir(pids).into_iter().flatten().flatten() {
        if let Ok(pid) = std::fs::read_to_string(entry.path()) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
    }
}

#[test]
fn status_shows_the_group_and_a_drill_loses_nothing() {
    let layout = Layout::start("dledger", 28, "");
    let run = layout.dir.path().join("run");
    let pids = run.join("pids");
    std::fs::create_dir_all(&pids).expect("pid dir");
    for name in layout.brokers.keys() {
        let pid = layout.pid(name).expect("started");
        std::fs::write(pids.join(format!("{name}.pid")), pid.to_string()).expect("pid file");
    }
    let confs: Vec<PathBuf> = layout.brokers.values().map(|b| b.conf.clone()).collect();

    let status = Command::new(bin())
        .args(["status", "-n", &layout.namesrv, "--wait", "30", "-c"])
        .args(&confs)
        .output()
        .expect("run status");
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    assert_eq!(shown.matches(" MASTER ").count(), 1, "{shown}");
    assert_eq!(shown.matches(" SLAVE ").count(), 2, "{shown}");

    let drill = Command::new(bin())
        .args(["drill", "--run-dir"])
        .arg(&run)
        .args([
            "-n",
            &layout.namesrv,
            "--rounds",
            "2",
            "--warmup",
            "1",
            "--rate",
            "100",
        ])
        .arg("-c")
        .args(&confs)
        .output()
        .expect("run drill");
    kill_from_pid_files(&pids);
    let shown = text(&drill);
    assert!(drill.status.success(), "{shown}");
    assert!(shown.contains("RTO: p50"), "{shown}");
    assert!(shown.contains("(2 of 2 rounds recovered)"), "{shown}");
    assert!(shown.contains(" lost 0; undelivered 0"), "{shown}");
}

/// The multi-Raft layout: three groups, one process per node. `status` shows every group with
/// one master; a one-round drill kills the process leading RaftNode00 (all three of its
/// members), reports that group's takeover and the return of its leadership after the
/// restart, and loses nothing.
#[test]
fn drill_kills_a_whole_node_of_the_three_group_layout() {
    let layout = Layout::start("dledger-3g", 42, "");
    let run = layout.dir.path().join("run");
    let pids = run.join("pids");
    std::fs::create_dir_all(&pids).expect("pid dir");
    for name in layout.procs.keys() {
        let pid = layout.pid(name).expect("started");
        std::fs::write(pids.join(format!("{name}.pid")), pid.to_string()).expect("pid file");
    }
    let confs: Vec<PathBuf> = layout.brokers.values().map(|b| b.conf.clone()).collect();

    let status = Command::new(bin())
        .args(["status", "-n", &layout.namesrv, "--wait", "40", "-c"])
        .args(&confs)
        .output()
        .expect("run status");
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    assert_eq!(shown.matches(" MASTER ").count(), 3, "{shown}");
    assert_eq!(shown.matches(" SLAVE ").count(), 6, "{shown}");

    let drill = Command::new(bin())
        .args(["drill", "--run-dir"])
        .arg(&run)
        .args([
            "-n",
            &layout.namesrv,
            "--rounds",
            "1",
            "--warmup",
            "1",
            "--rate",
            "100",
        ])
        .arg("-c")
        .args(&confs)
        .output()
        .expect("run drill");
    kill_from_pid_files(&pids);
    let shown = text(&drill);
    assert!(drill.status.success(), "{shown}");
    assert!(shown.contains("killed broker-n0 (3 member(s))"), "{shown}");
    assert!(shown.contains("RaftNode00 elected"), "{shown}");
    assert!(shown.contains("leadership back"), "{shown}");
    assert!(shown.contains(" lost 0; undelivered 0"), "{shown}");
}
