//! The deployment repository's objects and references, read and written in process with
//! gitoxide: no `git` process, no working tree, no index. Blocking calls: `Git` runs them
//! on tokio's blocking pool.

use std::{collections::BTreeMap, time::Duration};

use gix::{
    ObjectId, Repository,
    bstr::ByteSlice,
    date::parse::TimeBuf,
    objs::tree::EntryKind,
    refs::{
        FullName, Target,
        transaction::{PreviousValue, RefEdit},
    },
};

use super::git::FileChange;
use crate::promotion::ports::{FolderChanges, TreeFile};

/// What went wrong in process; `Conflict` is a compare-and-swap that lost.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("{0}")]
    Git(#[from] gix::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("unknown revision {0:?}")]
    UnknownRevision(String),
    #[error("cannot list references: {0}")]
    Refs(String),
    #[error("cannot compare trees: {0}")]
    Diff(String),
    #[error("cannot open the repository: {0}")]
    Open(String),
}

type Outcome<T> = Result<T, ObjectsError>;

/// The identity dkd writes commits and reflog entries as.
fn signature() -> gix::actor::Signature {
    gix::actor::Signature {
        name: "dkd".into(),
        email: "dkd@localhost".into(),
        time: gix::date::Time::now_local_or_utc(),
    }
}

/// Creates a bare repository at `git_dir` whose HEAD names `branch`; neither the user's nor
/// the system's git configuration applies.
pub fn init_bare(git_dir: &std::path::Path, branch: &str) -> Outcome<()> {
    let repo = gix::ThreadSafeRepository::init_opts(
        git_dir,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        gix::open::Options::isolated(),
    )?
    .to_thread_local();
    let head = full_name(&format!("refs/heads/{branch}"))?;
    repo.edit_reference(RefEdit::update(
        full_name("HEAD")?,
        head,
        PreviousValue::Any,
        "",
    ))?;
    Ok(())
}

/// `revision`: a full object id, a full reference name, or a branch name.
pub fn resolve(repo: &Repository, revision: &str) -> Outcome<Option<ObjectId>> {
    if revision.len() == 40
        && let Ok(id) = ObjectId::from_hex(revision.as_bytes())
    {
        return Ok(Some(id));
    }
    let name = if revision.starts_with("refs/") {
        revision.to_owned()
    } else {
        format!("refs/heads/{revision}")
    };
    match repo.try_find_reference(name.as_str())? {
        Some(mut reference) => Ok(Some(reference.peel_to_id()?.detach())),
        None => Ok(None),
    }
}

fn commit_id(repo: &Repository, revision: &str) -> Outcome<ObjectId> {
    resolve(repo, revision)?.ok_or_else(|| ObjectsError::UnknownRevision(revision.to_owned()))
}

fn root_tree<'r>(repo: &'r Repository, revision: &str) -> Outcome<gix::Tree<'r>> {
    let id = commit_id(repo, revision)?;
    Ok(repo.find_object(id)?.peel_to_tree()?)
}

/// The commit `branch` points at, `None` when it does not exist.
pub fn branch_head(repo: &Repository, branch: &str) -> Outcome<Option<String>> {
    match repo.try_find_reference(format!("refs/heads/{branch}").as_str())? {
        Some(mut reference) => Ok(Some(reference.peel_to_commit()?.id.to_string())),
        None => Ok(None),
    }
}

/// Every blob under `tree`, recursively, with `prefix` before its path (`ls-tree -r`).
fn walk(
    repo: &Repository,
    tree: &gix::Tree<'_>,
    prefix: &str,
    out: &mut Vec<(String, String)>,
) -> Outcome<()> {
    for entry in tree.iter() {
        let entry = entry?;
        let Ok(name) = entry.filename().to_str() else {
            continue;
        };
        let path = format!("{prefix}{name}");
        match entry.mode().kind() {
            EntryKind::Tree => {
                let subtree = repo.find_tree(entry.object_id())?;
                walk(repo, &subtree, &format!("{path}/"), out)?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                out.push((path, entry.object_id().to_string()));
            }
            EntryKind::Commit => {}
        }
    }
    Ok(())
}

/// The blobs below `dirs` (folders ending in `/`; none: the whole tree) at `revision`.
pub fn list_blobs(
    repo: &Repository,
    revision: &str,
    dirs: &[&str],
) -> Outcome<Vec<(String, String)>> {
    let root = root_tree(repo, revision)?;
    let mut out = Vec::new();
    if dirs.is_empty() {
        walk(repo, &root, "", &mut out)?;
        return Ok(out);
    }
    for dir in dirs {
        let folder = dir.trim_end_matches('/');
        if let Some(entry) = root.lookup_entry_by_path(folder)? {
            match entry.mode().kind() {
                EntryKind::Tree => {
                    let tree = repo.find_tree(entry.object_id())?;
                    walk(repo, &tree, &format!("{folder}/"), &mut out)?;
                }
                EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link
                    if !dir.ends_with('/') =>
                {
                    out.push((folder.to_owned(), entry.object_id().to_string()));
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// The id of the tree at `dir` (a folder, with or without its `/`) at `revision`.
pub fn tree_id(repo: &Repository, revision: &str, dir: &str) -> Outcome<Option<String>> {
    let root = root_tree(repo, revision)?;
    let folder = dir.trim_end_matches('/');
    if folder.is_empty() {
        return Ok(Some(root.id.to_string()));
    }
    Ok(root
        .lookup_entry_by_path(folder)?
        .filter(|entry| entry.mode().is_tree())
        .map(|entry| entry.object_id().to_string()))
}

/// The blob `id` names, `None` when it is missing or not a blob.
fn blob(repo: &Repository, id: ObjectId) -> Outcome<Option<Vec<u8>>> {
    Ok(repo
        .try_find_object(id)?
        .filter(|object| object.kind == gix::object::Kind::Blob)
        .map(|object| object.detach().data))
}

/// The contents of `specs` (blob ids, or `<revision>:<path>`), `None` where one is missing.
pub fn read_blobs(repo: &Repository, specs: &[&str]) -> Outcome<Vec<Option<Vec<u8>>>> {
    specs
        .iter()
        .map(|spec| {
            let id = match spec.split_once(':') {
                Some((revision, path)) => match resolve(repo, revision)? {
                    Some(commit) => repo
                        .find_object(commit)?
                        .peel_to_tree()?
                        .lookup_entry_by_path(path)?
                        .map(|entry| entry.object_id()),
                    None => None,
                },
                None => ObjectId::from_hex(spec.as_bytes()).ok(),
            };
            match id {
                Some(id) => blob(repo, id),
                None => Ok(None),
            }
        })
        .collect()
}

/// The contents of `paths` at `revision`, `None` for one that does not exist: each folder
/// is decoded once, however many of its files are asked for, and each file is found in it
/// by binary search, so one file of a folder of 100,000 costs one decode.
pub fn read_files(
    repo: &Repository,
    revision: &str,
    paths: &[String],
) -> Outcome<Vec<Option<Vec<u8>>>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let root = root_tree(repo, revision)?;
    let mut by_folder: BTreeMap<&str, Vec<(usize, &str)>> = BTreeMap::new();
    for (index, path) in paths.iter().enumerate() {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        by_folder.entry(folder).or_default().push((index, name));
    }
    let mut contents = vec![None; paths.len()];
    for (folder, names) in by_folder {
        let tree = if folder.is_empty() {
            root.clone()
        } else {
            match root.lookup_entry_by_path(folder)? {
                Some(entry) if entry.mode().is_tree() => repo.find_tree(entry.object_id())?,
                _ => continue,
            }
        };
        let entries = tree.decode()?;
        for (index, name) in names {
            if let Some(entry) = entries
                .bisect_entry(name.as_bytes().as_bstr(), false)
                .filter(|entry| entry.mode.is_blob_or_symlink())
            {
                contents[index] = blob(repo, entry.oid.to_owned())?;
            }
        }
    }
    Ok(contents)
}

/// Whether `commit` is `revision` or one of its ancestors (false when it does not exist).
pub fn is_ancestor(repo: &Repository, commit: &str, revision: &str) -> Outcome<bool> {
    let (Some(commit), Some(revision)) = (resolve(repo, commit)?, resolve(repo, revision)?) else {
        return Ok(false);
    };
    if commit == revision {
        return Ok(true);
    }
    if !repo.has_object(commit) || !repo.has_object(revision) {
        return Ok(false);
    }
    Ok(repo
        .merge_base(commit, revision)?
        .is_some_and(|base| base.detach() == commit))
}

/// `commit`'s first parent.
pub fn first_parent(repo: &Repository, commit: &str) -> Outcome<Option<String>> {
    let commit = repo.find_commit(commit_id(repo, commit)?)?;
    Ok(commit.parent_ids().next().map(|id| id.to_string()))
}

/// The blob at `path` in `commit`'s tree.
fn blob_at(repo: &Repository, commit: ObjectId, path: &str) -> Outcome<Option<ObjectId>> {
    let tree = repo.find_commit(commit)?.tree()?;
    Ok(tree
        .lookup_entry_by_path(path)?
        .map(|entry| entry.object_id()))
}

/// The newest `limit` commits of `branch`'s first-parent line that changed `path`.
pub fn file_log(
    repo: &Repository,
    branch: &str,
    path: &str,
    limit: usize,
) -> Outcome<Vec<FileChange>> {
    let mut changes = Vec::new();
    let mut current = resolve(repo, branch)?;
    let mut after = match current {
        Some(id) => blob_at(repo, id, path)?,
        None => None,
    };
    while let Some(id) = current {
        if changes.len() >= limit {
            break;
        }
        let commit = repo.find_commit(id)?;
        let parent = commit.parent_ids().next().map(gix::Id::detach);
        let before = match parent {
            Some(parent) => blob_at(repo, parent, path)?,
            None => None,
        };
        if before != after {
            changes.push(FileChange {
                commit: id.to_string(),
                unix_seconds: u64::try_from(commit.time()?.seconds).unwrap_or_default(),
                blob: after.map(|blob| blob.to_string()),
            });
        }
        after = before;
        current = parent;
    }
    Ok(changes)
}

/// The commits of `branch`'s first-parent line, newest first, at most `limit`.
pub fn first_parent_line(repo: &Repository, branch: &str, limit: usize) -> Outcome<Vec<String>> {
    let mut line = Vec::new();
    let mut current = resolve(repo, branch)?;
    while let Some(id) = current
        && line.len() < limit
    {
        line.push(id.to_string());
        current = repo
            .find_commit(id)?
            .parent_ids()
            .next()
            .map(gix::Id::detach);
    }
    Ok(line)
}

/// The commits a branch gained since a head seen before, as [`lines_since`] reads them.
#[derive(Debug, Default)]
pub struct LinesSince {
    /// The branch's head now (`None`: no such branch).
    pub head: Option<String>,
    /// Whether the head seen before is no longer in the branch (history rewritten), so
    /// `found` covers the whole branch and what was read before no longer holds.
    pub rewritten: bool,
    /// (the rest of the line after the prefix, commit), newest commit first.
    pub found: Vec<(String, String)>,
}

/// Every message line starting with `prefix` in the commits reachable from `branch` but
/// not from `seen` (a head read before; none: the whole branch).
pub fn lines_since(
    repo: &Repository,
    branch: &str,
    seen: Option<&str>,
    prefix: &str,
) -> Outcome<LinesSince> {
    let Some(head) = resolve(repo, branch)? else {
        return Ok(LinesSince {
            rewritten: seen.is_some(),
            ..LinesSince::default()
        });
    };
    let seen = seen.and_then(|seen| ObjectId::from_hex(seen.as_bytes()).ok());
    let still_in_branch = match seen {
        Some(seen) if seen == head => {
            return Ok(LinesSince {
                head: Some(head.to_string()),
                ..LinesSince::default()
            });
        }
        Some(seen) => is_ancestor(repo, &seen.to_string(), &head.to_string())?,
        None => false,
    };
    let walk = repo.rev_walk([head]);
    let walk = match seen.filter(|_| still_in_branch) {
        Some(seen) => walk.with_hidden([seen]),
        None => walk,
    };
    let mut found = Vec::new();
    for info in walk.all()? {
        let id = info?.id;
        let commit = repo.find_commit(id)?;
        for line in commit.message_raw_sloppy().lines() {
            if let Some(rest) = line.strip_prefix(prefix.as_bytes()) {
                found.push((rest.to_str_lossy().into_owned(), id.to_string()));
            }
        }
    }
    Ok(LinesSince {
        head: Some(head.to_string()),
        rewritten: seen.is_some() && !still_in_branch,
        found,
    })
}

/// A reference and the commit at its tip, as `git for-each-ref` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefTip {
    /// The full name, `refs/heads/promote/dev/a/p-1` say.
    pub name: String,
    pub commit: String,
    /// The tip's committer time (Unix seconds).
    pub unix_seconds: u64,
    pub message: String,
}

/// Every reference under `prefix` (ending in `/`), oldest tip first by committer time
/// (ties by name), as `git for-each-ref --sort=committerdate` lists them.
pub fn refs_under(repo: &Repository, prefix: &str) -> Outcome<Vec<RefTip>> {
    let platform = repo.references()?;
    let mut tips = Vec::new();
    for reference in platform.prefixed(prefix)? {
        let mut reference = reference.map_err(|error| ObjectsError::Refs(error.to_string()))?;
        let name = reference.name().as_bstr().to_string();
        let id = reference.peel_to_id()?.detach();
        let commit = repo.find_commit(id)?;
        tips.push(RefTip {
            name,
            commit: id.to_string(),
            unix_seconds: u64::try_from(commit.time()?.seconds).unwrap_or_default(),
            message: commit.message_raw_sloppy().to_str_lossy().into_owned(),
        });
    }
    tips.sort_by(|a, b| (a.unix_seconds, &a.name).cmp(&(b.unix_seconds, &b.name)));
    Ok(tips)
}

/// The values of the `key:` trailers of `message` (key compared without case), joined by
/// commas, as `%(trailers:key=<key>,valueonly,separator=%x2C)` prints them.
pub fn trailer_values(message: &str, key: &str) -> String {
    let message = gix::objs::commit::MessageRef::from_bytes(message.as_bytes());
    let Some(body) = message.body() else {
        return String::new();
    };
    body.trailers()
        .filter(|trailer| trailer.token.eq_ignore_ascii_case(key.as_bytes()))
        .map(|trailer| trailer.value.to_str_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(",")
}

/// A commit carrying a trailer, and the files it added or modified against its first
/// parent (as `git log --raw` shows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailerCommit {
    pub commit: String,
    /// Committer time (Unix seconds).
    pub unix_seconds: u64,
    /// The trailer's values, joined by commas.
    pub value: String,
    /// Path and blob id of each file written; none for a merge of two branches.
    pub written: Vec<(String, String)>,
}

/// The commits reachable from `branch` whose message has a `key:` trailer, newest first by
/// committer time (as `git log --raw` lists them).
pub fn commits_with_trailer(
    repo: &Repository,
    branch: &str,
    key: &str,
) -> Outcome<Vec<TrailerCommit>> {
    let Some(head) = resolve(repo, branch)? else {
        return Ok(Vec::new());
    };
    let newest_first = gix::revision::walk::Sorting::ByCommitTime(Default::default());
    let mut diff_state = gix_diff::tree::State::default();
    let mut found = Vec::new();
    for info in repo.rev_walk([head]).sorting(newest_first).all()? {
        let commit = repo.find_commit(info?.id)?;
        let value = trailer_values(&commit.message_raw_sloppy().to_str_lossy(), key);
        if value.is_empty() {
            continue;
        }
        let parents: Vec<ObjectId> = commit.parent_ids().map(gix::Id::detach).collect();
        let tree = commit.tree_id()?.detach();
        let written = match parents[..] {
            [] => written_files(repo, None, tree, &mut diff_state)?,
            [parent] => {
                let parent_tree = repo.find_commit(parent)?.tree_id()?.detach();
                written_files(repo, Some(parent_tree), tree, &mut diff_state)?
            }
            _ => Vec::new(),
        };
        found.push(TrailerCommit {
            commit: commit.id.to_string(),
            unix_seconds: u64::try_from(commit.time()?.seconds).unwrap_or_default(),
            value,
            written,
        });
    }
    Ok(found)
}

/// How the files below `dir` (ending in `/`; empty: the whole tree) differ from commit
/// `from` to commit `to`: the blobs added or modified (path and id) and the paths removed.
pub fn changed_files(repo: &Repository, from: &str, to: &str, dir: &str) -> Outcome<FolderChanges> {
    let folder = dir.trim_end_matches('/');
    let folder_tree = |revision: &str| -> Outcome<Option<ObjectId>> {
        let root = root_tree(repo, revision)?;
        if folder.is_empty() {
            return Ok(Some(root.id));
        }
        Ok(root
            .lookup_entry_by_path(folder)?
            .filter(|entry| entry.mode().kind() == EntryKind::Tree)
            .map(|entry| entry.object_id()))
    };
    let (old, new) = (folder_tree(from)?, folder_tree(to)?);
    if old == new {
        return Ok(FolderChanges::default());
    }
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let mut state = gix_diff::tree::State::default();
    let mut changes = FolderChanges::default();
    for change in tree_changes(repo, old, new, &mut state)? {
        match blob_change(change) {
            Some(BlobChange::Written { path, id }) => changes.written.push(TreeFile {
                path: format!("{prefix}{path}"),
                id,
            }),
            Some(BlobChange::Removed { path }) => changes.removed.push(format!("{prefix}{path}")),
            None => {}
        }
    }
    Ok(changes)
}

/// The blobs added or modified from tree `old` (`None`: the empty tree) to tree `new`.
fn written_files(
    repo: &Repository,
    old: Option<ObjectId>,
    new: ObjectId,
    state: &mut gix_diff::tree::State,
) -> Outcome<Vec<(String, String)>> {
    Ok(tree_changes(repo, old, Some(new), state)?
        .into_iter()
        .filter_map(|change| match blob_change(change)? {
            BlobChange::Written { path, id } => Some((path, id)),
            BlobChange::Removed { .. } => None,
        })
        .collect())
}

/// What a tree diff's change did to a file (subtrees are left out).
enum BlobChange {
    /// Added or modified: its path and new blob id.
    Written {
        path: String,
        id: String,
    },
    Removed {
        path: String,
    },
}

fn blob_change(change: gix_diff::tree::recorder::Change) -> Option<BlobChange> {
    use gix_diff::tree::recorder::Change;
    match change {
        Change::Addition {
            entry_mode,
            oid,
            path,
            ..
        }
        | Change::Modification {
            entry_mode,
            oid,
            path,
            ..
        } if entry_mode.is_blob() => Some(BlobChange::Written {
            path: path.to_string(),
            id: oid.to_string(),
        }),
        Change::Deletion {
            entry_mode, path, ..
        } if entry_mode.is_blob() => Some(BlobChange::Removed {
            path: path.to_string(),
        }),
        _ => None,
    }
}

/// Every change from tree `old` to tree `new` (`None`: the empty tree), paths relative to
/// them: gix's own tree diff, which skips subtrees whose ids are equal.
fn tree_changes(
    repo: &Repository,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    state: &mut gix_diff::tree::State,
) -> Outcome<Vec<gix_diff::tree::recorder::Change>> {
    use gix::objs::FindExt;
    let diff_error = |error: &dyn std::fmt::Display| ObjectsError::Diff(error.to_string());
    let (mut old_buffer, mut new_buffer) = (Vec::new(), Vec::new());
    let empty = || gix::objs::TreeRefIter::from_bytes(&[], repo.object_hash());
    let old = match old {
        Some(old) => repo
            .objects
            .find_tree_iter(&old, &mut old_buffer)
            .map_err(|e| diff_error(&e))?,
        None => empty(),
    };
    let new = match new {
        Some(new) => repo
            .objects
            .find_tree_iter(&new, &mut new_buffer)
            .map_err(|e| diff_error(&e))?,
        None => empty(),
    };
    let mut recorder = gix_diff::tree::Recorder::default();
    gix_diff::tree(old, new, state, &repo.objects, &mut recorder).map_err(|e| diff_error(&e))?;
    Ok(recorder.records)
}

/// `commit`'s committer time (seconds) and full message.
pub fn commit_time_and_message(repo: &Repository, commit: &str) -> Outcome<(u64, String)> {
    let commit = repo.find_commit(commit_id(repo, commit)?)?;
    let seconds = u64::try_from(commit.time()?.seconds).unwrap_or_default();
    Ok((
        seconds,
        commit.message_raw_sloppy().to_str_lossy().into_owned(),
    ))
}

/// Writes a commit whose tree is `parent`'s (or an empty one) with `files` added or
/// replaced; moves no reference.
pub fn commit_files(
    repo: &Repository,
    parent: Option<&str>,
    files: &[(String, Vec<u8>)],
    message: &str,
) -> Outcome<String> {
    let parent = parent.map(|p| commit_id(repo, p)).transpose()?;
    let base_tree = match parent {
        Some(parent) => repo.find_commit(parent)?.tree_id()?.detach(),
        None => ObjectId::empty_tree(repo.object_hash()),
    };
    let mut editor = repo.edit_tree(base_tree)?;
    for (path, contents) in files {
        let blob = repo.write_blob(contents)?.detach();
        editor.upsert(path.as_str(), EntryKind::Blob, blob)?;
    }
    let tree = editor.write()?.detach();
    // As `git commit-tree -m` does: the message ends with a newline.
    let mut message = message.to_owned();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    let signature = signature();
    let mut time = TimeBuf::default();
    let by = signature.to_ref(&mut time);
    let commit = repo.new_commit_as(by, by, message, tree, parent)?;
    Ok(commit.id.to_string())
}

/// How old a reference's lock file must be to count as left by a writer that died (dkd
/// killed mid-update, say): an update holds its lock for milliseconds.
const STALE_LOCK: Duration = Duration::from_secs(2);

/// Removes the lock files of `reference` (and of `packed-refs`) that are older than
/// `STALE_LOCK`. A dead writer's lock would fail every later update of the reference, and
/// a compare-and-swap that keeps failing looks like a branch that keeps moving.
fn clear_stale_locks(repo: &Repository, reference: &str) {
    let git_dir = repo.git_dir();
    for lock in [
        git_dir.join(format!("{reference}.lock")),
        git_dir.join("packed-refs.lock"),
    ] {
        let age = std::fs::metadata(&lock)
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok());
        if let Some(age) = age.filter(|age| *age >= STALE_LOCK)
            && std::fs::remove_file(&lock).is_ok()
        {
            tracing::warn!(lock = %lock.display(), age_ms = age.as_millis(), "removed a stale lock file left by a writer that died");
        }
    }
}

fn edit(repo: &Repository, edit: RefEdit) -> Outcome<()> {
    let reference = edit.name.as_bstr().to_string();
    clear_stale_locks(repo, &reference);
    let signature = signature();
    let mut time = TimeBuf::default();
    repo.edit_references_as([edit], Some(signature.to_ref(&mut time)))
        .map(drop)
        .map_err(|error| ObjectsError::Conflict(format!("cannot move {reference}: {error}")))
}

fn full_name(reference: &str) -> Outcome<FullName> {
    FullName::try_from(reference).map_err(|_| ObjectsError::UnknownRevision(reference.to_owned()))
}

/// Moves `reference` to `new` only if it still points at `expected` (`None`: only if it
/// does not exist yet): a concurrent writer makes this fail with `Conflict`.
pub fn update_ref(
    repo: &Repository,
    reference: &str,
    new: &str,
    expected: Option<&str>,
) -> Outcome<()> {
    let new = commit_id(repo, new)?;
    let expected = match expected {
        Some(old) => PreviousValue::MustExistAndMatch(Target::Object(commit_id(repo, old)?)),
        None => PreviousValue::MustNotExist,
    };
    edit(
        repo,
        RefEdit::update(full_name(reference)?, new, expected, "dkd"),
    )
}

/// Points `reference` at `new`, whatever it pointed at.
pub fn set_ref(repo: &Repository, reference: &str, new: &str) -> Outcome<()> {
    let new = commit_id(repo, new)?;
    edit(
        repo,
        RefEdit::update(full_name(reference)?, new, PreviousValue::Any, "dkd"),
    )
}

/// Deletes `reference` if it exists.
pub fn delete_ref(repo: &Repository, reference: &str) -> Outcome<()> {
    if repo.try_find_reference(reference)?.is_none() {
        return Ok(());
    }
    edit(
        repo,
        RefEdit::delete(full_name(reference)?, PreviousValue::MustExist),
    )
}
