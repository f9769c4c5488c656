//! The GitHub forge's own behaviour against the fake GitHub, beyond the conformance
//! suite: pull requests as GitHub shows them, approvals only through reviews, reviewer
//! groups from GitHub teams, conditional polling that costs no rate limit, rate limits
//! and server errors turned into a back-off, and the fake's strictness on stale writes.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;

use std::time::{Duration, Instant, SystemTime};

use datakit::manifest::{DeployedPackage, package_manifest_path};
use dkd::{
    gitops::GithubForge,
    promotion::{
        Approver,
        ports::{ChangeProposal, ForgeError, GitForge},
    },
};
use github_fake::{BOT, BOT_TOKEN, GithubFake};

const PATIENCE: Duration = Duration::from_secs(30);

fn proposal(id: &str) -> ChangeProposal {
    let manifest = DeployedPackage {
        name: "alpha".into(),
        namespace: "dev".into(),
        annotations: Default::default(),
        version: "v1.0.0".into(),
        artifact: "registry.example/alpha:v1.0.0".into(),
        digest: format!("sha256:{}", "c".repeat(64)),
    }
    .to_yaml();
    ChangeProposal {
        promotion_id: id.into(),
        branch: format!("promote/dev/alpha/{id}"),
        title: "Promote alpha v1.0.0 to dev".into(),
        body: "body".into(),
        labels: vec!["promotion".into(), "env/dev".into()],
        files: vec![(package_manifest_path("dev", "alpha"), manifest.into_bytes())],
        commit_message: format!("Promote alpha v1.0.0 to dev\n\nPromotion-Id: {id}\n"),
    }
}

async fn start() -> (GithubFake, GithubForge) {
    datakit::install_crypto_provider();
    let fake = GithubFake::start().await;
    let forge = GithubForge::new(fake.settings()).expect("forge");
    (fake, forge)
}

/// Retries `call` until it succeeds, failing the test after `PATIENCE`.
async fn eventually<T, F, Fut>(what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ForgeError>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        match call().await {
            Ok(value) => return value,
            Err(error) => assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_proposal_is_one_labelled_pull_request_by_dkd_and_merging_deletes_its_branch() {
    let (fake, forge) = start().await;
    let change = forge
        .propose_change(&proposal("p-1"))
        .await
        .expect("propose");
    let pulls = fake.pulls().await;
    assert_eq!(pulls.len(), 1);
    assert_eq!(change.id, pulls[0].number.to_string());
    assert_eq!(pulls[0].author, BOT);
    assert_eq!(pulls[0].labels, ["promotion", "env/dev"]);
    assert!(
        change
            .url
            .ends_with(&format!("/acme/deploy/pull/{}", change.id)),
        "{}",
        change.url
    );
    assert!(fake.has_branch(&change.branch).await);
    forge.merge(&change).await.expect("merge");
    assert!(
        !fake.has_branch(&change.branch).await,
        "the branch is deleted"
    );
    let landed = fake
        .read_base("environments/dev/alpha.yaml")
        .await
        .expect("on main");
    assert!(landed.contains("version: v1.0.0"), "{landed}");
}

#[tokio::test]
async fn closing_comments_why_closes_the_pull_request_and_deletes_its_branch() {
    let (fake, forge) = start().await;
    let change = forge
        .propose_change(&proposal("p-1"))
        .await
        .expect("propose");
    forge
        .close(&change, "superseded by p-2")
        .await
        .expect("close");
    forge
        .close(&change, "again")
        .await
        .expect("closing twice is fine");
    let pulls = fake.pulls().await;
    assert!(!pulls[0].open);
    assert_eq!(pulls[0].comments, ["Closed by dkd: superseded by p-2"]);
    assert!(!fake.has_branch(&change.branch).await);
    assert!(
        forge.merge(&change).await.is_err(),
        "a closed pull request never merges"
    );
}

#[tokio::test]
async fn a_change_that_conflicts_with_a_moved_base_is_not_mergeable() {
    let (fake, forge) = start().await;
    let change = forge
        .propose_change(&proposal("p-1"))
        .await
        .expect("propose");
    fake.push_to_base("environments/dev/alpha.yaml", "edited by hand\n")
        .await;
    let error = forge.merge(&change).await.expect_err("conflict");
    assert!(
        matches!(error, ForgeError::NotMergeable { .. }) && error.to_string().contains("conflict"),
        "{error}"
    );
    assert_eq!(
        fake.read_base("environments/dev/alpha.yaml")
            .await
            .as_deref(),
        Some("edited by hand\n"),
        "nothing was forced onto main"
    );
}

#[tokio::test]
async fn approvals_happen_on_github_only_through_reviews_and_never_by_the_author() {
    let (fake, forge) = start().await;
    let change = forge
        .propose_change(&proposal("p-1"))
        .await
        .expect("propose");
    let refused = forge
        .approve(
            &change,
            &Approver::authenticated("alice".to_owned(), Vec::new()),
        )
        .await
        .expect_err("unsupported");
    assert_eq!(refused.to_string(), "approve the pull request on GitHub");
    assert!(
        fake.review(&change.id, BOT, "APPROVED").await.is_err(),
        "authors cannot approve"
    );
    fake.review(&change.id, "alice", "APPROVED")
        .await
        .expect("review");
    fake.review(&change.id, "bob", "APPROVED")
        .await
        .expect("review");
    fake.review(&change.id, "bob", "CHANGES_REQUESTED")
        .await
        .expect("review");
    fake.review(&change.id, "bob", "COMMENTED")
        .await
        .expect("review");
    let users: Vec<String> = forge
        .change_status(&change)
        .await
        .expect("status")
        .approvals
        .into_iter()
        .map(|a| a.user)
        .collect();
    assert_eq!(
        users,
        ["alice"],
        "the latest deciding review per reviewer counts"
    );
}

#[tokio::test]
async fn reviewer_groups_are_the_github_teams_named_in_the_environments() {
    let (_fake, forge) = start().await;
    let teams = forge
        .reviewer_teams()
        .await
        .expect("teams")
        .expect("from GitHub");
    assert_eq!(
        teams.members("team-leads"),
        Some(&["alice".to_owned(), "dave".to_owned()][..])
    );
    assert_eq!(teams.members("security"), Some(&["bob".to_owned()][..]));
}

#[tokio::test]
async fn polling_an_idle_change_request_costs_no_rate_limit() {
    let (fake, forge) = start().await;
    let change = forge
        .propose_change(&proposal("p-1"))
        .await
        .expect("propose");
    forge.change_status(&change).await.expect("status");
    forge.base_revision().await.expect("base");
    let before = fake.counted_requests().await;
    for _ in 0..3 {
        forge.change_status(&change).await.expect("status");
        forge.base_revision().await.expect("base");
    }
    assert_eq!(
        fake.counted_requests().await,
        before,
        "every poll was a 304"
    );
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_without_hammering_github() {
    let (fake, forge) = start().await;
    fake.rate_limit_for(Duration::from_secs(1)).await;
    let error = forge.base_revision().await.expect_err("rate limited");
    let ForgeError::RateLimited { until, .. } = &error else {
        panic!("expected a rate limit, got {error}");
    };
    assert!(*until > SystemTime::now(), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("GitHub is rate limiting dkd until "),
        "{error}"
    );
    let counted = fake.counted_requests().await;
    assert!(forge.base_revision().await.is_err(), "still backing off");
    assert_eq!(
        fake.counted_requests().await,
        counted,
        "no request while backing off"
    );
    eventually("the rate limit to reset", || forge.base_revision()).await;
}

#[tokio::test]
async fn a_server_error_backs_off_and_recovers() {
    let (fake, forge) = start().await;
    fake.fail_next(&[502]).await;
    let error = forge.base_revision().await.expect_err("502");
    assert!(matches!(error, ForgeError::Unavailable(_)), "{error}");
    assert!(error.to_string().contains("502"), "{error}");
    eventually("GitHub to answer again", || forge.base_revision()).await;
}

#[tokio::test]
async fn the_fake_refuses_a_stale_contents_write_with_409_as_github_does() {
    let (fake, forge) = start().await;
    let client = octocrab::Octocrab::builder()
        .base_uri(fake.url())
        .expect("uri")
        .personal_token(BOT_TOKEN.to_owned())
        .build()
        .expect("client");
    let stale = serde_json::json!({
        "message": "stale", "content": "eDoK", "branch": "main",
        "sha": "0000000000000000000000000000000000000000",
    });
    let result: Result<serde_json::Value, _> = client
        .put(
            "/repos/acme/deploy/contents/config/environments.yaml",
            Some(&stale),
        )
        .await;
    match result {
        Err(octocrab::Error::GitHub { source, .. }) => assert_eq!(source.status_code.as_u16(), 409),
        other => panic!("expected 409, got {other:?}"),
    }
    forge
        .base_revision()
        .await
        .expect("the repository is unchanged and readable");
}
