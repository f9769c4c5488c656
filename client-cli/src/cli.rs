//! The command line: global flags and subcommands, as clap parses them.

use clap::{Args, Parser, Subcommand};

use crate::output::OutputFormat;

/// dk promotes DataKit packages through environments (dev → int → prod) by opening
/// pull requests in the deployment repository, and shows what runs where.
///
/// With no --daemon, dk talks to the dkd of DK_HOME (default ~/.datakit) and starts it
/// when none is running (set DK_NO_AUTOSTART=1 to prevent that).
///
/// Exit codes: 0 ok, 1 other error, 2 invalid input, 3 not found, 4 refused by policy or
/// precondition, 5 backend unavailable.
#[derive(Debug, Parser)]
#[command(name = "dk", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Daemon address: unix:///path/to/dkd.sock or https://host:port [default: DK_HOME's socket]
    #[arg(long, global = true, env = "DK_DAEMON", value_name = "ADDR")]
    pub daemon: Option<String>,
    /// Output format
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Environments: their promotion path, approval rules and stores
    #[command(subcommand)]
    Env(EnvCommand),
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List the environments in file order, with upstream and approval rule
    #[command(visible_alias = "ls")]
    List,
    /// Show one environment: path, approval rule in words, freezes and stores
    Show {
        /// Environment name, e.g. prod
        env: String,
    },
}
