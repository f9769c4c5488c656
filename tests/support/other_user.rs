//! Running `dk` and `dkd` as another OS user — Debian's `nobody`, through util-linux's
//! `setpriv` — for the tests of who may use a socket. Switching users needs root: as
//! another user outside CI these tests skip with a note; in CI (`CI=true`) that is a
//! failure. A missing `setpriv`, or binaries `nobody` cannot run, always fail.

use std::{
    os::unix::fs::MetadataExt,
    path::Path,
    process::{Command, Output},
};

use super::binary;

/// `nobody` and `nogroup` on Debian.
pub const NOBODY: u32 = 65534;

/// Another user to run programs as.
pub struct OtherUser {
    uid: u32,
}

/// `nobody`, or `None` when these tests cannot switch users and may skip (not root,
/// outside CI).
pub fn nobody() -> Option<OtherUser> {
    let root = std::fs::metadata("/proc/self").is_ok_and(|me| me.uid() == 0);
    if !root {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "the tests that switch users must run as root in CI"
        );
        eprintln!("note: skipped: switching users needs root");
        return None;
    }
    let user = OtherUser { uid: NOBODY };
    for program in ["dk", "dkd"] {
        let output = user.command(&binary(program)).arg("--version").output();
        match output {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "nobody cannot run {}: {} (every folder above it must be open to others)",
                binary(program).display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => {
                panic!("setpriv (util-linux) cannot run ({error}): apt-get install -y util-linux")
            }
        }
    }
    Some(user)
}

impl OtherUser {
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// `program` run as this user, with no supplementary groups; the environment is kept.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.uid))
            .arg("--clear-groups")
            .arg("--")
            .arg(program);
        command
    }

    /// `dk ARGS` as this user on `home`; autostart only when `autostart`.
    pub fn dk(&self, home: &Path, args: &[&str], autostart: bool) -> Output {
        let mut command = self.command(&binary("dk"));
        command
            .args(args)
            .env("DK_HOME", home)
            .env_remove("DK_DAEMON")
            .env_remove("DK_TOKEN");
        if autostart {
            command.env_remove("DK_NO_AUTOSTART");
        } else {
            command.env("DK_NO_AUTOSTART", "1");
        }
        command.output().expect("run dk as another user")
    }

    /// A temporary folder this user owns (for a DK_HOME of theirs inside it).
    pub fn own_dir(&self) -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("dk-other-user-")
            .tempdir()
            .expect("tempdir");
        std::os::unix::fs::chown(dir.path(), Some(self.uid), Some(self.uid)).expect("chown");
        dir
    }
}
