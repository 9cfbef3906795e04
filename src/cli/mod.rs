//! The `ledgermq` command line: one binary, RocketMQ-named entry points. `anyhow` lives here,
//! at the binary's edge, and nowhere else.

mod bench;
mod broker;
mod cluster;
mod credentials;
mod dashboard;
mod drill;
mod mqadmin;
mod namesrv;
mod raft;
mod shutdown;
mod status;
mod tools;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "ledgermq",
    version,
    about = "A RocketMQ-compatible broker whose CommitLog is a Raft log"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a name server (RocketMQ's `mqnamesrv`).
    #[command(alias = "mqnamesrv")]
    Namesrv(namesrv::NamesrvArgs),
    /// Start a broker node from a RocketMQ broker.conf (RocketMQ's `mqbroker -c FILE`).
    #[command(alias = "mqbroker")]
    Broker(broker::BrokerArgs),
    /// Inspect and drive a Raft group through its peer ports (status, raw appends, reads).
    Raft(raft::RaftArgs),
    /// The status table of a cluster given by its broker config files.
    Status(status::StatusArgs),
    /// Failover drill: kill (or pause) the leader under load, measure RTO, check nothing is lost.
    Drill(drill::DrillArgs),
    /// Benchmarks that start what they measure and print one parseable summary line.
    Bench(bench::BenchArgs),
    /// RocketMQ's mqadmin: clusterList, topicList, topicRoute, updateTopic, topicStatus, ...
    Mqadmin(mqadmin::MqadminArgs),
    /// The quickstart producer (tools.sh org.apache.rocketmq.example.quickstart.Producer).
    Producer(tools::ProducerArgs),
    /// The quickstart consumer (tools.sh org.apache.rocketmq.example.quickstart.Consumer).
    Consumer(tools::ConsumerArgs),
    /// Stop the running name servers or brokers of this host (RocketMQ's mqshutdown).
    Mqshutdown(shutdown::ShutdownArgs),
    /// The web dashboard: cockpit, cluster, Raft, topics, consumers, messages.
    Dashboard(dashboard::DashboardArgs),
}

/// Prints one line to stdout. A closed pipe (`... | head`) ends the process quietly, as for
/// any Unix tool; SIGPIPE itself stays ignored because sockets must not kill the process.
pub(crate) fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Parses the command line and runs it; the process exit code follows the result.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The protocol benchmarks' client and trivial endpoint run on one thread: their cost is
    // wake-ups between tasks, and across threads each one is a futex call (measured: 80k →
    // 143k sends/s against the trivial endpoint).
    let single = matches!(&cli.command, Command::Bench(b) if b.single_threaded());
    let mut builder = if single {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if let Command::Broker(args) = &cli.command {
        if let Some(n) = args.client_workers() {
            builder.worker_threads(n);
        }
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ledgermq: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Namesrv(a) => {
                init_tracing("info");
                namesrv::run(a).await
            }
            Command::Broker(a) => {
                init_tracing("info,openraft=error");
                broker::run(a).await
            }
            Command::Raft(a) => {
                init_tracing("error");
                raft::run(a).await
            }
            Command::Status(a) => {
                init_tracing("error");
                status::run(a).await
            }
            Command::Drill(a) => {
                init_tracing("error");
                drill::run(a).await
            }
            Command::Bench(a) => {
                init_tracing("error");
                bench::run(a).await
            }
            Command::Mqadmin(a) => {
                init_tracing("error");
                mqadmin::run(a).await
            }
            Command::Producer(a) => {
                init_tracing("warn");
                tools::producer(a).await
            }
            Command::Consumer(a) => {
                init_tracing("warn");
                tools::consumer(a).await
            }
            Command::Mqshutdown(a) => {
                init_tracing("error");
                shutdown::run(a).await
            }
            Command::Dashboard(a) => {
                init_tracing("info");
                dashboard::run(a).await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledgermq: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
