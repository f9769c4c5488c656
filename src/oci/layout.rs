//! An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`): the
//! embedded registry, and the blob store of dk's build cache. Every file is written to a
//! temporary file in its own directory and renamed into place, and `index.json` is read,
//! changed and replaced under an exclusive lock on `index.json.lock`, so a reader never
//! sees half a write and two publishers never lose or move each other's tags. Large blobs
//! are streamed: written through a hashing writer, copied in chunks, never held whole.

use std::{
    fs::{self, File},
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
};

use super::{
    artifact::{Artifact, Descriptor, LayerFile, Manifest},
    blob_io::{Hashed, HashingReader, HashingWriter, Progress},
    cosign::{SignatureImage, SignatureLayer, SignatureOutcome, signature_layers, signature_tag},
    digest::{is_sha256_digest, sha256_digest},
    index::{Index, IndexError},
    package_config::PackageConfig,
};

/// The content of the `oci-layout` marker file.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An OCI image layout at a directory (which need not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciLayout {
    root: PathBuf,
}

/// What publishing a tag did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// The tag is new and now points at the artifact.
    Published,
    /// The tag already pointed at this very artifact: nothing was written.
    AlreadyPublished,
    /// The tag already pointed at this very artifact, but some of its blobs had gone
    /// missing from the layout: they were written back.
    Restored,
}

/// Why a layout operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot use {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path} is not a usable OCI index ({reason}): repair or remove it")]
    Corrupt { path: String, reason: String },
    #[error(
        "{tag} is already published in {layout} as {existing}; refusing to replace it with {wanted}: publish a new version"
    )]
    TagTaken {
        tag: String,
        layout: String,
        existing: String,
        wanted: String,
    },
    #[error("blob {digest} is missing from {layout}")]
    MissingBlob { digest: String, layout: String },
    #[error("blob {digest} in {layout} is corrupt (its content hashes to {found})")]
    CorruptBlob {
        digest: String,
        layout: String,
        found: String,
    },
    #[error(
        "{path} changed while it was being copied (expected {expected}, read {found}); nothing was written"
    )]
    ChangedWhileCopied {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{0:?} is not a sha256 digest")]
    InvalidDigest(String),
    #[error(
        "the signatures {tag} in {layout} are not usable ({reason}): sign again after removing the tag"
    )]
    NotSignatures {
        tag: String,
        layout: String,
        reason: String,
    },
    #[error("{tag} in {layout} is not a usable DataKit package: {reason}")]
    NotAPackage {
        tag: String,
        layout: String,
        reason: String,
    },
}

impl OciLayout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The containers/image `oci:` transport reference of `tag` in this layout, e.g.
    /// `oci:/home/me/.datakit/registry/my-package:v1.0.0` (`skopeo inspect` reads it).
    pub fn reference(&self, tag: &str) -> String {
        let root = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        format!("oci:{}:{tag}", root.display())
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// The file of blob `digest` (which may not exist).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, LayoutError> {
        match digest.strip_prefix("sha256:") {
            Some(hex) if is_sha256_digest(digest) => {
                Ok(self.root.join("blobs").join("sha256").join(hex))
            }
            _ => Err(LayoutError::InvalidDigest(digest.to_owned())),
        }
    }

    fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + '_ {
        move |source| LayoutError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The manifest `tag` points at, `None` when the layout or the tag does not exist.
    pub fn resolve(&self, tag: &str) -> Result<Option<Descriptor>, LayoutError> {
        self.read_index()?
            .find(tag)
            .map_err(|error| self.corrupt(&error))
    }

    /// The DataKit package `tag` points at: its manifest descriptor and its config, `None`
    /// when the tag does not exist. Every blob read is checked against its digest; the
    /// content layer, which is not read, must at least be there.
    pub fn read_package(
        &self,
        tag: &str,
    ) -> Result<Option<(Descriptor, PackageConfig)>, LayoutError> {
        let Some(descriptor) = self.resolve(tag)? else {
            return Ok(None);
        };
        let not_a_package = |reason: String| LayoutError::NotAPackage {
            tag: tag.to_owned(),
            layout: self.root.display().to_string(),
            reason,
        };
        let manifest = Manifest::parse_package(&self.read_blob(&descriptor.digest)?)
            .map_err(|error| not_a_package(error.to_string()))?;
        let config = PackageConfig::parse(&self.read_blob(&manifest.config.digest)?)
            .map_err(|error| not_a_package(error.to_string()))?;
        for layer in &manifest.layers {
            self.require_blob(&layer.digest)?;
        }
        Ok(Some((descriptor, config)))
    }

    fn read_index(&self) -> Result<Index, LayoutError> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => Index::parse(&bytes).map_err(|error| self.corrupt(&error)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Index::empty()),
            Err(error) => Err(Self::io_error(&path)(error)),
        }
    }

    fn corrupt(&self, error: &IndexError) -> LayoutError {
        LayoutError::Corrupt {
            path: self.index_path().display().to_string(),
            reason: error.to_string(),
        }
    }

    /// The bytes of blob `digest`, checked against the digest.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(digest)?;
        let bytes = fs::read(&path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => LayoutError::MissingBlob {
                digest: digest.to_owned(),
                layout: self.root.display().to_string(),
            },
            _ => Self::io_error(&path)(error),
        })?;
        let found = sha256_digest(&bytes);
        if found != digest {
            return Err(LayoutError::CorruptBlob {
                digest: digest.to_owned(),
                layout: self.root.display().to_string(),
                found,
            });
        }
        Ok(bytes)
    }

    /// Fails with [`LayoutError::MissingBlob`] when blob `digest` is not there.
    fn require_blob(&self, digest: &str) -> Result<(), LayoutError> {
        let path = self.blob_path(digest)?;
        match fs::metadata(&path) {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Err(LayoutError::MissingBlob {
                    digest: digest.to_owned(),
                    layout: self.root.display().to_string(),
                })
            }
            Err(error) => Err(Self::io_error(&path)(error)),
        }
    }

    /// Blob `digest` opened for reading, with its size on disk.
    pub fn open_blob(&self, digest: &str) -> Result<(File, u64), LayoutError> {
        let path = self.blob_path(digest)?;
        let opened = File::open(&path).and_then(|file| Ok((file.metadata()?.len(), file)));
        match opened {
            Ok((size, file)) => Ok((file, size)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Err(LayoutError::MissingBlob {
                    digest: digest.to_owned(),
                    layout: self.root.display().to_string(),
                })
            }
            Err(error) => Err(Self::io_error(&path)(error)),
        }
    }

    /// A new blob, written in pieces and hashed as it goes to a temporary file in the blob
    /// folder; [`BlobWriter::commit`] renames it into place under its digest.
    pub fn create_blob(&self) -> Result<BlobWriter, LayoutError> {
        let folder = self.root.join("blobs").join("sha256");
        let file = crate::files::temporary_file_next_to(&folder.join("new"))
            .map_err(Self::io_error(&folder))?;
        Ok(BlobWriter {
            layout: self.clone(),
            writer: HashingWriter::new(BufWriter::with_capacity(BLOB_BUFFER, file)),
        })
    }

    /// Copies the layer file into this layout in chunks (nothing is copied when a blob of
    /// its digest and size is there already), checking on the way that the file still
    /// hashes to its digest; whether it had to be copied.
    fn copy_layer(&self, layer: &LayerFile, progress: &Progress) -> Result<bool, LayoutError> {
        let path = self.blob_path(&layer.digest)?;
        if fs::metadata(&path).is_ok_and(|meta| meta.len() == layer.size) {
            progress(layer.size);
            return Ok(false);
        }
        let source = File::open(&layer.path).map_err(Self::io_error(&layer.path))?;
        let mut reader = HashingReader::new(source, progress.clone());
        let mut blob = self.create_blob()?;
        io::copy(&mut reader, &mut blob).map_err(Self::io_error(&layer.path))?;
        let read = reader.finish().map_err(Self::io_error(&layer.path))?;
        if read.digest != layer.digest || read.size != layer.size {
            return Err(LayoutError::ChangedWhileCopied {
                path: layer.path.display().to_string(),
                expected: layer.digest.clone(),
                found: read.digest,
            });
        }
        blob.commit()?;
        Ok(true)
    }

    /// Stores `bytes` as a blob (atomically; nothing is written if it is already there) and
    /// returns its digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<String, LayoutError> {
        self.write_blob_if_missing(bytes).map(|(digest, _)| digest)
    }

    /// [`Self::write_blob`], also saying whether the blob had to be written.
    fn write_blob_if_missing(&self, bytes: &[u8]) -> Result<(String, bool), LayoutError> {
        let digest = sha256_digest(bytes);
        let path = self.blob_path(&digest)?;
        let present = fs::metadata(&path).is_ok_and(|meta| meta.len() == bytes.len() as u64);
        if !present {
            write_atomically(&path, bytes)?;
        }
        Ok((digest, !present))
    }

    /// Writes every blob of `artifact`, config, layer (streamed, telling `progress`) and
    /// manifest; whether any was missing.
    fn write_blobs(&self, artifact: &Artifact, progress: &Progress) -> Result<bool, LayoutError> {
        let mut wrote = self.write_blob_if_missing(artifact.config())?.1;
        wrote |= self.copy_layer(artifact.layer(), progress)?;
        wrote |= self.write_blob_if_missing(artifact.manifest_bytes())?.1;
        Ok(wrote)
    }

    /// Tags `artifact` as `tag`: writes its blobs and adds it to `index.json`, unless the
    /// tag already exists. A tag is never moved: the same artifact again only writes back
    /// blobs that went missing, another one is refused before anything is written.
    /// `progress` is told of the layer's bytes as they are copied.
    pub fn publish(
        &self,
        tag: &str,
        artifact: &Artifact,
        progress: &Progress,
    ) -> Result<Publication, LayoutError> {
        let lock = self.lock_index()?;
        let mut index = self.read_index()?;
        match index.find(tag).map_err(|error| self.corrupt(&error))? {
            Some(existing) if existing.digest == artifact.digest() => {
                return Ok(if self.write_blobs(artifact, progress)? {
                    Publication::Restored
                } else {
                    Publication::AlreadyPublished
                });
            }
            Some(existing) => {
                return Err(LayoutError::TagTaken {
                    tag: tag.to_owned(),
                    layout: self.root.display().to_string(),
                    existing: existing.digest,
                    wanted: artifact.digest().to_owned(),
                });
            }
            None => {}
        }
        self.write_blobs(artifact, progress)?;
        index
            .add(tag, artifact.descriptor())
            .map_err(|error| self.corrupt(&error))?;
        let bytes = index.to_bytes().map_err(|error| self.corrupt(&error))?;
        write_atomically(&self.index_path(), &bytes)?;
        drop(lock);
        Ok(Publication::Published)
    }
}

/// The buffer between a blob's writer and its file.
const BLOB_BUFFER: usize = 256 * 1024;

/// A blob being written to a temporary file of its layout, hashed on the way; removed
/// unless committed.
pub struct BlobWriter {
    layout: OciLayout,
    writer: HashingWriter<BufWriter<tempfile::NamedTempFile>>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl BlobWriter {
    /// Flushes the blob to disk and renames it into place under its digest; its digest and
    /// size.
    pub fn commit(self) -> Result<Hashed, LayoutError> {
        let (buffered, hashed) = self.writer.finish();
        let path = self.layout.blob_path(&hashed.digest)?;
        let failed = OciLayout::io_error(&path);
        let file = buffered
            .into_inner()
            .map_err(|error| failed(error.into_error()))?;
        crate::files::persist_atomically(file, &path).map_err(OciLayout::io_error(&path))?;
        Ok(hashed)
    }
}

impl OciLayout {
    /// Creates the layout if need be and holds the exclusive lock on its `index.json`.
    fn lock_index(&self) -> Result<File, LayoutError> {
        fs::create_dir_all(&self.root).map_err(Self::io_error(&self.root))?;
        let marker = self.root.join("oci-layout");
        if !marker.exists() {
            write_atomically(&marker, OCI_LAYOUT)?;
        }
        let lock_path = self.root.join("index.json.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Self::io_error(&lock_path))?;
        lock.lock().map_err(Self::io_error(&lock_path))?;
        Ok(lock)
    }

    /// The cosign signatures of `digest` stored here (under `sha256-<hex>.sig`, where cosign
    /// looks); none when there is no such tag.
    pub fn signatures(&self, digest: &str) -> Result<Vec<SignatureLayer>, LayoutError> {
        let tag = signature_tag(digest).map_err(|_| LayoutError::InvalidDigest(digest.into()))?;
        match self.resolve(&tag)? {
            Some(descriptor) => self.read_signatures(&tag, &self.read_blob(&descriptor.digest)?),
            None => Ok(Vec::new()),
        }
    }

    fn read_signatures(
        &self,
        tag: &str,
        manifest: &[u8],
    ) -> Result<Vec<SignatureLayer>, LayoutError> {
        let layers = signature_layers(manifest).map_err(|error| LayoutError::NotSignatures {
            tag: tag.to_owned(),
            layout: self.root.display().to_string(),
            reason: error.to_string(),
        })?;
        layers
            .into_iter()
            .map(|(descriptor, signature)| {
                Ok(SignatureLayer {
                    payload: self.read_blob(&descriptor.digest)?,
                    signature,
                })
            })
            .collect()
    }

    /// Appends `layer` to the signatures of `digest`, as cosign does, unless one there
    /// already satisfies `already_signed`. Read and written under the index lock, so two
    /// signers never lose each other's signature.
    pub fn add_signature(
        &self,
        digest: &str,
        layer: &SignatureLayer,
        already_signed: impl Fn(&SignatureLayer) -> bool,
    ) -> Result<SignatureOutcome, LayoutError> {
        let tag = signature_tag(digest).map_err(|_| LayoutError::InvalidDigest(digest.into()))?;
        let lock = self.lock_index()?;
        let mut index = self.read_index()?;
        let existing = match index.find(&tag).map_err(|error| self.corrupt(&error))? {
            Some(descriptor) => Some(self.read_blob(&descriptor.digest)?),
            None => None,
        };
        if let Some(manifest) = &existing
            && self
                .read_signatures(&tag, manifest)?
                .iter()
                .any(&already_signed)
        {
            return Ok(SignatureOutcome::AlreadySigned);
        }
        let image = SignatureImage::appending(existing.as_deref(), layer).map_err(|error| {
            LayoutError::NotSignatures {
                tag: tag.clone(),
                layout: self.root.display().to_string(),
                reason: error.to_string(),
            }
        })?;
        self.write_blob(&layer.payload)?;
        self.write_blob(&image.config)?;
        self.write_blob(&image.manifest)?;
        index
            .retag(&tag, image.descriptor())
            .map_err(|error| self.corrupt(&error))?;
        let bytes = index.to_bytes().map_err(|error| self.corrupt(&error))?;
        write_atomically(&self.index_path(), &bytes)?;
        drop(lock);
        Ok(SignatureOutcome::Added)
    }
}

/// [`crate::files::write_atomically`], with the layout's error.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    crate::files::write_atomically(path, bytes).map_err(OciLayout::io_error(path))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::oci::{annotations::REF_NAME, no_progress};

    /// `bytes` as a layer file in the folder `dir` (a test's temporary folder).
    fn layer_file(dir: &Path, bytes: &[u8]) -> LayerFile {
        let digest = sha256_digest(bytes);
        let path = dir.join(format!("layer-{}", digest.trim_start_matches("sha256:")));
        fs::write(&path, bytes).expect("layer");
        LayerFile {
            path,
            digest,
            size: bytes.len() as u64,
        }
    }

    fn artifact(dir: &Path, content: &str) -> Artifact {
        Artifact::new(
            b"{}".to_vec(),
            layer_file(dir, content.as_bytes()),
            BTreeMap::new(),
        )
        .expect("artifact")
    }

    fn publish(
        layout: &OciLayout,
        tag: &str,
        artifact: &Artifact,
    ) -> Result<Publication, LayoutError> {
        layout.publish(tag, artifact, &no_progress())
    }

    #[test]
    fn signing_appends_a_layer_under_the_cosign_tag_and_the_same_key_again_is_a_no_op() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = OciLayout::new(dir.path());
        let built = artifact(dir.path(), "one");
        publish(&layout, "v1.0.0", &built).expect("publish");
        let key = crate::oci::keys::tests::signing_key();
        let other =
            crate::oci::SigningKey::from_pem(include_str!("../../tests/support/keys/other.key"))
                .expect("other.key");
        let digest = built.digest();
        assert!(layout.signatures(digest).expect("none yet").is_empty());
        for (signer, expected) in [
            (&key, SignatureOutcome::Added),
            (&key, SignatureOutcome::AlreadySigned),
            (&other, SignatureOutcome::Added),
        ] {
            let layer = SignatureLayer::sign(signer, "pkg", digest).expect("sign");
            let public = signer.public_key();
            let outcome = layout
                .add_signature(digest, &layer, |found| found.signs(digest, &public))
                .expect("add");
            assert_eq!(outcome, expected);
        }
        let signatures = layout.signatures(digest).expect("signatures");
        assert_eq!(signatures.len(), 2);
        assert!(signatures[0].signs(digest, &key.public_key()));
        assert!(signatures[1].signs(digest, &other.public_key()));
        let tag = signature_tag(digest).expect("tag");
        let index = fs::read_to_string(dir.path().join("index.json")).expect("index");
        assert_eq!(index.matches(&tag).count(), 1, "{index}");
        assert!(layout.resolve("v1.0.0").expect("resolve").is_some());
    }

    #[test]
    fn a_published_tag_resolves_and_its_blobs_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = OciLayout::new(dir.path().join("pkg"));
        let built = artifact(dir.path(), "one");
        assert_eq!(
            publish(&layout, "v1.0.0", &built).expect("publish"),
            Publication::Published
        );
        let descriptor = layout.resolve("v1.0.0").expect("resolve").expect("tagged");
        assert_eq!(descriptor.digest, built.digest());
        assert_eq!(
            descriptor.annotations.get(REF_NAME).map(String::as_str),
            Some("v1.0.0")
        );
        assert_eq!(
            layout.read_blob(built.digest()).expect("manifest"),
            built.manifest_bytes()
        );
        let marker = fs::read(dir.path().join("pkg/oci-layout")).expect("oci-layout");
        assert_eq!(marker, OCI_LAYOUT);
    }

    #[test]
    fn the_same_artifact_again_is_a_no_op_and_another_one_is_refused_naming_both_digests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = OciLayout::new(dir.path());
        let first = artifact(dir.path(), "one");
        publish(&layout, "v1.0.0", &first).expect("publish");
        let index_before = fs::read(dir.path().join("index.json")).expect("index");
        assert_eq!(
            publish(&layout, "v1.0.0", &first).expect("again"),
            Publication::AlreadyPublished
        );
        let second = artifact(dir.path(), "two");
        let error = publish(&layout, "v1.0.0", &second).expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains(first.digest()) && message.contains(second.digest()),
            "{message}"
        );
        assert_eq!(
            fs::read(dir.path().join("index.json")).expect("index"),
            index_before
        );
        assert!(matches!(
            layout.read_blob(second.digest()),
            Err(LayoutError::MissingBlob { .. })
        ));
    }

    #[test]
    fn a_package_missing_any_blob_is_missing_blob_naming_it_until_published_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = OciLayout::new(dir.path());
        let config = br#"{"apiVersion":"datakit.infoblox.dev/v1alpha1","kind":"DataPackage","name":"p","version":"v1.0.0","store":null,"bindings":{}}"#;
        let built = Artifact::new(
            config.to_vec(),
            layer_file(dir.path(), b"layer"),
            BTreeMap::new(),
        )
        .expect("artifact");
        publish(&layout, "v1.0.0", &built).expect("publish");
        layout
            .read_package("v1.0.0")
            .expect("readable")
            .expect("tagged");
        let manifest = built.manifest();
        for digest in [
            built.digest(),
            manifest.config.digest.as_str(),
            manifest.layers[0].digest.as_str(),
        ] {
            fs::remove_file(layout.blob_path(digest).expect("path")).expect("delete");
            match layout.read_package("v1.0.0") {
                Err(LayoutError::MissingBlob {
                    digest: missing, ..
                }) => {
                    assert_eq!(missing, digest);
                }
                other => panic!("expected MissingBlob for {digest}, got {other:?}"),
            }
            assert_eq!(
                publish(&layout, "v1.0.0", &built).expect("publish again"),
                Publication::Restored
            );
            layout
                .read_package("v1.0.0")
                .expect("restored")
                .expect("tagged");
        }
        assert_eq!(
            publish(&layout, "v1.0.0", &built).expect("publish again"),
            Publication::AlreadyPublished
        );
    }

    #[test]
    fn a_layer_file_changed_since_it_was_hashed_is_never_copied_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = OciLayout::new(dir.path().join("pkg"));
        let built = artifact(dir.path(), "one");
        fs::write(&built.layer().path, "uno").expect("change the layer");
        assert!(matches!(
            publish(&layout, "v1.0.0", &built),
            Err(LayoutError::ChangedWhileCopied { .. })
        ));
        assert!(layout.resolve("v1.0.0").expect("resolve").is_none());
        assert!(
            !layout
                .blob_path(&built.layer().digest)
                .expect("path")
                .exists()
        );
        let leftovers = fs::read_dir(dir.path().join("pkg/blobs/sha256"))
            .expect("blob folder")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(".tmp-"))
            .count();
        assert_eq!(leftovers, 0, "no temporary file left behind");
    }

    #[test]
    fn a_missing_layout_resolves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = OciLayout::new(dir.path().join("absent"));
        assert!(layout.resolve("v1.0.0").expect("resolve").is_none());
    }

    #[test]
    fn a_corrupt_index_is_an_error_not_an_empty_registry() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("index.json"), "{not json").expect("write");
        let layout = OciLayout::new(dir.path());
        assert!(matches!(
            layout.resolve("v1.0.0"),
            Err(LayoutError::Corrupt { .. })
        ));
        assert!(matches!(
            publish(&layout, "v1.0.0", &artifact(dir.path(), "x")),
            Err(LayoutError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_tampered_blob_is_detected_on_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = OciLayout::new(dir.path());
        let digest = layout.write_blob(b"content").expect("write");
        let path = layout.blob_path(&digest).expect("path");
        fs::write(&path, b"CONTENT").expect("tamper");
        assert!(matches!(
            layout.read_blob(&digest),
            Err(LayoutError::CorruptBlob { .. })
        ));
        assert!(matches!(
            layout.read_blob("sha256:../../etc/passwd"),
            Err(LayoutError::InvalidDigest(_))
        ));
    }

    #[test]
    fn concurrent_publishers_of_different_versions_keep_every_tag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|n| {
                let layout = OciLayout::new(root.clone());
                let layers = root.clone();
                std::thread::spawn(move || {
                    publish(
                        &layout,
                        &format!("v1.0.{n}"),
                        &artifact(&layers, &n.to_string()),
                    )
                    .expect("publish")
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("publisher");
        }
        let layout = OciLayout::new(root);
        for n in 0..8 {
            let tag = format!("v1.0.{n}");
            assert!(layout.resolve(&tag).expect("resolve").is_some(), "{tag}");
        }
    }

    #[test]
    fn concurrent_publishers_of_one_tag_let_exactly_one_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let threads: Vec<_> = (0..6)
            .map(|n| {
                let layout = OciLayout::new(root.clone());
                let layers = root.clone();
                std::thread::spawn(move || {
                    publish(&layout, "v1.0.0", &artifact(&layers, &n.to_string()))
                })
            })
            .collect();
        let outcomes: Vec<_> = threads
            .into_iter()
            .map(|thread| thread.join().expect("publisher"))
            .collect();
        let winners = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Ok(Publication::Published)))
            .count();
        assert_eq!(winners, 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|outcome| matches!(outcome, Ok(_) | Err(LayoutError::TagTaken { .. })))
        );
    }
}
