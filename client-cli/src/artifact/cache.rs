//! The build cache in `DK_HOME/builds/`: the blobs of built artifacts (`blobs/sha256/`, the
//! blob store of an OCI layout) and, per package directory, a record of its last build
//! (`records/<hash of the directory's path>.json`), which is what `dk publish` pushes.
//! The content layer is written there as it is packed and read back in a stream.

use std::path::{Path, PathBuf};

use datakit::{
    manifest::validate_name,
    oci::{
        Artifact, HashingReader, LayerFile, OciLayout, Progress, sha256_digest, write_atomically,
    },
};
use serde::{Deserialize, Serialize};

use super::{layer::check_layer, pack::pack_to_blob, walk::Entry};
use crate::{
    error::{CliError, Failure},
    progress::ProgressDisplay,
};

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

    /// Packs `entries` into the cache's blob store as a content layer, telling `progress`.
    pub fn pack_layer(
        &self,
        entries: &[Entry],
        progress: &Progress,
    ) -> Result<LayerFile, CliError> {
        pack_to_blob(&self.blobs, entries, progress)
    }

    /// Keeps `artifact` (whose layer is already kept) and makes it the last build of
    /// `record.directory`.
    pub fn save(&self, record: &BuildRecord, artifact: &Artifact) -> Result<(), CliError> {
        self.blobs
            .write_blob(artifact.config())
            .map_err(|e| self.failed(e))?;
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

    /// The artifact a record names, checked blob by blob, its layer entry by entry (read in
    /// one stream that is hashed and unpacked at once, shown on `display`).
    pub fn artifact(
        &self,
        record: &BuildRecord,
        display: &ProgressDisplay,
    ) -> Result<Artifact, CliError> {
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
        let (layer_digest, layer_size) = parsed
            .layers
            .first()
            .map(|layer| (layer.digest.clone(), layer.size))
            .ok_or_else(|| stale("no content layer".to_owned()))?;
        let (file, _) = self
            .blobs
            .open_blob(&layer_digest)
            .map_err(|e| stale(e.to_string()))?;
        let mut reader = HashingReader::new(file, display.stage("Checking", layer_size));
        let checked = check_layer(&mut reader);
        // A blob that does not hash to its digest is stale whatever its entries say.
        let read = reader.finish().map_err(|e| stale(e.to_string()))?;
        if read.digest != layer_digest {
            return Err(stale(format!(
                "blob {layer_digest} is corrupt (its content hashes to {})",
                read.digest
            )));
        }
        checked.map_err(|error| {
            CliError::new(
                Failure::InvalidInput,
                format!(
                    "the build of {} in the cache holds {error}: run dk build again",
                    record.directory
                ),
            )
        })?;
        let layer = LayerFile {
            path: self
                .blobs
                .blob_path(&layer_digest)
                .map_err(|e| stale(e.to_string()))?,
            digest: read.digest,
            size: read.size,
        };
        Artifact::from_parts(manifest, config, layer).map_err(|e| stale(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datakit::oci::no_progress;

    use super::*;
    use crate::artifact::walk::EntryKind;

    /// A cached build of `entries`, as some dk packed them, recorded as `package`.
    fn cached(cache: &BuildCache, package: &str, entries: &[Entry]) -> (BuildRecord, Artifact) {
        let layer = cache.pack_layer(entries, &no_progress()).expect("pack");
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
        assert_eq!(
            cache
                .artifact(&record, &ProgressDisplay::hidden())
                .expect("artifact"),
            artifact
        );
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
        let error = cache
            .artifact(&record, &ProgressDisplay::hidden())
            .expect_err("refused");
        assert_eq!(error.failure, Failure::InvalidInput);
        assert!(
            error.message.contains("passwd -> /etc/passwd")
                && error.message.ends_with("run dk build again"),
            "{error}"
        );
    }

    #[test]
    fn a_cached_layer_changed_after_the_build_is_stale_whatever_its_entries_say() {
        let home = tempfile::tempdir().expect("tempdir");
        let cache = BuildCache::new(home.path());
        let (record, artifact) = cached(&cache, "pkg", &[]);
        let layer = artifact.layer();
        let mut bytes = std::fs::read(&layer.path).expect("layer");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&layer.path, bytes).expect("tamper");
        let error = cache
            .artifact(&record, &ProgressDisplay::hidden())
            .expect_err("refused");
        assert_eq!(error.failure, Failure::NotFound);
        assert!(
            error
                .message
                .contains(&format!("blob {} is corrupt", layer.digest))
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
