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
    runtime.block_on(app::run(
        app::Options {
            home,
            config: args.config,
        },
        shutdown_signal(),
    ))?;
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
