//! How a promotion reads on the terminal and in `-o json|yaml`, shared by `promote`,
//! `rollback`, `approve` and `history`, and `--wait`'s progress.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use datakit::proto::{self, GetPromotionRequest, PromotionState};
use serde::Serialize;

use crate::{
    connect::Client,
    error::{CliError, Failure},
    output::{NONE, note, time_ago},
};

/// A promotion as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionView {
    pub id: String,
    pub package: String,
    pub version: String,
    pub environment: String,
    pub kind: String,
    pub state: String,
    pub message: String,
    pub digest: String,
    pub artifact: String,
    pub previous_version: Option<String>,
    pub promoter: String,
    pub forced: bool,
    pub policy: String,
    pub approvals_needed: Option<String>,
    pub approvals: Vec<ApprovalView>,
    pub checks: Vec<CheckView>,
    pub change: Option<ChangeView>,
    pub merge_commit: Option<String>,
    pub superseded_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalView {
    pub user: String,
    pub groups: Vec<String>,
    pub at: String,
    /// The caller who only claimed `user` (`dk approve --as` in demo mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asserted_by: Option<String>,
}

impl ApprovalView {
    /// The approver in words: "alice (@team-leads)", "bob (asserted by ops)".
    pub fn describe(&self) -> String {
        let mut notes = Vec::new();
        if !self.groups.is_empty() {
            notes.push(format!("@{}", self.groups.join(", @")));
        }
        if let Some(caller) = &self.asserted_by {
            notes.push(format!("asserted by {caller}"));
        }
        if notes.is_empty() {
            self.user.clone()
        } else {
            format!("{} ({})", self.user, notes.join("; "))
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CheckView {
    pub name: String,
    pub state: String,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct ChangeView {
    pub id: String,
    pub branch: String,
    pub title: String,
    pub url: Option<String>,
}

fn some(text: String) -> Option<String> {
    Some(text).filter(|t| !t.is_empty())
}

fn timestamp(time: Option<&prost_types::Timestamp>) -> String {
    time.map(ToString::to_string).unwrap_or_default()
}

/// The state's name without the enum prefix, e.g. `ChangeProposed`.
pub fn state_name(state: i32) -> String {
    PromotionState::try_from(state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("PROMOTION_STATE_")
                .to_owned()
        })
        .map(|upper| {
            upper
                .split('_')
                .map(|w| w[..1].to_owned() + &w[1..].to_lowercase())
                .collect()
        })
        .unwrap_or_else(|_| "Unknown".to_owned())
}

fn check_state(state: i32) -> String {
    proto::CheckState::try_from(state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("CHECK_STATE_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

impl From<proto::Promotion> for PromotionView {
    fn from(p: proto::Promotion) -> Self {
        Self {
            kind: match proto::PromotionKind::try_from(p.kind) {
                Ok(proto::PromotionKind::Rollback) => "rollback",
                Ok(proto::PromotionKind::Store) => "store",
                _ => "promotion",
            }
            .to_owned(),
            state: state_name(p.state),
            created_at: timestamp(p.created_at.as_ref()),
            updated_at: timestamp(p.updated_at.as_ref()),
            approvals: p
                .approvals
                .into_iter()
                .map(|a| ApprovalView {
                    at: timestamp(a.at.as_ref()),
                    user: a.user,
                    groups: a.groups,
                    asserted_by: Some(a.asserted_by).filter(|caller| !caller.is_empty()),
                })
                .collect(),
            checks: p
                .checks
                .into_iter()
                .map(|c| CheckView {
                    state: check_state(c.state),
                    name: c.name,
                    description: c.description,
                })
                .collect(),
            change: p.change.map(|c| ChangeView {
                id: c.id,
                branch: c.branch,
                title: c.title,
                url: some(c.url),
            }),
            previous_version: some(p.previous_version),
            approvals_needed: some(p.approvals_needed),
            merge_commit: some(p.merge_commit),
            superseded_by: some(p.superseded_by),
            id: p.id,
            package: p.package,
            version: p.version,
            environment: p.environment,
            message: p.message,
            digest: p.digest,
            artifact: p.artifact,
            promoter: p.promoter,
            forced: p.forced,
            policy: p.policy,
        }
    }
}

impl PromotionView {
    /// Whether the promotion reached a state it never leaves.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.state.as_str(),
            "Healthy" | "Verified" | "Failed" | "Superseded" | "Rejected" | "Cancelled"
        )
    }

    /// The detailed view of `dk promote` and `--status`.
    pub fn describe(&self) -> String {
        let mut out = match self.kind.as_str() {
            "store" => format!(
                "Store change {}: store {} → {}\n",
                self.id, self.package, self.environment
            ),
            kind => format!(
                "{} {}: {} {} → {}\n",
                if kind == "rollback" {
                    "Rollback"
                } else {
                    "Promotion"
                },
                self.id,
                self.package,
                self.version,
                self.environment
            ),
        };
        let mut line = |label: &str, value: &str| out.push_str(&format!("  {label:<11}{value}\n"));
        line("State:", &format!("{} — {}", self.state, self.message));
        line("Digest:", &self.digest);
        line(
            "Previous:",
            self.previous_version.as_deref().unwrap_or(NONE),
        );
        line("Policy:", &self.policy);
        if let Some(needed) = self
            .approvals_needed
            .as_ref()
            .filter(|n| !self.message.contains(n.as_str()))
        {
            line("Needs:", needed);
        }
        let approvals: Vec<String> = self.approvals.iter().map(ApprovalView::describe).collect();
        line(
            "Approvals:",
            &if approvals.is_empty() {
                NONE.to_owned()
            } else {
                approvals.join(", ")
            },
        );
        for check in &self.checks {
            line(
                "Check:",
                &format!("{} {} ({})", check.name, check.state, check.description),
            );
        }
        if let Some(change) = &self.change {
            line(
                "Change:",
                &format!(
                    "{} \"{}\"",
                    change.url.as_deref().unwrap_or(&change.branch),
                    change.title
                ),
            );
        }
        if let Some(commit) = &self.merge_commit {
            line("Merged:", commit);
        }
        if self.forced {
            line(
                "Forced:",
                "the upstream or soak-time check was skipped with --force",
            );
        }
        out
    }

    /// When it was requested, relative to now.
    pub fn when(&self) -> String {
        self.created_at
            .parse::<prost_types::Timestamp>()
            .ok()
            .and_then(|t| SystemTime::try_from(t).ok())
            .map_or_else(
                || self.created_at.clone(),
                |t| time_ago(t, SystemTime::now()),
            )
    }
}

/// What a waiting promotion still needs, in words: approvals (from whom), checks, merge,
/// sync; its message when nothing more specific is known.
pub fn waiting_for(view: &PromotionView) -> String {
    let mut parts = Vec::new();
    let pending: Vec<&str> = view
        .checks
        .iter()
        .filter(|check| check.state == "pending")
        .map(|check| check.name.as_str())
        .collect();
    if !pending.is_empty() {
        parts.push(format!("checks: {}", pending.join(", ")));
    }
    if let Some(needed) = &view.approvals_needed {
        parts.push(format!("approvals: {needed}"));
    }
    match view.state.as_str() {
        "Requested" | "Validated" => parts.push("the change request to open".to_owned()),
        "Approved" => parts.push("the merge".to_owned()),
        "Merged" | "Syncing" => parts.push(format!("sync: {}", view.message)),
        "Verifying" => parts.push(format!("verification: {}", view.message)),
        _ => {}
    }
    if parts.is_empty() {
        view.message.clone()
    } else {
        parts.join("; ")
    }
}

/// How `--wait` reports: `--timeout`, and NDJSON on stdout (`-o json`) or progress on stderr.
#[derive(Debug, Clone, Copy)]
pub struct Waiting {
    pub timeout: Option<Duration>,
    /// `-o json`: each state goes to stdout as a JSON line, so nothing goes to stderr.
    pub ndjson: bool,
}

/// Polls the promotion until it ends. On stderr (not under `-o json`), says what it waits
/// for each time that changes; with `ndjson`, `on_change` prints every new state. `Ok` on
/// Healthy or Verified; exit 1 naming the reason when it ends otherwise or `timeout` expires.
pub async fn wait_for(
    client: &mut Client,
    mut view: PromotionView,
    waiting: Waiting,
    mut on_change: impl FnMut(&PromotionView) -> Result<(), CliError>,
) -> Result<PromotionView, CliError> {
    let deadline = waiting.timeout.map(|t| Instant::now() + t);
    let mut shown = None;
    let mut unavailable = false;
    loop {
        let current = (view.state.clone(), waiting_for(&view));
        if shown.as_ref() != Some(&current) {
            on_change(&view)?;
            if !waiting.ndjson {
                if view.is_terminal() {
                    note(&format!("{} {} — {}", view.id, view.state, view.message));
                } else {
                    note(&format!(
                        "{} {}: waiting for {}",
                        view.id, current.0, current.1
                    ));
                }
            }
            shown = Some(current);
        }
        if view.is_terminal() {
            break;
        }
        let pause = Duration::from_millis(200);
        let pause = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(timed_out(&view, waiting.timeout.unwrap_or_default()));
                }
                pause.min(left)
            }
            None => pause,
        };
        tokio::time::sleep(pause).await;
        let request = GetPromotionRequest {
            id: view.id.clone(),
            ..Default::default()
        };
        // dkd restarting, or a replica behind a Service failing over: the promotion goes
        // on, so keep asking (the channel reconnects) until the deadline.
        let promotion = match client.get_promotion(request).await {
            Ok(response) => response.into_inner().promotion,
            Err(status) if status.code() == tonic::Code::Unavailable => {
                if !std::mem::replace(&mut unavailable, true) && !waiting.ndjson {
                    note("dkd is unavailable; still waiting for it to come back");
                }
                continue;
            }
            Err(status) => return Err(status.into()),
        };
        unavailable = false;
        view = promotion
            .map(PromotionView::from)
            .ok_or_else(|| CliError::new(Failure::Other, "dkd returned no promotion"))?;
    }
    if view.state == "Healthy" || view.state == "Verified" {
        return Ok(view);
    }
    Err(CliError::new(
        Failure::Other,
        format!(
            "promotion {} ended {}: {}",
            view.id, view.state, view.message
        ),
    ))
}

/// `--wait` of a command that answered with one promotion (`dk approve`, `dk verify`):
/// follows it to its end. Under `-o json` every change is printed as an NDJSON line of the
/// promotion and `None` is returned (nothing is left to print); otherwise its final view.
pub async fn follow(
    client: &mut Client,
    view: PromotionView,
    format: crate::output::OutputFormat,
    timeout: Option<Duration>,
) -> Result<Option<PromotionView>, CliError> {
    let waiting = Waiting {
        timeout,
        ndjson: format == crate::output::OutputFormat::Json,
    };
    let print_line = |promotion: &PromotionView| match waiting.ndjson {
        true => crate::output::json_line(promotion),
        false => Ok(()),
    };
    let view = wait_for(client, view, waiting, print_line).await?;
    Ok((!waiting.ndjson).then_some(view))
}

/// The promotion a command was answered with, followed to its end when `wait`; `None`
/// when `-o json` already streamed it as NDJSON (one promotion per change).
pub async fn answered(
    client: &mut Client,
    promotion: Option<proto::Promotion>,
    format: crate::output::OutputFormat,
    wait: bool,
    timeout: Option<Duration>,
) -> Result<Option<PromotionView>, CliError> {
    let view = promotion
        .map(PromotionView::from)
        .ok_or_else(|| CliError::new(Failure::Other, "dkd returned no promotion"))?;
    if !wait {
        return Ok(Some(view));
    }
    follow(client, view, format, timeout).await
}

/// `--timeout` expired: where the promotion stands, and that it goes on without us.
fn timed_out(view: &PromotionView, timeout: Duration) -> CliError {
    let follow = if view.kind == "store" {
        format!("dk promotions --env {}", view.environment)
    } else {
        format!(
            "dk promote {} {} --to {} --status",
            view.package, view.version, view.environment
        )
    };
    CliError::new(
        Failure::Other,
        format!(
            "gave up waiting after {}: {} is {}, waiting for {} (it goes on; see {follow})",
            humantime::format_duration(timeout),
            view.id,
            view.state,
            waiting_for(view),
        ),
    )
}
