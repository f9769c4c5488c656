//! The embedded forge: a bare repository in `DK_HOME/deploy.git`, created on first start
//! with the default environments and teams, that users clone, edit and push to. Change
//! requests are branches plus records; merges are serialized, rebased onto a moved base,
//! re-checked, and land with a compare-and-swap on `main` — never a force-push.

mod merge;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use datakit::manifest::{
    DEFAULT_ENVIRONMENTS_YAML, DEFAULT_TEAMS_YAML, ENVIRONMENTS_FILE, TEAMS_FILE,
};
use tokio::sync::Mutex;

use super::{
    Git, GitError,
    local_checks::ChangeChecks,
    local_landed::LandedIndex,
    local_packing::{DEFAULT_PACK_EVERY, Packer},
    local_records,
};
use crate::promotion::{
    Approval, Approver, CatalogState, ChangeRef, Check,
    ports::{
        ChangeProposal, ChangeRequestStore, ChangeState, ChangeStatus, Declined, FileVersion,
        FolderChanges, ForgeError, GitForge, GroupSource, LocalChange, LocalChangeState,
        MergeAnswer, RecordedPromotion, TreeFile, blocking,
    },
};

/// The base branch of the embedded deployment repository.
pub const BASE_BRANCH: &str = "main";
const BASE_REF: &str = "refs/heads/main";
/// How often a merge retries when someone else moved `main` at the same moment.
const MERGE_ATTEMPTS: usize = 20;

/// The deployment repository as a local bare git repository.
#[derive(Clone)]
pub struct LocalGitForge {
    git: Git,
    changes: Arc<dyn ChangeRequestStore>,
    /// Serializes writes to the repository's branches (proposals, merges, closes).
    writes: Arc<Mutex<()>>,
    checks: Arc<ChangeChecks>,
    /// Which commit landed each promotion, read incrementally.
    landed: Arc<Mutex<LandedIndex>>,
    /// Packs the loose objects merges leave behind.
    packer: Arc<Packer>,
}

impl std::fmt::Debug for LocalGitForge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalGitForge")
            .field("git", &self.git)
            .finish_non_exhaustive()
    }
}

impl LocalGitForge {
    /// Opens the repository at `path`, creating it with the default configuration when it
    /// does not exist. Creation happens in a sibling folder that is renamed into place, so a
    /// crash never leaves a half-made repository behind.
    pub async fn open_or_init(
        path: &Path,
        changes: Arc<dyn ChangeRequestStore>,
    ) -> Result<Self, ForgeError> {
        if !path.exists() {
            create_repository(path).await?;
            tracing::info!(repository = %path.display(), "created the deployment repository");
        }
        let git = Git::new(path);
        let forge = Self {
            packer: Arc::new(Packer::new(git.clone(), DEFAULT_PACK_EVERY)),
            git,
            changes,
            writes: Arc::new(Mutex::new(())),
            checks: Arc::new(ChangeChecks::new(GroupSource::TeamsFile)),
            landed: Arc::default(),
        };
        forge.base_revision().await?;
        Ok(forge)
    }

    /// Packs the repository's loose objects after every `every` merged change requests
    /// (0: never), instead of `DEFAULT_PACK_EVERY`.
    #[must_use]
    pub fn packing_every(mut self, every: usize) -> Self {
        self.packer = Arc::new(Packer::new(self.git.clone(), every));
        self
    }

    /// Lets the manifests check trust every revision the catalog accepts (see
    /// `local_checks.rs`), so the first change after a start reads no unchanged manifest.
    pub fn trust_accepted(&self, accepted: tokio::sync::watch::Receiver<CatalogState>) {
        self.checks.trust_accepted(accepted);
    }

    pub fn git(&self) -> &Git {
        &self.git
    }

    /// Saves `change` durably, off the async workers.
    async fn save(&self, change: &LocalChange) -> Result<(), ForgeError> {
        let record = change.clone();
        blocking::write(&self.changes, move |changes| changes.save_change(&record)).await?;
        Ok(())
    }

    /// A change request's record (reads stay on the caller's thread: the store serves them
    /// from its cache and they never wait for a flush); rebuilt from its branch, and saved,
    /// when dkd's state database lost it.
    async fn record(&self, id: &str) -> Result<LocalChange, ForgeError> {
        if let Some(record) = self.changes.load_change(id)? {
            return Ok(record);
        }
        let rebuilt = {
            let mut landed = self.landed.lock().await;
            local_records::rebuild_change(&self.git, BASE_BRANCH, id, &mut landed).await?
        };
        let mut rebuilt = rebuilt.ok_or_else(|| ForgeError::UnknownChange(id.to_owned()))?;
        if let (LocalChangeState::Open, Some(head)) =
            (&rebuilt.state, self.git.branch_head(id).await?)
        {
            rebuilt.checks = vec![self.check(&head, &rebuilt.paths).await?];
        }
        tracing::warn!(change = %id, "change request rebuilt from the deployment repository; approvals given before it was lost must be given again");
        self.save(&rebuilt).await?;
        Ok(rebuilt)
    }

    /// The manifests check of `head`, a commit that wrote `paths` on top of its parent.
    async fn check(&self, head: &str, paths: &[String]) -> Result<Check, ForgeError> {
        let parent = self.parent_of(head).await?;
        self.checks
            .check(self, head, parent.as_deref(), paths)
            .await
    }

    /// Commits `change`'s files on top of `base`; returns the commit and its check.
    async fn commit_on(
        &self,
        change: &LocalChange,
        base: &str,
        head: &str,
    ) -> Result<String, ForgeError> {
        let contents = self.git.read_files(head, &change.paths).await?;
        let files: Vec<(String, Vec<u8>)> = change
            .paths
            .iter()
            .cloned()
            .zip(contents)
            .filter_map(|(path, bytes)| Some((path, bytes?)))
            .collect();
        Ok(self
            .git
            .commit_files(Some(base), &files, &change.commit_message)
            .await?)
    }

    /// Closes `change` and keeps its branch under `refs/closed/`, so its id stays taken if
    /// sled is lost; closed by `declined`, the kept ref is a commit on top of the branch tip
    /// (same tree) whose trailers record who decided what and why.
    async fn close_keeping(
        &self,
        change: &ChangeRef,
        reason: &str,
        declined: Option<&Declined>,
    ) -> Result<(), ForgeError> {
        let _writing = self.writes.lock().await;
        let mut record = self.record(&change.id).await?;
        if record.state == LocalChangeState::Open {
            record.state = LocalChangeState::Closed;
            self.save(&record).await?;
            tracing::info!(change = %change.id, %reason, "closed change request");
        }
        if let Some(head) = self.git.branch_head(&record.id).await? {
            let kept = match declined {
                Some(declined) => {
                    let message = local_records::decision_message(&record.promotion_id, declined);
                    self.git.commit_files(Some(&head), &[], &message).await?
                }
                None => head,
            };
            let reference = format!("refs/closed/{}", record.id);
            self.git.set_ref(&reference, &kept).await?;
        }
        self.delete_branch(&record.id).await
    }

    async fn parent_of(&self, commit: &str) -> Result<Option<String>, ForgeError> {
        Ok(self.git.first_parent(commit).await?)
    }

    async fn delete_branch(&self, branch: &str) -> Result<(), ForgeError> {
        Ok(self.git.delete_ref(&format!("refs/heads/{branch}")).await?)
    }
}

async fn create_repository(path: &Path) -> Result<(), ForgeError> {
    let mut staging = PathBuf::from(path);
    staging.set_extension(format!("git.creating-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| ForgeError::Unavailable(e.to_string()))?;
    }
    let git = Git::init_bare(&staging, BASE_BRANCH).await?;
    let files = [
        (
            ENVIRONMENTS_FILE.to_owned(),
            DEFAULT_ENVIRONMENTS_YAML.as_bytes().to_vec(),
        ),
        (
            TEAMS_FILE.to_owned(),
            DEFAULT_TEAMS_YAML.as_bytes().to_vec(),
        ),
    ];
    let commit = git
        .commit_files(None, &files, "Initial DataKit deployment repository")
        .await?;
    git.update_ref(BASE_REF, &commit, None).await?;
    std::fs::rename(&staging, path).map_err(|e| ForgeError::Unavailable(e.to_string()))?;
    Ok(())
}

#[async_trait::async_trait]
impl GitForge for LocalGitForge {
    fn describe(&self) -> String {
        self.git.git_dir().display().to_string()
    }

    async fn base_revision(&self) -> Result<String, ForgeError> {
        self.git
            .branch_head(BASE_BRANCH)
            .await?
            .ok_or_else(|| ForgeError::MissingBranch(BASE_BRANCH.into()))
    }

    async fn list_files(&self, revision: &str, dir: &str) -> Result<Vec<String>, ForgeError> {
        Ok(self.git.list_files(revision, dir).await?)
    }

    async fn list_tree(&self, revision: &str, dir: &str) -> Result<Vec<TreeFile>, ForgeError> {
        Ok(self
            .git
            .list_blobs(revision, &[dir])
            .await?
            .into_iter()
            .map(|(path, id)| TreeFile { path, id })
            .collect())
    }

    async fn read_files(
        &self,
        revision: &str,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, ForgeError> {
        Ok(self.git.read_files(revision, paths).await?)
    }

    async fn folder_id(&self, revision: &str, dir: &str) -> Result<Option<String>, ForgeError> {
        Ok(self.git.tree_id(revision, dir).await?)
    }

    async fn changed_files(
        &self,
        from: &str,
        to: &str,
        dir: &str,
    ) -> Result<Option<FolderChanges>, ForgeError> {
        Ok(Some(self.git.changed_files(from, to, dir).await?))
    }

    async fn contains(&self, revision: &str, commit: &str) -> Result<bool, ForgeError> {
        Ok(self.git.is_ancestor(commit, revision).await?)
    }

    async fn file_history(&self, path: &str, limit: usize) -> Result<Vec<FileVersion>, ForgeError> {
        let changes = self.git.file_log(BASE_BRANCH, path, limit).await?;
        let ids: Vec<&str> = changes.iter().filter_map(|c| c.blob.as_deref()).collect();
        let mut blobs = self.git.read_blobs(&ids).await?.into_iter();
        Ok(changes
            .iter()
            .map(|change| FileVersion {
                commit: change.commit.clone(),
                at: SystemTime::UNIX_EPOCH + Duration::from_secs(change.unix_seconds),
                contents: change
                    .blob
                    .as_ref()
                    .and_then(|_| blobs.next().flatten())
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            })
            .collect())
    }

    async fn propose_change(&self, proposal: &ChangeProposal) -> Result<ChangeRef, ForgeError> {
        let _writing = self.writes.lock().await;
        let change_ref = ChangeRef {
            id: proposal.branch.clone(),
            branch: proposal.branch.clone(),
            title: proposal.title.clone(),
            url: String::new(),
        };
        if self.changes.load_change(&proposal.branch)?.is_some() {
            return Ok(change_ref);
        }
        // A crash between creating the branch and saving the record leaves the branch:
        // reuse it rather than failing or opening a second one.
        let head = match self.git.branch_head(&proposal.branch).await? {
            Some(head) => head,
            None => {
                let base = self.base_revision().await?;
                let commit = self
                    .git
                    .commit_files(Some(&base), &proposal.files, &proposal.commit_message)
                    .await?;
                self.git
                    .update_ref(&format!("refs/heads/{}", proposal.branch), &commit, None)
                    .await?;
                commit
            }
        };
        let paths: Vec<String> = proposal
            .files
            .iter()
            .map(|(path, _)| path.clone())
            .collect();
        let check = self.check(&head, &paths).await?;
        let change = LocalChange {
            id: proposal.branch.clone(),
            promotion_id: proposal.promotion_id.clone(),
            title: proposal.title.clone(),
            body: proposal.body.clone(),
            labels: proposal.labels.clone(),
            paths,
            commit_message: proposal.commit_message.clone(),
            state: LocalChangeState::Open,
            approvals: Vec::new(),
            checks: vec![check],
            created_at: crate::promotion::now(),
        };
        self.save(&change).await?;
        Ok(change_ref)
    }

    async fn change_status(&self, change: &ChangeRef) -> Result<ChangeStatus, ForgeError> {
        let record = self.record(&change.id).await?;
        let state = match record.state {
            LocalChangeState::Open => ChangeState::Open,
            LocalChangeState::Merged { commit } => ChangeState::Merged { commit },
            LocalChangeState::Closed => ChangeState::Closed,
        };
        Ok(ChangeStatus {
            state,
            approvals: record.approvals,
            checks: record.checks,
        })
    }

    async fn approve(&self, change: &ChangeRef, approver: &Approver) -> Result<(), ForgeError> {
        let _writing = self.writes.lock().await;
        let mut record = self.record(&change.id).await?;
        if !record
            .approvals
            .iter()
            .any(|a| a.user.eq_ignore_ascii_case(&approver.user))
        {
            record
                .approvals
                .push(Approval::given(approver, crate::promotion::now()));
            self.save(&record).await?;
        }
        Ok(())
    }

    async fn merge(&self, change: &ChangeRef) -> Result<String, ForgeError> {
        self.merge_batch(std::slice::from_ref(change))
            .await
            .pop()
            .unwrap_or_else(|| Err(ForgeError::Unavailable("no answer to a merge".into())))
    }

    async fn merge_all(&self, changes: &[ChangeRef]) -> Vec<MergeAnswer> {
        self.merge_batch(changes).await
    }

    async fn close(&self, change: &ChangeRef, reason: &str) -> Result<(), ForgeError> {
        self.close_keeping(change, reason, None).await
    }

    async fn decline(&self, change: &ChangeRef, declined: &Declined) -> Result<(), ForgeError> {
        self.close_keeping(change, &declined.summary(), Some(declined))
            .await
    }

    async fn find_landed(&self, promotion_id: &str) -> Result<Option<String>, ForgeError> {
        let mut landed = self.landed.lock().await;
        Ok(landed.find(&self.git, BASE_BRANCH, promotion_id).await?)
    }

    async fn base_history(&self, limit: usize) -> Result<Vec<String>, ForgeError> {
        Ok(self.git.first_parent_line(BASE_BRANCH, limit).await?)
    }

    async fn recorded_promotions(&self) -> Result<Vec<RecordedPromotion>, ForgeError> {
        Ok(local_records::recorded_promotions(&self.git, BASE_BRANCH).await?)
    }

    fn group_source(&self) -> GroupSource {
        GroupSource::TeamsFile
    }

    async fn reviewer_teams(&self) -> Result<Option<datakit::manifest::Teams>, ForgeError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{promotion::CheckOutcome, store::MemoryStore};

    async fn forge(dir: &Path) -> LocalGitForge {
        LocalGitForge::open_or_init(&dir.join("deploy.git"), Arc::new(MemoryStore::default()))
            .await
            .expect("repo")
    }

    #[tokio::test]
    async fn a_new_repository_has_the_default_configuration_on_main() {
        let dir = tempfile::tempdir().expect("tempdir");
        let forge = forge(dir.path()).await;
        let head = forge.base_revision().await.expect("head");
        let files = forge.list_files(&head, "config/").await.expect("ls");
        assert_eq!(
            files,
            vec![ENVIRONMENTS_FILE.to_owned(), TEAMS_FILE.to_owned()]
        );
        let again = LocalGitForge::open_or_init(
            &dir.path().join("deploy.git"),
            Arc::new(MemoryStore::default()),
        )
        .await
        .expect("reopen");
        assert_eq!(
            again.base_revision().await.expect("head"),
            head,
            "reopening changes nothing"
        );
    }

    fn manifest(environment: &str, namespace: &str) -> Vec<u8> {
        datakit::manifest::DeployedPackage {
            name: "my-package".into(),
            namespace: namespace.into(),
            annotations: std::collections::BTreeMap::new(),
            version: "v1.0.0".into(),
            artifact: "registry.example/my-package:v1.0.0".into(),
            digest: format!("sha256:{}", "a".repeat(64)),
        }
        .to_yaml()
        .into_bytes()
        .into_iter()
        .chain(format!("# {environment}\n").into_bytes())
        .collect()
    }

    /// A change request on `branch` writing `files`, for promotion `id-<branch>`.
    fn proposal(branch: &str, files: Vec<(String, Vec<u8>)>) -> ChangeProposal {
        ChangeProposal {
            promotion_id: format!("id-{branch}"),
            branch: branch.to_owned(),
            title: branch.to_owned(),
            body: String::new(),
            labels: Vec::new(),
            files,
            commit_message: format!("{branch}\n\nPromotion-Id: id-{branch}\n"),
        }
    }

    async fn check_of(forge: &LocalGitForge, branch: &str, files: Vec<(String, Vec<u8>)>) -> Check {
        let change = forge
            .propose_change(&proposal(branch, files))
            .await
            .expect("proposed");
        let status = forge.change_status(&change).await.expect("status");
        status.checks.into_iter().next().expect("one check")
    }

    async fn push(forge: &LocalGitForge, files: Vec<(String, Vec<u8>)>) -> String {
        let base = forge.base_revision().await.expect("head");
        let pushed = forge
            .git
            .commit_files(Some(&base), &files, "push by hand")
            .await
            .expect("commit");
        forge
            .git
            .update_ref(BASE_REF, &pushed, Some(&base))
            .await
            .expect("push");
        pushed
    }

    #[tokio::test]
    async fn a_change_fails_its_check_for_a_bad_file_it_writes_or_a_bad_one_on_its_base() {
        let dir = tempfile::tempdir().expect("tempdir");
        let forge = forge(dir.path()).await;
        let write = |environment: &str, namespace: &str| {
            vec![(
                format!("environments/{environment}/my-package.yaml"),
                manifest(environment, namespace),
            )]
        };
        let valid = check_of(&forge, "promote/dev/a", write("dev", "dev")).await;
        assert_eq!(
            valid.outcome,
            CheckOutcome::Success,
            "{}",
            valid.description
        );
        let invalid = check_of(&forge, "promote/int/a", write("int", "dev")).await;
        assert_eq!(invalid.outcome, CheckOutcome::Failure);
        assert!(
            invalid
                .description
                .contains("environments/int/my-package.yaml"),
            "{}",
            invalid.description
        );

        // A manifest in the wrong namespace pushed straight to main, past every check.
        let broken = "environments/prod/my-package.yaml".to_owned();
        let pushed = push(&forge, vec![(broken.clone(), manifest("prod", "dev"))]).await;
        let on_broken = check_of(&forge, "promote/dev/b", write("dev", "dev")).await;
        assert_eq!(on_broken.outcome, CheckOutcome::Failure);
        assert!(
            on_broken.description.contains(&broken),
            "{}",
            on_broken.description
        );
        let environments = forge
            .read_files(&pushed, &[ENVIRONMENTS_FILE.to_owned()])
            .await
            .expect("read")
            .remove(0)
            .expect("environments.yaml");
        let whole = check_of(
            &forge,
            "config/environments",
            vec![(ENVIRONMENTS_FILE.to_owned(), environments)],
        )
        .await;
        assert_eq!(whole.outcome, CheckOutcome::Failure);
        assert!(whole.description.contains(&broken), "{}", whole.description);

        push(&forge, vec![(broken, manifest("prod", "production"))]).await;
        let fixed = check_of(&forge, "promote/dev/c", write("dev", "dev")).await;
        assert_eq!(
            fixed.outcome,
            CheckOutcome::Success,
            "{}",
            fixed.description
        );
    }

    #[tokio::test]
    async fn changes_merged_together_land_in_order_and_one_failing_its_check_stays_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let forge = forge(dir.path()).await;
        let base = forge.base_revision().await.expect("head");
        let propose = |branch: &str, environment: &str, namespace: &str| {
            let proposal = proposal(
                branch,
                vec![(
                    format!("environments/{environment}/my-package.yaml"),
                    manifest(environment, namespace),
                )],
            );
            let forge = forge.clone();
            async move { forge.propose_change(&proposal).await.expect("proposed") }
        };
        // All three start from the same base; the middle one is in the wrong namespace.
        let changes = [
            propose("promote/dev/a", "dev", "dev").await,
            propose("promote/int/a", "int", "dev").await,
            propose("promote/prod/a", "prod", "production").await,
        ];
        let answers = forge.merge_all(&changes).await;
        let [dev, int, prod] = <[_; 3]>::try_from(answers).expect("one answer each");
        let (dev, prod) = (dev.expect("dev merged"), prod.expect("prod merged"));
        assert!(
            matches!(int, Err(ForgeError::NotMergeable { .. })),
            "{int:?}"
        );
        assert_eq!(
            forge
                .git
                .first_parent_line(BASE_BRANCH, 3)
                .await
                .expect("log"),
            [prod.clone(), dev.clone(), base],
            "stacked in order, the refused one left out"
        );
        for (change, landed) in [
            (&changes[0], Some(dev)),
            (&changes[1], None),
            (&changes[2], Some(prod)),
        ] {
            let state = forge.change_status(change).await.expect("status").state;
            match landed {
                Some(commit) => assert_eq!(state, ChangeState::Merged { commit }),
                None => assert_eq!(state, ChangeState::Open),
            }
        }
        let prod_file = forge
            .read_files(
                BASE_BRANCH,
                &["environments/prod/my-package.yaml".to_owned()],
            )
            .await
            .expect("read");
        assert!(prod_file[0].is_some(), "the last change's file is on main");
    }

    #[tokio::test]
    async fn a_change_on_the_accepted_base_reads_its_configuration_again_only_when_it_writes_some()
    {
        use crate::promotion::{EnvironmentCatalog, ports::StateStore};
        let dir = tempfile::tempdir().expect("tempdir");
        let forge = forge(dir.path()).await;
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        let catalog = EnvironmentCatalog::from_store(store.as_ref(), GroupSource::TeamsFile);
        forge.trust_accepted(catalog.subscribe());
        catalog.refresh(&forge, &store).await.expect("refresh");
        let accepted = catalog.snapshot().source.expect("accepted source");
        assert_eq!(
            accepted.revision,
            forge.base_revision().await.expect("head")
        );

        let manifest_in = |namespace: &str| {
            let path = "environments/dev/my-package.yaml".to_owned();
            (path, manifest("dev", namespace))
        };
        let valid = check_of(&forge, "promote/dev/a", vec![manifest_in("dev")]).await;
        assert_eq!(
            valid.outcome,
            CheckOutcome::Success,
            "{}",
            valid.description
        );
        let wrong = check_of(&forge, "promote/dev/b", vec![manifest_in("int")]).await;
        assert_eq!(
            wrong.outcome,
            CheckOutcome::Failure,
            "checked against the accepted namespaces"
        );
        let bad_store = "environments/dev/stores/broken.yaml".to_owned();
        let with_store = vec![
            manifest_in("dev"),
            (bad_store.clone(), b"kind: Nonsense\n".to_vec()),
        ];
        let refused = check_of(&forge, "promote/dev/c", with_store).await;
        assert_eq!(
            refused.outcome,
            CheckOutcome::Failure,
            "the store it writes is read"
        );
        assert!(
            refused.description.contains(&bad_store),
            "{}",
            refused.description
        );
    }

    #[tokio::test]
    async fn manifests_are_validated_by_what_changed_and_a_bad_one_stays_refused_until_fixed() {
        use crate::promotion::{DeployedManifests, LoadedConfig, read_config_source};
        let dir = tempfile::tempdir().expect("tempdir");
        let forge = forge(dir.path()).await;
        let mut manifests = DeployedManifests::default();
        let mut check = async |revision: String| {
            let source = read_config_source(&forge, &revision).await.expect("config");
            let config =
                LoadedConfig::from_source(&source, GroupSource::TeamsFile).expect("valid config");
            manifests
                .check(&forge, &config, None)
                .await
                .expect("check")
                .map(|problem| (problem.file, problem.revision))
        };
        let path = |name: &str| format!("environments/dev/{name}.yaml");
        let named = |name: &str, namespace: &str| {
            String::from_utf8(manifest("dev", namespace))
                .expect("UTF-8")
                .replace("my-package", name)
                .into_bytes()
        };
        let first = push(&forge, vec![(path("a"), named("a", "dev"))]).await;
        assert_eq!(check(first).await, None);
        let broken = push(&forge, vec![(path("b"), named("b", "prod"))]).await;
        assert_eq!(check(broken.clone()).await, Some((path("b"), broken)));
        // A later revision that leaves it alone is still refused for it, naming itself.
        let unrelated = push(&forge, vec![(path("c"), named("c", "dev"))]).await;
        assert_eq!(check(unrelated.clone()).await, Some((path("b"), unrelated)));
        let fixed = push(&forge, vec![(path("b"), named("b", "dev"))]).await;
        assert_eq!(check(fixed).await, None);
    }

    fn loose_objects(forge: &LocalGitForge) -> usize {
        crate::gitops::local_packing::tests::counted(&forge.git).0
    }

    #[tokio::test]
    async fn merges_leave_the_repository_packed_every_n_merged_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let forge = forge(dir.path()).await.packing_every(2);
        let merge = |environment: &'static str| {
            let forge = forge.clone();
            async move {
                let file = format!("environments/{environment}/my-package.yaml");
                let proposal = proposal(
                    &format!("promote/{environment}/my-package"),
                    vec![(file, manifest(environment, environment))],
                );
                let change = forge.propose_change(&proposal).await.expect("proposed");
                forge.merge(&change).await.expect("merged")
            }
        };
        merge("dev").await;
        forge.packer.settled().await;
        assert!(
            loose_objects(&forge) > 0,
            "one merge of two: not packed yet"
        );
        let head = merge("int").await;
        forge.packer.settled().await;
        assert_eq!(loose_objects(&forge), 0, "packed after the second merge");
        let files = ["dev", "int"].map(|env| format!("environments/{env}/my-package.yaml"));
        let read = forge.read_files(&head, &files).await.expect("read");
        assert!(
            read.iter().all(Option::is_some),
            "both merged files read back"
        );
    }
}
