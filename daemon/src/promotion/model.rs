//! What a promotion is: its request, pinned artifact, state, change request, approvals
//! and outcome. Plain data; the engine moves it from state to state.

use std::time::{Duration, SystemTime};

/// Now, to the millisecond: the precision records are stored with, so what is saved
/// reads back equal.
pub fn now() -> SystemTime {
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SystemTime::UNIX_EPOCH
        + Duration::from_millis(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
}

/// The promoter of promotions dkd opens itself (`auto_promote: true`): never an approver.
pub const AUTO_PROMOTER: &str = "dkd (auto-promotion)";

/// Where a promotion stands. Terminal states never change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PromotionState {
    /// Accepted; about to be validated.
    Requested,
    /// Every check passed; the digest is pinned.
    Validated,
    /// The change request is open, waiting for checks and approvals.
    ChangeProposed,
    /// The approval rule is met; waiting to merge.
    Approved,
    /// Merged into the base branch.
    Merged,
    /// The environment is applying the merged revision.
    Syncing,
    /// Terminal: running and healthy.
    Healthy,
    /// Terminal: the merge or the sync failed.
    Failed,
    /// Terminal: replaced by a newer promotion of the same package to the same environment.
    Superseded,
    /// Terminal: refused by a check, declined by an approver, or closed without merging.
    Rejected,
    /// Terminal: withdrawn by its promoter or an admin.
    Cancelled,
    /// Healthy in an environment that requires verification: its verification runs.
    Verifying,
    /// Terminal: healthy, and its verification passed.
    Verified,
}

impl PromotionState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Healthy
                | Self::Verified
                | Self::Failed
                | Self::Superseded
                | Self::Rejected
                | Self::Cancelled
        )
    }

    /// Open: a change request exists or is about to, and nothing merged yet.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Requested | Self::Validated | Self::ChangeProposed | Self::Approved
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Requested => "Requested",
            Self::Validated => "Validated",
            Self::ChangeProposed => "ChangeProposed",
            Self::Approved => "Approved",
            Self::Merged => "Merged",
            Self::Syncing => "Syncing",
            Self::Healthy => "Healthy",
            Self::Failed => "Failed",
            Self::Superseded => "Superseded",
            Self::Rejected => "Rejected",
            Self::Cancelled => "Cancelled",
            Self::Verifying => "Verifying",
            Self::Verified => "Verified",
        }
    }
}

/// A promotion along the path, a rollback, or a store change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionKind {
    Promotion,
    Rollback,
    /// Adds or replaces a `Store` of an environment (`dk store add`): the record's
    /// `package` is the store's name, it has no version or artifact, and it ends `Healthy`
    /// once dkd serves the revision that merged it (a store has nothing to sync).
    Store,
}

/// The change branch of a promotion: `promote/<env>/<package>/<id>`.
pub fn change_branch(environment: &str, package: &str, promotion_id: &str) -> String {
    format!("promote/{environment}/{package}/{promotion_id}")
}

/// The change branch of a store change: `promote/<env>/stores/<store>/<id>` (one level
/// deeper than a promotion's, so no package name can collide with it).
pub fn store_change_branch(environment: &str, store: &str, promotion_id: &str) -> String {
    format!("promote/{environment}/stores/{store}/{promotion_id}")
}

/// The manifest path a change branch (see [`change_branch`], [`store_change_branch`])
/// writes, and its promotion id. A store change is read at the default stores path
/// `environments/<env>/stores/<store>.yaml`.
pub fn parse_change_branch(branch: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = branch.strip_prefix("promote/")?.split('/').collect();
    match parts.as_slice() {
        [environment, package, id] => Some((
            datakit::manifest::package_manifest_path(environment, package),
            (*id).to_owned(),
        )),
        [environment, "stores", store, id] => Some((
            format!("environments/{environment}/stores/{store}.yaml"),
            (*id).to_owned(),
        )),
        _ => None,
    }
}

/// The change request carrying a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRef {
    /// Forge identifier (the branch name on the embedded forge, a PR number on GitHub).
    pub id: String,
    pub branch: String,
    pub title: String,
    /// Link for humans, when the forge has one.
    pub url: String,
}

/// Who approves, as dkd established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// The name the approval counts for.
    pub user: String,
    /// Groups the caller's authentication vouches for (OIDC claim, token groups,
    /// certificate OUs); they count for the approval rule next to `config/teams.yaml`.
    pub groups: Vec<String>,
    /// Set when `user` was only claimed (`dk approve --as` in the embedded forge's demo
    /// mode): the authenticated caller who claimed it.
    pub asserted_by: Option<String>,
}

impl Approver {
    /// An approver who is the authenticated caller.
    pub fn authenticated(user: String, groups: Vec<String>) -> Self {
        Self {
            user,
            groups,
            asserted_by: None,
        }
    }
}

/// One approval of a change request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub user: String,
    pub at: SystemTime,
    /// Groups vouched for by the approver's authentication (see [`Approver::groups`]).
    pub groups: Vec<String>,
    /// The authenticated caller who claimed `user`, when the name was only claimed.
    pub asserted_by: Option<String>,
}

impl Approval {
    /// `approver`'s approval, given at `at`.
    pub fn given(approver: &Approver, at: SystemTime) -> Self {
        Self {
            user: approver.user.clone(),
            at,
            groups: approver.groups.clone(),
            asserted_by: approver.asserted_by.clone(),
        }
    }

    /// The approver in words: "alice", or "alice (asserted by ops)".
    pub fn describe(&self) -> String {
        match &self.asserted_by {
            Some(caller) => format!("{} (asserted by {caller})", self.user),
            None => self.user.clone(),
        }
    }
}

/// Result of one check on a change request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    Pending,
    Success,
    Failure,
}

/// One check on a change request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub outcome: CheckOutcome,
    pub description: String,
}

/// A state the promotion went through, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: PromotionState,
    pub at: SystemTime,
}

/// One promotion or rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub id: String,
    pub package: String,
    pub version: String,
    pub environment: String,
    pub artifact: String,
    pub digest: String,
    pub previous_version: Option<String>,
    pub kind: PromotionKind,
    pub state: PromotionState,
    /// Why it is in its state, or what it waits for.
    pub message: String,
    pub promoter: String,
    /// `--force` skipped the upstream check.
    pub forced: bool,
    pub change: Option<ChangeRef>,
    pub approvals: Vec<Approval>,
    pub checks: Vec<Check>,
    pub merge_commit: Option<String>,
    pub superseded_by: Option<String>,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    /// Every state it entered, oldest first.
    pub transitions: Vec<Transition>,
    /// The `Store` manifest a store change writes; `None` for promotions and rollbacks,
    /// whose manifest follows from the record.
    pub store_manifest: Option<String>,
    /// Why it was opened, when dkd says (auto-promotions); shown in the change's body.
    pub reason: Option<String>,
}

impl Promotion {
    /// Moves to `state` with `message`, recording the transition.
    pub fn enter(&mut self, state: PromotionState, message: impl Into<String>) {
        let now = now();
        if self.state != state || self.transitions.is_empty() {
            self.transitions.push(Transition { state, at: now });
        }
        self.state = state;
        self.message = message.into();
        self.updated_at = now;
    }

    /// Whether it changes the same thing as `other`: the same package (or, for store
    /// changes, the same store) in the same environment.
    pub fn same_target(&self, other: &Promotion) -> bool {
        (self.kind == PromotionKind::Store) == (other.kind == PromotionKind::Store)
            && self.package == other.package
            && self.environment == other.environment
    }

    /// Whether `other` asks for the same thing (package, version, environment, kind).
    pub fn same_request(
        &self,
        package: &str,
        version: &str,
        environment: &str,
        kind: PromotionKind,
    ) -> bool {
        self.package == package
            && self.version == version
            && self.environment == environment
            && self.kind == kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_change_branch_names_the_store_file_and_never_a_package_manifest() {
        let branch = store_change_branch("int", "events-store", "p-7");
        assert_eq!(
            parse_change_branch(&branch),
            Some((
                "environments/int/stores/events-store.yaml".to_owned(),
                "p-7".to_owned()
            ))
        );
        assert_eq!(
            parse_change_branch(&change_branch("int", "stores", "p-8")),
            Some(("environments/int/stores.yaml".to_owned(), "p-8".to_owned()))
        );
        assert_eq!(parse_change_branch("promote/int/other/x/p-9"), None);
    }
}
