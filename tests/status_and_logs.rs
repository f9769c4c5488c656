//! `dk status` (both tables, text and JSON, `--watch`) and `dk logs` (`--sync --follow`)
//! through the real binaries.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
};

use support::{PATIENCE, TestHome, eventually, package::PackageDir, stderr, stdout};

fn promote_and_wait(home: &TestHome, package: &str, version: &str, env: &str) {
    let output = home.dk(&["promote", package, version, "--to", env, "--wait"]);
    assert!(
        output.status.success(),
        "promote {version} to {env}: {}",
        stderr(&output)
    );
}

/// Runs `dk ARGS` in the background, sending each stdout line to the returned channel.
fn spawn_lines(home: &TestHome, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(support::binary("dk"))
        .args(args)
        .env("DK_HOME", home.path())
        .env("DK_NO_AUTOSTART", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dk");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    (child, receiver)
}

/// Waits for a line containing `needle`.
fn expect_line(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => panic!("no line with {needle:?} within {PATIENCE:?}"),
        }
    }
}

#[test]
fn the_package_table_has_a_row_per_environment_in_path_order() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    promote_and_wait(&home, "my-package", "v1.0.0", "dev");

    let text = stdout(&home.dk(&["status", "my-package"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Package: my-package", "{text}");
    assert!(
        lines[3].starts_with("Environment")
            && lines[3].contains("Last Sync")
            && lines[3].contains("Last Run"),
        "{text}"
    );
    assert!(
        lines[5].starts_with("dev") && lines[5].contains("v1.0.0") && lines[5].contains("Synced"),
        "{text}"
    );
    assert!(
        lines[5].contains("ago") || lines[5].contains("just now"),
        "relative time: {text}"
    );
    assert!(
        lines[6].starts_with("int") && lines[6].contains('—'),
        "not deployed: {text}"
    );
    assert!(lines[7].starts_with("prod"), "{text}");

    let json: serde_json::Value =
        serde_json::from_slice(&home.dk(&["-o", "json", "status", "my-package"]).stdout)
            .expect("JSON");
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[0]["environment"].as_str(), rows[0]["status"].as_str()),
        (Some("dev"), Some("Synced"))
    );
    assert!(
        rows[0]["lastSync"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "absolute time: {json}"
    );
    assert_eq!(rows[1]["deployed"], false);
}

#[test]
fn the_environment_table_lists_packages_with_health_and_marks_degraded_ones() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    for name in ["analytics", "loader"] {
        let package = PackageDir::new(name, &[]);
        package.publish(&home, "v1.0.0");
        promote_and_wait(&home, name, "v1.0.0", "dev");
    }
    // Remove loader's published artifact: its pinned digest no longer resolves.
    std::fs::remove_dir_all(home.path().join("registry").join("loader")).expect("unpublish");
    let text = eventually("loader to turn Degraded", || {
        let text = stdout(&home.dk(&["status", "--env", "dev"]));
        text.contains("Degraded").then_some(text)
    });
    assert!(text.starts_with("Environment: dev"), "{text}");
    let loader = text
        .lines()
        .find(|l| l.starts_with("loader"))
        .expect("loader row");
    assert!(loader.contains("Degraded ⚠"), "{text}");
    let analytics = text
        .lines()
        .find(|l| l.starts_with("analytics"))
        .expect("analytics row");
    assert!(analytics.contains("Healthy"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&home.dk(&["-o", "json", "status", "--env", "dev"]).stdout)
            .expect("JSON");
    let healths: Vec<&str> = json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["health"].as_str())
        .collect();
    assert_eq!(healths, ["Healthy", "Degraded"]);
}

#[test]
fn unknown_packages_and_environments_exit_3() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    for args in [
        &["status", "nope"][..],
        &["status", "--env", "qa"],
        &["logs", "nope", "--env", "dev"],
    ] {
        let output = home.dk(args);
        assert_eq!(
            output.status.code(),
            Some(3),
            "dk {args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn status_watch_redraws_when_a_promotion_lands() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("two");
    package.publish(&home, "v1.1.0");
    promote_and_wait(&home, "my-package", "v1.0.0", "dev");
    let (mut watcher, lines) = spawn_lines(&home, &["status", "my-package", "--watch"]);
    expect_line(&lines, "v1.0.0");
    promote_and_wait(&home, "my-package", "v1.1.0", "dev");
    let redrawn = expect_line(&lines, "v1.1.0");
    assert!(redrawn.starts_with("dev"), "{redrawn}");
    let _ = watcher.kill();
    let _ = watcher.wait();
}

#[test]
fn logs_sync_follow_shows_a_new_sync_as_it_happens() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("two");
    package.publish(&home, "v1.1.0");
    promote_and_wait(&home, "my-package", "v1.0.0", "dev");

    let once = home.dk(&["logs", "my-package", "--env", "dev"]);
    assert!(once.status.success(), "{}", stderr(&once));
    assert!(
        stderr(&once).contains("no runtime is attached"),
        "says so in one line: {}",
        stderr(&once)
    );
    assert!(
        stdout(&once).contains("applied my-package v1.0.0"),
        "{}",
        stdout(&once)
    );

    let (mut follower, lines) = spawn_lines(
        &home,
        &["logs", "my-package", "--env", "dev", "--sync", "--follow"],
    );
    expect_line(&lines, "v1.0.0");
    promote_and_wait(&home, "my-package", "v1.1.0", "dev");
    let line = expect_line(&lines, "v1.1.0");
    assert!(
        line.contains("from commit") && line.contains("Healthy"),
        "{line}"
    );
    let _ = follower.kill();
    let _ = follower.wait();

    let tail = stdout(&home.dk(&[
        "logs",
        "my-package",
        "--env",
        "dev",
        "--sync",
        "--tail",
        "1",
    ]));
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert!(tail.contains("v1.1.0"), "{tail}");
    let recent = stdout(&home.dk(&[
        "logs",
        "my-package",
        "--env",
        "dev",
        "--sync",
        "--since",
        "1h",
    ]));
    assert_eq!(recent.lines().count(), 2, "{recent}");
}

#[test]
fn status_watch_of_a_published_package_waits_for_its_first_deployment() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    PackageDir::new("my-package", &[]).publish(&home, "v1.0.0");

    // Published, never promoted: known, running nowhere yet.
    let output = home.dk(&["status", "my-package"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let dev = stdout(&output)
        .lines()
        .find(|l| l.starts_with("dev"))
        .map(str::to_owned);
    assert!(dev.is_some_and(|row| row.contains('—')), "not deployed");

    let (mut watcher, lines) = spawn_lines(&home, &["status", "my-package", "--watch"]);
    expect_line(&lines, "prod");
    promote_and_wait(&home, "my-package", "v1.0.0", "dev");
    let row = expect_line(&lines, "v1.0.0");
    assert!(row.starts_with("dev"), "{row}");
    assert!(
        watcher.try_wait().expect("try_wait").is_none(),
        "still watching"
    );
    let _ = watcher.kill();
    let _ = watcher.wait();

    // A name neither published nor promoted is unknown, watched or not.
    let output = home.dk(&["status", "never-published", "--watch"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is not published"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_restarted_dkd_precomputes_the_status_of_every_deployed_package() {
    let home = TestHome::new();
    let daemon = home.start_daemon();
    for name in ["alpha", "beta"] {
        PackageDir::new(name, &[]).publish(&home, "v1.0.0");
        promote_and_wait(&home, name, "v1.0.0", "dev");
    }
    drop(daemon);

    let daemon = home.start_daemon();
    eventually("the Status answers precomputed", || {
        daemon
            .log()
            .lines()
            .any(|line| {
                line.contains("precomputed the Status answers of every deployed package")
                    && line.contains("packages=2")
            })
            .then_some(())
    });
    let text = stdout(&home.dk(&["status", "beta"]));
    assert!(text.contains("v1.0.0"), "{text}");
}
