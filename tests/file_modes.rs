//! Who may use a dkd: its `DK_HOME` is mode 0700 (created so, or narrowed), its socket
//! 0600 from the moment it has its name, dkd itself refuses any other uid, and `dk` run as
//! another user says whose socket it is.

mod support;

use std::{
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
    process::Command,
};

use support::{Daemon, TestHome, binary, eventually, other_user, stderr};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn answers(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

#[test]
fn dkd_creates_its_home_mode_0700_with_the_socket_mode_0600() {
    let parent = tempfile::tempdir().expect("tempdir");
    let home = parent.path().join("new").join("home");
    let socket = home.join("dkd.sock");
    let _daemon = Daemon::spawn(&home);
    // Every look at the socket while dkd starts finds it 0600: it never has its name with
    // a wider mode.
    let mut seen = Vec::new();
    eventually("dkd to open its socket", || {
        if let Ok(meta) = std::fs::symlink_metadata(&socket) {
            seen.push(meta.permissions().mode() & 0o777);
        }
        answers(&socket).then_some(())
    });
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|m| *m == 0o600), "modes seen: {seen:?}");
    assert_eq!(mode(&home), 0o700);
    let leftovers: Vec<String> = std::fs::read_dir(&home)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".bind-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_existing_home_open_to_others_is_narrowed_to_0700() {
    let home = TestHome::new();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let _daemon = home.start_daemon();
    assert_eq!(mode(home.path()), 0o700);
    assert_eq!(mode(&home.socket()), 0o600);
}

#[test]
fn another_user_is_told_whose_socket_it_is_and_nothing_is_started() {
    let Some(nobody) = other_user::nobody() else {
        return;
    };
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let expected = format!(
        "error: permission denied on {} (owned by root)",
        home.socket().display()
    );
    // The home is closed to others (0700); then only the socket (0600) is.
    for home_mode in [0o700, 0o711] {
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(home_mode))
            .expect("chmod");
        for autostart in [false, true] {
            let output = nobody.dk(home.path(), &["env", "list"], autostart);
            let message = stderr(&output);
            assert_eq!(output.status.code(), Some(4), "{message}");
            assert!(message.starts_with(&expected), "{message}");
            assert!(!message.contains("starting one"), "{message}");
            assert_eq!(message.lines().count(), 1, "{message}");
        }
    }
}

#[test]
fn dkd_refuses_a_connection_from_another_uid_itself() {
    let Some(nobody) = other_user::nobody() else {
        return;
    };
    let parent = nobody.own_dir();
    let home = parent.path().join("home");
    let mut dkd: Command = nobody.command(&binary("dkd"));
    dkd.env("HOME", parent.path());
    let _daemon = Daemon::spawn_command(dkd, &home);
    let socket = home.join("dkd.sock");
    eventually("nobody's dkd to open its socket", || {
        answers(&socket).then_some(())
    });
    assert_eq!(std::fs::metadata(&home).expect("stat").uid(), nobody.uid());
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&socket), 0o600);

    // Root gets past the file modes; dkd itself still refuses it.
    let output = Command::new(binary("dk"))
        .args(["env", "list"])
        .env("DK_HOME", &home)
        .env("DK_NO_AUTOSTART", "1")
        .env_remove("DK_DAEMON")
        .output()
        .expect("run dk");
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(4), "{message}");
    assert!(
        message.contains(&format!(
            "dkd serves only its owner, uid {} (nobody)",
            nobody.uid()
        )),
        "{message}"
    );
    assert!(message.contains("you are uid 0 (root)"), "{message}");
    // The refusal is in nobody's audit log, naming who tried and what.
    let refused = eventually("the refusal in the audit log", || {
        let log = std::fs::read_to_string(home.join("audit.log")).ok()?;
        log.lines()
            .find(|line| line.contains("PERMISSION_DENIED"))
            .map(str::to_owned)
    });
    for part in [
        r#""principal":"root""#,
        r#""peer":"local socket""#,
        r#""rpc":"/datakit.v1.DataKitService/ListEnvironments""#,
    ] {
        assert!(refused.contains(part), "{part} not in {refused}");
    }

    // Its owner is served.
    let output = nobody.dk(&home, &["env", "list"], false);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn dk_creates_a_new_home_0700_and_the_log_it_starts_has_no_colours() {
    let parent = TestHome::new();
    let home = parent.path().join("new-home");
    let output = Command::new(binary("dk"))
        .args(["env", "list"])
        .env("DK_HOME", &home)
        .env_remove("DK_NO_AUTOSTART")
        .env_remove("DK_DAEMON")
        .output()
        .expect("run dk");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&home), 0o700);
    let log = std::fs::read_to_string(home.join("dkd.log")).expect("dkd.log");
    assert!(
        !log.contains('\u{1b}'),
        "no terminal colours in a log file: {log}"
    );
    assert!(!log.contains("narrowed"), "{log}");
    let pid = std::fs::read_to_string(home.join("dkd.lock")).expect("lock");
    let stop = Command::new("kill").arg(pid.trim()).status().expect("kill");
    assert!(stop.success());
    eventually("the started dkd to stop", || {
        (!home.join("dkd.sock").exists()).then_some(())
    });
}
