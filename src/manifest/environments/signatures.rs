//! `require_signatures:` of an environment: the public keys (repository paths, e.g.
//! `config/keys/release.pub`) one of which must have signed a version's pinned digest, in
//! cosign's format, before it is promoted or rolled back there.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::fields::EnvironmentFields;
use crate::manifest::error::ManifestError;

/// `require_signatures: { keys: [...] }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSignatures {
    keys: Spanned<Vec<Spanned<String>>>,
}

/// The key paths of `require_signatures`, normalized; empty when absent. Each must be a
/// file inside the repository; duplicates are dropped.
pub(super) fn build_signature_keys(
    fields: &EnvironmentFields<'_>,
    raw: Option<RawSignatures>,
) -> Result<Vec<String>, ManifestError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if raw.keys.value.is_empty() {
        return Err(fields.error(
            "require_signatures.keys",
            raw.keys.referenced,
            "no keys are listed: name at least one public key file, e.g. config/keys/release.pub, or remove require_signatures",
        ));
    }
    let mut keys: Vec<String> = Vec::with_capacity(raw.keys.value.len());
    for key in raw.keys.value {
        let path = normalize(&key.value).map_err(|problem| {
            fields.error(
                "require_signatures.keys",
                key.referenced,
                format!(
                    "{:?} {problem}: name a public key file inside the repository, e.g. config/keys/release.pub",
                    key.value
                ),
            )
        })?;
        if !keys.contains(&path) {
            keys.push(path);
        }
    }
    Ok(keys)
}

/// `a/./b` → `a/b`; refuses absolute paths, `..`, backslashes, folders and an empty path.
fn normalize(path: &str) -> Result<String, &'static str> {
    if path.starts_with('/') {
        return Err("is absolute");
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return Err("contains a backslash or control character");
    }
    if path.ends_with('/') {
        return Err("is a folder");
    }
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty() && *segment != ".")
        .collect();
    if segments.contains(&"..") {
        return Err("leaves the repository with '..'");
    }
    if segments.is_empty() {
        return Err("names no file");
    }
    Ok(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn key_paths_stay_inside_the_repository() {
        assert_eq!(
            normalize("./config//keys/release.pub").as_deref(),
            Ok("config/keys/release.pub")
        );
        for bad in ["/etc/key.pub", "../key.pub", "config/keys/", "", "a\\b"] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }
}
