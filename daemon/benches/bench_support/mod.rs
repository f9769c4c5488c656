//! Support for `dkd_bench`: the real `dkd` and `dk` binaries, a dkd process on a
//! `DK_HOME` (its socket, pid, resident memory and CPU time), tonic clients over the Unix
//! socket, git plumbing, a little statistics and the results table.
#![allow(dead_code)] // not every helper is used by every measurement

pub mod big_home;
pub mod listener;
pub mod packages;
pub mod report;
pub mod seed;

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use datakit::proto::{self, data_kit_service_client::DataKitServiceClient};
use tonic::transport::Channel;

/// How long anything may take before the bench gives up on it.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The workspace root (the parent of `daemon/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `target/<profile>` of this bench executable (`target/release/deps/dkd_bench-…`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// `target/`: where the seeded homes are cached.
pub fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("target directory")
        .to_path_buf()
}

/// Builds the `dkd` and `dk` binaries of the bench's profile (a no-op when up to date), so
/// the bench always measures the current sources.
pub fn build_binaries() {
    let profile = profile_dir();
    let release = profile.file_name().is_some_and(|name| name == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "-p", "dkd", "-p", "dk", "--bins"]);
    if release {
        command.arg("--release");
    }
    let status = command
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of dkd and dk failed");
}

/// A binary of the workspace, next to the bench executable's profile directory.
pub fn binary(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release -p dkd -p dk --bins`",
        path.display()
    );
    path
}

/// Sorted copy of `samples`.
pub fn sorted(samples: &[Duration]) -> Vec<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted
}

/// Nearest-rank percentile `p` (0..=100) of `samples`.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let sorted = sorted(samples);
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

pub fn mean(samples: &[Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.iter().sum::<Duration>() / samples.len() as u32
}

/// A tiny xorshift generator: enough to pick packages at random without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }
}

/// A running `dkd` on a home; killed when dropped.
pub struct Dkd {
    child: Option<Child>,
    pub home: PathBuf,
    pub spawned_at: Instant,
}

impl Dkd {
    /// Spawns `dkd --home HOME`, its output appended to `HOME/bench-dkd.log`. Panics when
    /// another dkd runs on HOME: the bench would measure that one instead.
    pub fn spawn(home: &Path) -> Self {
        fs::create_dir_all(home).expect("create home");
        if let Ok(lock) = fs::File::open(home.join("dkd.lock"))
            && matches!(lock.try_lock(), Err(fs::TryLockError::WouldBlock))
        {
            let pid = fs::read_to_string(home.join("dkd.lock")).unwrap_or_default();
            panic!(
                "another dkd (pid {}) runs on {}: stop it first",
                pid.trim(),
                home.display()
            );
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("bench-dkd.log"))
            .expect("open bench-dkd.log");
        let spawned_at = Instant::now();
        let child = Command::new(binary("dkd"))
            .arg("--home")
            .arg(home)
            .env("DKD_LOG", "warn")
            .env_remove("DK_DAEMON")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn dkd");
        Self {
            child: Some(child),
            home: home.to_path_buf(),
            spawned_at,
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.home.join("dkd.sock")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn proc_status_kb(&self, key: &str) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Resident memory now (VmRSS), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        self.proc_status_kb("VmRSS:").expect("VmRSS") * 1024
    }

    /// Resident memory once it has stopped falling: no lower than a second before. dkd's
    /// jemalloc hands back what a pass freed over about a second (`DIRTY_DECAY_MS`), so a
    /// sample taken as the pass ends reads pages on their way out (on the 10k home, 102–107
    /// MB where it settles at 100 MB). Still falling after ten seconds, it reads it then.
    pub async fn settled_rss_bytes(&self) -> u64 {
        let began = Instant::now();
        let settled = first_second_where(
            || self.rss_bytes(),
            |first, last| last >= first,
            || began.elapsed() >= Duration::from_secs(10),
        )
        .await;
        settled.map_or_else(|| self.rss_bytes(), |(_, last)| last)
    }

    /// Peak resident memory (VmHWM), in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        self.proc_status_kb("VmHWM:").expect("VmHWM") * 1024
    }

    /// User + system CPU time so far of dkd and its git children (running or reaped), in
    /// clock ticks: much of dkd's work happens in `git cat-file` and friends.
    pub fn cpu_ticks(&self) -> u64 {
        let pid = self.pid();
        let mut total = proc_ticks(pid).map_or(0, |t| t.own + t.children);
        if let Ok(entries) = fs::read_dir("/proc") {
            for entry in entries.filter_map(Result::ok) {
                let Some(other) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some(ticks) = proc_ticks(other).filter(|t| t.parent == pid) {
                    total += ticks.own;
                }
            }
        }
        total
    }

    /// Waits until dkd is idle, e.g. after the sync loop's first pass over the whole
    /// repository: until a whole second in which it and its git children used under 5 % of
    /// a core, sampled every 100 ms. Returns when that second began, counted from the
    /// spawn, and the CPU they had used by then.
    pub async fn settle(&self) -> (Duration, Duration) {
        // 5 % of a core over a second is 5 ticks (100 per second).
        const QUIET_TICKS: u64 = 5;
        let quiet = first_second_where(
            || (Instant::now(), self.cpu_ticks()),
            |(_, at_start), (_, now)| now.saturating_sub(at_start) < QUIET_TICKS,
            || self.spawned_at.elapsed() >= PATIENCE,
        )
        .await;
        let Some(((began, at_start), _)) = quiet else {
            panic!("dkd did not go idle within {PATIENCE:?} of its start");
        };
        (
            began.duration_since(self.spawned_at),
            Duration::from_millis(at_start * 10),
        )
    }

    /// SIGTERM, then waits for a clean exit (SIGKILL after `PATIENCE`).
    pub fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

struct Ticks {
    parent: u32,
    /// utime + stime.
    own: u64,
    /// cutime + cstime: children already waited for.
    children: u64,
}

/// User + system CPU time so far of this process (the bench's clients), in clock ticks.
pub fn own_cpu_ticks() -> u64 {
    proc_ticks(std::process::id()).map_or(0, |t| t.own)
}

fn proc_ticks(pid: u32) -> Option<Ticks> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after `(comm)`, from the 3rd on: ppid is the 4th field, utime, stime,
    // cutime and cstime the 14th to 17th.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Ticks {
        parent: u32::try_from(field(4)?).ok()?,
        own: field(14)? + field(15)?,
        children: field(16)? + field(17)?,
    })
}

impl Drop for Dkd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A gRPC channel (one HTTP/2 connection) over the Unix socket `socket`.
pub async fn try_channel(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    dk::connect::unix_channel(socket).await
}

pub async fn channel(socket: &Path) -> Channel {
    try_channel(socket).await.expect("connect to dkd")
}

pub async fn client(socket: &Path) -> DataKitServiceClient<Channel> {
    DataKitServiceClient::new(channel(socket).await)
}

/// Samples `read` every 100 ms until the first and the last sample of one second satisfy
/// `done`; that second's first and last samples, or `None` once `give_up` says so.
async fn first_second_where<T: Copy>(
    read: impl Fn() -> T,
    done: impl Fn(T, T) -> bool,
    give_up: impl Fn() -> bool,
) -> Option<(T, T)> {
    const STEP: Duration = Duration::from_millis(100);
    const SECOND_STEPS: usize = 10;
    let mut samples = std::collections::VecDeque::from([read()]);
    while !give_up() {
        tokio::time::sleep(STEP).await;
        samples.push_back(read());
        if samples.len() > SECOND_STEPS + 1 {
            samples.pop_front();
        }
        if let (Some(&first), Some(&last)) = (samples.front(), samples.back())
            && samples.len() == SECOND_STEPS + 1
            && done(first, last)
        {
            return Some((first, last));
        }
    }
    None
}

/// Polls the socket until `Status(package)` answers (any answer but a transport failure
/// or UNAVAILABLE); returns the time since `since` and the answer.
pub async fn wait_for_status(
    socket: &Path,
    package: &str,
    since: Instant,
) -> (Duration, Result<proto::StatusResponse, tonic::Status>) {
    loop {
        assert!(
            since.elapsed() < PATIENCE,
            "dkd did not answer on {}",
            socket.display()
        );
        if let Ok(channel) = try_channel(socket).await {
            let mut client = DataKitServiceClient::new(channel);
            let answer = client
                .status(proto::StatusRequest {
                    package: package.to_owned(),
                    environment: String::new(),
                })
                .await;
            match answer {
                Err(status) if status.code() == tonic::Code::Unavailable => {}
                answer => return (since.elapsed(), answer.map(tonic::Response::into_inner)),
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs git in `dir` (or with `--git-dir`), feeding `stdin`; fails the bench on error.
pub fn git(git_dir: &Path, args: &[&str], env: &[(&str, &Path)], stdin: Option<&[u8]>) -> String {
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(git_dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@localhost")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@localhost")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("run git");
    // Feed stdin from another thread: git answers while it reads (hash-object
    // --stdin-paths), and a full stdout pipe would otherwise deadlock both sides.
    let output = std::thread::scope(|scope| {
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            scope.spawn(move || pipe.write_all(input).expect("write to git"));
        }
        child.wait_with_output().expect("git output")
    });
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Commits `files` on top of `refs/heads/main` with git plumbing, exactly as the embedded
/// forge does (private index: read-tree, hash-object, update-index, write-tree,
/// commit-tree, then update-ref with the expected old value); returns the new commit.
pub fn plumbing_commit(git_dir: &Path, files: &[(String, Vec<u8>)], message: &str) -> String {
    let scratch = tempfile::tempdir().expect("tempdir");
    let index = scratch.path().join("index");
    let with_index = [("GIT_INDEX_FILE", index.as_path())];
    let parent = git(git_dir, &["rev-parse", "refs/heads/main"], &[], None);
    git(git_dir, &["read-tree", &parent], &with_index, None);
    for (path, contents) in files {
        let blob = git(
            git_dir,
            &["hash-object", "-w", "--stdin"],
            &[],
            Some(contents),
        );
        let entry = format!("100644,{blob},{path}");
        git(
            git_dir,
            &["update-index", "--add", "--cacheinfo", &entry],
            &with_index,
            None,
        );
    }
    let tree = git(git_dir, &["write-tree"], &with_index, None);
    let commit = git(
        git_dir,
        &["commit-tree", &tree, "-p", &parent, "-m", message],
        &[],
        None,
    );
    git(
        git_dir,
        &["update-ref", "refs/heads/main", &commit, &parent],
        &[],
        None,
    );
    commit
}

/// `dk ARGS` on `home` (never autostarting a daemon).
pub fn dk(home: &Path, args: &[&str]) -> Output {
    Command::new(binary("dk"))
        .args(args)
        .env("DK_HOME", home)
        .env("DK_NO_AUTOSTART", "1")
        .env_remove("DK_DAEMON")
        .env_remove("DK_TOKEN")
        .env_remove("DK_REGISTRY")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run dk")
}

/// `dk ARGS`, failing the bench unless it succeeds; returns its stdout.
pub fn dk_ok(home: &Path, args: &[&str]) -> String {
    let output = dk(home, args);
    assert!(
        output.status.success(),
        "dk {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// "1.23 ms" / "456 µs" / "2.10 s".
pub fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

pub fn fmt_mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `nproc` and the CPU model, for the report.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}
