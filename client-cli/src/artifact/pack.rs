//! The package layer: the directory's entries as a tar compressed with gzip, byte for byte
//! the same for the same content on any machine — entries sorted, mtime 0, uid and gid 0,
//! no user or group names, normalized modes, and a gzip header with neither timestamp nor
//! file name. Files are streamed into the archive, never read whole: the layer is written
//! to `out` (the build cache's blob writer, which hashes it on the way) as it is packed.

use std::{
    fs,
    io::{self, Read},
};

use datakit::oci::{LayerFile, OciLayout, Progress};
use flate2::{Compression, GzBuilder};
use tar::{EntryType, Header};

use super::walk::{Entry, EntryKind};
use crate::error::{CliError, Failure};

/// Packs `entries` (as `walk` lists them) into a `.tar.gz` written to `out`, telling
/// `progress` of every file byte packed; gives `out` back once the gzip trailer is written.
pub fn pack<W: io::Write>(entries: &[Entry], out: W, progress: &Progress) -> Result<W, CliError> {
    let gzip = GzBuilder::new().mtime(0).write(out, Compression::default());
    let mut archive = tar::Builder::new(gzip);
    for entry in entries {
        append(&mut archive, entry, progress)
            .map_err(|error| failed(&format!("{}: {error}", entry.source.display())))?;
    }
    archive
        .into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .map_err(|error| failed(&error.to_string()))
}

/// Packs `entries` straight into the blob store of `layout` (the build cache's, or for
/// tests and benchmarks a registry's): hashed as it is written, renamed into place under
/// its digest once complete.
pub fn pack_to_blob(
    layout: &OciLayout,
    entries: &[Entry],
    progress: &Progress,
) -> Result<LayerFile, CliError> {
    let blob_failed = |error: datakit::oci::LayoutError| failed(&error.to_string());
    let blob = pack(
        entries,
        layout.create_blob().map_err(blob_failed)?,
        progress,
    )?;
    let hashed = blob.commit().map_err(blob_failed)?;
    Ok(LayerFile {
        path: layout.blob_path(&hashed.digest).map_err(blob_failed)?,
        digest: hashed.digest,
        size: hashed.size,
    })
}

fn failed(reason: &str) -> CliError {
    CliError::new(Failure::Other, format!("cannot pack {reason}"))
}

fn append<W: io::Write>(
    archive: &mut tar::Builder<W>,
    entry: &Entry,
    progress: &Progress,
) -> io::Result<()> {
    let mut header = Header::new_gnu();
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("")?;
    header.set_groupname("")?;
    header.set_mode(entry.mode());
    match &entry.kind {
        EntryKind::Directory => {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            archive.append_data(&mut header, format!("{}/", entry.path), io::empty())
        }
        EntryKind::File { .. } => {
            let file = fs::File::open(&entry.source)?;
            let size = file.metadata()?.len();
            header.set_entry_type(EntryType::Regular);
            header.set_size(size);
            // The header promises `size` bytes: a file that grows is cut there, one that
            // shrinks while it is packed fails the build rather than corrupting the layer.
            let mut content = Reported {
                inner: file.take(size),
                progress,
            };
            archive.append_data(&mut header, &entry.path, &mut content)?;
            match content.inner.limit() {
                0 => Ok(()),
                _ => Err(io::Error::other(
                    "it shrank while it was being packed; build again once it is complete",
                )),
            }
        }
        EntryKind::Symlink { target } => {
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            archive.append_link(&mut header, &entry.path, target)
        }
    }
}

/// A reader that tells `progress` how many bytes were read.
struct Reported<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: Read> Read for Reported<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        (self.progress)(read as u64);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Read as _, os::unix::fs::PermissionsExt, path::Path};

    use datakit::oci::no_progress;

    use super::*;
    use crate::artifact::walk::walk;

    fn write(root: &Path, path: &str, content: &str, mode: u32) {
        let file = root.join(path);
        fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        fs::write(&file, content).expect("write");
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn packed(root: &Path) -> Vec<u8> {
        pack(&walk(root).expect("walk"), Vec::new(), &no_progress()).expect("pack")
    }

    fn sample(root: &Path, modes: (u32, u32)) {
        write(root, "dk.yaml", "kind: DataPackage\n", modes.0);
        write(root, "schemas/events.avsc", "{}", modes.0);
        write(root, "bin/load.sh", "#!/bin/sh\n", modes.1);
        write(
            root,
            &format!("deep/{}/file", "d".repeat(120)),
            "long path",
            modes.0,
        );
    }

    #[test]
    fn the_same_content_packs_to_the_same_bytes_whatever_the_mtimes_modes_and_creation_order() {
        let first = tempfile::tempdir().expect("tempdir");
        sample(first.path(), (0o644, 0o755));
        let second = tempfile::tempdir().expect("tempdir");
        write(second.path(), "bin/load.sh", "#!/bin/sh\n", 0o700);
        std::thread::yield_now();
        sample(second.path(), (0o600, 0o744));
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        fs::File::options()
            .write(true)
            .open(second.path().join("dk.yaml"))
            .and_then(|file| file.set_modified(old))
            .expect("touch");
        assert_eq!(packed(first.path()), packed(second.path()));
    }

    #[test]
    fn a_known_package_packs_to_a_known_digest_so_dk_versions_agree() {
        let dir = tempfile::tempdir().expect("tempdir");
        sample(dir.path(), (0o644, 0o755));
        assert_eq!(
            datakit::oci::sha256_digest(&packed(dir.path())),
            "sha256:bd9b8e04d656cd42079c8db00172aa0d4117efa13e4466ad32ee0abf564d30ac"
        );
    }

    #[test]
    fn streaming_a_large_file_in_pieces_compresses_to_the_bytes_of_one_whole_write() {
        // Older dk read each file whole and compressed the layer in memory: the streamed
        // layer must be byte for byte what that produced, or published digests would change.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = 0x2545_f491_u32;
        let mixed: Vec<u8> = (0..3_000_000u32)
            .map(|n| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if (n / 65_536) % 2 == 0 {
                    (n % 7) as u8
                } else {
                    state as u8
                }
            })
            .collect();
        fs::write(dir.path().join("data.bin"), &mixed).expect("write");
        write(dir.path(), "dk.yaml", "kind: DataPackage\n", 0o644);
        let streamed = packed(dir.path());
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(streamed.as_slice())
            .read_to_end(&mut tar)
            .expect("gunzip");
        let mut whole = GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), Compression::default());
        io::Write::write_all(&mut whole, &tar).expect("gzip");
        assert_eq!(whole.finish().expect("gzip"), streamed);
    }

    #[test]
    fn the_gzip_header_carries_no_timestamp_no_file_name_and_an_unknown_os() {
        let dir = tempfile::tempdir().expect("tempdir");
        sample(dir.path(), (0o644, 0o755));
        let bytes = packed(dir.path());
        // magic, deflate, no flags (so no FNAME), mtime 0, default level, OS 255 (unknown).
        assert_eq!(
            &bytes[..10],
            &[0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]
        );
    }

    #[test]
    fn entries_are_sorted_with_fixed_owners_times_and_normalized_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        sample(dir.path(), (0o600, 0o700));
        let bytes = packed(dir.path());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut listed = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let header = entry.header();
            assert_eq!(header.mtime().expect("mtime"), 0);
            assert_eq!(
                (header.uid().expect("uid"), header.gid().expect("gid")),
                (0, 0)
            );
            assert_eq!(header.username().expect("uname"), Some(""));
            assert_eq!(header.groupname().expect("gname"), Some(""));
            let mode = header.mode().expect("mode");
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            let mut content = String::new();
            entry.read_to_string(&mut content).expect("content");
            listed.push((path, mode));
        }
        let long = format!("deep/{}", "d".repeat(120));
        let expected: Vec<(String, u32)> = vec![
            ("bin/".into(), 0o755),
            ("bin/load.sh".into(), 0o755),
            ("deep/".into(), 0o755),
            (format!("{long}/"), 0o755),
            (format!("{long}/file"), 0o644),
            ("dk.yaml".into(), 0o644),
            ("schemas/".into(), 0o755),
            ("schemas/events.avsc".into(), 0o644),
        ];
        assert_eq!(listed, expected);
    }
}
