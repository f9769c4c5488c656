//! The promotion engine: accepts promotions and rollbacks after checking every rule,
//! records each as a state machine in the state store, and drives it — propose, approve,
//! merge, sync — from a restartable reconcile loop, one step at a time.

mod change;
mod decline;
mod holds;
mod merge_queue;
#[cfg(test)]
mod parallel_tests;
mod reconcile;
mod run_history;
mod signatures;
mod soak;
mod store_change;
mod target_locks;
mod validate;
mod verification;

pub use holds::HoldOutcome;
pub use soak::Promotable;
pub use store_change::{StoreChangeOutcome, StoreChangeRequest};

use std::sync::Arc;

pub use decline::Decision;
use merge_queue::{MergeQueue, Merged};
use target_locks::{Target, TargetLocks};

use datakit::manifest::{
    Teams, Version, package_manifest_path, parse_deployed_package, validate_name,
};
use tokio::sync::{Notify, watch};

use super::{
    EnvironmentCatalog, EventKind, EventLog, Leadership, LoadedConfig, PromotionError,
    model::{Approver, ChangeRef, Promotion, PromotionKind, PromotionState},
    policy::{EffectiveRule, Policy},
    ports::{
        Clock, ClusterStatus, GitForge, RefusingRunner, Registry, StateStore, SystemClock,
        VerificationRunner, blocking,
    },
    rebuild_from_forge,
};

/// How long a request waits for the records to be rebuilt from the forge at start.
const RECORDS_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// A request to promote (or roll back) a package version into an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoteRequest {
    pub package: String,
    pub version: String,
    pub environment: String,
    pub kind: PromotionKind,
    pub dry_run: bool,
    pub force: bool,
    pub promoter: String,
    /// Why it is opened, for the change's body (auto-promotions say since when the version
    /// is Healthy upstream); `None` for requests by people.
    pub reason: Option<String>,
}

/// What a promote request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoteOutcome {
    /// The promotion opened (or the identical one already open); `None` for dry runs and
    /// no-ops.
    pub promotion: Option<Promotion>,
    pub no_op: bool,
    /// The change as a unified diff.
    pub diff: String,
    /// The approval rule that applies, in words.
    pub policy: String,
    pub summary: String,
}

/// The ports the engine works through.
pub struct Ports {
    pub catalog: Arc<EnvironmentCatalog>,
    pub forge: Arc<dyn GitForge>,
    pub registry: Arc<dyn Registry>,
    pub cluster: Arc<dyn ClusterStatus>,
    pub store: Arc<dyn StateStore>,
    pub events: Arc<EventLog>,
}

/// The promotion engine.
pub struct Engine {
    ports: Ports,
    /// One held while a promotion of a target (package or store, in an environment)
    /// changes state, so requests and the reconcile loop never interleave on the same
    /// records; promotions of other targets go on in parallel.
    targets: TargetLocks,
    /// Every merge into the base branch (promotions, holds) goes through it: merges land
    /// one batch at a time. Entered after a target's lock, never before one.
    merges: MergeQueue,
    wake: Notify,
    /// Reviewer groups as the forge last reported them (GitHub teams); `None` while the
    /// groups come from `config/teams.yaml`.
    forge_teams: std::sync::RwLock<Option<Arc<Teams>>>,
    /// True once the records were rebuilt from the forge: no id is handed out before, so
    /// none can repeat one the repository knows.
    records_ready: watch::Sender<bool>,
    /// One-line notices for users (a replaced state database, restored promotions).
    notices: std::sync::RwLock<Vec<String>>,
    /// Whether approvals by a claimed name count (the embedded forge's demo mode).
    count_asserted: bool,
    /// What time it is, for soak times.
    clock: Arc<dyn Clock>,
    /// Whether this process may write (a replica only while it leads).
    leadership: Arc<Leadership>,
    /// Runs verifications (`verify:` on an environment).
    verifier: Arc<dyn VerificationRunner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("forge", &self.ports.forge.describe())
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(ports: Ports) -> Self {
        Self {
            ports,
            targets: TargetLocks::default(),
            merges: MergeQueue::default(),
            wake: Notify::new(),
            forge_teams: std::sync::RwLock::new(None),
            records_ready: watch::Sender::new(false),
            notices: std::sync::RwLock::new(Vec::new()),
            count_asserted: false,
            clock: Arc::new(SystemClock),
            leadership: Arc::new(Leadership::alone()),
            verifier: Arc::new(RefusingRunner(
                "this dkd runs no verifications: configure cluster.run_verifications in dkd.yaml"
                    .into(),
            )),
        }
    }

    /// What runs verifications (for their logs).
    pub fn verifier(&self) -> Arc<dyn VerificationRunner> {
        self.verifier.clone()
    }

    /// Runs verifications through `verifier`.
    #[must_use]
    pub fn with_verifier(mut self, verifier: Arc<dyn VerificationRunner>) -> Self {
        self.verifier = verifier;
        self
    }

    /// Measures soak times on `clock` instead of the system's (give the status board the
    /// same one).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Writes only while `leadership` allows this process to (replicas: while it leads).
    #[must_use]
    pub fn led_by(mut self, leadership: Arc<Leadership>) -> Self {
        self.leadership = leadership;
        self
    }

    /// Who may write.
    pub fn leadership(&self) -> &Arc<Leadership> {
        &self.leadership
    }

    /// Merges `change` with whatever else waits to merge by its turn ([`MergeQueue`]);
    /// leadership is checked right before the batch lands.
    async fn merge_change(&self, change: ChangeRef) -> Merged {
        self.merges
            .merge(change, async |changes: &[ChangeRef]| {
                self.fence()?;
                Ok(self.ports.forge.merge_all(changes).await)
            })
            .await
    }

    /// Refuses a write when this process may not make it: a replica that lost (or never
    /// held) the lease changes nothing, even if a task of its last term is still running.
    pub(super) fn fence(&self) -> Result<(), PromotionError> {
        if self.leadership.may_write() {
            return Ok(());
        }
        Err(PromotionError::Unavailable(
            "this dkd replica does not lead now (its lease lapsed or passed to another replica): the leader makes this change".into(),
        ))
    }

    /// Lets approvals by a claimed name (`dk approve --as`, asserted by the caller) count:
    /// the embedded forge's single-user demo mode, `forge.asserted_approvers`.
    #[must_use]
    pub fn counting_asserted_approvals(mut self, count: bool) -> Self {
        self.count_asserted = count;
        self
    }

    /// Shows `notice` in `dk env list` and `dk history` until dkd restarts.
    pub fn add_notice(&self, notice: impl Into<String>) {
        if let Ok(mut notices) = self.notices.write() {
            notices.push(notice.into());
        }
    }

    /// Notices for users, oldest first.
    pub fn notices(&self) -> Vec<String> {
        self.notices
            .read()
            .map(|notices| notices.clone())
            .unwrap_or_default()
    }

    /// Restores every promotion the forge records and the store lacks, and raises the id
    /// counter above every id the forge knows; then ids may be handed out.
    pub async fn rebuild_records(&self) -> Result<(), PromotionError> {
        let rebuilt = rebuild_from_forge(&self.ports.store, self.ports.forge.as_ref()).await?;
        if rebuilt.restored > 0 {
            let notice = format!(
                "brought {} promotion(s) back from the deployment repository that dkd's state database lacked or had out of date",
                rebuilt.restored
            );
            tracing::warn!(restored = rebuilt.restored, "{notice}");
            self.add_notice(notice);
        }
        if rebuilt.unreadable > 0 {
            self.add_notice(format!(
                "{} promotion(s) recorded in the deployment repository could not be restored: their manifests do not parse (see dkd.log)",
                rebuilt.unreadable
            ));
        }
        self.records_ready.send_replace(true);
        Ok(())
    }

    /// Whether the records were rebuilt from the forge since dkd started.
    pub fn records_are_ready(&self) -> bool {
        *self.records_ready.borrow()
    }

    /// Waits, without a deadline, until the records were rebuilt from the forge.
    pub async fn wait_for_records(&self) {
        let mut ready = self.records_ready.subscribe();
        // Only an engine dropped mid-wait ends it otherwise: nothing left to wait for then.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// Waits until the records were rebuilt from the forge (briefly, at start).
    async fn await_records(&self) -> Result<(), PromotionError> {
        let mut ready = self.records_ready.subscribe();
        match tokio::time::timeout(RECORDS_PATIENCE, ready.wait_for(|ready| *ready)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(PromotionError::Unavailable(format!(
                "dkd is still reading past promotions from {}: try again in a moment",
                self.ports.forge.describe()
            ))),
        }
    }

    /// The reviewer groups the forge reported last, if it has its own.
    fn forge_teams(&self) -> Option<Arc<Teams>> {
        self.forge_teams.read().ok().and_then(|teams| teams.clone())
    }

    /// Asks the forge for its reviewer groups and remembers them for explanations.
    async fn refresh_forge_teams(&self) -> Result<Option<Arc<Teams>>, PromotionError> {
        let teams = self.ports.forge.reviewer_teams().await?.map(Arc::new);
        if let Ok(mut slot) = self.forge_teams.write() {
            slot.clone_from(&teams);
        }
        Ok(teams)
    }

    fn config(&self) -> Result<Arc<LoadedConfig>, PromotionError> {
        self.ports.catalog.snapshot().current.ok_or_else(|| {
            PromotionError::Unavailable(
                "no valid configuration on the deployment repository's base branch: fix config/environments.yaml"
                    .into(),
            )
        })
    }

    /// Saves a promotion, then publishes it to watchers.
    async fn persist(&self, promotion: &Promotion) -> Result<(), PromotionError> {
        self.fence()?;
        let record = promotion.clone();
        blocking::write(&self.ports.store, move |store| {
            store.save_promotion(&record)
        })
        .await?;
        self.ports
            .events
            .publish(EventKind::Promotion(Box::new(promotion.clone())))
            .await?;
        Ok(())
    }

    // Reads (`get`, `list`, `find`, `open_promotions`) stay on the caller's thread: the
    // store serves them from its cache and they never wait for a flush.

    /// Promotions not yet finished (for snapshots), from the store's index of them.
    pub fn open_promotions(&self) -> Result<Vec<Promotion>, PromotionError> {
        Ok(self.ports.store.load_unfinished_promotions()?)
    }

    /// Asks the reconcile loop to run now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Validates and opens a promotion, or explains why not: a manual hold refuses it, a
    /// rollback's hold on the version adds a warning.
    pub async fn promote(&self, request: PromoteRequest) -> Result<PromoteOutcome, PromotionError> {
        let warning = match self.config() {
            Ok(config) => holds::hold_check(&config, &request)?,
            Err(_) => None,
        };
        let mut outcome = self.open_promotion(request).await?;
        if let Some(warning) = warning {
            outcome.summary = format!("{}; warning: {warning}", outcome.summary);
        }
        Ok(outcome)
    }

    async fn open_promotion(
        &self,
        request: PromoteRequest,
    ) -> Result<PromoteOutcome, PromotionError> {
        validate_name("package", &request.package)
            .map_err(|e| PromotionError::InvalidInput(e.to_string()))?;
        let config = self.config()?;
        let environment = config
            .environment(&request.environment)
            .map_err(PromotionError::InvalidInput)?;
        let version = Version::parse(&request.version).map_err(|error| match error {
            datakit::manifest::VersionError::NotExact { .. } => {
                PromotionError::Refused(error.to_string())
            }
            datakit::manifest::VersionError::Malformed { .. } => {
                PromotionError::InvalidInput(error.to_string())
            }
        })?;
        let target = self
            .validate(&config, environment, &request, &version)
            .await?;
        let rule = EffectiveRule::for_promotion(environment, request.kind);
        let policy = rule.description.clone();
        let file = package_manifest_path(&environment.name, &request.package);
        // Held from here to the new record, so concurrent requests see each other.
        let guard = if request.dry_run {
            None
        } else {
            Some(
                self.targets
                    .lock(Target::new(&environment.name, &request.package, false))
                    .await,
            )
        };
        let promotions = self.ports.store.load_package_promotions(&request.package)?;
        if !request.dry_run
            && let Some(existing) = promotions.iter().find(|p| {
                !p.state.is_terminal()
                    && p.same_request(
                        &request.package,
                        &target.version,
                        &environment.name,
                        request.kind,
                    )
            })
        {
            return Ok(PromoteOutcome {
                promotion: Some(existing.clone()),
                no_op: false,
                diff: String::new(),
                policy,
                summary: format!(
                    "promotion {} is already under way for this request",
                    existing.id
                ),
            });
        }
        let current = self.current_manifest(&file).await?;
        if let Some(current) = &current
            && current.version == target.version
            && current.digest == target.digest
        {
            return Ok(PromoteOutcome {
                promotion: None,
                no_op: true,
                diff: String::new(),
                policy,
                summary: format!(
                    "{} already runs {} {}: nothing to do",
                    environment.name, request.package, target.version
                ),
            });
        }
        let previous_version = current.as_ref().map(|c| c.version.clone());
        if request.dry_run {
            let preview = change::manifest_for(
                &request.package,
                &target,
                environment,
                "<new id>",
                &request.promoter,
                previous_version.as_deref(),
                request.kind,
            );
            let old = self.current_text(&file).await?;
            return Ok(PromoteOutcome {
                promotion: None,
                no_op: false,
                diff: change::unified_diff(&file, old.as_deref(), &preview),
                policy,
                summary: "dry run: every check passed; nothing was changed".to_owned(),
            });
        }

        self.await_records().await?;
        let number = blocking::write(&self.ports.store, |s| s.next_promotion_number()).await?;
        let now = super::model::now();
        let mut promotion = Promotion {
            id: format!("p-{number}"),
            package: request.package.clone(),
            version: target.version.clone(),
            environment: environment.name.clone(),
            artifact: target.reference.clone(),
            digest: target.digest.clone(),
            previous_version,
            kind: request.kind,
            state: PromotionState::Requested,
            message: "accepted".into(),
            promoter: request.promoter.clone(),
            forced: !target.forced_past.is_empty(),
            change: None,
            approvals: Vec::new(),
            checks: Vec::new(),
            merge_commit: None,
            superseded_by: None,
            created_at: now,
            updated_at: now,
            transitions: Vec::new(),
            store_manifest: None,
            reason: request.reason.clone(),
        };
        promotion.enter(PromotionState::Requested, "accepted");
        self.persist(&promotion).await?;
        let validated = if target.forced_past.is_empty() {
            format!("validated; digest pinned to {}", promotion.digest)
        } else {
            format!(
                "validated; digest pinned to {}; forced past: {}",
                promotion.digest,
                target.forced_past.join("; ")
            )
        };
        promotion.enter(PromotionState::Validated, validated);
        self.persist(&promotion).await?;
        for older in promotions
            .iter()
            .filter(|p| p.state.is_open() && p.same_target(&promotion))
        {
            self.supersede(older.clone(), &promotion.id).await?;
        }
        drop(guard);
        let promotion = self.propose_now(&promotion.id).await?;
        self.wake();
        let policy_line = policy.clone();
        Ok(PromoteOutcome {
            summary: format!(
                "promotion {} opened: {} {} to {} ({policy_line})",
                promotion.id, promotion.package, promotion.version, promotion.environment
            ),
            promotion: Some(promotion),
            no_op: false,
            diff: String::new(),
            policy,
        })
    }

    /// Marks an open promotion superseded by `by` and closes its change request.
    async fn supersede(&self, mut older: Promotion, by: &str) -> Result<(), PromotionError> {
        if let Some(change) = &older.change
            && let Err(error) = self
                .ports
                .forge
                .close(change, &format!("superseded by {by}"))
                .await
        {
            tracing::warn!(promotion_id = %older.id, %error, "cannot close the superseded change request");
        }
        older.superseded_by = Some(by.to_owned());
        older.enter(PromotionState::Superseded, format!("superseded by {by}"));
        self.persist(&older).await?;
        Ok(())
    }

    /// The deployed manifest of `file` on the base branch, if any.
    async fn current_manifest(
        &self,
        file: &str,
    ) -> Result<Option<datakit::manifest::DeployedPackage>, PromotionError> {
        Ok(self
            .current_text(file)
            .await?
            .and_then(|text| parse_deployed_package(file, &text).ok()))
    }

    async fn current_text(&self, file: &str) -> Result<Option<String>, PromotionError> {
        let revision = self.ports.forge.base_revision().await?;
        let contents = self
            .ports
            .forge
            .read_files(&revision, &[file.to_owned()])
            .await?;
        Ok(contents
            .into_iter()
            .next()
            .flatten()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Rolls `package` in `environment` back to `to_version`, or to the version deployed
    /// before the current one (from the file's history on the base branch). Either way the
    /// target must be a version the environment ran (checked in `validate`).
    pub async fn rollback(
        &self,
        package: &str,
        environment: &str,
        to_version: Option<&str>,
        dry_run: bool,
        promoter: &str,
    ) -> Result<PromoteOutcome, PromotionError> {
        validate_name("package", package)
            .map_err(|e| PromotionError::InvalidInput(e.to_string()))?;
        validate_name("environment", environment)
            .map_err(|e| PromotionError::InvalidInput(e.to_string()))?;
        let version = match to_version.filter(|v| !v.is_empty()) {
            Some(version) => version.to_owned(),
            None => self.previous_version(package, environment).await?,
        };
        self.promote(PromoteRequest {
            package: package.to_owned(),
            version,
            environment: environment.to_owned(),
            kind: PromotionKind::Rollback,
            dry_run,
            force: false,
            promoter: promoter.to_owned(),
            reason: None,
        })
        .await
    }

    /// The version deployed before the current one, from the manifest's git history.
    async fn previous_version(
        &self,
        package: &str,
        environment: &str,
    ) -> Result<String, PromotionError> {
        let history = self.run_history(package, environment).await?;
        let current = history.current.ok_or_else(|| {
            PromotionError::NotFound(format!(
                "{package} is not deployed in {environment}: nothing to roll back"
            ))
        })?;
        history.earlier.into_iter().next().map(|ran| ran.version).ok_or_else(|| {
            PromotionError::NotFound(format!(
                "{package} has run only {} in {environment}: there is no earlier version to roll back to",
                current.version
            ))
        })
    }

    /// Approves promotion `id` as `approver`, if the rule allows them.
    pub async fn approve(
        &self,
        id: &str,
        approver: &Approver,
    ) -> Result<Promotion, PromotionError> {
        let config = self.config()?;
        self.await_change_request(id).await?;
        let guard = self.lock_target_of(id).await?;
        let promotion = self.get(id)?;
        if promotion.state != PromotionState::ChangeProposed {
            return Err(PromotionError::Refused(format!(
                "promotion {id} is {}: nothing to approve",
                promotion.state.name()
            )));
        }
        let environment = config
            .environments
            .get(&promotion.environment)
            .ok_or_else(|| {
                PromotionError::Refused(format!(
                    "environment {} no longer exists",
                    promotion.environment
                ))
            })?;
        let rule = EffectiveRule::for_promotion(environment, promotion.kind);
        let forge_teams = self.refresh_forge_teams().await?;
        if let (Some(_), Some(change)) = (&forge_teams, &promotion.change) {
            // A forge with its own reviewer groups takes approvals itself (GitHub reviews).
            self.ports.forge.approve(change, approver).await?;
        }
        let teams = forge_teams.as_deref().or(config.teams.as_ref());
        let policy = Policy {
            rule: &rule,
            teams,
            promoter: &promotion.promoter,
            count_asserted: self.count_asserted,
        };
        policy
            .check_approver(&approver.user, &approver.groups)
            .map_err(|refusal| match refusal {
                super::policy::ApproverRefusal::NotNeeded { .. } => {
                    PromotionError::Refused(refusal.to_string())
                }
                _ => PromotionError::NotAllowed(refusal.to_string()),
            })?;
        let change = promotion.change.clone().ok_or_else(|| {
            PromotionError::Refused(format!(
                "promotion {id} has no change request yet; try again in a moment"
            ))
        })?;
        self.ports.forge.approve(&change, approver).await?;
        drop(guard);
        self.wake();
        self.reconcile_one(id).await?;
        self.get(id)
    }

    /// Moves a promotion that is still on its way to its change request (accepted a moment
    /// ago) there first, so approving right after `dk promote` works; gives up quietly after
    /// a while and lets the caller report the state.
    async fn await_change_request(&self, id: &str) -> Result<(), PromotionError> {
        let deadline = tokio::time::Instant::now() + RECORDS_PATIENCE;
        while self.get(id)?.state == PromotionState::Validated
            && tokio::time::Instant::now() < deadline
        {
            if let Err(error) = self.reconcile_one(id).await {
                tracing::debug!(promotion_id = %id, %error, "change request not open yet");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Waits for the lock of the target promotion `id` changes.
    async fn lock_target_of(
        &self,
        id: &str,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>, PromotionError> {
        let target = Target::of(&self.get(id)?);
        Ok(self.targets.lock(target).await)
    }

    /// One promotion by id.
    pub fn get(&self, id: &str) -> Result<Promotion, PromotionError> {
        self.ports.store.load_promotion(id)?.ok_or_else(|| {
            PromotionError::NotFound(format!(
                "promotion {id:?} not found (see dk history PACKAGE)"
            ))
        })
    }

    /// The newest promotion of `package` `version` into `environment`.
    pub fn find(
        &self,
        package: &str,
        version: &str,
        environment: &str,
    ) -> Result<Promotion, PromotionError> {
        let wanted = Version::parse(version)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|_| version.to_owned());
        self.list(Some(package), Some(environment))?.into_iter().find(|p| p.version == wanted).ok_or_else(|| {
            PromotionError::NotFound(format!("no promotion of {package} {version} to {environment} (see dk history {package})"))
        })
    }

    /// Promotions, newest first, optionally of one package and/or environment; store
    /// changes are in the list unless it is of one package (they are keyed by store).
    /// One package's are read through the store's package index; a list across every
    /// package reads every record.
    pub fn list(
        &self,
        package: Option<&str>,
        environment: Option<&str>,
    ) -> Result<Vec<Promotion>, PromotionError> {
        let stored = match package {
            Some(package) => self.ports.store.load_package_promotions(package)?,
            None => self.ports.store.load_promotions()?,
        };
        let mut promotions: Vec<Promotion> = stored
            .into_iter()
            .filter(|p| {
                package.is_none_or(|wanted| p.package == wanted && p.kind != PromotionKind::Store)
            })
            .filter(|p| environment.is_none_or(|wanted| p.environment == wanted))
            .collect();
        promotions.reverse();
        Ok(promotions)
    }

    /// What promotions of `kind` into `environment` need, in words.
    pub fn policy_for(&self, environment: &str, kind: PromotionKind) -> Option<String> {
        let config = self.ports.catalog.snapshot().current?;
        config
            .environments
            .get(environment)
            .map(|env| EffectiveRule::for_promotion(env, kind).description)
    }
}

/// How the approval rule applies to one promotion, for display.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Explanation {
    /// The rule in words.
    pub policy: String,
    /// What is still missing, in words; empty when nothing is (or nothing applies anymore).
    pub needed: String,
    /// For each approver, the rule's groups they belong to.
    pub approver_groups: Vec<(String, Vec<String>)>,
}

impl Engine {
    /// The rule, what is missing and who approved in which group, for `promotion`.
    pub fn explain(&self, promotion: &Promotion) -> Explanation {
        let Some(config) = self.ports.catalog.snapshot().current else {
            return Explanation::default();
        };
        let Some(environment) = config.environments.get(&promotion.environment) else {
            return Explanation::default();
        };
        let rule = EffectiveRule::for_promotion(environment, promotion.kind);
        let forge_teams = self.forge_teams();
        let teams = forge_teams.as_deref().or(config.teams.as_ref());
        let policy = Policy {
            rule: &rule,
            teams,
            promoter: &promotion.promoter,
            count_asserted: self.count_asserted,
        };
        let needed = if promotion.state == PromotionState::ChangeProposed {
            policy.evaluate(&promotion.approvals).needed
        } else {
            String::new()
        };
        let approver_groups = promotion
            .approvals
            .iter()
            .map(|approval| {
                (
                    approval.user.clone(),
                    policy.rule_groups_of(&approval.user, &approval.groups),
                )
            })
            .collect();
        Explanation {
            policy: rule.description,
            needed,
            approver_groups,
        }
    }
}
