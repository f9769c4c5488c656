//! The header every DataKit manifest shares (`apiVersion`, `kind`) and the rule that a
//! manifest's `metadata.name` matches its file name.

use serde_saphyr::Spanned;

use super::API_VERSION;
use super::error::ManifestError;
use super::names::validate_name;

/// Checks `apiVersion` is [`API_VERSION`] and `kind` is `expected_kind`.
pub(crate) fn check_header(
    file: &str,
    api_version: &Spanned<String>,
    kind: &Spanned<String>,
    expected_kind: &str,
) -> Result<(), ManifestError> {
    if api_version.value != API_VERSION {
        return Err(ManifestError::new(
            file,
            "apiVersion",
            format!(
                "unsupported apiVersion {:?}: use {API_VERSION}",
                api_version.value
            ),
        )
        .at(api_version.referenced));
    }
    if kind.value != expected_kind {
        return Err(ManifestError::new(
            file,
            "kind",
            format!(
                "kind is {:?} but this file must hold a {expected_kind}: set kind: {expected_kind}",
                kind.value
            ),
        )
        .at(kind.referenced));
    }
    Ok(())
}

/// Checks `metadata.name` is a valid `what` name.
pub(crate) fn check_name(
    file: &str,
    what: &str,
    name: &Spanned<String>,
) -> Result<(), ManifestError> {
    validate_name(what, &name.value).map_err(|error| {
        ManifestError::new(file, "metadata.name", error.to_string()).at(name.referenced)
    })
}

/// Checks `metadata.name` is a valid `what` name equal to the file's name without `.yaml`.
pub(crate) fn check_name_matches_file(
    file: &str,
    what: &str,
    name: &Spanned<String>,
) -> Result<(), ManifestError> {
    check_name(file, what, name)?;
    let stem = file_stem(file);
    if name.value != stem {
        return Err(ManifestError::new(
            file,
            "metadata.name",
            format!(
                "name {:?} does not match the file name: rename the file to {}.yaml or set name: {stem}",
                name.value, name.value
            ),
        )
        .at(name.referenced));
    }
    Ok(())
}

/// `environments/dev/stores/events-store.yaml` → `events-store`.
fn file_stem(file: &str) -> &str {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    name.strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stem_drops_folders_and_the_yaml_extension() {
        assert_eq!(
            file_stem("environments/dev/stores/events-store.yaml"),
            "events-store"
        );
        assert_eq!(file_stem("my-package.yml"), "my-package");
        assert_eq!(file_stem("plain"), "plain");
    }
}
