//! The build cache in `DK_HOME/builds/`: the blobs of built artifacts (`blobs/sha256/`, the
//! blob store of an OCI layout) and, per package directory, a record of its last build
//! (`records/<hash of the directory's path>.json`), which is what `dk publish` pushes.

use std::path::{Path, PathBuf};

use datakit::{
    manifest::validate_name,
    oci::{Artifact, OciLayout, sha256_digest, write_atomically},
};
use serde::{Deserialize, Serialize};

use super::layer::check_layer;
use crate::error::{CliError, Failure};

/// The last build of one package directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildRecord {
    /// The package directory (absolute, symbolic links resolved).
    pub directory: String,
    pub package: String,
    pub version: String,
    /// The manifest digest.
    pub digest: String,
    /// The sha256 of the `dk.yaml` that was built, to notice later edits.
    pub dk_yaml: String,
}

/// `DK_HOME/builds/`.
#[derive(Debug, Clone)]
pub struct BuildCache {
    root: PathBuf,
    blobs: OciLayout,
}

impl BuildCache {
    pub fn new(home: &Path) -> Self {
        let root = home.join("builds");
        Self {
            blobs: OciLayout::new(&root),
            root,
        }
    }

    fn record_path(&self, directory: &str) -> PathBuf {
        let key = sha256_digest(directory.as_bytes());
        let hex = key.trim_start_matches("sha256:");
        self.root
            .join("records")
            .join(format!("{}.json", &hex[..32]))
    }

    fn failed(&self, reason: impl std::fmt::Display) -> CliError {
        CliError::new(
            Failure::Other,
            format!("build cache {}: {reason}", self.root.display()),
        )
    }

    /// Keeps `artifact` and makes it the last build of `record.directory`.
    pub fn save(&self, record: &BuildRecord, artifact: &Artifact) -> Result<(), CliError> {
        for (_, bytes) in artifact.blobs() {
            self.blobs.write_blob(bytes).map_err(|e| self.failed(e))?;
        }
        self.blobs
            .write_blob(artifact.manifest_bytes())
            .map_err(|e| self.failed(e))?;
        let json = serde_json::to_vec_pretty(record).map_err(|e| self.failed(e))?;
        write_atomically(&self.record_path(&record.directory), &json).map_err(|e| self.failed(e))
    }

    /// The last build of `directory`, if any.
    pub fn record(&self, directory: &str) -> Result<Option<BuildRecord>, CliError> {
        let path = self.record_path(directory);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.failed(error)),
        };
        // A record of another directory that hashes alike, one unreadable, or one whose
        // package name could lead `dk publish` out of the registry's folder: no build.
        Ok(serde_json::from_slice::<BuildRecord>(&bytes)
            .ok()
            .filter(|record| {
                record.directory == directory && validate_name("package", &record.package).is_ok()
            }))
    }

    /// The artifact a record names, checked blob by blob, its layer entry by entry.
    pub fn artifact(&self, record: &BuildRecord) -> Result<Artifact, CliError> {
        let stale = |reason: String| {
            CliError::new(
                Failure::NotFound,
                format!(
                    "the build of {} is incomplete in the cache ({reason}): run dk build again",
                    record.directory
                ),
            )
        };
        let manifest = self
            .blobs
            .read_blob(&record.digest)
            .map_err(|e| stale(e.to_string()))?;
        let parsed: datakit::oci::Manifest =
            serde_json::from_slice(&manifest).map_err(|e| stale(e.to_string()))?;
        let config = self
            .blobs
            .read_blob(&parsed.config.digest)
            .map_err(|e| stale(e.to_string()))?;
        let layer_digest = parsed
            .layers
            .first()
            .map(|layer| layer.digest.clone())
            .ok_or_else(|| stale("no content layer".to_owned()))?;
        let layer = self
            .blobs
            .read_blob(&layer_digest)
            .map_err(|e| stale(e.to_string()))?;
        check_layer(&layer).map_err(|error| {
            CliError::new(
                Failure::InvalidInput,
                format!(
                    "the build of {} in the cache holds {error}: run dk build again",
                    record.directory
                ),
            )
        })?;
        Artifact::from_parts(manifest, config, layer).map_err(|e| stale(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::artifact::{
        pack::pack,
        walk::{Entry, EntryKind},
    };

    /// A cached build of `entries`, as some dk packed them, recorded as `package`.
    fn cached(cache: &BuildCache, package: &str, entries: &[Entry]) -> (BuildRecord, Artifact) {
        let layer = pack(entries).expect("pack");
        let artifact = Artifact::new(b"{}".to_vec(), layer, BTreeMap::new()).expect("artifact");
        let record = BuildRecord {
            directory: "/src/pkg".into(),
            package: package.into(),
            version: "v1.0.0".into(),
            digest: artifact.digest().into(),
            dk_yaml: sha256_digest(b"dk"),
        };
        cache.save(&record, &artifact).expect("save");
        (record, artifact)
    }

    #[test]
    fn a_saved_build_is_found_again_by_its_directory() {
        let home = tempfile::tempdir().expect("tempdir");
        let cache = BuildCache::new(home.path());
        assert_eq!(cache.record("/src/pkg").expect("lookup"), None);
        let (record, artifact) = cached(&cache, "pkg", &[]);
        assert_eq!(
            cache.record("/src/pkg").expect("lookup"),
            Some(record.clone())
        );
        assert_eq!(cache.record("/src/other").expect("lookup"), None);
        assert_eq!(cache.artifact(&record).expect("artifact"), artifact);
    }

    #[test]
    fn a_cached_build_whose_layer_links_out_of_the_package_is_never_handed_to_publish() {
        let home = tempfile::tempdir().expect("tempdir");
        let cache = BuildCache::new(home.path());
        let escaping = Entry {
            path: "passwd".into(),
            source: "/src/pkg/passwd".into(),
            kind: EntryKind::Symlink {
                target: "/etc/passwd".into(),
            },
        };
        let (record, _) = cached(&cache, "pkg", &[escaping]);
        let error = cache.artifact(&record).expect_err("refused");
        assert_eq!(error.failure, Failure::InvalidInput);
        assert!(
            error.message.contains("passwd -> /etc/passwd")
                && error.message.ends_with("run dk build again"),
            "{error}"
        );
    }

    #[test]
    fn a_record_whose_package_name_climbs_out_is_no_build() {
        let home = tempfile::tempdir().expect("tempdir");
        let cache = BuildCache::new(home.path());
        cached(&cache, "../../etc", &[]);
        assert_eq!(cache.record("/src/pkg").expect("lookup"), None);
    }
}
