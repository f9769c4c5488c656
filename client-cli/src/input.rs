//! Names and ids on the command line, checked before `dk` connects, with the rules `dkd`
//! applies (`datakit::manifest`): a name that could never exist is invalid input (exit 2)
//! in every command, without a daemon.

use datakit::manifest::{NameError, validate_login, validate_name, validate_promotion_id};

use crate::{
    cli::{Command, EnvCommand, TokenCommand},
    error::{CliError, Failure},
};

fn invalid(error: NameError) -> CliError {
    CliError::new(Failure::InvalidInput, error.to_string())
}

fn name(what: &str, value: &str) -> Result<(), CliError> {
    validate_name(what, value).map_err(invalid)
}

fn optional_name(what: &str, value: Option<&str>) -> Result<(), CliError> {
    value.map_or(Ok(()), |value| name(what, value))
}

/// Checks every package, environment, promotion id and user name `command` carries.
pub fn check(command: &Command) -> Result<(), CliError> {
    match command {
        Command::Build(_)
        | Command::Publish(_)
        | Command::Sign(_)
        | Command::Completion { .. }
        | Command::Version
        | Command::Init(_)
        | Command::Env(EnvCommand::List)
        | Command::Notifications(_)
        | Command::Ui(_)
        | Command::Whoami => Ok(()),
        Command::Env(EnvCommand::Show { env }) => name("environment", env),
        Command::Store(
            crate::commands::store::StoreCommand::Add(args)
            | crate::commands::store::StoreCommand::Scaffold(args),
        ) => {
            name("environment", &args.env)?;
            name("store", &args.name)
        }
        Command::Promote(args) => {
            name("package", &args.package)?;
            name("environment", &args.to)
        }
        Command::Verify(args) => {
            name("package", &args.package)?;
            name("environment", &args.env)
        }
        Command::Rollback(args) => {
            name("package", &args.package)?;
            name("environment", args.target().0)
        }
        Command::Approve(args) => {
            validate_promotion_id(&args.promotion).map_err(invalid)?;
            args.as_user
                .as_deref()
                .map_or(Ok(()), |user| validate_login(user).map_err(invalid))
        }
        Command::Promotions(args) => {
            optional_name("package", args.package.as_deref())?;
            optional_name("environment", args.env.as_deref())?;
            crate::commands::promotions::parse_states(&args.state).map(drop)
        }
        Command::Reject(args) => {
            validate_promotion_id(&args.promotion).map_err(invalid)?;
            if args.reason.trim().is_empty() {
                return Err(CliError::new(
                    crate::error::Failure::InvalidInput,
                    "--reason is empty: say why you reject it in a few words",
                ));
            }
            Ok(())
        }
        Command::Cancel(args) => validate_promotion_id(&args.promotion).map_err(invalid),
        Command::History(args) => {
            name("package", &args.package)?;
            optional_name("environment", args.env.as_deref())
        }
        Command::Status(args) => {
            optional_name("package", args.package.as_deref())?;
            optional_name("environment", args.env.as_deref())
        }
        Command::Logs(args) => {
            name("package", &args.package)?;
            name("environment", &args.env)
        }
        Command::Token(TokenCommand::List) => Ok(()),
        Command::Hold(args) => crate::commands::hold::check_names(args),
        Command::Audit(args) => {
            optional_name("package", args.package.as_deref())?;
            optional_name("environment", args.env.as_deref())
        }
        Command::Token(TokenCommand::Revoke { name }) => validate_login(name).map_err(invalid),
        Command::Token(TokenCommand::Create(args)) => {
            validate_login(&args.name).map_err(invalid)?;
            args.groups
                .iter()
                .try_for_each(|group| name("group", group))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn checked(args: &[&str]) -> Result<(), CliError> {
        let cli =
            Cli::try_parse_from(std::iter::once("dk").chain(args.iter().copied())).expect("parses");
        check(&cli.command)
    }

    #[test]
    fn a_bad_name_is_invalid_input_in_every_command_that_takes_one() {
        for args in [
            &["history", "../x"][..],
            &["history", "pkg", "--env", "../x"],
            &["status", "../../x"],
            &["status", "--env", "Prod"],
            &["logs", "pkg", "--env", "a/b"],
            &["promote", "pkg", "v1.0.0", "--to", "../prod"],
            &["rollback", "p\u{1b}kg", "--env", "dev"],
            &["env", "show", ".."],
            &["approve", "../p-1"],
            &["approve", "p-1", "--as", "al ice"],
            &["token", "create", "ci bot"],
            &["token", "create", "ci", "--groups", "ok,Not-OK"],
            &["token", "revoke", "../x"],
        ] {
            let error = checked(args).expect_err("refused");
            assert_eq!(error.failure, Failure::InvalidInput, "{args:?}");
        }
    }

    #[test]
    fn good_names_pass() {
        for args in [
            &["history", "my-package", "--env", "dev"][..],
            &["status", "--env", "dev"],
            &["promote", "my-package", "v1.0.0", "--to", "prod"],
            &["approve", "p-12", "--as", "Alice-1"],
            &["env", "list"],
            &[
                "token",
                "create",
                "ci-bot",
                "--groups",
                "ci,team-leads",
                "--expires",
                "30d",
            ],
        ] {
            assert_eq!(checked(args), Ok(()), "{args:?}");
        }
    }
}
