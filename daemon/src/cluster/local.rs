//! The local target: `DK_HOME/targets/<env>/`, a folder the built-in sync loop applies
//! the base branch's `environments/<env>/` to, as Argo CD would apply it to a cluster.
//! Per package it keeps the applied manifest, a status record and a sync log.

use std::{
    collections::{BTreeSet, HashSet},
    fs,
    io::Write,
    path::PathBuf,
    time::{Duration, SystemTime},
};

use datakit::{
    files::{write_atomically, write_atomically_unsynced},
    manifest::validate_name,
};
use serde::{Deserialize, Serialize};

use crate::promotion::ports::{
    ClusterError, ClusterStatus, HealthState, PackageSync, SyncLogLine, SyncState,
};

/// One package to apply: its manifest as on the base branch and what it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedPackage {
    pub package: String,
    pub manifest: String,
    pub version: String,
    pub digest: String,
    pub promotion_id: Option<String>,
    pub health: HealthState,
    pub message: String,
}

/// The status file kept beside each applied manifest.
#[derive(Debug, Serialize, Deserialize)]
struct StatusFile {
    version: String,
    digest: String,
    promotion_id: Option<String>,
    revision: String,
    health: String,
    message: String,
    last_sync_unix_ms: u64,
}

impl StatusFile {
    /// What `package` runs in `environment`, as this file says.
    fn into_sync(self, environment: &str, package: &str) -> PackageSync {
        PackageSync {
            package: package.to_owned(),
            environment: environment.to_owned(),
            health: HealthState::from_name(&self.health).unwrap_or(HealthState::Unknown),
            version: self.version,
            digest: self.digest,
            promotion_id: self.promotion_id,
            revision: self.revision,
            sync: SyncState::Synced,
            last_sync: SystemTime::UNIX_EPOCH + Duration::from_millis(self.last_sync_unix_ms),
            message: self.message,
            last_run: None,
        }
    }
}

/// What an environment's folder was last applied from, kept in `.applied.json` and written
/// only once everything before it was applied and recorded: a restart whose folder did not
/// change since reads nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMarker {
    /// The base-branch revision applied.
    pub revision: String,
    /// The id of the environment's folder at that revision (git's tree id).
    pub folder_id: String,
}

/// Sync targets under one folder.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    root: PathBuf,
}

fn io_error(error: std::io::Error) -> ClusterError {
    ClusterError::Unavailable(error.to_string())
}

/// Whether the files named after `environment` and `package` stay in the target's folder:
/// both must be valid names (callers check too; this is the target's own guard).
fn stays_in_folder(environment: &str, package: &str) -> bool {
    validate_name("environment", environment).is_ok() && validate_name("package", package).is_ok()
}

/// Up to this many packages in one change, each file is flushed as it is written; a
/// bigger change (a first sync) writes them all, then flushes the filesystem once.
const FLUSH_EACH_UP_TO: usize = 32;

/// How a change's files reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flush {
    EachFile,
    OnceAtEnd,
}

impl Flush {
    fn write(self, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Self::EachFile => write_atomically(path, bytes),
            Self::OnceAtEnd => write_atomically_unsynced(path, bytes),
        }
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    u64::try_from(
        time.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

impl LocalTarget {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn environment_dir(&self, environment: &str) -> PathBuf {
        self.root.join(environment)
    }

    fn status_path(&self, environment: &str, package: &str) -> PathBuf {
        self.environment_dir(environment)
            .join(".status")
            .join(format!("{package}.json"))
    }

    fn log_path(&self, environment: &str, package: &str) -> PathBuf {
        self.environment_dir(environment)
            .join(".sync-log")
            .join(format!("{package}.log"))
    }

    fn append_log(
        &self,
        environment: &str,
        package: &str,
        at: SystemTime,
        text: &str,
    ) -> std::io::Result<()> {
        let path = self.log_path(environment, package);
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(log, "{} {}", unix_ms(at), text.replace('\n', " "))
    }

    /// Applies `packages` as the whole content of `environment` at `revision`: writes what
    /// changed, prunes what is gone, and records status and a sync-log line per change.
    /// Returns what `environment` runs now, a status per package of `packages`.
    pub fn apply(
        &self,
        environment: &str,
        revision: &str,
        packages: &[AppliedPackage],
    ) -> Result<Vec<PackageSync>, ClusterError> {
        let running = self.apply_changes(environment, revision, packages, &[])?;
        let keep: HashSet<&str> = packages.iter().map(|p| p.package.as_str()).collect();
        let Ok(entries) = fs::read_dir(self.environment_dir(environment)) else {
            return Ok(running);
        };
        let gone: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let package = name.strip_suffix(".yaml")?;
                // A file no package could have written is not ours to prune.
                (!keep.contains(package) && stays_in_folder(environment, package))
                    .then(|| package.to_owned())
            })
            .collect();
        self.apply_changes(environment, revision, &[], &gone)?;
        Ok(running)
    }

    /// Applies a change to `environment` at `revision`: writes `changed` (those that differ
    /// from what runs), prunes `removed`, and records status and a sync-log line per change.
    /// The cost follows the change, not the size of the environment. Returns the status
    /// of each of `changed` as it now runs (without reading it back).
    pub fn apply_changes(
        &self,
        environment: &str,
        revision: &str,
        changed: &[AppliedPackage],
        removed: &[String],
    ) -> Result<Vec<PackageSync>, ClusterError> {
        let outside = changed
            .iter()
            .map(|p| p.package.as_str())
            .chain(removed.iter().map(String::as_str))
            .find(|package| !stays_in_folder(environment, package));
        if let Some(package) = outside {
            return Err(ClusterError::Unavailable(format!(
                "refusing to apply {package:?} to {environment:?}: not a valid package and environment name"
            )));
        }
        let dir = self.environment_dir(environment);
        for sub in [".status", ".sync-log"] {
            fs::create_dir_all(dir.join(sub)).map_err(io_error)?;
        }
        let now = SystemTime::now();
        let short = revision.get(..12).unwrap_or(revision);
        let flush = if changed.len() > FLUSH_EACH_UP_TO {
            Flush::OnceAtEnd
        } else {
            Flush::EachFile
        };
        let running = changed
            .iter()
            .map(|package| {
                let status = self.write_package(environment, revision, package, now, flush)?;
                Ok(status.into_sync(environment, &package.package))
            })
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(io_error)?;
        if flush == Flush::OnceAtEnd {
            // Before anything (a marker, a recorded status) says the change was applied.
            let folder = fs::File::open(&dir).map_err(io_error)?;
            rustix::fs::syncfs(folder).map_err(|e| io_error(e.into()))?;
        }
        for package in removed {
            let manifest = dir.join(format!("{package}.yaml"));
            if !manifest.exists() {
                continue;
            }
            fs::remove_file(manifest).map_err(io_error)?;
            let _ = fs::remove_file(self.status_path(environment, package));
            self.append_log(
                environment,
                package,
                now,
                &format!("pruned {package}: removed at commit {short}"),
            )
            .map_err(io_error)?;
        }
        Ok(running)
    }

    /// Writes `package`'s manifest and status unless both already say the same; returns
    /// the status it runs with.
    fn write_package(
        &self,
        environment: &str,
        revision: &str,
        package: &AppliedPackage,
        now: SystemTime,
        flush: Flush,
    ) -> std::io::Result<StatusFile> {
        let manifest_path = self
            .environment_dir(environment)
            .join(format!("{}.yaml", package.package));
        let previous = self.read_status(environment, &package.package);
        // The status is compared too: an apply cut short (a full disk) may have written
        // the manifest but not its status, and must be finished on the next pass.
        let unchanged = previous.filter(|p| {
            p.health == package.health.name()
                && p.version == package.version
                && p.digest == package.digest
                && p.promotion_id == package.promotion_id
                && fs::read_to_string(&manifest_path).ok().as_deref()
                    == Some(package.manifest.as_str())
        });
        if let Some(unchanged) = unchanged {
            return Ok(unchanged);
        }
        flush.write(&manifest_path, package.manifest.as_bytes())?;
        let status = StatusFile {
            version: package.version.clone(),
            digest: package.digest.clone(),
            promotion_id: package.promotion_id.clone(),
            revision: revision.to_owned(),
            health: package.health.name().to_owned(),
            message: package.message.clone(),
            last_sync_unix_ms: unix_ms(now),
        };
        let json = serde_json::to_vec_pretty(&status).map_err(std::io::Error::other)?;
        flush.write(&self.status_path(environment, &package.package), &json)?;
        let result = if package.health == HealthState::Healthy {
            "Healthy".to_owned()
        } else {
            format!("{}: {}", package.health.name(), package.message)
        };
        let short = revision.get(..12).unwrap_or(revision);
        let line = format!(
            "applied {} {} ({}) from commit {short}: {result}",
            package.package, package.version, package.digest
        );
        self.append_log(environment, &package.package, now, &line)?;
        Ok(status)
    }

    /// What runs of `packages` in `environment` (those it runs), as the status files say.
    pub fn statuses(&self, environment: &str, packages: &[&str]) -> Vec<PackageSync> {
        packages
            .iter()
            .filter_map(|package| self.package_sync(environment, package))
            .collect()
    }

    fn marker_path(&self, environment: &str) -> PathBuf {
        self.environment_dir(environment).join(".applied.json")
    }

    /// What `environment` was last applied from, if it says.
    pub fn marker(&self, environment: &str) -> Option<AppliedMarker> {
        let bytes = fs::read(self.marker_path(environment)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records what `environment` was applied from (after it was applied and recorded).
    pub fn save_marker(
        &self,
        environment: &str,
        marker: &AppliedMarker,
    ) -> Result<(), ClusterError> {
        if validate_name("environment", environment).is_err() {
            return Err(ClusterError::Unavailable(format!(
                "refusing to write a marker for {environment:?}: not a valid environment name"
            )));
        }
        fs::create_dir_all(self.environment_dir(environment)).map_err(io_error)?;
        let json =
            serde_json::to_vec(marker).map_err(|e| ClusterError::Unavailable(e.to_string()))?;
        write_atomically(&self.marker_path(environment), &json).map_err(io_error)
    }

    /// The packages `environment` runs, by name.
    pub fn package_names(&self, environment: &str) -> BTreeSet<String> {
        let Ok(entries) = fs::read_dir(self.environment_dir(environment)) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let package = name.strip_suffix(".yaml")?;
                stays_in_folder(environment, package).then(|| package.to_owned())
            })
            .collect()
    }

    /// What `environment` runs of `package`, as applied: its manifest and status.
    pub fn applied(&self, environment: &str, package: &str) -> Option<AppliedPackage> {
        if !stays_in_folder(environment, package) {
            return None;
        }
        let manifest = fs::read_to_string(
            self.environment_dir(environment)
                .join(format!("{package}.yaml")),
        )
        .ok()?;
        let status = self.read_status(environment, package)?;
        Some(AppliedPackage {
            package: package.to_owned(),
            manifest,
            version: status.version,
            digest: status.digest,
            promotion_id: status.promotion_id,
            health: HealthState::from_name(&status.health).unwrap_or(HealthState::Unknown),
            message: status.message,
        })
    }

    fn read_status(&self, environment: &str, package: &str) -> Option<StatusFile> {
        let bytes = fs::read(self.status_path(environment, package)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn package_sync(&self, environment: &str, package: &str) -> Option<PackageSync> {
        if !stays_in_folder(environment, package) {
            return None;
        }
        let status = self.read_status(environment, package)?;
        Some(status.into_sync(environment, package))
    }
}

#[async_trait::async_trait]
impl ClusterStatus for LocalTarget {
    fn describe(&self) -> String {
        format!("local target {}", self.root.display())
    }

    async fn package_status(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<PackageSync>, ClusterError> {
        let (environment, package) = (environment.to_owned(), package.to_owned());
        self.off_worker(move |target| Ok(target.package_sync(&environment, &package)))
            .await
    }

    async fn environment_status(
        &self,
        environment: &str,
    ) -> Result<Vec<PackageSync>, ClusterError> {
        let environment = environment.to_owned();
        self.off_worker(move |target| Ok(target.environment_syncs(&environment)))
            .await
    }

    async fn sync_log(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Vec<SyncLogLine>, ClusterError> {
        let (environment, package) = (environment.to_owned(), package.to_owned());
        self.off_worker(move |target| Ok(target.sync_log_lines(&environment, &package)))
            .await
    }
}

impl LocalTarget {
    /// Runs `read` on the blocking pool: the target's files are read where a stuck disk
    /// cannot hold up an async worker.
    async fn off_worker<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Self) -> Result<T, ClusterError> + Send + 'static,
    ) -> Result<T, ClusterError> {
        let target = self.clone();
        tokio::task::spawn_blocking(move || read(&target))
            .await
            .map_err(|error| ClusterError::Unavailable(error.to_string()))?
    }

    /// What `environment` runs, by package name.
    fn environment_syncs(&self, environment: &str) -> Vec<PackageSync> {
        let Ok(entries) = fs::read_dir(self.environment_dir(environment)) else {
            return Vec::new();
        };
        let mut packages: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_suffix(".yaml")
                    .map(str::to_owned)
            })
            .collect();
        packages.sort();
        packages
            .iter()
            .filter_map(|p| self.package_sync(environment, p))
            .collect()
    }

    /// The sync log of `package` in `environment`, oldest first.
    fn sync_log_lines(&self, environment: &str, package: &str) -> Vec<SyncLogLine> {
        if !stays_in_folder(environment, package) {
            return Vec::new();
        }
        let Ok(text) = fs::read_to_string(self.log_path(environment, package)) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|line| {
                let (ms, text) = line.split_once(' ')?;
                let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms.parse().ok()?);
                Some(SyncLogLine {
                    at,
                    text: text.to_owned(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str, health: HealthState) -> AppliedPackage {
        AppliedPackage {
            package: name.into(),
            manifest: format!("version: {version}\n"),
            version: version.into(),
            digest: "sha256:abc".into(),
            promotion_id: Some("p-1".into()),
            health,
            message: if health == HealthState::Healthy {
                String::new()
            } else {
                "digest not found".into()
            },
        }
    }

    #[tokio::test]
    async fn applying_writes_manifests_status_and_a_log_line_per_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = LocalTarget::new(dir.path());
        target
            .apply("dev", "c1", &[package("a", "v1.0.0", HealthState::Healthy)])
            .expect("apply");
        target
            .apply("dev", "c2", &[package("a", "v1.0.0", HealthState::Healthy)])
            .expect("apply again");
        let running = target
            .apply(
                "dev",
                "c3",
                &[package("a", "v1.1.0", HealthState::Degraded)],
            )
            .expect("apply new");
        let status = target
            .package_status("dev", "a")
            .await
            .expect("status")
            .expect("deployed");
        assert_eq!(
            running,
            std::slice::from_ref(&status),
            "what apply says runs is what reads back"
        );
        let unchanged = target
            .apply_changes(
                "dev",
                "c4",
                &[package("a", "v1.1.0", HealthState::Degraded)],
                &[],
            )
            .expect("apply unchanged");
        assert_eq!(
            unchanged,
            std::slice::from_ref(&status),
            "an unchanged package keeps its status"
        );
        assert_eq!(
            (
                status.version.as_str(),
                status.health,
                status.revision.as_str()
            ),
            ("v1.1.0", HealthState::Degraded, "c3")
        );
        let log = target.sync_log("dev", "a").await.expect("log");
        assert_eq!(
            log.len(),
            2,
            "an unchanged package is not re-applied: {log:?}"
        );
        assert!(
            log[1].text.contains("v1.1.0") && log[1].text.contains("Degraded"),
            "{log:?}"
        );
    }

    #[tokio::test]
    async fn names_that_would_lead_out_of_the_target_folder_read_and_write_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = LocalTarget::new(dir.path().join("targets"));
        target
            .apply("dev", "c1", &[package("a", "v1", HealthState::Healthy)])
            .expect("apply");
        // From targets/dev/.sync-log/ (or .status/), three levels up is the temporary dir.
        std::fs::write(dir.path().join("secret.log"), "1 leaked\n").expect("write");
        let status = std::fs::read(dir.path().join("targets/dev/.status/a.json")).expect("a");
        std::fs::write(dir.path().join("secret.json"), status).expect("write");
        let outside = "../../../secret";
        assert!(
            target
                .sync_log("dev", outside)
                .await
                .expect("log")
                .is_empty()
        );
        assert_eq!(
            target.package_status("dev", outside).await.expect("status"),
            None
        );
        let refused = target.apply(
            "dev",
            "c2",
            &[package("../../escaped", "v1", HealthState::Healthy)],
        );
        assert!(refused.is_err());
        assert!(!dir.path().join("escaped.yaml").exists());
    }

    #[tokio::test]
    async fn an_apply_cut_short_after_the_manifest_is_finished_on_the_next_pass() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = LocalTarget::new(dir.path());
        target
            .apply("dev", "c1", &[package("a", "v1", HealthState::Healthy)])
            .expect("apply");
        let newer = package("a", "v2", HealthState::Healthy);
        // The disk filled up right after the manifest was written.
        std::fs::write(dir.path().join("dev").join("a.yaml"), &newer.manifest).expect("write");
        target.apply("dev", "c2", &[newer]).expect("apply again");
        let status = target
            .package_status("dev", "a")
            .await
            .expect("status")
            .expect("deployed");
        assert_eq!(
            (status.version.as_str(), status.revision.as_str()),
            ("v2", "c2")
        );
    }

    #[tokio::test]
    async fn a_package_gone_from_the_branch_is_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = LocalTarget::new(dir.path());
        target
            .apply(
                "dev",
                "c1",
                &[
                    package("a", "v1", HealthState::Healthy),
                    package("b", "v1", HealthState::Healthy),
                ],
            )
            .expect("apply");
        target
            .apply("dev", "c2", &[package("b", "v1", HealthState::Healthy)])
            .expect("apply");
        assert_eq!(
            target.package_status("dev", "a").await.expect("status"),
            None
        );
        let names: Vec<String> = target
            .environment_status("dev")
            .await
            .expect("env")
            .into_iter()
            .map(|p| p.package)
            .collect();
        assert_eq!(names, ["b"]);
        assert!(
            target
                .sync_log("dev", "a")
                .await
                .expect("log")
                .last()
                .expect("line")
                .text
                .contains("pruned")
        );
    }

    #[test]
    fn changes_apply_and_prune_only_what_they_name_and_read_back_with_the_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = LocalTarget::new(dir.path());
        let (a, b) = (
            package("a", "v1", HealthState::Healthy),
            package("b", "v1", HealthState::Healthy),
        );
        target.apply("dev", "c1", &[a.clone(), b]).expect("apply");
        assert_eq!(target.marker("dev"), None);
        let marker = AppliedMarker {
            revision: "c1".into(),
            folder_id: "t1".into(),
        };
        target.save_marker("dev", &marker).expect("marker");
        assert_eq!(target.marker("dev"), Some(marker));

        let newer = package("c", "v2", HealthState::Degraded);
        target
            .apply_changes("dev", "c2", std::slice::from_ref(&newer), &["b".to_owned()])
            .expect("changes");
        let names: Vec<String> = target.package_names("dev").into_iter().collect();
        assert_eq!(names, ["a", "c"], "the marker file is no package");
        assert_eq!(target.applied("dev", "a"), Some(a), "left alone");
        assert_eq!(target.applied("dev", "c"), Some(newer));
        assert_eq!(target.applied("dev", "b"), None, "pruned");
        assert!(
            target
                .save_marker(
                    "../x",
                    &AppliedMarker {
                        revision: "c".into(),
                        folder_id: "t".into(),
                    }
                )
                .is_err()
        );
    }

    #[test]
    fn a_change_bigger_than_a_flush_per_file_writes_every_package_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = LocalTarget::new(dir.path());
        let packages: Vec<AppliedPackage> = (0..=FLUSH_EACH_UP_TO * 2)
            .map(|i| package(&format!("p{i}"), "v1", HealthState::Healthy))
            .collect();
        target
            .apply_changes("dev", "c1", &packages, &[])
            .expect("apply");
        for package in &packages {
            assert_eq!(
                target.applied("dev", &package.package).as_ref(),
                Some(package)
            );
        }
        for folder in ["", ".status"] {
            let leftovers: Vec<_> = fs::read_dir(dir.path().join("dev").join(folder))
                .expect("folder")
                .filter_map(Result::ok)
                .filter(|entry| entry.file_name().to_string_lossy().starts_with(".tmp-"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }
}
