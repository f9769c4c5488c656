//! dkd's life on one DK_HOME: a private socket, one daemon per home, graceful shutdown,
//! autostart by dk, and a configuration that is validated before anything binds.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{Daemon, TestHome, eventually, stderr, stdout};

#[test]
fn the_socket_is_private_to_its_owner() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let mode = std::fs::metadata(home.socket())
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

#[test]
fn a_second_daemon_on_the_same_home_is_refused_and_the_first_keeps_serving() {
    let home = TestHome::new();
    let mut first = home.start_daemon();
    let second = Daemon::spawn(home.path()).wait();
    assert!(!second.status.success());
    let message = stderr(&second);
    assert!(message.contains("already running"), "{message}");
    assert!(
        message.contains(&first.pid().to_string()),
        "names the running pid: {message}"
    );
    assert!(first.is_running());
    assert!(
        home.socket().exists(),
        "the first daemon's socket is untouched"
    );
    let output = home.dk(&["env", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn sigterm_stops_the_daemon_cleanly_and_removes_its_socket() {
    let home = TestHome::new();
    let mut daemon = home.start_daemon();
    daemon.signal("TERM");
    let output = daemon.wait();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!home.socket().exists());
    assert!(stderr(&output).contains("stopped"), "{}", stderr(&output));
}

#[test]
fn sigint_stops_the_daemon_too() {
    let home = TestHome::new();
    let mut daemon = home.start_daemon();
    daemon.signal("INT");
    assert!(daemon.wait().status.success());
    assert!(!home.socket().exists());
}

#[test]
fn dk_starts_a_daemon_when_none_is_running() {
    let home = TestHome::new();
    let output = home.dk_with(&["env", "list"], true);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("prod"));
    assert!(
        stderr(&output).contains("starting"),
        "progress is shown: {}",
        stderr(&output)
    );
    assert!(home.daemon_pid().is_some(), "a dkd holds the home");
    let again = home.dk(&["env", "list"]);
    assert!(
        again.status.success(),
        "the started daemon keeps serving: {}",
        stderr(&again)
    );
}

#[test]
fn a_stale_socket_left_by_a_killed_daemon_does_not_stop_autostart() {
    let home = TestHome::new();
    let mut daemon = home.start_daemon();
    daemon.signal("KILL");
    let _ = daemon.wait();
    assert!(home.socket().exists(), "kill -9 leaves the socket behind");
    // Stale means nobody listens. Right after the kill a connection was now and then
    // still accepted and then reset (about one run in 80, on main too; the holder of
    // the listening socket was not identified), which is not what this test is about.
    eventually("the socket to go stale", || {
        std::os::unix::net::UnixStream::connect(home.socket())
            .is_err()
            .then_some(())
    });
    let output = home.dk_with(&["env", "list"], true);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn without_autostart_dk_exits_5_saying_how_to_start_dkd() {
    let home = TestHome::new();
    let output = home.dk(&["env", "list"]);
    assert_eq!(output.status.code(), Some(5));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("dkd"), "{message}");
}

#[test]
fn an_unreadable_database_is_rebuilt_at_start() {
    let home = TestHome::new();
    std::fs::write(
        home.path().join("state.sled"),
        b"a file where the database folder should be",
    )
    .expect("write");
    let _daemon = home.start_daemon();
    let output = home.dk(&["env", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let aside = eventually("the old database to be kept aside", || {
        std::fs::read_dir(home.path())
            .ok()?
            .filter_map(Result::ok)
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.sled.unreadable-")
            })
    });
    assert!(aside.path().is_file(), "kept as it was, for inspection");
}
