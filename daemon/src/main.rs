//! The `dkd` binary: parses flags, sets up logging and signals, runs `dkd::app`.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use dkd::{app, home::DkHome};

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
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dkd: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let home = match args.home {
        Some(path) => DkHome::new(path),
        None => DkHome::from_env()?,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // Handle the signals from now on, before the socket exists: a SIGTERM that arrives
        // as soon as the socket answers must stop dkd cleanly, not kill it.
        let shutdown = shutdown_signal()?;
        app::run(
            app::Options {
                home,
                config: args.config,
            },
            shutdown,
        )
        .await
        .map_err(anyhow::Error::from)
    })
}

/// Listens for SIGINT and SIGTERM now; the future resolves on the first of them.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
