//! `dk promotions [--env E] [--state S…] [--mine] [--to-approve]`: unfinished promotions
//! across every package, or the ones the caller could approve now.

use datakit::proto::{ListPromotionsRequest, PromotionState};

use super::promotion::PromotionView;
use crate::{
    cli::PromotionsArgs,
    connect::Client,
    error::{CliError, Failure},
    output::{NONE, OutputFormat, Table, render_structured},
};

/// Not finished: a change request is on its way, open, or merged and syncing.
const UNFINISHED: [PromotionState; 7] = [
    PromotionState::Requested,
    PromotionState::Validated,
    PromotionState::ChangeProposed,
    PromotionState::Approved,
    PromotionState::Merged,
    PromotionState::Syncing,
    PromotionState::Verifying,
];
/// Open: not merged yet (what `dk reject` and `dk cancel` apply to).
const OPEN: [PromotionState; 4] = [
    PromotionState::Requested,
    PromotionState::Validated,
    PromotionState::ChangeProposed,
    PromotionState::Approved,
];
/// Ended: the states a promotion never leaves.
const FINISHED: [PromotionState; 7] = [
    PromotionState::Healthy,
    PromotionState::Verified,
    PromotionState::Failed,
    PromotionState::Superseded,
    PromotionState::Rejected,
    PromotionState::Cancelled,
    PromotionState::Unspecified,
];

/// The words `--state` takes besides the state names.
const GROUPS: &str = "unfinished, open, waiting, finished";

/// The states `--state` names: a state as `dk history` shows it (any case, `-` or `_`
/// allowed, e.g. change-proposed), or a group (unfinished, open, waiting, finished); none
/// given means unfinished.
pub fn parse_states(words: &[String]) -> Result<Vec<PromotionState>, CliError> {
    if words.is_empty() {
        return Ok(UNFINISHED.to_vec());
    }
    let mut states = Vec::new();
    for word in words {
        let key: String = word
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        let found: Vec<PromotionState> = match key.as_str() {
            "unfinished" | "active" => UNFINISHED.to_vec(),
            "open" => OPEN.to_vec(),
            "waiting" => vec![PromotionState::ChangeProposed],
            "finished" | "done" => FINISHED[..6].to_vec(),
            "canceled" => vec![PromotionState::Cancelled],
            _ => UNFINISHED
                .iter()
                .chain(FINISHED[..6].iter())
                .copied()
                .filter(|state| {
                    super::promotion::state_name(*state as i32).eq_ignore_ascii_case(&key)
                })
                .collect(),
        };
        if found.is_empty() {
            let names: Vec<String> = UNFINISHED
                .iter()
                .chain(FINISHED[..6].iter())
                .map(|state| super::promotion::state_name(*state as i32))
                .collect();
            return Err(CliError::new(
                Failure::InvalidInput,
                format!(
                    "unknown state {word:?}: use {GROUPS}, or a state: {}",
                    names.join(", ")
                ),
            ));
        }
        for state in found {
            if !states.contains(&state) {
                states.push(state);
            }
        }
    }
    Ok(states)
}

/// `dk promotions`.
pub async fn promotions(
    client: &mut Client,
    format: OutputFormat,
    args: PromotionsArgs,
) -> Result<String, CliError> {
    let request = ListPromotionsRequest {
        package: args.package.clone().unwrap_or_default(),
        environment: args.env.clone().unwrap_or_default(),
        states: parse_states(&args.state)?
            .into_iter()
            .map(|state| state as i32)
            .collect(),
        mine: args.mine,
        to_approve: args.to_approve,
        ..ListPromotionsRequest::default()
    };
    let views = super::history::list_all(client, request).await?;
    if format != OutputFormat::Table {
        return render_structured(format, &views);
    }
    if views.is_empty() {
        return Ok(if args.to_approve {
            "nothing waits for your approval\n".to_owned()
        } else {
            "no promotions match\n".to_owned()
        });
    }
    let mut table = Table::new(&[
        "ID",
        "Package",
        "Environment",
        "Version",
        "Kind",
        "Who",
        "When",
        "State",
        "Needs",
    ]);
    for view in &views {
        table.row(vec![
            view.id.clone(),
            view.package.clone(),
            view.environment.clone(),
            view.version.clone(),
            view.kind.clone(),
            view.promoter.clone(),
            view.when(),
            view.state.clone(),
            needs(view),
        ]);
    }
    Ok(table.render())
}

/// What the promotion still waits for, in a few words.
fn needs(view: &PromotionView) -> String {
    view.approvals_needed
        .clone()
        .unwrap_or_else(|| NONE.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn no_state_means_the_unfinished_ones() {
        assert_eq!(parse_states(&[]).expect("parses"), UNFINISHED.to_vec());
    }

    #[test]
    fn states_read_as_users_see_them_and_groups_expand() {
        assert_eq!(
            parse_states(&words(&["waiting", "Failed", "change-proposed"])).expect("parses"),
            vec![PromotionState::ChangeProposed, PromotionState::Failed]
        );
        assert_eq!(
            parse_states(&words(&["open"])).expect("parses"),
            OPEN.to_vec()
        );
        assert!(
            parse_states(&words(&["finished"]))
                .expect("parses")
                .contains(&PromotionState::Cancelled)
        );
    }

    #[test]
    fn an_unknown_state_is_invalid_input_naming_the_choices() {
        let error = parse_states(&words(&["pending"])).expect_err("refused");
        assert_eq!(error.failure, Failure::InvalidInput);
        assert!(error.message.contains("waiting"), "{}", error.message);
    }
}
