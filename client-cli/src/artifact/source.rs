//! What is known about where a package comes from, for its annotations: `created` from
//! `SOURCE_DATE_EPOCH` or else the commit time of the directory's git `HEAD` (never the
//! clock), the `revision` (that commit) and the `source` (the `origin` remote, normalized
//! to an https URL without credentials).

use std::{path::Path, process::Command};

use super::timestamp::rfc3339_utc;
use crate::error::{CliError, Failure};

/// Source facts; each is absent when it is not known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceInfo {
    pub created: Option<String>,
    pub revision: Option<String>,
    pub source: Option<String>,
}

/// The facts of `dir`; `source_date_epoch` is the value of `SOURCE_DATE_EPOCH`, if set.
pub fn inspect(dir: &Path, source_date_epoch: Option<&str>) -> Result<SourceInfo, CliError> {
    let epoch = match source_date_epoch.map(str::trim).filter(|v| !v.is_empty()) {
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            CliError::new(
                Failure::InvalidInput,
                format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds: fix or unset it"),
            )
        })?),
        None => None,
    };
    let revision = git(dir, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
    let commit_time = revision
        .as_ref()
        .and_then(|_| git(dir, &["log", "-1", "--format=%ct", "HEAD"]))
        .and_then(|text| text.parse::<i64>().ok());
    let source = revision
        .as_ref()
        .and_then(|_| git(dir, &["config", "--get", "remote.origin.url"]))
        .and_then(|url| normalize_remote_url(&url));
    Ok(SourceInfo {
        created: epoch.or(commit_time).map(rfc3339_utc),
        revision,
        source,
    })
}

/// `git -C dir ARGS`'s trimmed output, `None` when git fails or is not installed.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// An https URL for a git remote, without credentials, port or `.git`; `None` for local
/// paths (they mean nothing on another machine).
pub fn normalize_remote_url(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = if let Some((scheme, rest)) = url.split_once("://") {
        match scheme {
            "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git" => rest.to_owned(),
            _ => return None,
        }
    } else if let Some((host, path)) = url.split_once(':')
        && !host.contains('/')
        && !path.starts_with("//")
    {
        // scp-like syntax: [user@]host:path
        format!("{host}/{path}")
    } else {
        return None;
    };
    let (authority, path) = rest.split_once('/')?;
    let host = authority.rsplit('@').next()?;
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).trim_matches('/');
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some(format!("https://{}/{path}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_become_https_without_credentials() {
        for (url, expected) in [
            (
                "git@github.com:acme/data.git",
                "https://github.com/acme/data",
            ),
            (
                "https://github.com/acme/data.git",
                "https://github.com/acme/data",
            ),
            (
                "https://user:ghp_token@GitHub.com/acme/data/",
                "https://github.com/acme/data",
            ),
            (
                "ssh://git@gitlab.example.com:2222/group/sub/data.git",
                "https://gitlab.example.com/group/sub/data",
            ),
            ("git://example.com/data", "https://example.com/data"),
        ] {
            assert_eq!(
                normalize_remote_url(url).as_deref(),
                Some(expected),
                "{url}"
            );
        }
    }

    #[test]
    fn local_remotes_have_no_source() {
        for url in [
            "/srv/git/data.git",
            "file:///srv/git/data.git",
            "../data",
            "",
        ] {
            assert_eq!(normalize_remote_url(url), None, "{url}");
        }
    }

    #[test]
    fn outside_git_only_source_date_epoch_gives_a_creation_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            inspect(dir.path(), None).expect("facts"),
            SourceInfo::default()
        );
        let facts = inspect(dir.path(), Some("1700000000")).expect("facts");
        assert_eq!(facts.created.as_deref(), Some("2023-11-14T22:13:20Z"));
        let error = inspect(dir.path(), Some("yesterday")).expect_err("refused");
        assert_eq!(error.failure, Failure::InvalidInput);
    }
}
