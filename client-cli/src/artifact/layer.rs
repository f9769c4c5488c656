//! Reading a package layer back before it leaves the machine: every tar entry must be one
//! `dk build` writes (a directory, a regular file or a symbolic link) and keep the rule of
//! [`super::tree`], so a layer packed by an older dk or another tool, with a `..` path, an
//! absolute path or a link out of the package, is never published.

use std::io::Read;

use tar::EntryType;

use super::tree::{Node, PackageTree, TreeError};

/// Why a layer is not safe to publish.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("a layer that cannot be read as tar+gzip ({0})")]
    Unreadable(String),
    #[error("entry {path:?} of type {kind}, which dk build never packs")]
    Unsupported { path: String, kind: String },
    #[error("an entry whose name or link target is not UTF-8")]
    NotUtf8,
    #[error(transparent)]
    Unsafe(#[from] TreeError),
}

/// Checks every entry of the `.tar.gz` layer read from `layer`, streaming it, without
/// writing anything anywhere.
pub fn check_layer<R: Read>(layer: R) -> Result<(), LayerError> {
    let unreadable = |error: std::io::Error| LayerError::Unreadable(error.to_string());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
    let mut tree = PackageTree::default();
    for entry in archive.entries().map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = utf8(&entry.path_bytes())?;
        let node = match entry.header().entry_type() {
            EntryType::Regular => Node::File,
            EntryType::Directory => Node::Directory,
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                Node::Link(utf8(&target)?)
            }
            other => {
                return Err(LayerError::Unsupported {
                    path,
                    kind: format!("{other:?}"),
                });
            }
        };
        tree.insert(&path, node)?;
    }
    // Reading to the end checks the gzip trailer too.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(unreadable)?;
    Ok(tree.check()?)
}

fn utf8(bytes: &[u8]) -> Result<String, LayerError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| LayerError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use datakit::oci::no_progress;

    use super::*;
    use crate::artifact::{pack::pack, walk::walk};

    /// A layer of raw tar entries (path, type, link target), written without the checks
    /// `tar::Builder` makes, as a hostile packer would.
    fn hostile(entries: &[(&str, EntryType, &str)]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (path, kind, target) in entries {
            let mut header = tar::Header::new_old();
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(0);
            header.set_cksum();
            tar.extend_from_slice(header.as_bytes());
        }
        tar.extend_from_slice(&[0; 1024]);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&tar).expect("gzip");
        gzip.finish().expect("gzip")
    }

    #[test]
    fn a_layer_dk_build_packed_reads_back_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("queries")).expect("mkdir");
        std::fs::write(dir.path().join("queries/daily.sql"), "select 1").expect("write");
        std::os::unix::fs::symlink("queries/daily.sql", dir.path().join("current"))
            .expect("symlink");
        let layer =
            pack(&walk(dir.path()).expect("walk"), Vec::new(), &no_progress()).expect("pack");
        check_layer(layer.as_slice()).expect("clean");
    }

    #[test]
    fn hostile_entry_paths_are_refused() {
        for path in ["../../etc/cron.d/x", "/etc/passwd", "ok/../../x"] {
            let error = check_layer(&*hostile(&[(path, EntryType::Regular, "")])).expect_err(path);
            assert!(
                matches!(error, LayerError::Unsafe(TreeError::UnsafePath { .. })),
                "{path}: {error}"
            );
        }
    }

    #[test]
    fn links_out_of_the_package_are_refused_naming_link_and_target() {
        for target in ["/etc/passwd", "../../.."] {
            let error =
                check_layer(&*hostile(&[("evil", EntryType::Symlink, target)])).expect_err(target);
            assert_eq!(
                error.to_string(),
                format!("link evil -> {target}, which leaves the package directory")
            );
        }
        let through_a_link = hostile(&[
            ("here", EntryType::Symlink, "."),
            ("out", EntryType::Symlink, "here/../etc"),
        ]);
        assert!(matches!(
            check_layer(through_a_link.as_slice()),
            Err(LayerError::Unsafe(TreeError::Escapes { .. }))
        ));
        let below_a_link = hostile(&[
            ("dir", EntryType::Symlink, "."),
            ("dir/x", EntryType::Regular, ""),
        ]);
        assert!(matches!(
            check_layer(below_a_link.as_slice()),
            Err(LayerError::Unsafe(TreeError::BelowNonDirectory { .. }))
        ));
    }

    #[test]
    fn hard_links_and_devices_are_refused() {
        for kind in [EntryType::Link, EntryType::Char, EntryType::Fifo] {
            let error = check_layer(&*hostile(&[("x", kind, "/etc/shadow")])).expect_err("kind");
            assert!(matches!(error, LayerError::Unsupported { .. }), "{error}");
        }
    }

    #[test]
    fn a_truncated_layer_is_unreadable_not_accepted() {
        let layer = hostile(&[("a", EntryType::Regular, "")]);
        let error = check_layer(&layer[..layer.len() - 8]).expect_err("truncated");
        assert!(matches!(error, LayerError::Unreadable(_)), "{error}");
    }
}
