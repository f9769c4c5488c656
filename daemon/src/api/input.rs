//! Names and ids in requests, checked before the domain sees them, with the rules `dk`
//! checks locally (`datakit::manifest`): any client gets InvalidArgument for a name that
//! could never exist, echoed cut short and escaped.

use datakit::manifest::{NameError, validate_login, validate_name, validate_promotion_id};
use tonic::{Code, Status};

use super::errors::answer;

fn invalid(error: NameError) -> Status {
    answer(Code::InvalidArgument, &error.to_string())
}

/// A required name, e.g. `name("package", &body.package)`.
pub fn name(what: &str, value: &str) -> Result<(), Status> {
    validate_name(what, value).map_err(invalid)
}

/// A name the request may leave empty (meaning "all").
pub fn optional_name(what: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Ok(());
    }
    name(what, value)
}

/// A promotion id, `p-N`.
pub fn promotion_id(id: &str) -> Result<(), Status> {
    validate_promotion_id(id).map_err(invalid)
}

/// A reviewer's user name the request may leave empty (meaning "the caller").
pub fn optional_user(login: &str) -> Result<(), Status> {
    if login.is_empty() {
        return Ok(());
    }
    validate_login(login).map_err(invalid)
}

/// The longest reason a Reject or Cancel may carry.
const REASON_LIMIT: usize = 1000;

/// A reason in words (Reject, Cancel): one line of printable text; `required` refuses an
/// empty one. Returns it trimmed, `None` when empty.
pub fn reason(text: &str, required: bool) -> Result<Option<String>, Status> {
    let text = text.trim();
    if text.is_empty() {
        return if required {
            Err(answer(
                Code::InvalidArgument,
                "a reason is required: say why in a few words (dk reject ID --reason TEXT)",
            ))
        } else {
            Ok(None)
        };
    }
    if text.chars().count() > REASON_LIMIT || text.chars().any(char::is_control) {
        return Err(answer(
            Code::InvalidArgument,
            &format!("the reason must be one line of at most {REASON_LIMIT} printable characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_could_escape_its_folder_is_invalid_argument() {
        let refused = name("package", "../x").expect_err("refused");
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(
            refused.message().contains("\"../x\""),
            "{}",
            refused.message()
        );
    }

    #[test]
    fn empty_optional_names_mean_all_but_bad_ones_are_refused() {
        assert!(optional_name("environment", "").is_ok());
        assert!(optional_name("environment", "dev").is_ok());
        assert!(optional_name("environment", "DEV").is_err());
        assert!(optional_user("").is_ok());
        assert!(optional_user("al\u{1b}ice").is_err());
        assert!(promotion_id("p-3").is_ok());
        assert!(promotion_id("../p-3").is_err());
    }

    #[test]
    fn a_reason_is_one_trimmed_printable_line_and_may_be_required() {
        assert_eq!(
            reason("  not yet ", true).expect("ok").as_deref(),
            Some("not yet")
        );
        assert_eq!(reason(" ", false).expect("ok"), None);
        assert_eq!(
            reason(" ", true).expect_err("required").code(),
            Code::InvalidArgument
        );
        assert!(reason("a\u{1b}[31m", true).is_err());
        assert!(reason(&"x".repeat(1001), true).is_err());
    }
}
