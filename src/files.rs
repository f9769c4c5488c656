//! Writing files so that a reader, or a crash, never sees half of one.

use std::{
    fs::{self, File},
    io::{self, Write},
    path::Path,
};

/// Writes `bytes` to a uniquely named temporary file next to `path`, flushes it, renames
/// it over `path` and syncs the folder: a reader sees the old content or the new one,
/// never a part, and the rename survives a crash.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = temporary_file_next_to(path)?;
    file.write_all(bytes)?;
    persist_atomically(file, path)
}

/// Like [`write_atomically`], without flushing: a reader never sees half of the file, but
/// after a crash it may be empty or missing until the caller has synced the filesystem.
/// For writing many files with one flush.
pub fn write_atomically_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = temporary_file_next_to(path)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// A uniquely named temporary file in `path`'s folder (created if needed), removed when
/// dropped unless [`persist_atomically`] puts it in place.
pub fn temporary_file_next_to(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)
}

/// Flushes `file` to disk, renames it over `path` (in the same folder) and syncs the
/// folder, so the rename survives a crash.
pub fn persist_atomically(file: tempfile::NamedTempFile, path: &Path) -> io::Result<()> {
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

/// `DK_HOME`, else `~/.datakit`; `None` when neither `DK_HOME` nor `HOME` is set.
pub fn dk_home() -> Option<std::path::PathBuf> {
    if let Some(home) = std::env::var_os("DK_HOME").filter(|v| !v.is_empty()) {
        return Some(home.into());
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|home| Path::new(&home).join(".datakit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("status.json");
        write_atomically(&path, b"first").expect("write");
        write_atomically(&path, b"second").expect("replace");
        assert_eq!(fs::read(&path).expect("read"), b"second");
        let entries = fs::read_dir(path.parent().expect("parent"))
            .expect("ls")
            .count();
        assert_eq!(entries, 1, "only the file itself");
    }
}
