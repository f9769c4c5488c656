//! Name rules: DNS-label-like names for packages, environments, stores and teams,
//! GitHub-style logins for users, and promotion ids. A valid name can never escape its
//! folder. A refused one is echoed quoted, escaped and cut short (`crate::text::quoted`).

use crate::text::quoted;

/// The longest valid name.
const MAX_NAME_LEN: usize = 63;
/// The longest valid GitHub login.
const MAX_LOGIN_LEN: usize = 39;
/// The most digits a promotion id's number has (a `u64`).
const MAX_PROMOTION_NUMBER_DIGITS: usize = 20;

/// A name, login or promotion id that breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A name that breaks `^[a-z][a-z0-9-]{0,62}$`; `what` is e.g. `package`.
    #[error(
        "invalid {what} name {}: use 1-63 lowercase letters, digits and '-', starting with a letter",
        quoted(.name)
    )]
    Name { what: String, name: String },
    /// A user name that breaks `^[A-Za-z0-9][A-Za-z0-9-]{0,38}$`.
    #[error(
        "invalid user name {}: use 1-39 letters, digits and '-', starting with a letter or digit",
        quoted(.login)
    )]
    Login { login: String },
    /// A promotion id that is not `p-` and a number.
    #[error(
        "invalid promotion id {}: promotion ids look like p-3 (see dk history PACKAGE)",
        quoted(.id)
    )]
    PromotionId { id: String },
}

/// Checks `name` against `^[a-z][a-z0-9-]{0,62}$`; `what` ("package", "environment", …)
/// is only used in the error.
pub fn validate_name(what: &str, name: &str) -> Result<(), NameError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(NameError::Name {
            what: what.to_string(),
            name: name.to_string(),
        })
    }
}

/// Checks a user name (a reviewer) against the GitHub login rule.
pub fn validate_login(login: &str) -> Result<(), NameError> {
    if is_valid_login(login) {
        Ok(())
    } else {
        Err(NameError::Login {
            login: login.to_string(),
        })
    }
}

/// Checks a promotion id: `p-` and a number, as dkd hands them out (`p-3`).
pub fn validate_promotion_id(id: &str) -> Result<(), NameError> {
    let valid = id.strip_prefix("p-").is_some_and(|number| {
        (1..=MAX_PROMOTION_NUMBER_DIGITS).contains(&number.len())
            && number.bytes().all(|byte| byte.is_ascii_digit())
    });
    if valid {
        Ok(())
    } else {
        Err(NameError::PromotionId { id: id.to_string() })
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
    fn a_very_long_refused_name_is_echoed_cut_short() {
        let shown = validate_name("package", &"a".repeat(20_000))
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(shown.len() < 300, "{shown}");
        assert!(shown.contains("(20000 characters)"), "{shown}");
    }

    #[test]
    fn promotion_ids_are_p_dash_and_a_number() {
        for id in ["p-1", "p-42", "p-18446744073709551615"] {
            assert_eq!(validate_promotion_id(id), Ok(()), "{id}");
        }
        for id in [
            "",
            "p-",
            "p-x",
            "P-1",
            "1",
            "p-1/../x",
            "p--1",
            "p-123456789012345678901",
        ] {
            assert!(validate_promotion_id(id).is_err(), "{id:?}");
        }
    }

    #[test]
    fn a_refused_user_name_says_the_login_rule() {
        let shown = validate_login("al ice")
            .err()
            .map(|error| error.to_string());
        assert_eq!(
            shown.as_deref(),
            Some(
                "invalid user name \"al ice\": use 1-39 letters, digits and '-', starting with a letter or digit"
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
