//! `dk build`'s work: validate `dk.yaml`, pack the directory, assemble the artifact (config
//! blob, content layer, and a manifest annotated with title, version, revision, source and
//! creation time) and keep it in the build cache as the directory's last build.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use datakit::{
    manifest::{DataPackage, Version, VersionError, parse_data_package},
    oci::{Artifact, LayerFile, PackageConfig, annotations, sha256_digest},
};

use super::{
    cache::{BuildCache, BuildRecord},
    source::{SourceInfo, inspect},
    walk::{Entry, EntryKind, walk},
};
use crate::{
    error::{CliError, Failure},
    progress::ProgressDisplay,
};

/// A package directory's validated `dk.yaml`.
#[derive(Debug, Clone)]
pub struct PackageSource {
    /// The directory, absolute with symbolic links resolved.
    pub directory: PathBuf,
    pub package: DataPackage,
    /// sha256 of the `dk.yaml` bytes.
    pub dk_yaml: String,
}

/// What `dk build` produced.
#[derive(Debug, Clone)]
pub struct Built {
    pub source: PackageSource,
    pub version: Version,
    pub facts: SourceInfo,
    pub artifact: Artifact,
}

/// Parses `version` for a build: exact SemVer, optionally with a leading `v`.
pub fn parse_version(version: &str) -> Result<Version, CliError> {
    Version::parse(version).map_err(|error| {
        let message = match error {
            VersionError::NotExact { version } => {
                format!("version {version:?} is not exact: build an exact version such as v1.2.3")
            }
            malformed @ VersionError::Malformed { .. } => malformed.to_string(),
        };
        CliError::new(Failure::InvalidInput, message)
    })
}

/// Reads and validates `dir/dk.yaml`.
pub fn read_package(dir: &Path) -> Result<PackageSource, CliError> {
    let invalid = |message: String| CliError::new(Failure::InvalidInput, message);
    let directory = dir.canonicalize().map_err(|error| {
        invalid(format!(
            "{} is not a package directory ({error}): give the directory holding dk.yaml",
            dir.display()
        ))
    })?;
    let file = dir.join("dk.yaml");
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(invalid(format!(
                "{} does not exist: a package directory needs a dk.yaml of kind DataPackage",
                file.display()
            )));
        }
        Err(error) => return Err(invalid(format!("cannot read {}: {error}", file.display()))),
    };
    let package = parse_data_package(&file.display().to_string(), &text)
        .map_err(|error| invalid(error.to_string()))?;
    Ok(PackageSource {
        directory,
        package,
        dk_yaml: sha256_digest(text.as_bytes()),
    })
}

/// Builds `dir` as `version` into the build cache of `home`, the layer streamed into the
/// cache as it is packed, showing the bytes packed on `display`.
pub fn build(
    home: &Path,
    dir: &Path,
    version: &str,
    source_date_epoch: Option<&str>,
    display: &ProgressDisplay,
) -> Result<Built, CliError> {
    let version = parse_version(version)?;
    let source = read_package(dir)?;
    let facts = inspect(&source.directory, source_date_epoch)?;
    let entries = walk(&source.directory)?;
    let cache = BuildCache::new(home);
    let progress = display.stage("Packing", content_size(&entries));
    let layer = cache.pack_layer(&entries, &progress)?;
    display.finish();
    let artifact = assemble(&source.package, &version, &facts, layer)?;
    let record = BuildRecord {
        directory: source.directory.display().to_string(),
        package: source.package.name.clone(),
        version: version.to_string(),
        digest: artifact.digest().to_owned(),
        dk_yaml: source.dk_yaml.clone(),
    };
    cache.save(&record, &artifact)?;
    Ok(Built {
        source,
        version,
        facts,
        artifact,
    })
}

/// The bytes of the files among `entries`, as the progress bar's total (a file that cannot
/// be looked at counts for nothing here; packing it says why).
fn content_size(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .filter(|entry| matches!(entry.kind, EntryKind::File { .. }))
        .filter_map(|entry| std::fs::metadata(&entry.source).ok())
        .map(|meta| meta.len())
        .sum()
}

/// The artifact of `package` at `version` with content `layer`.
pub fn assemble(
    package: &DataPackage,
    version: &Version,
    facts: &SourceInfo,
    layer: LayerFile,
) -> Result<Artifact, CliError> {
    let failed = |error: &dyn std::fmt::Display| {
        CliError::new(
            Failure::Other,
            format!("cannot assemble the artifact: {error}"),
        )
    };
    let config = PackageConfig::new(package, version)
        .to_bytes()
        .map_err(|e| failed(&e))?;
    let mut notes = BTreeMap::from([
        (annotations::TITLE.to_owned(), package.name.clone()),
        (annotations::VERSION.to_owned(), version.to_string()),
    ]);
    let optional = [
        (annotations::CREATED, &facts.created),
        (annotations::REVISION, &facts.revision),
        (annotations::SOURCE, &facts.source),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            notes.insert(key.to_owned(), value.clone());
        }
    }
    Artifact::new(config, layer, notes).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer whose file is never opened: only its digest and size count here.
    fn layer(bytes: &[u8]) -> LayerFile {
        LayerFile {
            path: "/nonexistent/layer".into(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
        }
    }

    const DK_YAML: &str = "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataPackage\nmetadata: { name: my-package, description: Events }\nspec: { store: events-store, bindings: { output: warehouse } }\n";

    #[test]
    fn latest_ranges_and_empty_versions_are_refused_as_invalid_input() {
        for bad in ["latest", "^1.0", "1.x", "", "banana"] {
            let error = parse_version(bad).expect_err(bad);
            assert_eq!(error.failure, Failure::InvalidInput, "{bad}");
            assert!(error.message.contains("v1.2.3"), "{error}");
        }
        assert_eq!(parse_version("v1.0.0").expect("exact").as_str(), "v1.0.0");
    }

    #[test]
    fn annotations_carry_title_and_version_and_source_facts_only_when_known() {
        let package = parse_data_package("dk.yaml", DK_YAML).expect("package");
        let version = parse_version("v1.0.0").expect("version");
        let bare = assemble(&package, &version, &SourceInfo::default(), layer(b"layer"))
            .expect("artifact");
        let notes = &bare.manifest().annotations;
        assert_eq!(
            notes.get(annotations::TITLE).map(String::as_str),
            Some("my-package")
        );
        assert_eq!(
            notes.get(annotations::VERSION).map(String::as_str),
            Some("v1.0.0")
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        let facts = SourceInfo {
            created: Some("2023-11-14T22:13:20Z".into()),
            revision: Some("abc123".into()),
            source: Some("https://github.com/acme/data".into()),
        };
        let full = assemble(&package, &version, &facts, layer(b"layer")).expect("artifact");
        let notes = &full.manifest().annotations;
        assert_eq!(
            notes.get(annotations::REVISION).map(String::as_str),
            Some("abc123")
        );
        assert_eq!(notes.len(), 5, "{notes:?}");
        assert_ne!(bare.digest(), full.digest());
    }

    #[test]
    fn a_build_is_reproducible_and_lands_in_the_cache() {
        let home = tempfile::tempdir().expect("home");
        let dir = tempfile::tempdir().expect("package");
        std::fs::write(dir.path().join("dk.yaml"), DK_YAML).expect("dk.yaml");
        let first = build(
            home.path(),
            dir.path(),
            "v1.0.0",
            None,
            &ProgressDisplay::hidden(),
        )
        .expect("build");
        let second = build(
            home.path(),
            dir.path(),
            "v1.0.0",
            None,
            &ProgressDisplay::hidden(),
        )
        .expect("build");
        assert_eq!(first.artifact.digest(), second.artifact.digest());
        let cache = BuildCache::new(home.path());
        let record = cache
            .record(&first.source.directory.display().to_string())
            .expect("lookup")
            .expect("recorded");
        assert_eq!(record.digest, first.artifact.digest());
    }
}
