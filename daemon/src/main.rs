//! The `dkd` binary: parses flags, sets up logging and signals, runs `dkd::app`.

use std::{future::Future, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use dkd::{app, home::DkHome};
use tikv_jemalloc_ctl::{Access, AsName};

/// jemalloc: see daemon/Cargo.toml for why.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How long, once dkd stopped, the runtime waits for blocking work still running (a store
/// write stuck on a full or hung disk) before the process exits anyway.
const BLOCKING_WORK_GRACE: Duration = Duration::from_secs(2);

/// The DataKit promotion daemon. Serves the DataKit gRPC API on DK_HOME/dkd.sock; `dk`
/// starts it on demand, so running it by hand is rarely needed.
#[derive(Debug, Parser)]
#[command(name = "dkd", version)]
struct Args {
    /// DataKit home: socket, deployment repository, state [default: ~/.datakit]
    #[arg(long, env = "DK_HOME")]
    home: Option<PathBuf>,
    /// Daemon configuration file [default: DK_HOME/dkd.yaml]
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    datakit::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DKD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: dk starts dkd with its log in DK_HOME/dkd.log.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    return_freed_memory();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dkd: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// How long freed pages stay with jemalloc before its background thread hands them back:
/// one second, not its default ten, so what loading a big home freed is returned by the
/// time the first sync pass is done (on 100,000 packages: about 300 MB held 2 s after the
/// pass, against 430 MB).
const DIRTY_DECAY_MS: isize = 1_000;

/// Lets jemalloc hand freed pages back to the system from its background thread, so a
/// quiet dkd gives back what loading a big home took (otherwise it does so only while it
/// keeps allocating), within `DIRTY_DECAY_MS`.
fn return_freed_memory() {
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(%error, "jemalloc's background thread is off: freed memory is returned only while dkd allocates");
    }
    // The default for arenas made from now on, then each arena made already (one not
    // made yet has no settings and takes the default when made).
    let set = |name: &str| name.name().write(DIRTY_DECAY_MS);
    if let Err(error) = set("arenas.dirty_decay_ms\0") {
        tracing::warn!(%error, "cannot shorten jemalloc's decay: freed memory is returned after 10 s");
    }
    for arena in 0..tikv_jemalloc_ctl::arenas::narenas::read().unwrap_or(0) {
        let _ = set(&format!("arena.{arena}.dirty_decay_ms\0"));
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let home = match args.home {
        Some(path) => DkHome::new(path),
        None => DkHome::from_env()?,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let ran = runtime.block_on(async {
        // Installed before anything else, so a signal that arrives the moment the socket
        // appears stops dkd cleanly instead of killing it with the default action.
        let shutdown = shutdown_signal()?;
        app::run(app::Options::new(home, args.config), shutdown).await?;
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(BLOCKING_WORK_GRACE);
    ran
}

/// Registers SIGINT and SIGTERM handlers now and returns a future that resolves on the
/// first of them.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
