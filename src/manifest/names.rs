//! Name rules: DNS-label-like names for packages, environments, stores and teams, and
//! GitHub-style logins for users. A valid name can never escape its folder.

/// The longest valid name.
const MAX_NAME_LEN: usize = 63;
/// The longest valid GitHub login.
const MAX_LOGIN_LEN: usize = 39;

/// A name that breaks the rule `^[a-z][a-z0-9-]{0,62}$`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {what} name {name:?}: use 1-63 lowercase letters, digits and '-', starting with a letter"
)]
pub struct NameError {
    /// What was being named, e.g. `package`.
    pub what: String,
    /// The refused name.
    pub name: String,
}

/// Checks `name` against `^[a-z][a-z0-9-]{0,62}$`; `what` ("package", "environment", …)
/// is only used in the error.
pub fn validate_name(what: &str, name: &str) -> Result<(), NameError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(NameError {
            what: what.to_string(),
            name: name.to_string(),
        })
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let starts_with_letter = bytes.next().is_some_and(|first| first.is_ascii_lowercase());
    starts_with_letter
        && name.len() <= MAX_NAME_LEN
        && bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// Whether `login` is a GitHub-style login: `^[A-Za-z0-9][A-Za-z0-9-]{0,38}$`.
pub(crate) fn is_valid_login(login: &str) -> bool {
    let mut bytes = login.bytes();
    let starts_alphanumeric = bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric());
    starts_alphanumeric
        && login.len() <= MAX_LOGIN_LEN
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_names_with_digits_and_dashes_are_valid() {
        for name in ["a", "my-package", "events-store2", "x-", &"a".repeat(63)] {
            assert_eq!(validate_name("package", name), Ok(()), "{name}");
        }
    }

    #[test]
    fn names_that_could_escape_their_folder_are_refused() {
        for name in ["../x", "a/b", "..", ".", "a\\b", "a.yaml", "a b", "a\n"] {
            assert!(validate_name("package", name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn empty_long_uppercase_and_badly_started_names_are_refused() {
        let too_long = "a".repeat(64);
        for name in [
            "",
            too_long.as_str(),
            "My-Pkg",
            "1pkg",
            "-pkg",
            "pkg_name",
            "é",
        ] {
            assert!(validate_name("package", name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn the_error_names_what_and_says_the_rule_on_one_line() {
        let error = validate_name("package", "My_Pkg").err();
        assert_eq!(
            error.map(|error| error.to_string()).as_deref(),
            Some(
                "invalid package name \"My_Pkg\": use 1-63 lowercase letters, digits and '-', starting with a letter"
            )
        );
    }

    #[test]
    fn control_characters_in_a_refused_name_are_escaped() {
        let shown = validate_name("store", "a\nb")
            .err()
            .map(|error| error.to_string());
        assert!(shown.is_some_and(|shown| !shown.contains('\n')));
    }

    #[test]
    fn github_logins_allow_mixed_case_digits_and_dashes() {
        for login in ["alice", "Alice-42", "0xdead", &"a".repeat(39)] {
            assert!(is_valid_login(login), "{login}");
        }
    }

    #[test]
    fn malformed_logins_are_refused() {
        let too_long = "a".repeat(40);
        for login in [
            "",
            "-alice",
            "al_ice",
            "al ice",
            "@alice",
            too_long.as_str(),
            "../x",
        ] {
            assert!(!is_valid_login(login), "{login:?}");
        }
    }
}
