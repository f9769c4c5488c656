//! Test support: a temporary `DK_HOME`, the real `dkd` and `dk` binaries started on it,
//! a gRPC channel over its socket, and a git clone of its deployment repository.
#![allow(dead_code)] // each test file uses its own part of the support code

pub mod browser;
pub mod certificates;
pub mod devtools;
pub mod oidc;
pub mod other_user;
pub mod package;
pub mod registry;
pub mod shared;
pub mod webhook;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// How long anything in these tests may take before it counts as hung.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A built binary of the workspace (`cargo test --workspace` builds `dkd` and `dk` before
/// running any test).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// Polls `check` until it returns `Some`, failing the test after `PATIENCE`.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a successful `dk -o json …` printed, failing the test (with dk's output) otherwise.
pub fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}{}",
        stdout(output),
        stderr(output)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// Every JSON document a successful `dk -o json …` printed (one, or NDJSON: one per line
/// for `--wait`, `--watch`, `logs`), failing the test if any is not JSON.
pub fn json_documents(output: &Output) -> Vec<serde_json::Value> {
    assert!(
        output.status.success(),
        "{}{}",
        stdout(output),
        stderr(output)
    );
    serde_json::Deserializer::from_slice(&output.stdout)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

/// The last document `dk -o json … --wait` printed: where the promotion ended.
pub fn last_json(output: &Output) -> serde_json::Value {
    json_documents(output)
        .pop()
        .unwrap_or_else(|| panic!("no JSON document: {}", stderr(output)))
}

/// The OS user the tests run as (dkd's owner on the local socket).
pub fn os_user() -> String {
    use std::os::unix::fs::MetadataExt;
    // A file this process creates is owned by its uid.
    let uid = tempfile::tempfile()
        .and_then(|file| file.metadata())
        .expect("a temporary file")
        .uid();
    datakit::users::user_name(uid).unwrap_or_else(|| format!("uid-{uid}"))
}

/// A temporary `DK_HOME`. Dropping it stops any `dkd` still running on it.
pub struct TestHome {
    dir: tempfile::TempDir,
}

impl TestHome {
    pub fn new() -> Self {
        Self::new_in(&std::env::temp_dir())
    }

    /// A home whose dkd runs the embedded forge's single-user demo mode
    /// (`forge.asserted_approvers: true`): `dk approve --as NAME` records NAME's approval,
    /// marked as asserted by the caller.
    pub fn demo() -> Self {
        let home = Self::new();
        std::fs::write(
            home.path().join("dkd.yaml"),
            "forge:\n  type: embedded\n  asserted_approvers: true\n",
        )
        .expect("write dkd.yaml");
        home
    }

    /// A home inside `parent` (e.g. on a filesystem of the test's choosing).
    pub fn new_in(parent: &Path) -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("dk-test-")
                .tempdir_in(parent)
                .expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.path().join("dkd.sock")
    }

    pub fn deploy_repo(&self) -> PathBuf {
        self.path().join("deploy.git")
    }

    /// `dk ARGS` on this home, without autostart unless `autostart`.
    pub fn dk_with(&self, args: &[&str], autostart: bool) -> Output {
        self.dk_command(args, autostart).output().expect("run dk")
    }

    /// The command `dk_with` runs, for tests that run it their own way.
    pub fn dk_command(&self, args: &[&str], autostart: bool) -> Command {
        let mut command = Command::new(binary("dk"));
        command
            .args(args)
            .env("DK_HOME", self.path())
            .env_remove("DK_DAEMON")
            .env_remove("DK_TOKEN")
            .env_remove("DK_CA_FILE")
            .env_remove("DK_CLIENT_CERT")
            .env_remove("DK_CLIENT_KEY");
        if autostart {
            command.env_remove("DK_NO_AUTOSTART");
        } else {
            command.env("DK_NO_AUTOSTART", "1");
        }
        command
    }

    /// `dk ARGS` on this home (no autostart: a dkd must be running).
    pub fn dk(&self, args: &[&str]) -> Output {
        self.dk_with(args, false)
    }

    /// Starts `dkd` on this home and waits until its socket answers.
    pub fn start_daemon(&self) -> Daemon {
        let mut daemon = Daemon::spawn(self.path());
        let pid = daemon.pid();
        // Its own socket: right after a `kill -9`, a child the killed dkd forked may hold
        // the old listener (and lock) for a moment, until it execs.
        eventually("dkd to open its socket", || {
            (self.daemon_pid() == Some(pid))
                .then(|| std::os::unix::net::UnixStream::connect(self.socket()).ok())
                .flatten()
        });
        daemon
    }

    /// `dk -o json history PACKAGE`: its promotions, newest first.
    pub fn history(&self, package: &str) -> Vec<serde_json::Value> {
        json(&self.dk(&["-o", "json", "history", package]))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The pid written by the dkd holding this home's lock, if any.
    pub fn daemon_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.path().join("dkd.lock"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl TestHome {
    /// Whether a dkd still holds this home's lock.
    fn daemon_running(&self) -> bool {
        std::fs::File::open(self.path().join("dkd.lock")).is_ok_and(|file| {
            matches!(
                file.try_lock_shared(),
                Err(std::fs::TryLockError::WouldBlock)
            )
        })
    }
}

impl Drop for TestHome {
    fn drop(&mut self) {
        // Only a live lock holder is killed: a stale pid may belong to another process now.
        if self.daemon_running()
            && let Some(pid) = self.daemon_pid()
        {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A running `dkd`; killed when dropped.
pub struct Daemon {
    child: Option<Child>,
    /// Where its log goes: a file, never a pipe nobody drains (a full pipe would block dkd).
    log: tempfile::NamedTempFile,
}

impl Daemon {
    /// Spawns `dkd --home HOME`, logging to a file beside the home.
    pub fn spawn(home: &Path) -> Self {
        Self::spawn_command(Command::new(binary("dkd")), home)
    }

    /// Spawns `command` — `dkd`, or `dkd` behind a program that runs it, such as
    /// `setpriv` — with `--home HOME`, logging like [`Daemon::spawn`].
    pub fn spawn_command(mut command: Command, home: &Path) -> Self {
        let log = tempfile::Builder::new()
            .prefix("dkd-test-")
            .suffix(".log")
            .tempfile()
            .expect("log file");
        let child = command
            .arg("--home")
            .arg(home)
            .env("DKD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log file"))
            .spawn()
            .expect("spawn dkd");
        Self {
            child: Some(child),
            log,
        }
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("the daemon was already waited for")
    }

    pub fn pid(&mut self) -> u32 {
        self.child().id()
    }

    /// Sends `signal` (e.g. "TERM") to the daemon.
    pub fn signal(&mut self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the daemon to exit and returns its output.
    pub fn wait(mut self) -> Output {
        eventually("dkd to exit", || self.child().try_wait().expect("try_wait"));
        let status = self
            .child
            .take()
            .expect("child")
            .wait()
            .expect("dkd exit status");
        Output {
            status,
            stdout: Vec::new(),
            stderr: self.log().into_bytes(),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child().try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A gRPC channel to the daemon listening on `socket`.
pub async fn channel(socket: &Path) -> Channel {
    let socket = socket.to_path_buf();
    Endpoint::from_static("http://dkd.local")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { UnixStream::connect(socket).await.map(TokioIo::new) }
        }))
        .await
        .expect("connect to dkd")
}

/// Runs git with `args` in `dir`, failing the test on error.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A working clone of the deployment repository that tests edit and push, as users do.
pub struct Clone {
    dir: tempfile::TempDir,
}

impl Clone {
    pub fn of(home: &TestHome) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        git(
            dir.path(),
            &[
                "clone",
                "--quiet",
                &home.deploy_repo().to_string_lossy(),
                ".",
            ],
        );
        Self { dir }
    }

    /// Writes `path` (creating folders), commits and pushes to `main`; returns the commit.
    pub fn push_file(&self, path: &str, contents: &str, message: &str) -> String {
        let file = self.dir.path().join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, contents).expect("write");
        git(self.dir.path(), &["add", path]);
        git(self.dir.path(), &["commit", "--quiet", "-m", message]);
        git(self.dir.path(), &["push", "--quiet", "origin", "HEAD:main"]);
        git(self.dir.path(), &["rev-parse", "HEAD"])
    }

    /// Removes `path`, commits and pushes to `main` (pulling first: dkd may have merged).
    pub fn remove_file(&self, path: &str, message: &str) {
        git(
            self.dir.path(),
            &["pull", "--quiet", "--rebase", "origin", "main"],
        );
        git(self.dir.path(), &["rm", "--quiet", path]);
        git(self.dir.path(), &["commit", "--quiet", "-m", message]);
        git(self.dir.path(), &["push", "--quiet", "origin", "HEAD:main"]);
    }
}

/// Standard output of a command as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error of a command as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
