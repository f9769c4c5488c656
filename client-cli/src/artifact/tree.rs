//! The rule every package's entries keep, whether walked from disk by `dk build` or read
//! back from a layer: each path is relative and never climbs out with `..`, nothing lies
//! below a link or a file, and each symbolic link resolves — through any other links, as
//! an unpacker would follow them — to an entry of the package, never outside it.

use std::collections::BTreeMap;

/// How many links one resolution may follow (Linux's own limit), so circles end.
const MAX_LINK_HOPS: usize = 40;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Directory,
    File,
    /// A symbolic link with this target, exactly as stored.
    Link(String),
}

/// Why the entries of a package are not safe to unpack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("entry {path:?}, which is not a relative path inside the package")]
    UnsafePath { path: String },
    #[error("entry {path:?} twice")]
    Duplicate { path: String },
    #[error("entry {path:?} below {parent:?}, which is not a directory")]
    BelowNonDirectory { path: String, parent: String },
    #[error("link {path} -> {target}, which leaves the package directory")]
    Escapes { path: String, target: String },
    #[error("link {path} -> {target}, which points to nothing packed (.git never is)")]
    Dangling { path: String, target: String },
    #[error("link {path} -> {target}, which goes round a circle of links")]
    Circle { path: String, target: String },
}

/// The entries of one package, by path relative to its root (`/`-separated).
#[derive(Debug, Default)]
pub struct PackageTree {
    nodes: BTreeMap<String, Node>,
}

/// The parts of a relative path, `None` when it is absolute or has a `..` part; `.` and
/// empty parts (a trailing `/`) are dropped.
fn relative_parts(path: &str) -> Option<Vec<&str>> {
    if path.starts_with('/') {
        return None;
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    (!parts.contains(&"..")).then_some(parts)
}

impl PackageTree {
    /// Adds the entry at `path`. A directory entry for the root itself (`./`) is ignored.
    pub fn insert(&mut self, path: &str, node: Node) -> Result<(), TreeError> {
        let unsafe_path = || TreeError::UnsafePath {
            path: path.to_owned(),
        };
        let parts = relative_parts(path).ok_or_else(unsafe_path)?;
        if parts.is_empty() {
            return if node == Node::Directory {
                Ok(())
            } else {
                Err(unsafe_path())
            };
        }
        let key = parts.join("/");
        if self.nodes.insert(key.clone(), node).is_some() {
            return Err(TreeError::Duplicate { path: key });
        }
        Ok(())
    }

    /// Checks that every entry lies below directories only and every link resolves inside.
    pub fn check(&self) -> Result<(), TreeError> {
        for (path, node) in &self.nodes {
            let parts: Vec<&str> = path.split('/').collect();
            for depth in 1..parts.len() {
                let parent = parts[..depth].join("/");
                if self
                    .nodes
                    .get(&parent)
                    .is_some_and(|n| *n != Node::Directory)
                {
                    return Err(TreeError::BelowNonDirectory {
                        path: path.clone(),
                        parent,
                    });
                }
            }
            if let Node::Link(target) = node {
                self.resolve(path, target)?;
            }
        }
        Ok(())
    }

    /// Follows the link at `path` to `target` part by part, as an unpacked copy would be
    /// followed: `..` pops a part (popping the root leaves the package), and every link met
    /// on the way is replaced by its own target.
    fn resolve(&self, path: &str, target: &str) -> Result<(), TreeError> {
        let escapes = || TreeError::Escapes {
            path: path.to_owned(),
            target: target.to_owned(),
        };
        let dangling = || TreeError::Dangling {
            path: path.to_owned(),
            target: target.to_owned(),
        };
        if target.is_empty() {
            return Err(dangling());
        }
        let mut at: Vec<&str> = path.split('/').collect();
        at.pop();
        let mut pending: Vec<&str> = Vec::new();
        push_target(&mut pending, target).ok_or_else(escapes)?;
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                at.pop().ok_or_else(escapes)?;
                continue;
            }
            at.push(part);
            match self.nodes.get(&at.join("/")) {
                None => return Err(dangling()),
                Some(Node::Directory) => {}
                Some(Node::File) if pending.is_empty() => {}
                Some(Node::File) => return Err(dangling()),
                Some(Node::Link(next)) => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(TreeError::Circle {
                            path: path.to_owned(),
                            target: target.to_owned(),
                        });
                    }
                    at.pop();
                    push_target(&mut pending, next).ok_or_else(escapes)?;
                }
            }
        }
        Ok(())
    }
}

/// Puts the parts of a link `target` on top of `pending` (a stack: the first part on top);
/// `None` when the target is absolute.
fn push_target<'a>(pending: &mut Vec<&'a str>, target: &'a str) -> Option<()> {
    if target.starts_with('/') {
        return None;
    }
    pending.extend(
        target
            .rsplit('/')
            .filter(|part| !part.is_empty() && *part != "."),
    );
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(&str, Node)]) -> Result<(), TreeError> {
        let mut tree = PackageTree::default();
        for (path, node) in entries {
            tree.insert(path, node.clone())?;
        }
        tree.check()
    }

    fn link(target: &str) -> Node {
        Node::Link(target.to_owned())
    }

    #[test]
    fn links_that_stay_inside_are_accepted_however_they_get_there() {
        let entries = [
            ("dk.yaml", Node::File),
            ("queries", Node::Directory),
            ("queries/daily.sql", Node::File),
            ("queries/latest.sql", link("daily.sql")),
            ("queries/up", link("../dk.yaml")),
            ("current", link("queries/./latest.sql")),
            ("all", link("queries/")),
            ("root", link(".")),
            ("via", link("all/../queries/daily.sql")),
        ];
        assert_eq!(tree(&entries), Ok(()));
    }

    #[test]
    fn absolute_and_climbing_links_leave_the_package() {
        for target in ["/etc/passwd", "../../..", "queries/../../x", "./.."] {
            let entries = [("queries", Node::Directory), ("queries/x", Node::File)];
            let mut all = entries.to_vec();
            all.push(("evil", link(target)));
            assert_eq!(
                tree(&all),
                Err(TreeError::Escapes {
                    path: "evil".into(),
                    target: target.into()
                }),
                "{target}"
            );
        }
    }

    #[test]
    fn a_link_through_another_link_that_climbs_out_is_caught() {
        // `here` is the root, so `here/..` is the root's parent: outside.
        let entries = [("here", link(".")), ("out", link("here/.."))];
        assert!(matches!(
            tree(&entries),
            Err(TreeError::Escapes { path, .. }) if path == "out"
        ));
        let entries = [
            ("d", Node::Directory),
            ("d/deep", link("..")),
            ("out", link("d/deep/../x")),
        ];
        assert!(matches!(tree(&entries), Err(TreeError::Escapes { .. })));
    }

    #[test]
    fn links_to_nothing_and_circles_are_refused() {
        let dangling = [("gone", link("missing.txt"))];
        assert!(matches!(tree(&dangling), Err(TreeError::Dangling { .. })));
        let through_a_file = [("f", Node::File), ("l", link("f/x"))];
        assert!(matches!(
            tree(&through_a_file),
            Err(TreeError::Dangling { .. })
        ));
        let circle = [("a", link("b")), ("b", link("a"))];
        assert!(matches!(tree(&circle), Err(TreeError::Circle { .. })));
    }

    #[test]
    fn hostile_entry_paths_are_refused() {
        for path in ["/etc/passwd", "../x", "a/../../x", "a/.."] {
            assert_eq!(
                tree(&[(path, Node::File)]),
                Err(TreeError::UnsafePath { path: path.into() }),
                "{path}"
            );
        }
        assert!(matches!(
            tree(&[("a", Node::File), ("./a", Node::File)]),
            Err(TreeError::Duplicate { .. })
        ));
        let below_a_link = [("l", link(".")), ("l/x", Node::File)];
        assert!(matches!(
            tree(&below_a_link),
            Err(TreeError::BelowNonDirectory { .. })
        ));
        assert_eq!(tree(&[("./", Node::Directory)]), Ok(()));
    }
}
