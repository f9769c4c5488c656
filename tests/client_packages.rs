//! The client packages in `clients/` against the real dkd: the Python package installed by
//! `tests/run` (`pip install ./clients/python` into `clients/python/.venv`) and the
//! TypeScript package built by it (`npm ci && npm run build`). Each language runs the same
//! scenarios (`tests/clients/`): `watch()` resumes across a dkd restart with no gap and no
//! duplicate, a stale resume point gives a fresh snapshot, a snapshot sent in parts is
//! yielded once whole (from a fake dkd, as a real one sends parts only for snapshots over a
//! megabyte), failures are typed as `dk`'s exit codes, and the example prints each status
//! change of one package.

mod support;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc::{Receiver, RecvTimeoutError, channel},
    time::{Duration, Instant, SystemTime},
};

use support::{PATIENCE, TestHome, package::PackageDir, shared::Shared, stderr};

/// A scenario's own bound is 150 s; this is the bound of waiting for it.
const SCRIPT_PATIENCE: Duration = Duration::from_secs(180);

const INSTALL_HINT: &str = "run `bash tests/run`, which installs and builds the client packages";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone, Copy, Debug)]
enum Language {
    Python,
    TypeScript,
}

impl Language {
    /// The interpreter and the arguments that run `script` (a file of the repository).
    fn command(self, script: &str) -> Command {
        match self {
            Language::Python => {
                let mut command = Command::new(python());
                command.arg(repo().join(script));
                command
            }
            Language::TypeScript => {
                let mut command = Command::new(node());
                command.arg(repo().join(script));
                command
            }
        }
    }

    /// The scenario runner of `tests/clients/` with `args`.
    fn scenario(self, home: &TestHome, args: &[&str]) -> Script {
        let mut command = match self {
            Language::Python => self.command("tests/clients/python_scenario.py"),
            Language::TypeScript => {
                let mut command = self.command("tests/clients/typescript_scenario.js");
                command.arg(repo().join("clients/typescript"));
                command
            }
        };
        command.args(args);
        Script::start(command, home)
    }

    /// The example an IDE extension would start from, following `package`.
    fn example(self, home: &TestHome, package: &str) -> Script {
        let script = match self {
            Language::Python => "clients/python/examples/follow_status.py",
            Language::TypeScript => "clients/typescript/dist/examples/follow-status.js",
        };
        let mut command = self.command(script);
        command.arg(package);
        Script::start(command, home)
    }
}

/// The Python of `clients/python/.venv`, with the installed package as it is in the source
/// tree (an older install would test old code).
fn python() -> PathBuf {
    let python = repo().join("clients/python/.venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: {INSTALL_HINT}",
        python.display()
    );
    let located = Command::new(&python)
        .args([
            "-c",
            "import datakit, os; print(os.path.dirname(datakit.__file__))",
        ])
        .output()
        .expect("run the venv's python");
    assert!(
        located.status.success(),
        "the datakit package is not installed in the venv: {INSTALL_HINT}\n{}",
        stderr(&located)
    );
    let installed = PathBuf::from(String::from_utf8_lossy(&located.stdout).trim());
    for file in python_sources(&repo().join("clients/python/datakit")) {
        let relative = file
            .strip_prefix(repo().join("clients/python/datakit"))
            .expect("under the package");
        assert_eq!(
            std::fs::read(&file).ok(),
            std::fs::read(installed.join(relative)).ok(),
            "the installed datakit package is older than clients/python ({}): {INSTALL_HINT}",
            relative.display()
        );
    }
    python
}

/// Every .py file under `dir`.
fn python_sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the package folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(python_sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "py") {
            files.push(path);
        }
    }
    files
}

/// `node`, with the TypeScript package built from its current sources.
fn node() -> PathBuf {
    let version = Command::new("node").arg("--version").output();
    assert!(
        version.is_ok_and(|output| output.status.success()),
        "node is not installed: {INSTALL_HINT}"
    );
    let package = repo().join("clients/typescript");
    let built = std::fs::metadata(package.join("dist/src/index.js"))
        .and_then(|meta| meta.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for source in std::fs::read_dir(package.join("src")).expect("read clients/typescript/src") {
        let source = source.expect("entry").path();
        let modified = std::fs::metadata(&source)
            .and_then(|meta| meta.modified())
            .expect("mtime");
        assert!(
            source.is_dir() || modified <= built,
            "clients/typescript/dist is missing or older than {}: {INSTALL_HINT}",
            source.display()
        );
    }
    PathBuf::from("node")
}

/// A running scenario or example: its stdout read line by line, its stderr in a file.
struct Script {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    err: tempfile::NamedTempFile,
}

impl Script {
    /// Starts `command` with `DK_HOME` set to `home`, like a user whose dkd runs there.
    fn start(mut command: Command, home: &TestHome) -> Self {
        let err = tempfile::NamedTempFile::new().expect("stderr file");
        let mut child = command
            .env("DK_HOME", home.path())
            .env_remove("DK_DAEMON")
            .env_remove("DK_TOKEN")
            .env_remove("DK_CA_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err.reopen().expect("stderr file"))
            .spawn()
            .expect("start the client");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            err,
        }
    }

    fn output(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.seen.join("\n"),
            std::fs::read_to_string(self.err.path()).unwrap_or_default()
        )
    }

    /// Waits for a line containing `expected`, failing with everything printed so far.
    fn wait_for(&mut self, expected: &str, patience: Duration) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(expected) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line with {expected:?} in time\n{}", self.output())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    panic!(
                        "the client ended before printing {expected:?}\n{}",
                        self.output()
                    )
                }
            }
        }
    }

    /// Waits for the last line (`ok: …`) and a successful exit.
    fn succeeds(mut self) -> String {
        let summary = self.wait_for("ok: ", SCRIPT_PATIENCE);
        let status = support::eventually("the client to exit", || {
            self.child.try_wait().expect("try_wait")
        });
        assert!(status.success(), "{status}\n{}", self.output());
        summary
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn resumes_across_a_restart(language: Language) {
    let home = TestHome::new();
    let mut daemon = home.start_daemon();
    let package = PackageDir::new("watched", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("second version");
    package.publish(&home, "v1.1.0");

    let mut script = language.scenario(&home, &["resume", "watched", "v1.0.0", "v1.1.0"]);
    script.wait_for("waiting for a restart", SCRIPT_PATIENCE);
    daemon.signal("KILL");
    drop(daemon.wait());
    let _daemon = home.start_daemon();
    let promoted = home.dk(&["promote", "watched", "v1.1.0", "--to", "dev"]);
    assert!(promoted.status.success(), "{}", stderr(&promoted));
    let summary = script.succeeds();
    assert!(summary.contains("no gap, no duplicate"), "{summary}");
}

fn takes_a_fresh_snapshot_when_the_resume_point_is_gone(language: Language) {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let summary = language.scenario(&home, &["out-of-range"]).succeeds();
    assert!(summary.contains("fresh snapshot"), "{summary}");
}

/// No dkd: the scenario serves a fake one on the home's socket.
fn yields_a_snapshot_sent_in_parts_once_whole(language: Language) {
    let home = TestHome::new();
    let summary = language.scenario(&home, &["parts"]).succeeds();
    assert!(summary.contains("yielded once, whole"), "{summary}");
}

fn types_errors_as_dks_exit_codes(language: Language) {
    let shared = Shared::start("");
    let token = shared.token(&["ide", "--groups", "dev"]);
    let ca = shared.file("ca.pem").to_string_lossy().into_owned();
    let mut script = language.scenario(&shared.home, &["errors", &shared.address(), &ca, &token]);
    for expected in [
        "Unavailable (5): cannot reach dkd",
        "NotFound (3)",
        "InvalidInput (2)",
        "Refused (4)",
    ] {
        script.wait_for(expected, SCRIPT_PATIENCE);
    }
    let summary = script.succeeds();
    assert!(
        summary.contains("over https as ide (service-token)"),
        "{summary}"
    );
}

fn the_example_prints_each_change(language: Language) {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    PackageDir::new("followed", &[]).publish(&home, "v1.0.0");
    let mut example = language.example(&home, "followed");
    // The snapshot comes first: once the example has printed something, or at least had
    // time to, its stream is open; promoting before would still show up in the snapshot.
    let promoted = home.dk(&["promote", "followed", "v1.0.0", "--to", "dev"]);
    assert!(promoted.status.success(), "{}", stderr(&promoted));
    example.wait_for("dev: v1.0.0 HEALTHY", PATIENCE);
}

#[test]
fn the_committed_python_stubs_are_generated_from_the_current_protos() {
    let checked = Command::new("python3")
        .arg(repo().join("clients/python/generate.py"))
        .arg("--check")
        .output()
        .expect("run python3");
    assert!(
        checked.status.success(),
        "{}{}\n(grpcio-tools is needed: {INSTALL_HINT})",
        support::stdout(&checked),
        stderr(&checked)
    );
}

#[test]
fn python_watch_resumes_across_a_dkd_restart_with_no_gap_and_no_duplicate() {
    resumes_across_a_restart(Language::Python);
}

#[test]
fn typescript_watch_resumes_across_a_dkd_restart_with_no_gap_and_no_duplicate() {
    resumes_across_a_restart(Language::TypeScript);
}

#[test]
fn python_watch_takes_a_fresh_snapshot_when_the_resume_point_is_gone() {
    takes_a_fresh_snapshot_when_the_resume_point_is_gone(Language::Python);
}

#[test]
fn typescript_watch_takes_a_fresh_snapshot_when_the_resume_point_is_gone() {
    takes_a_fresh_snapshot_when_the_resume_point_is_gone(Language::TypeScript);
}

#[test]
fn python_watch_yields_a_snapshot_sent_in_parts_once_whole() {
    yields_a_snapshot_sent_in_parts_once_whole(Language::Python);
}

#[test]
fn typescript_watch_yields_a_snapshot_sent_in_parts_once_whole() {
    yields_a_snapshot_sent_in_parts_once_whole(Language::TypeScript);
}

#[test]
fn python_errors_are_typed_as_dks_exit_codes_on_the_socket_and_over_https() {
    types_errors_as_dks_exit_codes(Language::Python);
}

#[test]
fn typescript_errors_are_typed_as_dks_exit_codes_on_the_socket_and_over_https() {
    types_errors_as_dks_exit_codes(Language::TypeScript);
}

#[test]
fn the_python_example_prints_each_status_change_of_one_package() {
    the_example_prints_each_change(Language::Python);
}

#[test]
fn the_typescript_example_prints_each_status_change_of_one_package() {
    the_example_prints_each_change(Language::TypeScript);
}
