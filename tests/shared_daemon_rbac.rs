//! Authorization on a shared dkd through the real binaries: `config/rbac.yaml` in the
//! deployment repository decides what each principal may do on the TLS listener (service
//! tokens with different groups are the principals here), while the local socket's owner
//! is admin; denials exit 4 with one line naming who, what, where and the role that would
//! allow it; no policy allows nothing; a broken policy is refused with its revision and
//! the last good one kept; `dk whoami` shows all of it.

mod support;

use support::{
    Clone, eventually, json,
    package::PackageDir,
    shared::{Shared, refused},
    stderr, stdout,
};

const POLICY: &str = "roles:
  developer:
    - actions: [read, promote, rollback]
      environments: [dev]
  team-lead:
    - actions: [read, promote, rollback, approve]
      environments: [int]
  prod-approver:
    - actions: [read, approve]
      environments: [prod]
  token-admin:
    - actions: [admin]
      environments: [\"*\"]
bindings:
  - role: developer
    users: [\"*\"]
  - role: team-lead
    groups: [team-leads]
  - role: prod-approver
    groups: [security]
  - role: token-admin
    groups: [ops]
";

fn succeeded(output: &std::process::Output) {
    assert!(output.status.success(), "{}", stderr(output));
}

/// A shared dkd under [`POLICY`] with my-package v1.0.0 and v1.1.0 published.
fn shared_under_policy() -> Shared {
    let shared = Shared::start_bare("", "");
    shared.set_policy(POLICY);
    let package = PackageDir::new("my-package", &[]);
    package.publish(&shared.home, "v1.0.0");
    package.publish(&shared.home, "v1.1.0");
    shared
}

#[test]
fn each_action_is_allowed_or_denied_by_the_policy_on_tls_and_always_allowed_on_the_socket() {
    let shared = shared_under_policy();
    let carol = shared.token(&["carol", "--groups", "dev"]);
    let lead = shared.token(&["dave", "--groups", "team-leads"]);
    let ops = shared.token(&["ops-bot", "--groups", "ops"]);

    // promote: everyone in dev, only team leads in int.
    for version in ["v1.0.0", "v1.1.0"] {
        succeeded(&shared.dk_as(
            &carol,
            &["promote", "my-package", version, "--to", "dev", "--wait"],
        ));
    }
    refused(
        &shared.dk_as(&carol, &["promote", "my-package", "v1.1.0", "--to", "int"]),
        &[
            "permission denied: carol (groups: dev) may not promote my-package in int",
            "role team-lead (bound to group team-leads) allows it",
        ],
    );
    let opened = json(&shared.dk_as(
        &lead,
        &[
            "-o",
            "json",
            "promote",
            "my-package",
            "v1.1.0",
            "--to",
            "int",
            "--dry-run",
        ],
    ));
    assert_eq!(opened["promotion"], serde_json::Value::Null, "{opened}");

    // approve: the promotion's environment decides; the socket's owner promotes.
    let int = json(&shared.home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.1.0",
        "--to",
        "int",
    ]));
    let id = int["promotion"]["id"].as_str().expect("id").to_owned();
    refused(
        &shared.dk_as(&carol, &["approve", &id]),
        &[
            "carol (groups: dev) may not approve my-package in int",
            "role team-lead",
        ],
    );
    let approved = json(&shared.dk_as(&lead, &["-o", "json", "approve", &id]));
    assert!(approved.to_string().contains("\"dave\""), "{approved}");

    // rollback: allowed in dev, denied in prod, where nobody may roll back.
    succeeded(&shared.dk_as(
        &carol,
        &[
            "rollback",
            "my-package",
            "--to",
            "dev",
            "--version",
            "v1.0.0",
            "--wait",
        ],
    ));
    refused(
        &shared.dk_as(&carol, &["rollback", "my-package", "--to", "prod"]),
        &[
            "carol (groups: dev) may not rollback my-package in prod",
            "no role in config/rbac.yaml allows that",
        ],
    );

    // read: a named environment is checked; a list shows only what may be read.
    succeeded(&shared.dk_as(&carol, &["status", "my-package", "--env", "dev"]));
    refused(
        &shared.dk_as(&carol, &["status", "--env", "int"]),
        &["carol (groups: dev) may not read in int", "role team-lead"],
    );
    let rows = json(&shared.dk_as(&carol, &["-o", "json", "status", "my-package"]));
    let environments: Vec<&str> = rows["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row["environment"].as_str())
        .collect();
    assert_eq!(environments, ["dev"], "{rows}");
    let history = stdout(&shared.dk_as(&carol, &["-o", "json", "history", "my-package"]));
    assert!(!history.contains("\"int\""), "{history}");
    let listed = stdout(&shared.dk_as(&carol, &["env", "list"]));
    assert!(
        listed.contains("dev") && !listed.contains("prod"),
        "{listed}"
    );
    refused(
        &shared.dk_as(&carol, &["env", "show", "prod"]),
        &[
            "carol (groups: dev) may not read in prod",
            "role prod-approver",
        ],
    );
    refused(
        &shared.dk_as(&carol, &["logs", "my-package", "--env", "prod"]),
        &["may not read my-package in prod", "role prod-approver"],
    );
    // Asking for a promotion where one may not read is refused before looking, so the
    // answer never tells whether it exists.
    refused(
        &shared.dk_as(
            &carol,
            &[
                "promote",
                "my-package",
                "v9.9.9",
                "--to",
                "prod",
                "--status",
            ],
        ),
        &["may not read my-package in prod"],
    );

    // admin: tokens for the ops group only.
    refused(
        &shared.dk_as(&carol, &["token", "list"]),
        &[
            "carol (groups: dev) may not administer this dkd",
            "role token-admin (bound to group ops) allows it",
        ],
    );
    succeeded(&shared.dk_as(&ops, &["token", "list"]));
    succeeded(&shared.dk_as(&ops, &["audit"]));

    // The socket's owner is admin: everything denied above is allowed there.
    succeeded(&shared.home.dk(&["status", "--env", "int"]));
    succeeded(&shared.home.dk(&["token", "list"]));
    succeeded(
        &shared
            .home
            .dk(&["promote", "my-package", "v1.0.0", "--to", "dev"]),
    );
    let everything = json(&shared.home.dk(&["-o", "json", "status", "my-package"]));
    assert_eq!(
        everything["rows"].as_array().expect("rows").len(),
        3,
        "{everything}"
    );
}

#[test]
fn without_a_policy_nothing_is_allowed_on_the_listener_and_the_denial_says_so() {
    let shared = Shared::start_bare("", "");
    let carol = shared.token(&["carol", "--groups", "dev"]);
    refused(
        &shared.dk_as(&carol, &["env", "list"]),
        &["carol (groups: dev) may not read", "no config/rbac.yaml"],
    );
    succeeded(&shared.home.dk(&["env", "list"]));
}

#[test]
fn a_broken_policy_is_refused_with_its_revision_and_the_last_good_one_kept() {
    let shared = shared_under_policy();
    let carol = shared.token(&["carol", "--groups", "dev"]);
    let broken = POLICY.replace("environments: [dev]", "environments: [staging]");
    Clone::of(&shared.home).push_file("config/rbac.yaml", &broken, "Break the policy");
    let warning = eventually("the problem to be reported", || {
        let output = shared.home.dk(&["env", "list"]);
        let warning = stderr(&output);
        (!warning.is_empty()).then_some(warning)
    });
    assert!(
        warning.contains("config/rbac.yaml:4:")
            && warning.contains("unknown environment \"staging\""),
        "{warning}"
    );
    // Still the last good policy: carol reads dev and nothing else.
    succeeded(&shared.dk_as(&carol, &["status", "--env", "dev"]));
    refused(
        &shared.dk_as(&carol, &["status", "--env", "int"]),
        &["may not read in int"],
    );
}

#[test]
fn whoami_shows_the_principal_its_groups_its_method_and_what_it_may_do_per_environment() {
    let shared = shared_under_policy();
    let lead = shared.token(&["dave", "--groups", "team-leads,ops"]);
    let me = json(&shared.dk_as(&lead, &["-o", "json", "whoami"]));
    assert_eq!(me["name"], "dave", "{me}");
    assert_eq!(
        me["groups"],
        serde_json::json!(["team-leads", "ops"]),
        "{me}"
    );
    assert_eq!(me["authenticatedBy"], "service-token", "{me}");
    assert_eq!(me["admin"], true, "{me}");
    let allowed = |environment: &str| -> Vec<String> {
        me["environments"]
            .as_array()
            .expect("environments")
            .iter()
            .find(|e| e["environment"] == environment)
            .expect("environment listed")["allowed"]
            .as_array()
            .expect("allowed")
            .iter()
            .filter_map(|grant| grant["action"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(allowed("dev"), ["read", "promote", "rollback"]);
    assert_eq!(allowed("int"), ["read", "promote", "rollback", "approve"]);
    assert!(allowed("prod").is_empty(), "{me}");

    let table = stdout(&shared.dk_as(&lead, &["whoami"]));
    assert!(
        table.contains("a service token") && table.contains("team-leads, ops"),
        "{table}"
    );

    let local = json(&shared.home.dk(&["-o", "json", "whoami"]));
    assert_eq!(local["authenticatedBy"], "local-socket", "{local}");
    assert_eq!(local["admin"], true, "{local}");
    let owner = stdout(&shared.home.dk(&["whoami"]));
    assert!(
        owner.contains("the local socket (dkd's owner: admin"),
        "{owner}"
    );
}

#[test]
fn watch_shows_only_what_the_caller_may_read_and_promote_with_rollback_needs_rollback() {
    use datakit::proto::{
        PromoteRequest, WatchRequest, data_kit_service_client::DataKitServiceClient,
        watch_event::Event,
    };
    use tokio_stream::StreamExt;
    use tonic::{Code, metadata::MetadataValue};

    let shared = shared_under_policy();
    succeeded(
        &shared
            .home
            .dk(&["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"]),
    );
    succeeded(
        &shared
            .home
            .dk(&["promote", "my-package", "v1.0.0", "--to", "int"]),
    );
    let carol = shared.token(&["carol", "--groups", "dev"]);
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let bearer: MetadataValue<_> = format!("Bearer {carol}").parse().expect("header");
            let mut client = DataKitServiceClient::with_interceptor(
                shared.channel().await,
                move |mut request: tonic::Request<()>| {
                    request
                        .metadata_mut()
                        .insert("authorization", bearer.clone());
                    Ok(request)
                },
            );
            let mut stream = client
                .watch(WatchRequest::default())
                .await
                .expect("carol may watch")
                .into_inner();
            let first = stream.next().await.expect("a snapshot").expect("event");
            let Some(Event::Snapshot(snapshot)) = first.event else {
                panic!("a snapshot first: {first:?}");
            };
            let environments: Vec<&str> = snapshot
                .packages
                .iter()
                .map(|p| p.environment.as_str())
                .chain(snapshot.environments.iter().map(|e| e.name.as_str()))
                .collect();
            assert!(
                !environments.is_empty() && environments.iter().all(|e| *e == "dev"),
                "{environments:?}"
            );
            assert!(
                snapshot.promotions.is_empty(),
                "the open int promotion is hidden"
            );

            let refused = client
                .watch(WatchRequest {
                    environment: "int".into(),
                    ..Default::default()
                })
                .await
                .expect_err("carol may not read int");
            assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

            let rollback = client
                .promote(PromoteRequest {
                    package: "my-package".into(),
                    version: "v1.0.0".into(),
                    environment: "prod".into(),
                    rollback: true,
                    ..Default::default()
                })
                .await
                .expect_err("nobody may roll back in prod");
            assert_eq!(rollback.code(), Code::PermissionDenied);
            assert!(
                rollback
                    .message()
                    .contains("carol (groups: dev) may not rollback my-package in prod"),
                "{rollback:?}"
            );
        });
}
