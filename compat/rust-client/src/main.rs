//! `rust-compat`: drives the third-party `rocketmq-client-rust` 1.0.0 (crates.io) against a
//! RocketMQ-compatible name server and broker, and prints what happened as JSON lines.
//!
//! It owns only the client side of the compatibility harness: it never talks the remoting
//! protocol itself, and must never work around a broker's shortcoming — a check that needs
//! a workaround here has found a broker bug. `scripts/compat-test.sh` runs it; the same
//! command lines work by hand (see `compat/README.md`).
//!
//! Every run is bounded: each client call has a timeout, and a watchdog thread ends the
//! process if the client library itself hangs, so a dead or silent server can never stall
//! the harness.

mod acl;
mod bench;
mod consume;
mod delay;
mod produce;
mod tally;
mod trans;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rocketmq_client_rust::{ClientRuntime, ClientRuntimeConfig};
use rocketmq_observability::TelemetryRuntimeGuard;
use rocketmq_runtime::RuntimeOwner;

/// Exit code when the watchdog had to end a hung client (as `timeout(1)` does).
pub const EXIT_WATCHDOG: u8 = 124;
/// Exit code for a usage or setup error (bad arguments, runtime could not start).
pub const EXIT_SETUP: u8 = 2;
/// Name and version of the client under test, printed in every summary.
pub const CLIENT: &str = "rocketmq-client-rust 1.0.0";

#[derive(Parser)]
#[command(
    name = "rust-compat",
    about = "Produce and push-consume with rocketmq-client-rust 1.0.0; one JSON line per message"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sync-send COUNT messages with body "Hello RocketMQ <i>", a tag and keys.
    Produce(produce::ProduceArgs),
    /// Push-consume (CLUSTERING, from the first offset) until EXPECT distinct messages arrived.
    Consume(consume::ConsumeArgs),
    /// Sync sends from --inflight tasks sharing one producer; one JSON summary line.
    Bench(bench::BenchArgs),
    /// A delay level and a delivery time, each received within a tolerance of its due time.
    Delay(delay::DelayArgs),
    /// RECONSUME_LATER back-off through delay levels 3, 4, ..., then the dead-letter topic.
    Retry(delay::RetryArgs),
    /// TransactionMQProducer: commit, rollback, and UNKNOW then COMMIT on check-back.
    Trans(trans::TransArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();

    // Hard upper bound on the whole run, whatever the client library does.
    let limit = match &cli.command {
        Command::Produce(a) => a.watchdog_limit(),
        Command::Consume(a) => a.watchdog_limit(),
        Command::Bench(a) => a.watchdog_limit(),
        Command::Delay(a) => a.watchdog_limit(),
        Command::Retry(a) => a.watchdog_limit(),
        Command::Trans(a) => a.watchdog_limit(),
    };
    start_watchdog(limit);

    let owner = match RuntimeOwner::new() {
        Ok(owner) => owner,
        Err(e) => {
            eprintln!("rust-compat: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    // Telemetry export is off: the harness reads its own JSON lines, not client metrics.
    let telemetry = TelemetryRuntimeGuard::noop();
    let client_runtime: Arc<ClientRuntime> = match ClientRuntime::try_new(
        owner.root_context().component("rust-compat"),
        ClientRuntimeConfig::default(),
        telemetry.handle(),
    ) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rust-compat: cannot create the client runtime: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };

    let code = owner.block_on(async {
        let code = match cli.command {
            Command::Produce(args) => produce::run(client_runtime.clone(), args).await,
            Command::Consume(args) => consume::run(client_runtime.clone(), args).await,
            Command::Bench(args) => bench::run(client_runtime.clone(), args).await,
            Command::Delay(args) => delay::run_delay(client_runtime.clone(), args).await,
            Command::Retry(args) => delay::run_retry(client_runtime.clone(), args).await,
            Command::Trans(args) => trans::run(client_runtime.clone(), args).await,
        };
        // The client runtime owns connections and background tasks; give it a bounded
        // chance to close them so the broker sees a clean disconnect.
        if tokio::time::timeout(Duration::from_secs(10), client_runtime.shutdown())
            .await
            .is_err()
        {
            eprintln!("rust-compat: client runtime did not shut down within 10 s; exiting anyway");
        }
        code
    });
    // Tokio's own shutdown can wait on blocking tasks of the library; never let that hold
    // the exit status hostage.
    let _ = owner.shutdown_runtime_blocking_with_timeout(Duration::from_secs(5));
    ExitCode::from(code)
}

/// Client library logs go to stderr, `warn` and above unless `RUST_LOG` says otherwise;
/// stdout carries only the JSON lines.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Ends the process with [`EXIT_WATCHDOG`] after `limit`, even if the runtime is wedged.
fn start_watchdog(limit: Duration) {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!(
                "rust-compat: watchdog: still running after {} s; the client library is stuck, exiting",
                limit.as_secs()
            );
            std::process::exit(i32::from(EXIT_WATCHDOG));
        })
        .map(|_| ())
        .unwrap_or_else(|e| eprintln!("rust-compat: cannot start the watchdog thread: {e}"));
}
