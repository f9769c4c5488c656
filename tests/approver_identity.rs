//! Who an approval counts for (issue 10, item 3): a name typed with `dk approve --as` is a
//! claim, refused outside the embedded forge's demo mode; approvers authenticated on the
//! listener count with the groups their authentication vouches for, even when
//! `config/teams.yaml` does not list them.

mod support;

use support::{json, package::PackageDir, shared::Shared, shared::refused, stderr};

/// `dk -o json promote PACKAGE v1.0.0 --to ENV` on the socket; the promotion's id.
fn promote(shared: &Shared, environment: &str) -> String {
    let promoted = json(&shared.home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        environment,
    ]));
    promoted["promotion"]["id"]
        .as_str()
        .expect("a promotion id")
        .to_owned()
}

#[test]
fn typed_names_are_claims_and_authenticated_groups_meet_the_approval_rule() {
    let shared = Shared::start("");
    // Neither is in config/teams.yaml: their groups come from their tokens alone.
    let lead = shared.token(&["lead-bot", "--groups", "team-leads"]);
    let security = shared.token(&["sec-bot", "--groups", "security"]);
    let package = PackageDir::new("my-package", &[]);
    package.publish(&shared.home, "v1.0.0");
    let dev = shared
        .home
        .dk(&["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"]);
    assert!(dev.status.success(), "{}", stderr(&dev));

    let int = promote(&shared, "int");
    refused(
        &shared.home.dk(&["approve", &int, "--as", "alice"]),
        &["a typed name is a claim", "asserted_approvers"],
    );
    let approved = json(&shared.dk_as(&lead, &["-o", "json", "approve", &int]));
    let approvals = approved["approvals"].as_array().expect("approvals");
    assert_eq!(
        approvals.len(),
        1,
        "the refused claim left nothing: {approved}"
    );
    assert_eq!(approvals[0]["user"], "lead-bot");
    assert_eq!(approvals[0]["groups"][0], "team-leads");
    assert!(approvals[0].get("assertedBy").is_none(), "{approved}");
    let ran = shared
        .home
        .dk(&["promote", "my-package", "v1.0.0", "--to", "int", "--wait"]);
    assert!(ran.status.success(), "{}", stderr(&ran));

    let prod = promote(&shared, "prod");
    let first = json(&shared.dk_as(&lead, &["-o", "json", "approve", &prod]));
    assert_eq!(
        first["approvalsNeeded"], "needs 1 more approval from @security",
        "{first}"
    );
    let second = json(&shared.dk_as(&security, &["-o", "json", "approve", &prod]));
    assert!(
        second["approvalsNeeded"].is_null(),
        "lead-bot and sec-bot meet 2 including @security: {second}"
    );
    let ran = shared
        .home
        .dk(&["promote", "my-package", "v1.0.0", "--to", "prod", "--wait"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    let history = shared.home.history("my-package");
    let approvers: Vec<(&str, &str)> = history[0]["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .map(|a| {
            (
                a["user"].as_str().unwrap_or_default(),
                a["groups"][0].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        approvers,
        [("lead-bot", "team-leads"), ("sec-bot", "security")]
    );
}
