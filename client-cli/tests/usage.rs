//! `dk`'s command line on its own: help, version and usage errors need no daemon.

use std::process::{Command, Output};

fn dk(args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_dk"))
        .args(args)
        .env("DK_HOME", home.path())
        .env("DK_NO_AUTOSTART", "1")
        .output()
        .expect("run dk")
}

#[test]
fn an_unknown_command_exits_2_naming_it() {
    let output = dk(&["no-such-command"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-command"));
}

#[test]
fn an_unknown_output_format_exits_2_listing_the_formats() {
    let output = dk(&["-o", "xml", "env", "list"]);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("table") && message.contains("json") && message.contains("yaml"),
        "{message}"
    );
}

#[test]
fn a_malformed_daemon_address_exits_2_saying_what_is_accepted() {
    let output = dk(&["--daemon", "dkd.example.com:8443", "env", "list"]);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("unix://") && message.contains("https://"),
        "{message}"
    );
}

#[test]
fn help_explains_the_commands_and_exit_codes() {
    let output = dk(&["--help"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("env") && text.contains("Exit codes") && text.contains("DK_NO_AUTOSTART"),
        "{text}"
    );
}

#[test]
fn version_prints_the_crate_version() {
    let output = dk(&["--version"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn completion_scripts_are_generated_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef dk"),
        ("fish", "complete -c dk"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = dk(&["completion", shell]);
        assert!(output.status.success(), "dk completion {shell} failed");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for subcommand in [
            "promote",
            "promotions",
            "reject",
            "cancel",
            "init",
            "store",
            "scaffold",
            "hold",
            "sign",
            "notifications",
            "completion",
        ] {
            assert!(
                script.contains(subcommand),
                "{shell} lacks the subcommand {subcommand}"
            );
        }
    }
}

#[test]
fn the_bash_completion_parses_and_registers_dk_when_sourced() {
    let script = tempfile::NamedTempFile::new().expect("temp file");
    let output = dk(&["completion", "bash"]);
    assert!(output.status.success());
    std::fs::write(script.path(), &output.stdout).expect("write the script");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(script.path())
        .output()
        .expect("run bash -n");
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // Loaded, it registers dk and completes the subcommands, new ones included.
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(
            r#"source "$1" && complete -p dk && COMP_WORDS=(dk pro) COMP_CWORD=1 COMP_LINE="dk pro" COMP_POINT=6 && _dk dk pro dk && echo "words: ${COMPREPLY[*]}" && COMP_WORDS=(dk store "") COMP_CWORD=2 && _dk dk "" store && echo "store: ${COMPREPLY[*]}""#,
        )
        .arg("bash")
        .arg(script.path())
        .output()
        .expect("run bash");
    let registration = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        loaded.status.success()
            && registration.contains("complete")
            && registration.contains(" dk")
            && registration.contains("words: promote promotions")
            && registration.contains("add scaffold"),
        "{registration}{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
}

#[test]
fn an_unknown_shell_exits_2_listing_the_shells() {
    let output = dk(&["completion", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("bash") && message.contains("powershell"),
        "{message}"
    );
}
