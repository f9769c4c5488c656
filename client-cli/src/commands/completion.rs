//! `dk completion SHELL`: the shell's completion script, generated from dk's own command
//! line definition so it never drifts from it. Runs without dkd.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::{
    cli::Cli,
    error::{CliError, Failure},
};

/// Prints the completion script for `shell` on stdout. The script is dk's own text, not
/// text from outside, so it is written as is (tabs and all), not through `output::safe`.
pub fn run(shell: Shell) -> Result<String, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dk", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::new(Failure::Other, format!("cannot write the script: {e}")))?;
    Ok(String::new())
}
