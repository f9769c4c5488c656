//! Measures that need the seeded home itself: an idle dkd's CPU, and how soon a push by
//! someone else touching one manifest is applied.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use super::{
    Dkd, PATIENCE, git, plumbing_commit,
    report::{Goal, Row, Value},
    wait_for_status,
};

/// How long the idle CPU is sampled (`DKD_BENCH_IDLE_SECS`, default 60).
fn idle_window() -> Duration {
    let seconds = std::env::var("DKD_BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(seconds)
}

/// dkd's CPU over the idle window, against the window: the share of one core it uses
/// when nothing happens.
pub async fn idle_cpu(daemon: &Dkd, packages: usize) -> Row {
    let window = idle_window();
    let before = daemon.cpu_ticks();
    tokio::time::sleep(window).await;
    // 100 clock ticks per second.
    let used = Duration::from_millis(daemon.cpu_ticks().saturating_sub(before) * 10);
    println!(
        "idle dkd on {packages} pkgs: {} ms of CPU over {} s",
        used.as_millis(),
        window.as_secs()
    );
    Row::new(
        &format!("idle dkd CPU, {packages} pkgs x 3 envs"),
        Value::Time(used),
        Value::Time(window),
        Goal::RatioAtMost(0.01),
    )
    .note("wall time sampled")
}

/// Pushes to `main` of `home`'s deploy.git, as someone else would (git plumbing), a new
/// version line in `package`'s dev manifest, and times from the push until `Status`
/// shows it; puts the manifest back afterwards. Median of a few rounds.
pub async fn push_to_applied(home: &Path, socket: &Path, package: &str, packages: usize) -> Row {
    const ROUNDS: usize = 5;
    let git_dir = home.join("deploy.git");
    let path = format!("environments/dev/{package}.yaml");
    let original = git(
        &git_dir,
        &["cat-file", "blob", &format!("main:{path}")],
        &[],
        None,
    );
    let version_line = original
        .lines()
        .find(|line| line.trim_start().starts_with("version:"))
        .expect("a version line")
        .to_owned();
    let mut times = Vec::new();
    let mut commits = Vec::new();
    for round in 0..ROUNDS {
        let version = format!("v0.0.{round}-pushed");
        let indent = &version_line[..version_line.find("version:").unwrap_or(0)];
        let text = original.replace(&version_line, &format!("{indent}version: {version}"));
        let begin = Instant::now();
        commits.push(plumbing_commit(
            &git_dir,
            &[(path.clone(), format!("{text}\n").into_bytes())],
            "Edit by hand",
        ));
        let commit_took = begin.elapsed();
        let pushed = Instant::now();
        wait_for_version(socket, package, &version).await;
        times.push(pushed.elapsed());
        println!(
            "push {}: applied {} after the ref moved (the plumbing commit took {})",
            round + 1,
            super::fmt_duration(*times.last().expect("a time")),
            super::fmt_duration(commit_took)
        );
    }
    plumbing_commit(
        &git_dir,
        &[(path, format!("{original}\n").into_bytes())],
        "Put back",
    );
    times.sort();
    Row::new(
        &format!("push touching one file to applied, {packages} pkgs"),
        Value::Time(times[times.len() / 2]),
        Value::Time(times[0]),
        Goal::Below(Duration::from_millis(50)),
    )
    .note("fastest of 5")
}

/// Polls `Status(package)` until its dev row shows `version`.
async fn wait_for_version(socket: &Path, package: &str, version: &str) {
    let since = Instant::now();
    loop {
        assert!(
            since.elapsed() < PATIENCE,
            "{package} never showed {version} in dev"
        );
        let (_, answer) = wait_for_status(socket, package, Instant::now()).await;
        let shows = answer.is_ok_and(|rows| {
            rows.packages
                .iter()
                .any(|row| row.environment == "dev" && row.version == version)
        });
        if shows {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
