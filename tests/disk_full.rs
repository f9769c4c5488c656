//! A full disk under DK_HOME is an error, not a hang: on a small tmpfs filled to the last
//! byte, a promotion answers UNAVAILABLE (exit 5) naming the disk, reads keep answering,
//! dkd resumes by itself once space returns, and SIGTERM still stops it.
//!
//! Mounting the tmpfs needs root. Without it the test fails when CI=true; elsewhere it
//! prints a notice and checks nothing.

mod support;

use std::{
    fs::File,
    io::{ErrorKind, Write},
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::mpsc,
    time::{Duration, Instant},
};

use support::{TestHome, eventually, package::PackageDir, stderr, stdout};

/// How long any `dk` command, refused or not, may take before it counts as a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// How long dkd may take to stop on SIGTERM before it counts as a hang.
const STOPPED_WITHIN: Duration = Duration::from_secs(10);

/// A size-limited tmpfs on a temporary folder, unmounted when dropped (also on a panic).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts one of `size` (e.g. "64m"), or says loudly why not and returns `None`.
    fn mount(size: &str) -> Option<Self> {
        if !is_root() {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "tests/disk_full.rs mounts a tmpfs and needs root: run the tests as root in CI"
            );
            eprintln!(
                "\n**********\nNOTICE: disk_full checks nothing: mounting a tmpfs needs root \
                 (with CI=true this is a failure)\n**********\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            mounted.status.success(),
            "mount -t tmpfs on {}: {}",
            dir.path().display(),
            stderr(&mounted)
        );
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still has a file open there: detach it now, freed once closed.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| stdout(&out).trim() == "0")
}

/// A file taking every free byte of a filesystem; deleted when dropped.
struct Filler {
    path: PathBuf,
}

impl Filler {
    fn fill(dir: &Path) -> Self {
        let path = dir.join("filler");
        let mut file = File::create(&path).expect("create the filler");
        // Big writes first, then page-sized ones for what is left.
        for chunk in [1 << 20, 4096] {
            let bytes = vec![0u8; chunk];
            loop {
                match file.write_all(&bytes) {
                    Ok(()) => {}
                    Err(error) if error.kind() == ErrorKind::StorageFull => break,
                    Err(error) => panic!("filling {}: {error}", path.display()),
                }
            }
        }
        Self { path }
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `dk ARGS` on `home`, failing the test when it does not answer within `ANSWER_WITHIN`
/// (dkd hangs).
fn dk_answering(home: &TestHome, args: &[&str]) -> Output {
    let mut command = home.dk_command(args, false);
    let (answered, answer) = mpsc::channel();
    std::thread::spawn(move || answered.send(command.output()));
    answer
        .recv_timeout(ANSWER_WITHIN)
        .unwrap_or_else(|_| panic!("dk {args:?} got no answer within {ANSWER_WITHIN:?}"))
        .expect("run dk")
}

/// What `dk ARGS` printed, failing the test unless it succeeded in time.
fn answered(home: &TestHome, args: &[&str]) -> String {
    let output = dk_answering(home, args);
    assert!(
        output.status.success(),
        "dk {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// The state of the newest promotion of `my-package` `version` to dev.
fn state_of(home: &TestHome, version: &str) -> serde_json::Value {
    let view = answered(
        home,
        &[
            "-o",
            "json",
            "promote",
            "my-package",
            version,
            "--to",
            "dev",
            "--status",
        ],
    );
    serde_json::from_str::<serde_json::Value>(&view).expect("JSON")["state"].clone()
}

#[test]
fn a_full_disk_refuses_promotions_in_one_line_keeps_reads_answering_and_never_hangs_dkd() {
    let Some(disk) = SmallDisk::mount("64m") else {
        return;
    };
    let home = TestHome::new_in(disk.path());
    let mut daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("v1.1.0");
    package.publish(&home, "v1.1.0");
    answered(&home, &["promote", "my-package", "v1.0.0", "--to", "dev"]);
    eventually("v1.0.0 to run in dev", || {
        (state_of(&home, "v1.0.0") == "Healthy").then_some(())
    });

    let filler = Filler::fill(disk.path());
    let refused = dk_answering(&home, &["promote", "my-package", "v1.1.0", "--to", "dev"]);
    let message = stderr(&refused);
    assert_eq!(refused.status.code(), Some(5), "exit code: {message}");
    assert!(
        message.contains("no space left on")
            && message.contains(&home.path().display().to_string())
            && message.contains("dkd resumes by itself"),
        "names the disk and what to do: {message}"
    );
    assert_eq!(message.trim().lines().count(), 1, "one line: {message}");

    let status = answered(&home, &["status", "my-package"]);
    assert!(status.contains("v1.0.0"), "{status}");
    let environments = answered(&home, &["env", "list"]);
    assert!(environments.contains("dev"), "{environments}");
    let history = answered(&home, &["history", "my-package"]);
    assert!(history.contains("v1.0.0"), "{history}");

    drop(filler);
    answered(&home, &["promote", "my-package", "v1.1.0", "--to", "dev"]);
    eventually(
        "v1.1.0 to run in dev once space returned (no restart)",
        || (state_of(&home, "v1.1.0") == "Healthy").then_some(()),
    );

    let _filler = Filler::fill(disk.path());
    daemon.signal("TERM");
    let signalled = Instant::now();
    let exited = daemon.wait();
    let stopped_in = signalled.elapsed();
    assert!(
        stopped_in < STOPPED_WITHIN,
        "dkd took {stopped_in:?} to stop: {}",
        stderr(&exited)
    );
    assert!(exited.status.success(), "{}", stderr(&exited));
}
