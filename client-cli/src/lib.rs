//! `dk`, the DataKit command line, as a library: `run` parses the arguments, talks to
//! `dkd` over gRPC and turns every failure into one line on stderr and an exit code.

pub mod artifact;
pub mod cli;
pub mod colour;
pub mod commands;
pub mod connect;
pub mod error;
pub mod input;
pub mod output;
pub mod progress;
pub mod tls;

use std::{io::Write, path::PathBuf, process::ExitCode};

use clap::Parser;

use crate::{
    cli::{Cli, Command, EnvCommand, TokenCommand},
    commands::store::StoreCommand,
    connect::{DaemonAddress, connect},
    error::{CliError, Failure},
};

/// Runs `dk` with the process's arguments and returns its exit code.
pub fn run() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() && output::json_requested(&args) => {
            // A usage error under -o json: the same JSON object as every other error.
            let detail = error.to_string();
            let first = detail.lines().next().unwrap_or_default();
            output::error_json(Failure::InvalidInput, first.trim_start_matches("error: "));
            return ExitCode::from(Failure::InvalidInput as u8);
        }
        Err(error) => {
            // Help and --version go to stdout with 0; usage errors to stderr with 2.
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let format = cli.global.output;
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(Failure::Other, format!("cannot start: {e}")))
        .and_then(|runtime| runtime.block_on(execute(cli)));
    match outcome {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`dk env list | head -1`) is not an error worth reporting.
            let text = colour::paint(&output::safe(&text), colour::enabled());
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(error) if format == output::OutputFormat::Json => {
            output::error_json(error.failure, &error.message);
            error.exit_code()
        }
        Err(error) => {
            output::note(&format!("error: {error}"));
            error.exit_code()
        }
    }
}

/// `DK_HOME`, else `~/.datakit`.
fn dk_home() -> Result<PathBuf, CliError> {
    datakit::files::dk_home().ok_or_else(|| {
        CliError::new(
            Failure::InvalidInput,
            "neither DK_HOME nor HOME is set: set DK_HOME",
        )
    })
}

async fn execute(cli: Cli) -> Result<String, CliError> {
    let home = dk_home()?;
    let format = cli.global.output;
    // Client-side commands run without dkd: they neither connect to nor start it.
    let command = match cli.command {
        Command::Build(args) => return commands::build::run(&home, format, &args),
        Command::Publish(args) => return commands::publish::run(&home, format, &args).await,
        Command::Sign(args) => return commands::sign::run(&home, format, &args).await,
        Command::Completion { shell } => return commands::completion::run(shell),
        Command::Init(args) => return commands::init::run(format, &args),
        Command::Store(StoreCommand::Scaffold(args)) => {
            return commands::store::scaffold(format, &args);
        }
        Command::Store(StoreCommand::Add(args)) if args.print => {
            return commands::store::scaffold(format, &args);
        }
        command => command,
    };
    input::check(&command)?;
    let address = DaemonAddress::resolve(cli.global.daemon.as_deref(), &home)?;
    if let Command::Version = command {
        return commands::version::version(address, &home, format).await;
    }
    let mut client = connect(&address, &home).await?;
    match command {
        Command::Build(_)
        | Command::Publish(_)
        | Command::Sign(_)
        | Command::Completion { .. }
        | Command::Version
        | Command::Init(_)
        | Command::Store(StoreCommand::Scaffold(_)) => Err(CliError::new(
            Failure::Other,
            "dk build, publish, sign, completion, version, init and store scaffold are handled before connecting",
        )),
        Command::Store(StoreCommand::Add(args)) => {
            commands::store::add(&mut client, format, args).await
        }
        Command::Env(EnvCommand::List) => commands::env::list(&mut client, format).await,
        Command::Env(EnvCommand::Show { env }) => {
            commands::env::show(&mut client, format, &env).await
        }
        Command::Promote(args) => commands::promote::promote(&mut client, format, args).await,
        Command::Rollback(args) => commands::promote::rollback(&mut client, format, args).await,
        Command::Approve(args) => commands::approve::approve(&mut client, format, args).await,
        Command::History(args) => commands::history::history(&mut client, format, args).await,
        Command::Promotions(args) => {
            commands::promotions::promotions(&mut client, format, args).await
        }
        Command::Reject(args) => commands::decline::reject(&mut client, format, args).await,
        Command::Cancel(args) => commands::decline::cancel(&mut client, format, args).await,
        Command::Status(args) => commands::status::status(&mut client, format, args).await,
        Command::Logs(args) => commands::logs::logs(&mut client, format, args).await,
        Command::Verify(args) => commands::verify::verify(&mut client, format, args).await,
        Command::Token(TokenCommand::Create(args)) => {
            commands::token::create(&mut client, format, args).await
        }
        Command::Token(TokenCommand::List) => commands::token::list(&mut client, format).await,
        Command::Token(TokenCommand::Revoke { name }) => {
            commands::token::revoke(&mut client, format, name).await
        }
        Command::Whoami => commands::whoami::whoami(&mut client, format).await,
        Command::Ui(args) => commands::ui::ui(&mut client, &address, format, args).await,
        Command::Audit(args) => commands::audit::audit(&mut client, format, args).await,
        Command::Hold(args) => commands::hold::hold(&mut client, format, args).await,
        Command::Notifications(commands::notifications::NotificationsCommand::Status) => {
            commands::notifications::status(&mut client, format).await
        }
    }
}
