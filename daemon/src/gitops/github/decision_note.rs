//! The closing comment dkd posts when a person rejects or cancels a promotion: a readable
//! first line (`Closed by dkd: cancelled by carol: wrong version`) and a hidden HTML comment
//! carrying the decision as JSON, read back when dkd's state database is rebuilt.

use serde_json::{Value, json};

use super::{GithubForge, reads::entries, unexpected};
use crate::promotion::ports::{Decision, Declined, ForgeError};

/// Opens the hidden part of the closing comment; GitHub does not render HTML comments.
const MARKER: &str = "<!-- dkd-decision: ";
const MARKER_END: &str = " -->";
/// How many pages of comments (100 each) are searched on one pull request.
const COMMENT_PAGES: u32 = 10;

/// The closing comment: what the pull request's readers see, then the decision for dkd.
pub(super) fn closing_comment(reason: &str, declined: Option<&Declined>) -> String {
    let readable = format!("Closed by dkd: {reason}");
    let Some(declined) = declined else {
        return readable;
    };
    let record = json!({
        "decision": declined.decision.past(),
        "by": declined.by,
        "reason": declined.reason,
    });
    // `<` and `>` only occur inside JSON strings here, so escaping them keeps the JSON
    // valid, and a reason can neither end the HTML comment early nor fake the marker.
    let record = record
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e");
    format!("{readable}\n\n{MARKER}{record}{MARKER_END}")
}

/// The decision a closing comment's body records, if it is one of dkd's.
fn parse(body: &str) -> Option<Declined> {
    let (_, after) = body.rsplit_once(MARKER)?;
    let (record, _) = after.split_once(MARKER_END)?;
    let record: Value = serde_json::from_str(record).ok()?;
    let by = record["by"].as_str().filter(|by| !by.is_empty())?;
    Some(Declined {
        decision: Decision::from_past(record["decision"].as_str()?)?,
        by: by.to_owned(),
        reason: record["reason"].as_str().map(str::to_owned),
    })
}

impl GithubForge {
    /// The decision recorded on closed pull request `number` by its author (dkd's account,
    /// so nobody else's comment can fake one), the latest if several; `None` for a pull
    /// request closed by hand.
    pub(super) async fn closing_decision(
        &self,
        number: u64,
        author: &str,
    ) -> Result<Option<Declined>, ForgeError> {
        let mut found = None;
        for page in 1..=COMMENT_PAGES {
            let url = format!(
                "{}/issues/{number}/comments?per_page=100&page={page}",
                self.root
            );
            let reply = self.rest.get(&url).await?;
            if !reply.ok() {
                return Err(unexpected(
                    &reply,
                    &format!("list the comments of #{number}"),
                ));
            }
            let listed: Vec<&Value> = entries(&reply.body).collect();
            found = listed
                .iter()
                .rev()
                .filter(|comment| {
                    comment["user"]["login"]
                        .as_str()
                        .is_some_and(|login| login.eq_ignore_ascii_case(author))
                })
                .find_map(|comment| parse(comment["body"].as_str()?))
                .or(found);
            if listed.len() < 100 {
                break;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closing_comment_gives_back_the_decision_it_records() {
        let declined = Declined {
            decision: Decision::Cancel,
            by: "carol".into(),
            reason: Some("wrong version --> <!-- dkd-decision: {} --> \"quoted\"".into()),
        };
        let body = closing_comment(&declined.summary(), Some(&declined));
        assert!(body.starts_with("Closed by dkd: cancelled by carol: wrong version"));
        let (_, hidden) = body.split_once("\n\n").expect("a hidden part");
        assert_eq!(hidden.matches("-->").count(), 1, "{body}");
        assert_eq!(hidden.matches("<!--").count(), 1, "{body}");
        assert_eq!(parse(&body), Some(declined));
    }

    #[test]
    fn a_comment_without_a_decision_records_none() {
        assert_eq!(parse(&closing_comment("superseded by p-2", None)), None);
        assert_eq!(parse("Closed by dkd: cancelled by carol"), None);
    }
}
