//! The layout of `DK_HOME`: where the socket, the deployment repository, the sled
//! database, the service tokens, the audit log, the lock and the log of one `dkd` live.

use std::{
    fs, io,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
};

/// Paths inside one `DK_HOME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkHome {
    root: PathBuf,
}

impl DkHome {
    /// A home at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `DK_HOME` from the environment, else `~/.datakit`.
    pub fn from_env() -> Result<Self, io::Error> {
        datakit::files::dk_home().map(Self::new).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "neither DK_HOME nor HOME is set: set DK_HOME",
            )
        })
    }

    /// Creates the home directory mode 0700, or narrows an existing one to 0700: it holds
    /// the socket, the database and the deployment repository, which are dkd's user's alone.
    pub fn create(&self) -> io::Result<()> {
        if !self.root.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)?;
        }
        let mode = fs::metadata(&self.root)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))?;
            if mode & 0o077 != 0 {
                tracing::warn!(home = %self.root.display(), "DK_HOME was mode {mode:o}; narrowed it to 0700");
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The local gRPC socket, mode 0600.
    pub fn socket(&self) -> PathBuf {
        self.root.join("dkd.sock")
    }

    /// The embedded deployment repository (bare git, branch `main`).
    pub fn deploy_repo(&self) -> PathBuf {
        self.root.join("deploy.git")
    }

    /// Optional daemon configuration.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("dkd.yaml")
    }

    /// The sled database.
    pub fn database(&self) -> PathBuf {
        self.root.join("state.sled")
    }

    /// The local sync targets, one folder per environment.
    pub fn targets(&self) -> PathBuf {
        self.root.join("targets")
    }

    /// Held locked by the running `dkd`; holds its pid.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("dkd.lock")
    }

    /// The service tokens the network listener accepts (salted hashes only), mode 0600.
    pub fn tokens_file(&self) -> PathBuf {
        self.root.join("tokens.json")
    }

    /// The audit log (JSON lines, mode 0600; rotated to `audit.log.1` …).
    pub fn audit_log(&self) -> PathBuf {
        self.root.join("audit.log")
    }

    /// How far each webhook got (see `notify`).
    pub fn notifications_ledger(&self) -> PathBuf {
        self.root.join("notifications.json")
    }

    /// Where an autostarted `dkd` writes its log.
    pub fn log_file(&self) -> PathBuf {
        self.root.join("dkd.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn a_new_home_is_created_mode_0700() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = DkHome::new(dir.path().join("a").join("home"));
        home.create().expect("create");
        assert_eq!(mode(home.root()), 0o700);
    }

    #[test]
    fn an_existing_home_open_to_others_is_narrowed_to_0700() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        DkHome::new(dir.path()).create().expect("create");
        assert_eq!(mode(dir.path()), 0o700);
    }
}
