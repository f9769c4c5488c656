//! One conformance suite for every `GitForge`: proposing is idempotent and checked,
//! approvals are recorded, a merge lands once with its trailer (rebased and re-checked
//! when the base moved), closing deletes the branch, and history reads back. It runs
//! against the embedded forge and against the GitHub forge talking to a fake GitHub.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;

use std::sync::Arc;

use datakit::manifest::{DeployedPackage, package_manifest_path};
use dkd::{
    gitops::{Git, GithubForge, LocalGitForge},
    promotion::{
        Approver, ChangeRef, CheckOutcome,
        ports::{ChangeProposal, ChangeState, Decision, Declined, GitForge, RecordedState},
    },
    store::MemoryStore,
};
use github_fake::GithubFake;

/// What the suite does outside the forge: approve the way the forge expects, and push
/// straight onto the base branch as someone editing by hand would.
enum Fixture {
    Embedded(Git),
    Github(GithubFake),
}

impl Fixture {
    async fn approve(&self, forge: &dyn GitForge, change: &ChangeRef, user: &str) {
        match self {
            Self::Embedded(_) => forge
                .approve(
                    change,
                    &Approver::authenticated(user.to_owned(), Vec::new()),
                )
                .await
                .expect("approve"),
            Self::Github(fake) => fake
                .review(&change.id, user, "APPROVED")
                .await
                .expect("review"),
        }
    }

    async fn push_to_base(&self, path: &str, contents: &str) {
        match self {
            Self::Github(fake) => {
                fake.push_to_base(path, contents).await;
            }
            Self::Embedded(git) => {
                let head = git.branch_head("main").await.expect("head").expect("main");
                let commit = git
                    .commit_files(
                        Some(&head),
                        &[(path.to_owned(), contents.as_bytes().to_vec())],
                        "Edit by hand",
                    )
                    .await
                    .expect("commit");
                git.update_ref("refs/heads/main", &commit, Some(&head))
                    .await
                    .expect("push");
            }
        }
    }
}

fn manifest(package: &str, namespace: &str, version: &str) -> Vec<u8> {
    DeployedPackage {
        name: package.into(),
        namespace: namespace.into(),
        annotations: Default::default(),
        version: version.into(),
        artifact: format!("registry.example/{package}:{version}"),
        digest: format!("sha256:{}", "b".repeat(64)),
    }
    .to_yaml()
    .into_bytes()
}

fn proposal(id: &str, package: &str, version: &str) -> ChangeProposal {
    ChangeProposal {
        promotion_id: id.into(),
        branch: format!("promote/dev/{package}/{id}"),
        title: format!("Promote {package} {version} to dev"),
        body: "body".into(),
        labels: vec!["promotion".into()],
        files: vec![(
            package_manifest_path("dev", package),
            manifest(package, "dev", version),
        )],
        commit_message: format!("Promote {package} {version} to dev\n\nPromotion-Id: {id}\n"),
    }
}

async fn suite(forge: &dyn GitForge, fixture: &Fixture) {
    // Proposing opens one change request with passing checks; again returns the same one.
    let change = forge
        .propose_change(&proposal("p-1", "alpha", "v1.0.0"))
        .await
        .expect("propose");
    let again = forge
        .propose_change(&proposal("p-1", "alpha", "v1.0.0"))
        .await
        .expect("propose again");
    assert_eq!(change, again);
    let status = forge.change_status(&change).await.expect("status");
    assert_eq!(status.state, ChangeState::Open);
    assert!(
        status
            .checks
            .iter()
            .all(|c| c.outcome == CheckOutcome::Success),
        "{:?}",
        status.checks
    );

    // Approvals are recorded once per user.
    fixture.approve(forge, &change, "alice").await;
    fixture.approve(forge, &change, "alice").await;
    let users: Vec<String> = forge
        .change_status(&change)
        .await
        .expect("status")
        .approvals
        .into_iter()
        .map(|a| a.user)
        .collect();
    assert_eq!(users, ["alice"]);

    // The base moves under an open change: the merge rebases, keeps both, lands once.
    fixture
        .push_to_base(
            "environments/dev/other.yaml",
            &String::from_utf8(manifest("other", "dev", "v2.0.0")).expect("utf8"),
        )
        .await;
    let before = forge.base_revision().await.expect("base");
    let merged = forge.merge(&change).await.expect("merge");
    assert!(
        forge.contains(&merged, &before).await.expect("contains"),
        "the pushed commit is kept"
    );
    assert_eq!(
        forge.merge(&change).await.expect("merge again"),
        merged,
        "merging twice lands once"
    );
    assert_eq!(
        forge.find_landed("p-1").await.expect("find"),
        Some(merged.clone())
    );
    assert_eq!(
        forge.find_landed("p-10").await.expect("find"),
        None,
        "ids are matched whole"
    );
    let head = forge.base_revision().await.expect("base");
    let files = forge
        .read_files(
            &head,
            &[
                "environments/dev/alpha.yaml".into(),
                "environments/dev/other.yaml".into(),
            ],
        )
        .await
        .expect("read");
    assert!(
        files.iter().all(Option::is_some),
        "both changes are on the base branch"
    );
    assert!(matches!(
        forge.change_status(&change).await.expect("status").state,
        ChangeState::Merged { .. }
    ));

    // A change that breaks a manifest fails its check; closing deletes it.
    let mut broken = proposal("p-2", "beta", "v1.0.0");
    broken.files[0].1 = b"kind: Nonsense\n".to_vec();
    let broken_change = forge.propose_change(&broken).await.expect("propose broken");
    let checks = forge
        .change_status(&broken_change)
        .await
        .expect("status")
        .checks;
    assert!(
        checks.iter().any(|c| c.outcome == CheckOutcome::Failure),
        "{checks:?}"
    );
    forge
        .close(&broken_change, "checks failed")
        .await
        .expect("close");
    assert_eq!(
        forge
            .change_status(&broken_change)
            .await
            .expect("status")
            .state,
        ChangeState::Closed
    );
    assert!(
        forge.merge(&broken_change).await.is_err(),
        "a closed change never merges"
    );

    // History of a file, newest first.
    let newer = forge
        .propose_change(&proposal("p-3", "alpha", "v1.1.0"))
        .await
        .expect("propose");
    forge.merge(&newer).await.expect("merge");
    let history = forge
        .file_history("environments/dev/alpha.yaml", 10)
        .await
        .expect("history");
    let versions: Vec<bool> = history
        .iter()
        .map(|v| v.contents.as_deref().is_some_and(|c| c.contains("v1.1.0")))
        .collect();
    assert_eq!(versions, [true, false]);

    // What the forge records, whatever happened to dkd's state: merged promotions with
    // their commits, open ones with their change requests, closed ones by id; hand edits
    // not.
    let open = forge
        .propose_change(&proposal("p-4", "gamma", "v1.0.0"))
        .await
        .expect("propose");
    let cancelled = Declined {
        decision: Decision::Cancel,
        by: "carol".into(),
        reason: Some("wrong version: use v1.1.0".into()),
    };
    let declined = forge
        .propose_change(&proposal("p-5", "delta", "v1.0.0"))
        .await
        .expect("propose");
    forge.decline(&declined, &cancelled).await.expect("decline");
    let recorded = forge.recorded_promotions().await.expect("recorded");
    let by_id: std::collections::BTreeMap<&str, &dkd::promotion::ports::RecordedPromotion> =
        recorded
            .iter()
            .map(|r| (r.promotion_id.as_str(), r))
            .collect();
    let summary: Vec<(&str, &str, &str)> = by_id
        .iter()
        .map(|(id, r)| {
            let state = match r.state {
                RecordedState::Merged { .. } => "merged",
                RecordedState::Open { .. } => "open",
                RecordedState::Closed { .. } => "closed",
            };
            (*id, r.path.as_str(), state)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("p-1", "environments/dev/alpha.yaml", "merged"),
            ("p-2", "environments/dev/beta.yaml", "closed"),
            ("p-3", "environments/dev/alpha.yaml", "merged"),
            ("p-4", "environments/dev/gamma.yaml", "open"),
            ("p-5", "environments/dev/delta.yaml", "closed"),
        ],
        "the closed one's id stays taken"
    );
    assert_eq!(
        by_id["p-1"].state,
        RecordedState::Merged {
            commit: merged.clone()
        }
    );
    assert!(
        by_id["p-3"]
            .manifest
            .as_deref()
            .is_some_and(|m| m.contains("v1.1.0")),
        "{:?}",
        by_id["p-3"]
    );
    assert_eq!(by_id["p-4"].state, RecordedState::Open { change: open });
    // Closed by a person through dkd, the forge records who decided what and why (and the
    // manifest, to restore it from); closed for another reason, no decision.
    assert_eq!(
        by_id["p-5"].state,
        RecordedState::Closed {
            declined: Some(cancelled)
        }
    );
    assert!(
        by_id["p-5"]
            .manifest
            .as_deref()
            .is_some_and(|m| m.contains("delta")),
        "{:?}",
        by_id["p-5"]
    );
    assert_eq!(by_id["p-2"].state, RecordedState::Closed { declined: None });

    // A tree lists its files with content ids: unchanged files keep theirs.
    let ids_at = |revision: String| async move {
        forge
            .list_tree(&revision, "environments/dev/")
            .await
            .expect("tree")
            .into_iter()
            .map(|file| (file.path, file.id))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let before = ids_at(head).await;
    let after = ids_at(forge.base_revision().await.expect("base")).await;
    let paths: Vec<&String> = after.keys().collect();
    assert_eq!(
        paths,
        ["environments/dev/alpha.yaml", "environments/dev/other.yaml"]
    );
    assert_ne!(
        before["environments/dev/alpha.yaml"],
        after["environments/dev/alpha.yaml"]
    );
    assert_eq!(
        before["environments/dev/other.yaml"],
        after["environments/dev/other.yaml"]
    );
}

#[tokio::test]
async fn the_embedded_forge_passes_the_forge_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let forge = LocalGitForge::open_or_init(
        &dir.path().join("deploy.git"),
        Arc::new(MemoryStore::default()),
    )
    .await
    .expect("repository");
    let fixture = Fixture::Embedded(forge.git().clone());
    suite(&forge, &fixture).await;
}

#[tokio::test]
async fn the_github_forge_passes_the_forge_conformance_suite_against_a_fake_github() {
    datakit::install_crypto_provider();
    let fake = GithubFake::start().await;
    let forge = GithubForge::new(fake.settings()).expect("forge");
    let fixture = Fixture::Github(fake);
    suite(&forge, &fixture).await;
}
