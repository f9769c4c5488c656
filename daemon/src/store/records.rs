//! The records dkd writes to its database, versioned separately from the domain types so
//! the domain can change without rewriting stored data.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};

use crate::promotion::{
    Approval, ChangeRef, Check, CheckOutcome, ConfigProblem, ConfigSource, Event, EventKind,
    HealthSpan, Promotion, PromotionKind, PromotionState, Transition,
    ports::{
        HealthState, LastRun, LocalChange, LocalChangeState, PackageSync, RunResult, SyncState,
    },
};

/// Bumped when a record's layout changes incompatibly (2: every value carries a checksum).
pub const SCHEMA_VERSION: u32 = 2;

fn to_ms(time: SystemTime) -> u64 {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

fn from_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// The cached configuration.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub revision: String,
    pub loaded_at_unix_ms: u64,
    pub files: BTreeMap<String, String>,
}

impl From<&ConfigSource> for ConfigRecord {
    fn from(source: &ConfigSource) -> Self {
        Self {
            revision: source.revision.clone(),
            loaded_at_unix_ms: to_ms(source.loaded_at),
            files: source.files.clone(),
        }
    }
}

impl From<ConfigRecord> for ConfigSource {
    fn from(record: ConfigRecord) -> Self {
        Self {
            revision: record.revision,
            loaded_at: from_ms(record.loaded_at_unix_ms),
            files: record.files,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub user: String,
    pub at_unix_ms: u64,
    /// Groups the approver's authentication vouched for (absent in older records).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The caller who claimed `user` (`dk approve --as`, demo mode); absent when
    /// authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asserted_by: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CheckRecord {
    pub name: String,
    /// `pending`, `success` or `failure`.
    pub outcome: String,
    pub description: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ChangeRefRecord {
    pub id: String,
    pub branch: String,
    pub title: String,
    pub url: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TransitionRecord {
    pub state: String,
    pub at_unix_ms: u64,
}

/// One promotion.
#[derive(Debug, Serialize, Deserialize)]
pub struct PromotionRecord {
    pub id: String,
    pub package: String,
    pub version: String,
    pub environment: String,
    pub artifact: String,
    pub digest: String,
    pub previous_version: Option<String>,
    /// `promotion` or `rollback`.
    pub kind: String,
    pub state: String,
    pub message: String,
    pub promoter: String,
    pub forced: bool,
    pub change: Option<ChangeRefRecord>,
    pub approvals: Vec<ApprovalRecord>,
    pub checks: Vec<CheckRecord>,
    pub merge_commit: Option<String>,
    pub superseded_by: Option<String>,
    pub created_at_unix_ms: u64,
    pub updated_at_unix_ms: u64,
    pub transitions: Vec<TransitionRecord>,
    /// The `Store` manifest of a store change (absent for promotions and older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_manifest: Option<String>,
    /// Why dkd opened it (auto-promotions; absent otherwise and in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

const STATES: [PromotionState; 13] = [
    PromotionState::Requested,
    PromotionState::Validated,
    PromotionState::ChangeProposed,
    PromotionState::Approved,
    PromotionState::Merged,
    PromotionState::Syncing,
    PromotionState::Healthy,
    PromotionState::Failed,
    PromotionState::Superseded,
    PromotionState::Rejected,
    PromotionState::Cancelled,
    PromotionState::Verifying,
    PromotionState::Verified,
];

fn state_from(name: &str) -> Result<PromotionState, String> {
    STATES
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| format!("unknown promotion state {name:?}"))
}

fn approval_record(approval: &Approval) -> ApprovalRecord {
    ApprovalRecord {
        user: approval.user.clone(),
        at_unix_ms: to_ms(approval.at),
        groups: approval.groups.clone(),
        asserted_by: approval.asserted_by.clone(),
    }
}

fn approval_from(record: ApprovalRecord) -> Approval {
    Approval {
        user: record.user,
        at: from_ms(record.at_unix_ms),
        groups: record.groups,
        asserted_by: record.asserted_by,
    }
}

fn check_record(check: &Check) -> CheckRecord {
    let outcome = match check.outcome {
        CheckOutcome::Pending => "pending",
        CheckOutcome::Success => "success",
        CheckOutcome::Failure => "failure",
    };
    CheckRecord {
        name: check.name.clone(),
        outcome: outcome.into(),
        description: check.description.clone(),
    }
}

fn check_from(record: CheckRecord) -> Result<Check, String> {
    let outcome = match record.outcome.as_str() {
        "pending" => CheckOutcome::Pending,
        "success" => CheckOutcome::Success,
        "failure" => CheckOutcome::Failure,
        other => return Err(format!("unknown check outcome {other:?}")),
    };
    Ok(Check {
        name: record.name,
        outcome,
        description: record.description,
    })
}

impl From<&Promotion> for PromotionRecord {
    fn from(p: &Promotion) -> Self {
        Self {
            id: p.id.clone(),
            package: p.package.clone(),
            version: p.version.clone(),
            environment: p.environment.clone(),
            artifact: p.artifact.clone(),
            digest: p.digest.clone(),
            previous_version: p.previous_version.clone(),
            kind: match p.kind {
                PromotionKind::Promotion => "promotion".into(),
                PromotionKind::Rollback => "rollback".into(),
                PromotionKind::Store => "store".into(),
            },
            state: p.state.name().into(),
            message: p.message.clone(),
            promoter: p.promoter.clone(),
            forced: p.forced,
            change: p.change.as_ref().map(|c| ChangeRefRecord {
                id: c.id.clone(),
                branch: c.branch.clone(),
                title: c.title.clone(),
                url: c.url.clone(),
            }),
            approvals: p.approvals.iter().map(approval_record).collect(),
            checks: p.checks.iter().map(check_record).collect(),
            merge_commit: p.merge_commit.clone(),
            superseded_by: p.superseded_by.clone(),
            created_at_unix_ms: to_ms(p.created_at),
            updated_at_unix_ms: to_ms(p.updated_at),
            transitions: p
                .transitions
                .iter()
                .map(|t| TransitionRecord {
                    state: t.state.name().into(),
                    at_unix_ms: to_ms(t.at),
                })
                .collect(),
            store_manifest: p.store_manifest.clone(),
            reason: p.reason.clone(),
        }
    }
}

impl TryFrom<PromotionRecord> for Promotion {
    type Error = String;

    fn try_from(r: PromotionRecord) -> Result<Self, String> {
        Ok(Self {
            kind: match r.kind.as_str() {
                "promotion" => PromotionKind::Promotion,
                "rollback" => PromotionKind::Rollback,
                "store" => PromotionKind::Store,
                other => return Err(format!("unknown promotion kind {other:?}")),
            },
            state: state_from(&r.state)?,
            id: r.id,
            package: r.package,
            version: r.version,
            environment: r.environment,
            artifact: r.artifact,
            digest: r.digest,
            previous_version: r.previous_version,
            message: r.message,
            promoter: r.promoter,
            forced: r.forced,
            change: r.change.map(|c| ChangeRef {
                id: c.id,
                branch: c.branch,
                title: c.title,
                url: c.url,
            }),
            approvals: r.approvals.into_iter().map(approval_from).collect(),
            checks: r
                .checks
                .into_iter()
                .map(check_from)
                .collect::<Result<_, _>>()?,
            merge_commit: r.merge_commit,
            superseded_by: r.superseded_by,
            store_manifest: r.store_manifest,
            reason: r.reason,
            created_at: from_ms(r.created_at_unix_ms),
            updated_at: from_ms(r.updated_at_unix_ms),
            transitions: r
                .transitions
                .into_iter()
                .map(|t| {
                    Ok(Transition {
                        state: state_from(&t.state)?,
                        at: from_ms(t.at_unix_ms),
                    })
                })
                .collect::<Result<_, String>>()?,
        })
    }
}

/// A change request of the embedded forge.
#[derive(Debug, Serialize, Deserialize)]
pub struct LocalChangeRecord {
    pub id: String,
    pub promotion_id: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub paths: Vec<String>,
    pub commit_message: String,
    /// `open`, `merged` or `closed`.
    pub state: String,
    pub merge_commit: Option<String>,
    pub approvals: Vec<ApprovalRecord>,
    pub checks: Vec<CheckRecord>,
    pub created_at_unix_ms: u64,
}

impl From<&LocalChange> for LocalChangeRecord {
    fn from(c: &LocalChange) -> Self {
        let (state, merge_commit) = match &c.state {
            LocalChangeState::Open => ("open", None),
            LocalChangeState::Merged { commit } => ("merged", Some(commit.clone())),
            LocalChangeState::Closed => ("closed", None),
        };
        Self {
            id: c.id.clone(),
            promotion_id: c.promotion_id.clone(),
            title: c.title.clone(),
            body: c.body.clone(),
            labels: c.labels.clone(),
            paths: c.paths.clone(),
            commit_message: c.commit_message.clone(),
            state: state.into(),
            merge_commit,
            approvals: c.approvals.iter().map(approval_record).collect(),
            checks: c.checks.iter().map(check_record).collect(),
            created_at_unix_ms: to_ms(c.created_at),
        }
    }
}

impl TryFrom<LocalChangeRecord> for LocalChange {
    type Error = String;

    fn try_from(r: LocalChangeRecord) -> Result<Self, String> {
        Ok(Self {
            state: match (r.state.as_str(), r.merge_commit) {
                ("open", _) => LocalChangeState::Open,
                ("merged", Some(commit)) => LocalChangeState::Merged { commit },
                ("closed", _) => LocalChangeState::Closed,
                (other, _) => return Err(format!("unknown change state {other:?}")),
            },
            id: r.id,
            promotion_id: r.promotion_id,
            title: r.title,
            body: r.body,
            labels: r.labels,
            paths: r.paths,
            commit_message: r.commit_message,
            approvals: r.approvals.into_iter().map(approval_from).collect(),
            checks: r
                .checks
                .into_iter()
                .map(check_from)
                .collect::<Result<_, _>>()?,
            created_at: from_ms(r.created_at_unix_ms),
        })
    }
}

/// One package's status in one environment.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusRecord {
    pub package: String,
    pub environment: String,
    pub version: String,
    pub digest: String,
    pub promotion_id: Option<String>,
    pub revision: String,
    /// `Synced`, `OutOfSync`, `Syncing` or `Unknown`.
    pub sync: String,
    /// A `HealthState` name.
    pub health: String,
    pub last_sync_unix_ms: u64,
    pub message: String,
    /// Absent in records written before runs were reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRunRecord>,
}

/// The newest run of a package.
#[derive(Debug, Serialize, Deserialize)]
pub struct LastRunRecord {
    pub name: String,
    pub started_at_unix_ms: u64,
    pub finished_at_unix_ms: Option<u64>,
    /// A `RunResult` name.
    pub result: String,
}

impl From<&LastRun> for LastRunRecord {
    fn from(run: &LastRun) -> Self {
        Self {
            name: run.name.clone(),
            started_at_unix_ms: to_ms(run.started_at),
            finished_at_unix_ms: run.finished_at.map(to_ms),
            result: run.result.name().to_owned(),
        }
    }
}

impl TryFrom<LastRunRecord> for LastRun {
    type Error = String;

    fn try_from(r: LastRunRecord) -> Result<Self, String> {
        Ok(Self {
            result: RunResult::from_name(&r.result)
                .ok_or_else(|| format!("unknown run result {:?}", r.result))?,
            name: r.name,
            started_at: from_ms(r.started_at_unix_ms),
            finished_at: r.finished_at_unix_ms.map(from_ms),
        })
    }
}

impl From<&PackageSync> for StatusRecord {
    fn from(s: &PackageSync) -> Self {
        Self {
            package: s.package.clone(),
            environment: s.environment.clone(),
            version: s.version.clone(),
            digest: s.digest.clone(),
            promotion_id: s.promotion_id.clone(),
            revision: s.revision.clone(),
            sync: s.sync.name().to_owned(),
            health: s.health.name().to_owned(),
            last_sync_unix_ms: to_ms(s.last_sync),
            message: s.message.clone(),
            last_run: s.last_run.as_deref().map(LastRunRecord::from),
        }
    }
}

impl TryFrom<StatusRecord> for PackageSync {
    type Error = String;

    fn try_from(r: StatusRecord) -> Result<Self, String> {
        Ok(Self {
            sync: SyncState::from_name(&r.sync)
                .ok_or_else(|| format!("unknown sync state {:?}", r.sync))?,
            health: HealthState::from_name(&r.health)
                .ok_or_else(|| format!("unknown health {:?}", r.health))?,
            package: r.package,
            environment: r.environment,
            version: r.version,
            digest: r.digest,
            promotion_id: r.promotion_id,
            revision: r.revision,
            last_sync: from_ms(r.last_sync_unix_ms),
            message: r.message,
            last_run: r
                .last_run
                .map(|run| LastRun::try_from(run).map(Box::new))
                .transpose()?,
        })
    }
}

/// How long one package's version has been Healthy in one environment.
#[derive(Debug, Serialize, Deserialize)]
pub struct HealthSpanRecord {
    pub environment: String,
    pub package: String,
    pub version: String,
    pub digest: String,
    pub healthy_since_unix_ms: Option<u64>,
    pub left_healthy_at_unix_ms: Option<u64>,
}

impl From<&HealthSpan> for HealthSpanRecord {
    fn from(span: &HealthSpan) -> Self {
        Self {
            environment: span.environment.clone(),
            package: span.package.clone(),
            version: span.version.clone(),
            digest: span.digest.clone(),
            healthy_since_unix_ms: span.healthy_since.map(to_ms),
            left_healthy_at_unix_ms: span.left_healthy_at.map(to_ms),
        }
    }
}

impl From<HealthSpanRecord> for HealthSpan {
    fn from(r: HealthSpanRecord) -> Self {
        Self {
            environment: r.environment,
            package: r.package,
            version: r.version,
            digest: r.digest,
            healthy_since: r.healthy_since_unix_ms.map(from_ms),
            left_healthy_at: r.left_healthy_at_unix_ms.map(from_ms),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProblemRecord {
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
    pub revision: String,
}

/// One event of the event log.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventRecord {
    pub sequence: u64,
    /// The lease term of the replica that wrote it (0 for a lone dkd).
    #[serde(default)]
    pub term: u64,
    pub at_unix_ms: u64,
    /// Exactly one of the following is set.
    pub promotion: Option<PromotionRecord>,
    pub status: Option<StatusRecord>,
    /// With `status`: false when the package was removed from the environment.
    pub deployed: bool,
    pub config_revision: Option<String>,
    pub config_problems: Vec<ProblemRecord>,
    /// A hold set or released, as its file on the base branch reads.
    #[serde(default)]
    pub hold: Option<datakit::manifest::Hold>,
}

impl From<&Event> for EventRecord {
    fn from(event: &Event) -> Self {
        let mut record = Self {
            sequence: event.sequence,
            term: event.term,
            at_unix_ms: to_ms(event.at),
            promotion: None,
            status: None,
            deployed: false,
            config_revision: None,
            config_problems: Vec::new(),
            hold: None,
        };
        match &event.kind {
            EventKind::Promotion(p) => record.promotion = Some(p.as_ref().into()),
            EventKind::Hold(hold) => record.hold = Some(hold.as_ref().clone()),
            EventKind::Status { status, deployed } => {
                record.status = Some(status.into());
                record.deployed = *deployed;
            }
            EventKind::Config { revision, problems } => {
                record.config_revision = Some(revision.clone());
                record.config_problems = problems
                    .iter()
                    .map(|p| ProblemRecord {
                        file: p.file.clone(),
                        line: p.line,
                        message: p.message.clone(),
                        revision: p.revision.clone(),
                    })
                    .collect();
            }
        }
        record
    }
}

impl TryFrom<EventRecord> for Event {
    type Error = String;

    fn try_from(r: EventRecord) -> Result<Self, String> {
        let kind = match (r.promotion, r.status, r.config_revision) {
            (None, None, None) => match r.hold {
                Some(hold) => EventKind::Hold(Box::new(hold)),
                None => return Err(format!("event {} has no kind", r.sequence)),
            },
            (Some(promotion), None, None) => EventKind::Promotion(Box::new(promotion.try_into()?)),
            (None, Some(status), None) => EventKind::Status {
                status: status.try_into()?,
                deployed: r.deployed,
            },
            (None, None, Some(revision)) => EventKind::Config {
                revision,
                problems: r
                    .config_problems
                    .into_iter()
                    .map(|p| ConfigProblem {
                        file: p.file,
                        line: p.line,
                        message: p.message,
                        revision: p.revision,
                    })
                    .collect(),
            },
            _ => return Err(format!("event {} has no single kind", r.sequence)),
        };
        Ok(Self {
            sequence: r.sequence,
            term: r.term,
            at: from_ms(r.at_unix_ms),
            kind,
        })
    }
}

/// `event` as its record's JSON: how one replica hands an event to another.
pub fn encode_event(event: &Event) -> Result<Vec<u8>, String> {
    serde_json::to_vec(&EventRecord::from(event)).map_err(|e| e.to_string())
}

/// An event from its record's JSON.
pub fn decode_event(json: &[u8]) -> Result<Event, String> {
    let record: EventRecord = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    Event::try_from(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_record_written_before_last_runs_still_reads_and_a_run_round_trips() {
        let old = r#"{"package":"a","environment":"dev","version":"v1","digest":"sha256:x",
            "promotion_id":null,"revision":"c1","sync":"Synced","health":"Healthy",
            "last_sync_unix_ms":1,"message":""}"#;
        let record: StatusRecord = serde_json::from_str(old).expect("an old record reads");
        let mut status = PackageSync::try_from(record).expect("valid");
        assert_eq!(status.last_run, None);
        status.sync = SyncState::Syncing;
        status.last_run = Some(Box::new(LastRun {
            name: "a-1".into(),
            started_at: from_ms(5),
            finished_at: None,
            result: RunResult::Running,
        }));
        let json = serde_json::to_string(&StatusRecord::from(&status)).expect("write");
        let back: StatusRecord = serde_json::from_str(&json).expect("read");
        assert_eq!(PackageSync::try_from(back).expect("valid"), status);
    }
}
