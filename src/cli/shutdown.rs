//! `ledgermq mqshutdown namesrv|broker`: RocketMQ's `mqshutdown` script. Finds the running
//! `ledgermq namesrv` / `ledgermq broker` processes by reading `/proc/<pid>/cmdline` and sends
//! each a SIGTERM, which they answer with a graceful shutdown (a broker unregisters from the
//! name servers and stops its Raft node). Like the script, it stops every such process of the
//! host unless `-c` narrows it to the ones started with one config file.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::say;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    Namesrv,
    Broker,
}

impl Which {
    /// The name RocketMQ's script prints.
    fn script_name(self) -> &'static str {
        match self {
            Which::Namesrv => "mqnamesrv",
            Which::Broker => "mqbroker",
        }
    }

    /// The `ledgermq` subcommand names (and aliases) that start this kind of process.
    fn subcommands(self) -> [&'static str; 2] {
        match self {
            Which::Namesrv => ["namesrv", "mqnamesrv"],
            Which::Broker => ["broker", "mqbroker"],
        }
    }
}

#[derive(Args, Debug)]
pub struct ShutdownArgs {
    /// What to stop.
    #[arg(value_enum)]
    which: Which,
    /// Only the processes started with this config file (`-c FILE`, among their `-c` files
    /// when a process hosts several group members); default: all of them.
    #[arg(short = 'c', long = "configFile")]
    config: Option<PathBuf>,
}

/// A `ledgermq` process found in /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    pid: i32,
    argv: Vec<String>,
    cwd: Option<PathBuf>,
}

/// Splits a /proc cmdline (NUL-separated, NUL-terminated) into arguments.
pub(crate) fn split_cmdline(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// True if `argv` is `ledgermq <sub> ...` for one of `subs`. `same_exe` says the process runs
/// this very executable, whatever it was called: a copy kept under another name (a versioned
/// install, the binary of an A/B run) is still found by its own `mqshutdown`, as RocketMQ's
/// script finds a broker by its main class rather than by a file name.
fn is_ledgermq(argv: &[String], subs: [&str; 2], same_exe: bool) -> bool {
    let Some(prog) = argv.first() else {
        return false;
    };
    let name = Path::new(prog)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    (name == "ledgermq" || same_exe) && argv.get(1).is_some_and(|a| subs.contains(&a.as_str()))
}

/// The config files a process was started with (every `-c F`, `--configFile F`,
/// `--configFile=F`: a process hosting several group members has one per member), resolved
/// against its working directory.
pub(crate) fn configs_of(argv: &[String], cwd: Option<&Path>) -> Vec<PathBuf> {
    let mut it = argv.iter().skip(2);
    let mut paths = Vec::new();
    while let Some(a) = it.next() {
        if a == "-c" || a == "--configFile" {
            paths.extend(it.next().cloned());
        } else if let Some(p) = a.strip_prefix("--configFile=") {
            paths.push(p.to_string());
        } else if let Some(p) = a.strip_prefix("-c").filter(|p| !p.is_empty()) {
            paths.push(p.to_string());
        }
    }
    paths
        .into_iter()
        .map(PathBuf::from)
        .map(|path| match (cwd, path.is_relative()) {
            (Some(cwd), true) => cwd.join(path),
            _ => path,
        })
        .collect()
}

fn config_of(f: &Found) -> Vec<PathBuf> {
    configs_of(&f.argv, f.cwd.as_deref())
}

pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Every `ledgermq` process of this kind on the host, except ourselves.
fn scan(which: Which) -> std::io::Result<Vec<Found>> {
    let me = std::process::id() as i32;
    let my_exe = std::fs::read_link("/proc/self/exe").ok();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // A process may exit while we look; skip what we cannot read.
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv = split_cmdline(&raw);
        // Unreadable for another user's process without privileges: then only the name counts.
        let same_exe = my_exe.as_ref().is_some_and(|mine| {
            std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| &exe == mine)
        });
        if is_ledgermq(&argv, which.subcommands(), same_exe) {
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok();
            out.push(Found { pid, argv, cwd });
        }
    }
    out.sort_by_key(|f| f.pid);
    Ok(out)
}

pub async fn run(args: ShutdownArgs) -> anyhow::Result<()> {
    let name = args.which.script_name();
    let mut found = scan(args.which)?;
    if let Some(conf) = &args.config {
        found.retain(|f| config_of(f).iter().any(|c| same_file(c, conf)));
    }
    if found.is_empty() {
        say(format!("No {name} running."));
        std::process::exit(1);
    }
    let mut failed = Vec::new();
    for f in &found {
        say(format!("The {name}({}) is running...", f.pid));
        // SAFETY: kill(2) only sends a signal; the pid was read from /proc just now.
        if unsafe { libc::kill(f.pid, libc::SIGTERM) } == 0 {
            say(format!("Send shutdown request to {name}({}) OK", f.pid));
        } else {
            let e = std::io::Error::last_os_error();
            eprintln!("cannot signal {name}({}): {e}", f.pid);
            failed.push(f.pid);
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("could not stop {name} process(es) {failed:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn finds_our_processes_only() {
        let raw = b"/opt/x/ledgermq\0namesrv\0-c\0ns.conf\0";
        let a = split_cmdline(raw);
        assert_eq!(a, argv(&["/opt/x/ledgermq", "namesrv", "-c", "ns.conf"]));
        assert!(is_ledgermq(&a, Which::Namesrv.subcommands(), false));
        assert!(!is_ledgermq(&a, Which::Broker.subcommands(), false));
        assert!(is_ledgermq(
            &argv(&["ledgermq", "mqbroker"]),
            Which::Broker.subcommands(),
            false
        ));
        assert!(!is_ledgermq(
            &argv(&["ledgermq", "mqshutdown", "broker"]),
            Which::Broker.subcommands(),
            false
        ));
        assert!(!is_ledgermq(
            &argv(&["java", "broker"]),
            Which::Broker.subcommands(),
            false
        ));
        assert!(!is_ledgermq(&[], Which::Broker.subcommands(), false));
    }

    #[test]
    fn finds_this_executable_under_another_name() {
        let renamed = argv(&["/var/tmp/bins/ledgermq-base", "broker", "-c", "b.conf"]);
        assert!(!is_ledgermq(&renamed, Which::Broker.subcommands(), false));
        assert!(is_ledgermq(&renamed, Which::Broker.subcommands(), true));
        // Still only the subcommand asked for, and never the shutdown command itself.
        assert!(!is_ledgermq(&renamed, Which::Namesrv.subcommands(), true));
        assert!(!is_ledgermq(
            &argv(&["/var/tmp/bins/ledgermq-base", "mqshutdown", "broker"]),
            Which::Broker.subcommands(),
            true
        ));
    }

    #[test]
    fn reads_the_config_argument() {
        let f = |a: &[&str]| Found {
            pid: 1,
            argv: argv(a),
            cwd: Some(PathBuf::from("/srv")),
        };
        assert_eq!(
            config_of(&f(&["ledgermq", "broker", "-c", "b.conf"])),
            vec![PathBuf::from("/srv/b.conf")]
        );
        assert_eq!(
            config_of(&f(&["ledgermq", "broker", "--configFile=/etc/b.conf"])),
            vec![PathBuf::from("/etc/b.conf")]
        );
        assert_eq!(
            config_of(&f(&["ledgermq", "broker", "-c/etc/b.conf"])),
            vec![PathBuf::from("/etc/b.conf")]
        );
        // A process hosting several group members: every member's file.
        assert_eq!(
            config_of(&f(&[
                "ledgermq",
                "broker",
                "-c",
                "g0.conf",
                "-c",
                "/etc/g1.conf"
            ])),
            vec![PathBuf::from("/srv/g0.conf"), PathBuf::from("/etc/g1.conf")]
        );
        assert!(config_of(&f(&["ledgermq", "namesrv"])).is_empty());
    }
}
