//! Exact package versions: SemVer 2.0 with an optional leading `v`; ranges and tags such as
//! `latest` are refused because a promotion must pin one version.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::text::quoted;

/// An exact version as the user wrote it (`v1.0.0`), with its parsed SemVer value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    text: String,
    semver: semver::Version,
}

/// A version that cannot be promoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// A tag or range (`latest`, `^1.0`, `1.x`, `1.0`) instead of one exact version.
    #[error(
        "version {} is not exact: promote an exact version such as v1.2.3",
        quoted(.version)
    )]
    NotExact {
        /// The refused text.
        version: String,
    },
    /// Text that is no version at all.
    #[error(
        "version {} is malformed ({reason}): use an exact version such as v1.2.3",
        quoted(.version)
    )]
    Malformed {
        /// The refused text.
        version: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// Floating tags that name no fixed version.
const FLOATING_TAGS: [&str; 1] = ["latest"];

impl Version {
    /// Parses an exact SemVer 2.0 version, e.g. `v1.0.0` or `1.2.3-rc.1+build.5`.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let malformed = |reason: &str| VersionError::Malformed {
            version: text.to_string(),
            reason: reason.to_string(),
        };
        if text.is_empty() {
            return Err(malformed("empty"));
        }
        if text.trim() != text {
            return Err(malformed("surrounding whitespace"));
        }
        let bare = text.strip_prefix('v').unwrap_or(text);
        match semver::Version::parse(bare) {
            Ok(semver) => Ok(Version {
                text: text.to_string(),
                semver,
            }),
            Err(_) if is_tag_or_range(bare) => Err(VersionError::NotExact {
                version: text.to_string(),
            }),
            Err(error) => Err(malformed(&error.to_string())),
        }
    }

    /// The version exactly as written, e.g. `v1.0.0`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed SemVer value (without the leading `v`).
    pub fn semver(&self) -> &semver::Version {
        &self.semver
    }
}

/// Whether `bare` is a floating tag or a SemVer range rather than garbage.
fn is_tag_or_range(bare: &str) -> bool {
    FLOATING_TAGS
        .iter()
        .any(|tag| bare.eq_ignore_ascii_case(tag))
        || semver::VersionReq::parse(bare).is_ok()
        || bare.contains("||")
        || bare.contains(" - ")
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Version::parse(text)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// SemVer precedence first; build metadata and the spelling (`v` or not) break ties.
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.semver
            .cmp(&other.semver)
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_support::{err, ok};

    #[test]
    fn exact_versions_with_or_without_v_are_accepted_and_keep_their_text() {
        for text in ["v1.0.0", "1.0.0", "1.2.3-rc.1+build.5", "v0.0.1-alpha"] {
            let version = ok(Version::parse(text));
            assert_eq!(version.as_str(), text);
            assert_eq!(version.to_string(), text);
        }
        assert_eq!(
            ok(Version::parse("v1.2.3")).semver(),
            &semver::Version::new(1, 2, 3)
        );
    }

    #[test]
    fn tags_ranges_and_partial_versions_are_not_exact() {
        for text in [
            "latest",
            "LATEST",
            "*",
            "^1.0",
            "~1.2",
            ">=1.0",
            "1.x",
            "1.0",
            "1",
            "v1.0",
            "=1.0.0",
            ">=1, <2",
            "1.0.0 - 2.0.0",
            "1.0.0 || 2.0.0",
        ] {
            assert_eq!(
                Version::parse(text),
                Err(VersionError::NotExact {
                    version: text.to_string()
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn not_exact_says_what_to_promote_instead() {
        assert_eq!(
            err(Version::parse("latest")).to_string(),
            "version \"latest\" is not exact: promote an exact version such as v1.2.3"
        );
    }

    #[test]
    fn empty_and_garbage_versions_are_malformed() {
        for text in [
            "", "banana", "1.0.0.0", "01.0.0", " 1.0.0", "v", "vv1.0.0", "1.0.0\n",
        ] {
            assert!(
                matches!(Version::parse(text), Err(VersionError::Malformed { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn malformed_versions_render_on_one_line() {
        let shown = err(Version::parse("1.0.0\nx")).to_string();
        assert!(!shown.contains('\n'), "{shown:?}");
        assert!(
            shown.starts_with("version \"1.0.0\\nx\" is malformed"),
            "{shown}"
        );
    }

    #[test]
    fn versions_order_by_semver_precedence() {
        let older = ok(Version::parse("v1.9.0"));
        let newer = ok(Version::parse("1.10.0"));
        let prerelease = ok(Version::parse("v1.10.0-rc.1"));
        assert!(older < prerelease && prerelease < newer);
    }
}
