//! `stores:` of an environment: the repository folder that holds its `Store` manifests.

use serde_saphyr::Spanned;

use super::fields::EnvironmentFields;
use crate::manifest::error::ManifestError;

/// The stores folder of `environment`: `stores` normalized to `a/b/`, or
/// `environments/<environment>/stores/` when absent. Refuses paths that leave the repository.
pub(super) fn build_stores_path(
    fields: &EnvironmentFields<'_>,
    stores: Option<Spanned<String>>,
) -> Result<String, ManifestError> {
    let Some(stores) = stores else {
        return Ok(format!("environments/{}/stores/", fields.environment));
    };
    normalize(&stores.value).map_err(|problem| {
        fields.error(
            "stores",
            stores.referenced,
            format!(
                "{:?} {problem}: use a folder inside the repository such as environments/{}/stores/",
                stores.value, fields.environment
            ),
        )
    })
}

/// `a/./b//` → `a/b/`; refuses absolute paths, `..`, backslashes and an empty result.
fn normalize(path: &str) -> Result<String, &'static str> {
    if path.starts_with('/') {
        return Err("is absolute");
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return Err("contains a backslash or control character");
    }
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty() && *segment != ".")
        .collect();
    if segments.contains(&"..") {
        return Err("leaves the repository with '..'");
    }
    if segments.is_empty() {
        return Err("names no folder");
    }
    Ok(format!("{}/", segments.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_normalized_to_end_with_a_slash() {
        assert_eq!(
            normalize("environments/dev/stores"),
            Ok("environments/dev/stores/".to_string())
        );
        assert_eq!(normalize("./a//b/./"), Ok("a/b/".to_string()));
    }

    #[test]
    fn paths_that_leave_the_repository_are_refused() {
        for path in [
            "/etc/stores/",
            "../stores/",
            "a/../../b",
            "a\\..\\b",
            "",
            "./",
            "a\nb",
        ] {
            assert!(normalize(path).is_err(), "{path:?}");
        }
    }
}
