//! The README's five-minute tour, run as written: a newcomer who types its commands in a
//! fresh shell gets from an empty directory to a package promoted, approved, rolled back and
//! in history, with every command succeeding.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{binary, stderr, stdout};

/// The shell block under "## A five-minute tour" in README.md.
fn tour() -> String {
    let readme = include_str!("../README.md");
    readme
        .split("## A five-minute tour")
        .nth(1)
        .and_then(|section| section.split("```sh\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("README.md has a shell block in its five-minute tour")
        .to_owned()
}

/// Every file called `name` under `dir`.
fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(find(&path, name));
        } else if path.file_name().is_some_and(|file| file == name) {
            found.push(path);
        }
    }
    found
}

/// Stops the dkd that `dk` started for the tour's home, wherever the tour put it.
struct StopDaemons<'a>(&'a Path);

impl Drop for StopDaemons<'_> {
    fn drop(&mut self) {
        for lock in find(self.0, "dkd.lock") {
            if let Ok(pid) = std::fs::read_to_string(&lock) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

#[test]
fn the_readme_tour_runs_as_written_in_a_fresh_shell() {
    let script = tour();
    assert!(
        script.contains("dk init"),
        "the tour starts a package with dk init"
    );
    let sandbox = tempfile::tempdir().expect("tempdir");
    let _stop = StopDaemons(sandbox.path());
    let bin = binary("dk").parent().expect("bin dir").to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(sandbox.path())
        .env("PATH", path)
        .env("HOME", sandbox.path())
        .env("TMPDIR", sandbox.path())
        .env("NO_COLOR", "1")
        .env_remove("DK_HOME")
        .env_remove("DK_DAEMON")
        .env_remove("DK_NO_AUTOSTART")
        .env_remove("DK_TOKEN")
        .output()
        .expect("run bash");
    let out = stdout(&output);
    assert!(
        output.status.success(),
        "the tour failed:\n{out}\n{}",
        stderr(&output)
    );
    assert!(out.contains("Healthy"), "a package reached Healthy: {out}");
}
