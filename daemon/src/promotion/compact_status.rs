//! A package's status as the status board keeps it: the strings most statuses hold alike
//! (environment, version, revision) shared between them, the others boxed to their
//! length. On the 100k home the board holds 300,000 statuses; a [`PackageSync`] is made
//! from one only when it is read.

use std::{collections::HashSet, sync::Arc, time::SystemTime};

use crate::promotion::ports::{HealthState, LastRun, PackageSync, SyncState};

/// One copy of each environment name, version and revision some status holds.
#[derive(Debug, Default)]
pub struct SharedNames {
    names: HashSet<Arc<str>>,
}

impl SharedNames {
    /// The shared copy of `name`.
    fn share(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        self.names.insert(shared.clone());
        shared
    }

    /// Lets go of a status's copy of `name`: forgotten once no status holds it. Copies
    /// never leave the board, so the count is exact.
    fn release(&mut self, name: Arc<str>) {
        if Arc::strong_count(&name) == 2 {
            self.names.remove(&*name);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.names.len()
    }
}

/// A [`PackageSync`], compact.
#[derive(Debug)]
pub struct CompactStatus {
    package: Box<str>,
    environment: Arc<str>,
    version: Arc<str>,
    digest: Box<str>,
    promotion_id: Option<Box<str>>,
    revision: Arc<str>,
    sync: SyncState,
    health: HealthState,
    last_sync: SystemTime,
    message: Box<str>,
    last_run: Option<Box<LastRun>>,
}

impl CompactStatus {
    /// `status`, its common strings shared through `names`.
    pub fn new(status: PackageSync, names: &mut SharedNames) -> Self {
        Self {
            environment: names.share(&status.environment),
            version: names.share(&status.version),
            revision: names.share(&status.revision),
            package: status.package.into_boxed_str(),
            digest: status.digest.into_boxed_str(),
            promotion_id: status.promotion_id.map(String::into_boxed_str),
            sync: status.sync,
            health: status.health,
            last_sync: status.last_sync,
            message: status.message.into_boxed_str(),
            last_run: status.last_run,
        }
    }

    /// Gives its shared strings back to `names` (it is being dropped).
    pub fn release(self, names: &mut SharedNames) {
        names.release(self.environment);
        names.release(self.version);
        names.release(self.revision);
    }

    pub fn package(&self) -> &str {
        &self.package
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Whether it runs the same version (name and digest) as `status`.
    pub fn runs_as(&self, status: &PackageSync) -> bool {
        *self.version == *status.version && *self.digest == *status.digest
    }

    /// Whether it says what `status` says.
    pub fn is(&self, status: &PackageSync) -> bool {
        *self.package == *status.package
            && *self.environment == *status.environment
            && self.runs_as(status)
            && self.promotion_id.as_deref() == status.promotion_id.as_deref()
            && *self.revision == *status.revision
            && self.sync == status.sync
            && self.health == status.health
            && self.last_sync == status.last_sync
            && *self.message == *status.message
            && self.last_run == status.last_run
    }

    /// The status, as the ports and the API know it.
    pub fn status(&self) -> PackageSync {
        PackageSync {
            package: self.package.to_string(),
            environment: self.environment.to_string(),
            version: self.version.to_string(),
            digest: self.digest.to_string(),
            promotion_id: self.promotion_id.as_deref().map(str::to_owned),
            revision: self.revision.to_string(),
            sync: self.sync,
            health: self.health,
            last_sync: self.last_sync,
            message: self.message.to_string(),
            last_run: self.last_run.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotion::ports::RunResult;

    fn status(package: &str, version: &str, revision: &str) -> PackageSync {
        PackageSync {
            package: package.into(),
            environment: "dev".into(),
            version: version.into(),
            digest: format!("sha256:{version}"),
            promotion_id: Some(format!("p-{package}")),
            revision: revision.into(),
            sync: SyncState::Synced,
            health: HealthState::Degraded,
            last_sync: SystemTime::UNIX_EPOCH,
            message: "back-off".into(),
            last_run: Some(Box::new(LastRun {
                name: "job-1".into(),
                started_at: SystemTime::UNIX_EPOCH,
                finished_at: None,
                result: RunResult::Running,
            })),
        }
    }

    #[test]
    fn a_status_reads_back_as_it_was_given_and_is_itself_only() {
        let mut names = SharedNames::default();
        let given = status("a", "v1", "c1");
        let compact = CompactStatus::new(given.clone(), &mut names);
        assert_eq!(compact.status(), given);
        assert!(compact.is(&given));
        let mut other = given.clone();
        other.message = "ok".into();
        assert!(!compact.is(&other));
        other = given.clone();
        other.last_run = None;
        assert!(!compact.is(&other));
        other = given;
        other.revision = "c2".into();
        assert!(!compact.is(&other));
        assert!(compact.runs_as(&other));
    }

    #[test]
    fn shared_names_are_kept_while_a_status_holds_them() {
        let mut names = SharedNames::default();
        let first = CompactStatus::new(status("a", "v1", "c1"), &mut names);
        let second = CompactStatus::new(status("b", "v1", "c2"), &mut names);
        assert_eq!(names.len(), 4, "dev, v1, c1, c2");
        first.release(&mut names);
        assert_eq!(names.len(), 3, "c1 is no status's any more");
        second.release(&mut names);
        assert_eq!(names.len(), 0);
    }
}
