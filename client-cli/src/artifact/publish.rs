//! `dk publish`'s work: take the last build of a package directory (refusing a stale one)
//! and put it in the embedded registry (`DK_HOME/registry/<package>/`, an OCI layout) or in
//! a remote registry, never moving a tag that already exists. The layer is streamed from
//! the build cache: checked in one read, then copied or uploaded in chunks; the file work
//! runs on tokio's blocking pool.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use datakit::oci::{
    Artifact, Credentials, LayoutError, OciLayout, Publication, RegistryAddress, RemoteError,
    RemoteRegistry,
};

use super::{
    build::read_package,
    cache::{BuildCache, BuildRecord},
};
use crate::{
    error::{CliError, Failure},
    progress::ProgressDisplay,
};

/// Where to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `DK_HOME/registry/`: one OCI layout per package.
    Embedded(PathBuf),
    Remote(RegistryAddress),
}

impl Destination {
    /// `--registry`/`DK_REGISTRY` when given, else the embedded registry of `home`.
    pub fn choose(home: &Path, registry: Option<&str>, plain_http: bool) -> Result<Self, CliError> {
        match registry.map(str::trim).filter(|r| !r.is_empty()) {
            Some(registry) => RegistryAddress::parse(registry, plain_http)
                .map(Self::Remote)
                .map_err(|error| CliError::new(Failure::InvalidInput, error.to_string())),
            None => Ok(Self::Embedded(home.join("registry"))),
        }
    }
}

/// What `dk publish` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub package: String,
    pub version: String,
    /// Where it can be pulled from.
    pub reference: String,
    pub digest: String,
    /// The registry, as shown to people.
    pub registry: String,
    pub outcome: Publication,
    /// Bytes of manifest, config and content.
    pub size: u64,
}

/// Publishes the last build of `dir` from `home`'s build cache to `destination`, showing
/// the layer's bytes on `display` as they are checked and published.
pub async fn publish(
    home: &Path,
    dir: &Path,
    destination: &Destination,
    display: Arc<ProgressDisplay>,
) -> Result<Published, CliError> {
    let (record, artifact) = {
        let (home, dir, display) = (home.to_owned(), dir.to_owned(), Arc::clone(&display));
        blocking(move || last_build(&home, &dir, &display)).await?
    };
    let publishing = display.stage("Publishing", artifact.layer().size);
    let (reference, registry, outcome) = match destination {
        Destination::Embedded(root) => {
            let layout = OciLayout::new(root.join(&record.package));
            let outcome = {
                let (layout, version, artifact) =
                    (layout.clone(), record.version.clone(), artifact.clone());
                blocking(move || {
                    layout
                        .publish(&version, &artifact, &publishing)
                        .map_err(layout_error)
                })
                .await?
            };
            (
                layout.reference(&record.version),
                format!("the embedded registry {}", root.display()),
                outcome,
            )
        }
        Destination::Remote(address) => {
            let credentials = Credentials::lookup(address.host())
                .map_err(|error| CliError::new(Failure::InvalidInput, error.to_string()))?;
            let remote = RemoteRegistry::new(address.clone(), credentials).map_err(remote_error)?;
            let reference = remote
                .reference(&record.package, &record.version)
                .map_err(remote_error)?;
            let outcome = remote
                .push(&record.package, &record.version, &artifact, &publishing)
                .await
                .map_err(remote_error)?;
            (reference, address.to_string(), outcome)
        }
    };
    display.finish();
    Ok(Published {
        package: record.package,
        version: record.version,
        reference,
        digest: artifact.digest().to_owned(),
        registry,
        outcome,
        size: artifact.size(),
    })
}

/// Runs file work (hashing, copying) on tokio's blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CliError> + Send + 'static,
) -> Result<T, CliError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| CliError::new(Failure::Other, format!("dk publish stopped: {error}")))?
}

/// The last build of `dir`, refused when there is none or `dk.yaml` changed since; its
/// layer is re-read and checked, shown on `display`.
fn last_build(
    home: &Path,
    dir: &Path,
    display: &ProgressDisplay,
) -> Result<(BuildRecord, Artifact), CliError> {
    let source = read_package(dir)?;
    let directory = source.directory.display().to_string();
    let cache = BuildCache::new(home);
    let not_built = |message: String| CliError::new(Failure::NotFound, message);
    let record = cache.record(&directory)?.ok_or_else(|| {
        not_built(format!(
            "{directory} has not been built: run dk build {} --version V first",
            dir.display()
        ))
    })?;
    if record.dk_yaml != source.dk_yaml {
        return Err(not_built(format!(
            "{directory}/dk.yaml changed since it was built as {}: run dk build again (dk build {} --version V)",
            record.version,
            dir.display()
        )));
    }
    let artifact = cache.artifact(&record, display)?;
    Ok((record, artifact))
}

pub(crate) fn layout_error(error: LayoutError) -> CliError {
    let failure = match error {
        LayoutError::TagTaken { .. } => Failure::Refused,
        _ => Failure::Other,
    };
    CliError::new(failure, error.to_string())
}

pub(crate) fn remote_error(error: RemoteError) -> CliError {
    let failure = match error {
        RemoteError::Unreachable { .. } => Failure::Unavailable,
        RemoteError::Denied { .. } | RemoteError::TagTaken { .. } => Failure::Refused,
        RemoteError::Address(_) => Failure::InvalidInput,
        RemoteError::Failed { .. } => Failure::Other,
    };
    CliError::new(failure, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_registry_means_the_embedded_one_in_dk_home() {
        let destination = Destination::choose(Path::new("/h"), None, false).expect("embedded");
        assert_eq!(
            destination,
            Destination::Embedded(PathBuf::from("/h/registry"))
        );
        let destination =
            Destination::choose(Path::new("/h"), Some("  "), false).expect("embedded");
        assert_eq!(
            destination,
            Destination::Embedded(PathBuf::from("/h/registry"))
        );
    }

    #[test]
    fn a_malformed_registry_is_invalid_input() {
        let error = Destination::choose(Path::new("/h"), Some("ftp://x"), false).expect_err("bad");
        assert_eq!(error.failure, Failure::InvalidInput);
    }

    #[test]
    fn registry_failures_map_to_the_contracts_exit_codes() {
        let unreachable = RemoteError::Unreachable {
            registry: "r".into(),
            reason: "refused".into(),
        };
        assert_eq!(remote_error(unreachable).failure as u8, 5);
        let denied = RemoteError::Denied {
            registry: "r".into(),
            who: "the login of user alice".into(),
        };
        assert_eq!(remote_error(denied).failure as u8, 4);
        let taken = RemoteError::TagTaken {
            reference: "r/p:v1".into(),
            existing: "sha256:a".into(),
            wanted: "sha256:b".into(),
        };
        assert_eq!(remote_error(taken).failure as u8, 4);
    }
}
