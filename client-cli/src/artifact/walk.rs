//! The entries of a package directory in a fixed order, with the modes they are packed
//! with: what is on disk, minus `.git`, never depending on the order the file system
//! lists things in or on the permissions and owners of this machine. A symbolic link is
//! listed only when it resolves to another entry (see [`super::tree`]).

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use super::tree::{Node, PackageTree, TreeError};
use crate::error::{CliError, Failure};

/// Names never packed, at any depth.
const EXCLUDED: [&str; 1] = [".git"];

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    /// A regular file; executable when any execute bit is set on disk.
    File {
        executable: bool,
    },
    /// A symbolic link, packed as a link to `target` (never followed), which resolves to
    /// another entry of the package.
    Symlink {
        target: String,
    },
}

/// One entry, its path relative to the package directory with `/` separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub source: PathBuf,
    pub kind: EntryKind,
}

impl Entry {
    /// The normalized mode it is packed with.
    pub fn mode(&self) -> u32 {
        match self.kind {
            EntryKind::Directory | EntryKind::File { executable: true } => 0o755,
            EntryKind::File { executable: false } => 0o644,
            EntryKind::Symlink { .. } => 0o777,
        }
    }

    fn node(&self) -> Node {
        match &self.kind {
            EntryKind::Directory => Node::Directory,
            EntryKind::File { .. } => Node::File,
            EntryKind::Symlink { target } => Node::Link(target.clone()),
        }
    }
}

/// Every entry below `root`, sorted by path (byte order), so parents come before children.
pub fn walk(root: &Path) -> Result<Vec<Entry>, CliError> {
    let mut entries = Vec::new();
    visit(root, "", &mut entries)?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    stays_inside(&entries).map_err(|error| {
        CliError::new(
            Failure::InvalidInput,
            format!(
                "cannot pack {error}: replace it with the file itself or with a link to a file inside the package"
            ),
        )
    })?;
    Ok(entries)
}

/// Whether every link among `entries` resolves to another of them.
fn stays_inside(entries: &[Entry]) -> Result<(), TreeError> {
    let mut tree = PackageTree::default();
    for entry in entries {
        tree.insert(&entry.path, entry.node())?;
    }
    tree.check()
}

fn visit(dir: &Path, prefix: &str, entries: &mut Vec<Entry>) -> Result<(), CliError> {
    let unreadable = |path: &Path, error: std::io::Error| {
        CliError::new(
            Failure::Other,
            format!("cannot read {}: {error}", path.display()),
        )
    };
    for item in fs::read_dir(dir).map_err(|e| unreadable(dir, e))? {
        let item = item.map_err(|e| unreadable(dir, e))?;
        let source = item.path();
        let name = item.file_name().into_string().map_err(|_| {
            CliError::new(
                Failure::InvalidInput,
                format!(
                    "cannot pack {}: its name is not UTF-8; rename it",
                    source.display()
                ),
            )
        })?;
        if EXCLUDED.contains(&name.as_str()) {
            continue;
        }
        let path = format!("{prefix}{name}");
        let meta = fs::symlink_metadata(&source).map_err(|e| unreadable(&source, e))?;
        let file_type = meta.file_type();
        let kind = if file_type.is_dir() {
            EntryKind::Directory
        } else if file_type.is_file() {
            EntryKind::File {
                executable: meta.permissions().mode() & 0o111 != 0,
            }
        } else if file_type.is_symlink() {
            let target = fs::read_link(&source).map_err(|e| unreadable(&source, e))?;
            let target = target.into_os_string().into_string().map_err(|_| {
                CliError::new(
                    Failure::InvalidInput,
                    format!(
                        "cannot pack {}: its link target is not UTF-8",
                        source.display()
                    ),
                )
            })?;
            EntryKind::Symlink { target }
        } else {
            return Err(CliError::new(
                Failure::InvalidInput,
                format!(
                    "cannot pack {}: only files, directories and symbolic links can be packed; remove it",
                    source.display()
                ),
            ));
        };
        let is_dir = kind == EntryKind::Directory;
        entries.push(Entry {
            path: path.clone(),
            source: source.clone(),
            kind,
        });
        if is_dir {
            visit(&source, &format!("{path}/"), entries)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_sorted_with_git_left_out_and_normalized_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for (path, mode) in [("b.txt", 0o600), ("a/run.sh", 0o700), ("a/z.sql", 0o664)] {
            let file = root.join(path);
            fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            fs::write(&file, path).expect("write");
            fs::set_permissions(&file, fs::Permissions::from_mode(mode)).expect("chmod");
        }
        fs::create_dir_all(root.join(".git/objects")).expect("git dir");
        fs::write(root.join(".git/HEAD"), "ref").expect("git file");
        fs::create_dir_all(root.join("a/.git")).expect("nested git");
        std::os::unix::fs::symlink("b.txt", root.join("link")).expect("symlink");
        let entries = walk(root).expect("walk");
        let listed: Vec<(&str, u32)> = entries
            .iter()
            .map(|entry| (entry.path.as_str(), entry.mode()))
            .collect();
        assert_eq!(
            listed,
            [
                ("a", 0o755),
                ("a/run.sh", 0o755),
                ("a/z.sql", 0o644),
                ("b.txt", 0o644),
                ("link", 0o777)
            ]
        );
        assert_eq!(
            entries[4].kind,
            EntryKind::Symlink {
                target: "b.txt".into()
            }
        );
    }

    #[test]
    fn special_files_are_refused_naming_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("dkd.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
        let error = walk(dir.path()).expect_err("refused");
        assert_eq!(error.failure, Failure::InvalidInput);
        assert!(error.message.contains("dkd.sock"), "{error}");
    }
}
