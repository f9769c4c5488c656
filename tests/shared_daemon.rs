//! A shared dkd through the real binaries: a TLS listener on a loopback port with
//! certificates made here, service tokens issued on the socket and used over TLS (promoter
//! and approver are the token's name), every way a token can fail, a Watch stream ended
//! by its token's revocation, `--as` refused over TLS, mTLS client certificates, an
//! untrusted server certificate, certificate rotation without a restart, plain text
//! refused off loopback, and streams drained at shutdown.

mod support;

use std::ffi::OsStr;

use datakit::proto::{
    ListEnvironmentsRequest, WatchRequest, data_kit_service_client::DataKitServiceClient,
};
use support::{
    Daemon, PATIENCE, TestHome,
    certificates::TestCa,
    eventually, json, last_json,
    package::PackageDir,
    shared::{OPEN_POLICY, Shared, authorized, free_port, refused, set_policy},
    stderr, stdout,
};
use tokio_stream::StreamExt;
use tonic::{Code, metadata::MetadataValue};

#[test]
fn a_service_token_authenticates_its_holder_as_promoter_until_it_is_revoked() {
    let shared = Shared::start("");
    let secret = shared.token(&["ci-bot", "--groups", "ci,team-leads"]);
    assert!(secret.starts_with("dkt_"), "{secret}");

    let listed = stdout(&shared.home.dk(&["-o", "json", "token", "list"]));
    assert!(
        listed.contains("\"ci-bot\"") && listed.contains("active"),
        "{listed}"
    );
    assert!(
        !listed.contains(&secret[4..]),
        "a listing never shows the secret"
    );
    let file = std::fs::read_to_string(shared.home.path().join("tokens.json")).expect("file");
    assert!(!file.contains(&secret[21..]), "dkd keeps only a hash");

    let package = PackageDir::new("my-package", &[]);
    package.publish(&shared.home, "v1.0.0");
    let promoted = last_json(&shared.dk_as(
        &secret,
        &[
            "-o",
            "json",
            "promote",
            "my-package",
            "v1.0.0",
            "--to",
            "dev",
            "--wait",
        ],
    ));
    assert_eq!(promoted["promotion"]["promoter"], "ci-bot", "{promoted}");
    assert_eq!(promoted["promotion"]["state"], "Healthy", "{promoted}");

    // Token administration is for admins: the socket's owner, or an RBAC `admin` role.
    refused(
        &shared.dk_as(&secret, &["token", "create", "intruder"]),
        &["ci-bot (groups: ci, team-leads) may not administer this dkd"],
    );

    let revoked = shared.home.dk(&["token", "revoke", "ci-bot"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let after = shared.dk_as(&secret, &["env", "list"]);
    refused(&after, &["service token ci-bot", "revoked"]);
    assert!(!stderr(&after).contains(&secret[4..]), "{}", stderr(&after));
}

#[test]
fn a_watch_stream_ends_unauthenticated_once_its_token_is_revoked() {
    let shared = Shared::start("");
    let secret = shared.token(&["watcher"]);
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let mut client = authorized(shared.channel().await, &secret);
            let mut stream = client
                .watch(WatchRequest::default())
                .await
                .expect("a Watch with a valid token")
                .into_inner();
            let snapshot = stream.message().await.expect("the snapshot");
            assert!(snapshot.is_some(), "the stream is open");
            let revoked = shared.home.dk(&["token", "revoke", "watcher"]);
            assert!(revoked.status.success(), "{}", stderr(&revoked));
            let ended = tokio::time::timeout(PATIENCE, async {
                loop {
                    match stream.message().await {
                        Ok(Some(_heartbeat_or_event)) => {}
                        other => return other,
                    }
                }
            })
            .await
            .expect("the stream ends");
            let status = ended.expect_err("ended by dkd, not by the client");
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            assert!(
                status.message().contains("service token watcher")
                    && status.message().contains("revoked")
                    && status.message().contains("this stream ends"),
                "{}",
                status.message()
            );
        });
}

#[test]
fn a_call_without_a_valid_token_is_unauthenticated_saying_why() {
    let shared = Shared::start("");
    refused(
        &shared.dk(&["env", "list"], &[]),
        &["no credentials", "DK_TOKEN"],
    );
    let garbage = shared.dk_as("hunter2", &["env", "list"]);
    refused(&garbage, &["service token: malformed"]);
    assert!(!stderr(&garbage).contains("hunter2"));
    // Shaped like a JWT, while this dkd has no auth.oidc.
    let jwt = shared.dk_as(
        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmVk",
        &["env", "list"],
    );
    refused(&jwt, &["OIDC token: this dkd accepts none", "auth.oidc"]);

    let issued = shared.token(&["someone"]);
    let unknown = format!("dkt_0123456789abcdef_{}", &issued[21..]);
    refused(
        &shared.dk_as(&unknown, &["env", "list"]),
        &["service token: unknown"],
    );

    let short_lived = shared.token(&["nightly", "--expires", "1s"]);
    let expired = eventually("the token to expire", || {
        let output = shared.dk_as(&short_lived, &["env", "list"]);
        (!output.status.success()).then_some(output)
    });
    refused(&expired, &["service token nightly", "expired at"]);

    // The gRPC code itself is UNAUTHENTICATED, and health needs no credentials.
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let channel = shared.channel().await;
            let status = DataKitServiceClient::new(channel.clone())
                .list_environments(ListEnvironmentsRequest {})
                .await
                .expect_err("no token");
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            let health = tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .expect("health answers without credentials");
            assert_eq!(health.into_inner().status, 1, "SERVING");
        });
}

#[test]
fn over_tls_the_approver_is_the_token_and_approving_as_someone_else_is_refused() {
    let shared = Shared::start("");
    let alice = shared.token(&["alice", "--groups", "team-leads"]);
    let package = PackageDir::new("my-package", &[]);
    package.publish(&shared.home, "v1.0.0");
    let dev = shared
        .home
        .dk(&["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"]);
    assert!(dev.status.success(), "{}", stderr(&dev));
    let int = json(&shared.home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "int",
    ]));
    let id = int["promotion"]["id"].as_str().expect("id").to_owned();

    refused(
        &shared.dk_as(&alice, &["approve", &id, "--as", "dave"]),
        &["only on dkd's local socket", "alice"],
    );
    let approved = json(&shared.dk_as(&alice, &["-o", "json", "approve", &id]));
    let approvers: Vec<&str> = approved["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .filter_map(|approval| approval["user"].as_str())
        .collect();
    assert_eq!(approvers, ["alice"], "{approved}");
}

#[test]
fn a_client_certificate_signed_by_the_client_ca_authenticates_its_subject() {
    let client_ca = TestCa::new("test client CA");
    let ca_dir = tempfile::tempdir().expect("tempdir");
    let ca_file = client_ca.write(&ca_dir.path().join("clients.pem"));
    let shared = Shared::start(&format!("  client_ca_file: {}\n", ca_file.display()));
    let dave = client_ca.client(ca_dir.path(), "dave", "dave", "team-leads");
    let rogue = TestCa::new("rogue CA").client(ca_dir.path(), "rogue", "dave", "team-leads");
    let with = |pair: &support::certificates::PemPair, args: &[&str]| {
        shared.dk(
            args,
            &[
                ("DK_CLIENT_CERT", pair.cert.as_os_str()),
                ("DK_CLIENT_KEY", pair.key.as_os_str()),
            ],
        )
    };

    let package = PackageDir::new("my-package", &[]);
    package.publish(&shared.home, "v1.0.0");
    let promoted = last_json(&with(
        &dave,
        &[
            "-o",
            "json",
            "promote",
            "my-package",
            "v1.0.0",
            "--to",
            "dev",
            "--wait",
        ],
    ));
    assert_eq!(promoted["promotion"]["promoter"], "dave", "{promoted}");
    refused(
        &with(&rogue, &["env", "list"]),
        &["client certificate: not trusted"],
    );
    // Tokens keep working next to certificates.
    let token = shared.token(&["ci-bot"]);
    assert!(shared.dk_as(&token, &["env", "list"]).status.success());
}

#[test]
fn dk_says_when_the_server_certificate_is_not_trusted_and_what_to_do() {
    let shared = Shared::start("");
    let other = TestCa::new("another CA").write(&shared.file("other.pem"));
    let output = shared.dk(&["env", "list"], &[("DK_CA_FILE", other.as_os_str())]);
    refused(
        &output,
        &["the certificate of dkd at", "is not trusted", "DK_CA_FILE"],
    );
}

#[test]
fn a_rotated_certificate_is_served_to_new_connections_without_a_restart() {
    let mut shared = Shared::start("");
    let pid = shared.daemon.pid();
    let token = shared.token(&["ci-bot"]);
    assert!(shared.dk_as(&token, &["env", "list"]).status.success());

    // A certificate from another CA replaces the served one, each file by a rename.
    let next_ca = TestCa::new("next server CA");
    let next_ca_file = next_ca.write(&shared.file("next-ca.pem"));
    let next = next_ca.server(shared.files.path(), "next", "dkd-second");
    std::fs::rename(&next.cert, shared.file("tls.crt")).expect("rename cert");
    std::fs::rename(&next.key, shared.file("tls.key")).expect("rename key");

    let with_next_ca = [
        ("DK_TOKEN", OsStr::new(&token)),
        ("DK_CA_FILE", next_ca_file.as_os_str()),
    ];
    eventually("dkd to serve the new certificate", || {
        shared
            .dk(&["env", "list"], &with_next_ca)
            .status
            .success()
            .then_some(())
    });
    refused(&shared.dk_as(&token, &["env", "list"]), &["is not trusted"]);
    assert_eq!(shared.daemon.pid(), pid);
    assert!(shared.daemon.is_running(), "no restart");
}

#[test]
fn plain_text_is_served_on_loopback_only() {
    let home = TestHome::new();
    let open = free_port();
    std::fs::write(
        home.path().join("dkd.yaml"),
        format!("listen: {{ address: \"0.0.0.0:{open}\", insecure: true }}\n"),
    )
    .expect("write dkd.yaml");
    let output = Daemon::spawn(home.path()).wait();
    assert!(!output.status.success());
    let log = stderr(&output);
    let error = log
        .lines()
        .find(|line| line.starts_with("dkd: error:"))
        .expect("an error line");
    assert!(
        error.contains("listen.insecure: plain-text TCP is allowed only on a loopback address"),
        "{log}"
    );

    let port = free_port();
    std::fs::write(
        home.path().join("dkd.yaml"),
        format!("listen: {{ address: 127.0.0.1:{port}, insecure: true }}\n"),
    )
    .expect("write dkd.yaml");
    let _daemon = home.start_daemon();
    set_policy(&home, OPEN_POLICY);
    let created = home.dk(&["token", "create", "local-tool"]);
    let token = stdout(&created).trim().to_owned();
    let mut command = home.dk_command(&["env", "list"], false);
    command
        .env("DK_DAEMON", format!("http://127.0.0.1:{port}"))
        .env("DK_TOKEN", &token);
    let listed = command.output().expect("run dk");
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains("prod"), "{}", stdout(&listed));
}

#[test]
fn shutdown_ends_a_watch_stream_over_tls_and_dkd_exits_cleanly() {
    let mut shared = Shared::start("");
    let token = shared.token(&["watcher"]);
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let bearer: MetadataValue<_> = format!("Bearer {token}").parse().expect("header");
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
                .expect("watch over TLS")
                .into_inner();
            let first = tokio::time::timeout(PATIENCE, stream.next())
                .await
                .expect("an event within the patience");
            assert!(matches!(first, Some(Ok(_))), "{first:?}");
            shared.daemon.signal("TERM");
            // The stream ends (cleanly, or with the status dkd ends streams with).
            let ended = tokio::time::timeout(PATIENCE, async {
                while let Some(Ok(_)) = stream.next().await {}
            })
            .await;
            assert!(ended.is_ok(), "the stream did not end at shutdown");
        });
    let Shared { daemon, .. } = shared;
    let output = daemon.wait();
    assert!(output.status.success(), "{}", stderr(&output));
}
