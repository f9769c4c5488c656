//! The deployment repository's objects and references, read and written in process with
//! gitoxide: no `git` process, no working tree, no index. Blocking calls: `Git` runs them
//! on tokio's blocking pool.

use std::collections::HashMap;

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

/// What went wrong in process; `Conflict` is a compare-and-swap that lost.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("{0}")]
    Git(#[from] gix::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("unknown revision {0:?}")]
    UnknownRevision(String),
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
/// is decoded once, however many of its files are asked for.
pub fn read_files(
    repo: &Repository,
    revision: &str,
    paths: &[String],
) -> Outcome<Vec<Option<Vec<u8>>>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let root = root_tree(repo, revision)?;
    let mut folders: HashMap<&str, HashMap<Vec<u8>, ObjectId>> = HashMap::new();
    let mut contents = Vec::with_capacity(paths.len());
    for path in paths {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if !folders.contains_key(folder) {
            let tree = if folder.is_empty() {
                Some(root.clone())
            } else {
                match root.lookup_entry_by_path(folder)? {
                    Some(entry) if entry.mode().is_tree() => {
                        Some(repo.find_tree(entry.object_id())?)
                    }
                    _ => None,
                }
            };
            let mut entries = HashMap::new();
            if let Some(tree) = tree {
                for entry in tree.iter() {
                    let entry = entry?;
                    if entry.mode().is_blob_or_symlink() {
                        entries.insert(entry.filename().to_vec(), entry.object_id());
                    }
                }
            }
            folders.insert(folder, entries);
        }
        let id = folders
            .get(folder)
            .and_then(|entries| entries.get(name.as_bytes()).copied());
        contents.push(match id {
            Some(id) => blob(repo, id)?,
            None => None,
        });
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

/// The newest commit reachable from `branch` whose message has the line `line`.
pub fn find_message_line(repo: &Repository, branch: &str, line: &str) -> Outcome<Option<String>> {
    let Some(head) = resolve(repo, branch)? else {
        return Ok(None);
    };
    let walk = repo.rev_walk([head]).all()?;
    for info in walk {
        let info = info?;
        let commit = repo.find_commit(info.id)?;
        if commit
            .message_raw_sloppy()
            .lines()
            .any(|l| l == line.as_bytes())
        {
            return Ok(Some(info.id.to_string()));
        }
    }
    Ok(None)
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

fn edit(repo: &Repository, edit: RefEdit) -> Outcome<()> {
    let signature = signature();
    let mut time = TimeBuf::default();
    let reference = edit.name.as_bstr().to_string();
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
