//! The audit log's files: appends go through one writer (a mutex around the open file),
//! each line fsynced before `append` returns; when a line would take the file past
//! `max_bytes`, `audit.log` becomes `audit.log.1`, `.1` becomes `.2` … and the oldest
//! beyond `keep` is dropped. Calls block: async code runs them on the blocking pool.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

use super::{AuditEvent, AuditFilter};
use crate::promotion::ports::StoreLocation;

/// How big `audit.log` grows and how many rotated files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    pub max_bytes: u64,
    pub keep: u32,
}

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot write the audit log {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("cannot read the audit log {path}: {source}")]
    Read { path: String, source: io::Error },
}

/// The open `audit.log` and how many bytes it holds.
#[derive(Debug)]
struct Current {
    file: File,
    size: u64,
}

/// `DK_HOME/audit.log` and its rotated files.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    settings: AuditSettings,
    /// The one writer; `None` until the first append, or after a failed one (reopened).
    current: Mutex<Option<Current>>,
}

/// The newest `limit` matching events, oldest first, and whether older ones matched too.
#[derive(Debug, Default)]
pub struct Listed {
    pub events: Vec<AuditEvent>,
    pub more: bool,
}

impl StoreLocation for AuditLog {
    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

impl AuditLog {
    /// The log at `path` (created on the first event).
    pub fn new(path: &Path, settings: AuditSettings) -> Self {
        Self {
            path: path.to_path_buf(),
            settings,
            current: Mutex::new(None),
        }
    }

    fn rotated(&self, number: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{number}"));
        PathBuf::from(name)
    }

    fn write_error(&self, source: io::Error) -> AuditError {
        AuditError::Write {
            path: self.location(),
            source,
        }
    }

    /// Appends `event` as one line and fsyncs it; rotates first when the line would not
    /// fit. After a failure the next append reopens the file.
    pub fn append(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(event).map_err(|e| self.write_error(e.into()))?;
        line.push(b'\n');
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let written = self.append_line(&mut current, &line);
        if written.is_err() {
            *current = None;
        }
        written.map_err(|source| self.write_error(source))
    }

    fn append_line(&self, current: &mut Option<Current>, line: &[u8]) -> io::Result<()> {
        let length = u64::try_from(line.len()).unwrap_or(u64::MAX);
        let open = match current.take() {
            Some(open) if self.still_named(&open)? => open,
            _ => self.open_current()?,
        };
        let mut open =
            if open.size > 0 && open.size.saturating_add(length) > self.settings.max_bytes {
                drop(open);
                self.rotate()?;
                self.open_current()?
            } else {
                open
            };
        open.file.write_all(line)?;
        open.file.sync_data()?;
        open.size = open.size.saturating_add(length);
        *current = Some(open);
        Ok(())
    }

    /// Whether `open` is still the file at `audit.log` (not moved away or deleted by
    /// someone else, e.g. an external logrotate): lines never go to a file nobody reads.
    fn still_named(&self, open: &Current) -> io::Result<bool> {
        let named = match fs::metadata(&self.path) {
            Ok(named) => named,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        };
        let held = open.file.metadata()?;
        Ok(named.ino() == held.ino() && named.dev() == held.dev())
    }

    /// Opens `audit.log` for appending, mode 0600 (narrowed if it was wider).
    fn open_current(&self) -> io::Result<Current> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        let metadata = file.metadata()?;
        if metadata.permissions().mode() & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        Ok(Current {
            file,
            size: metadata.len(),
        })
    }

    /// `audit.log.(keep-1)` → `.keep` (replacing it) … `audit.log` → `.1`, made durable.
    fn rotate(&self) -> io::Result<()> {
        for number in (1..self.settings.keep).rev() {
            match fs::rename(self.rotated(number), self.rotated(number + 1)) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        fs::rename(&self.path, self.rotated(1))?;
        if let Some(parent) = self.path.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok(())
    }

    /// The newest `limit` events matching `filter`, from the rotated files and the current
    /// one, oldest first. A line that does not parse (cut short by a crash) is skipped.
    pub fn list(&self, filter: &AuditFilter, limit: usize) -> Result<Listed, AuditError> {
        // Holding the writer keeps a rotation from moving lines between two reads.
        let _writer = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut files: Vec<PathBuf> = (1..=self.settings.keep)
            .rev()
            .map(|number| self.rotated(number))
            .collect();
        files.push(self.path.clone());
        let mut matching = Vec::new();
        for path in files {
            let text = match fs::read_to_string(&path) {
                Ok(text) => text,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(AuditError::Read {
                        path: path.display().to_string(),
                        source,
                    });
                }
            };
            matching.extend(
                text.lines()
                    .filter_map(|line| serde_json::from_str::<AuditEvent>(line).ok())
                    .filter(|event| filter.matches(event)),
            );
        }
        let more = matching.len() > limit;
        let events = matching.split_off(matching.len().saturating_sub(limit));
        Ok(Listed { events, more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::now_rfc3339;

    fn event(package: &str) -> AuditEvent {
        AuditEvent {
            time: now_rfc3339(),
            principal: "alice".into(),
            groups: Vec::new(),
            auth: "local-socket".into(),
            peer: "local socket".into(),
            rpc: "/datakit.v1.DataKitService/Promote".into(),
            package: Some(package.into()),
            environment: None,
            version: None,
            promotion_id: None,
            token: None,
            as_user: None,
            dry_run: false,
            outcome: "ok".into(),
            message: None,
        }
    }

    #[test]
    fn lines_rotate_by_size_keeping_the_newest_files_and_list_reads_them_all_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::new(
            &path,
            AuditSettings {
                max_bytes: 600,
                keep: 2,
            },
        );
        for number in 0..20 {
            log.append(&event(&format!("p{number}"))).expect("append");
        }
        for file in [path.clone(), log.rotated(1), log.rotated(2)] {
            let metadata = fs::metadata(&file).expect("exists");
            assert!(metadata.len() <= 600, "{}", file.display());
            assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        }
        assert!(!log.rotated(3).exists(), "only two rotated files are kept");
        let listed = log.list(&AuditFilter::default(), 1000).expect("list");
        let numbers: Vec<u32> = listed
            .events
            .iter()
            .filter_map(|event| event.package.as_deref()?.strip_prefix('p')?.parse().ok())
            .collect();
        assert!(
            numbers.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "{numbers:?}"
        );
        assert_eq!(numbers.last(), Some(&19));
        assert!(numbers[0] > 0, "the oldest lines rotated out: {numbers:?}");
        assert!(!listed.more);

        let newest = log.list(&AuditFilter::default(), 2).expect("list");
        assert!(newest.more);
        assert_eq!(newest.events.len(), 2);
        assert_eq!(newest.events[1].package.as_deref(), Some("p19"));
    }

    #[test]
    fn a_log_moved_or_deleted_by_someone_else_is_started_afresh() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let settings = AuditSettings {
            max_bytes: 1 << 20,
            keep: 1,
        };
        let log = AuditLog::new(&path, settings);
        log.append(&event("first")).expect("append");
        fs::rename(&path, dir.path().join("moved")).expect("move");
        log.append(&event("second")).expect("append");
        let listed = log.list(&AuditFilter::default(), 10).expect("list");
        let packages: Vec<_> = listed
            .events
            .iter()
            .filter_map(|e| e.package.as_deref())
            .collect();
        assert_eq!(packages, ["second"]);
        fs::remove_file(&path).expect("delete");
        log.append(&event("third")).expect("append");
        assert!(
            fs::read_to_string(&path)
                .expect("recreated")
                .contains("third")
        );
    }
}
