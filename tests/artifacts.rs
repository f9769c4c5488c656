//! End to end through the real `dk`: reproducible `dk build`, `dk publish` to the embedded
//! registry (an OCI layout in DK_HOME) and to a real registry on loopback, tags that never
//! move, and the exit codes of the contract. None of it needs dkd.

mod support;

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Command, Output},
};

use datakit::oci::sha256_digest;
use serde_json::Value;
use support::{
    TestHome, binary, git,
    registry::{RegistryServer, TEST_PASSWORD, TEST_USER},
    stderr, stdout,
};

/// `dk ARGS` on `home`, isolated from the caller's registry settings, plus `env`.
fn dk(home: &TestHome, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary("dk"));
    command
        .args(args)
        .env("DK_HOME", home.path())
        .env("DK_NO_AUTOSTART", "1")
        .env("DOCKER_CONFIG", home.path().join("docker"))
        .env_remove("DK_DAEMON")
        .env_remove("DK_REGISTRY")
        .env_remove("DK_REGISTRY_TOKEN")
        .env_remove("DK_REGISTRY_USERNAME")
        .env_remove("DK_REGISTRY_PASSWORD")
        .env_remove("SOURCE_DATE_EPOCH");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run dk")
}

/// Writes a package named `name` into `dir`, with `marker` in its content.
fn write_package(dir: &Path, name: &str, marker: &str) {
    let write = |path: &str, content: &str, mode: u32| {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, content).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    write(
        "dk.yaml",
        &format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataPackage\nmetadata: {{ name: {name}, description: User events }}\nspec:\n  store: events-store\n  bindings: {{ output: warehouse }}\n"
        ),
        0o644,
    );
    write("schemas/events.avsc", "{\"type\": \"record\"}\n", 0o644);
    write(
        "queries/daily.sql",
        &format!("select 1 -- {marker}\n"),
        0o644,
    );
    write("bin/load.sh", "#!/bin/sh\necho load\n", 0o755);
}

/// Copies `from` into `to` file by file, with other permissions and times than the original.
fn copy_elsewhere(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_elsewhere(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
            let mode = if target.ends_with("load.sh") {
                0o700
            } else {
                0o600
            };
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .expect("chmod");
        }
    }
}

/// `dk -o json build DIR --version V`, which must succeed; its JSON.
fn build(home: &TestHome, dir: &Path, version: &str, env: &[(&str, &str)]) -> Value {
    let output = dk(
        home,
        &[
            "-o",
            "json",
            "build",
            &dir.to_string_lossy(),
            "--version",
            version,
        ],
        env,
    );
    assert!(output.status.success(), "dk build: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("dk build -o json")
}

fn digest(build: &Value) -> String {
    build["digest"].as_str().expect("digest").to_owned()
}

/// Asserts exit `code` with exactly one line on stderr; returns that line.
fn fails_with(output: &Output, code: i32) -> String {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{message}");
    assert_eq!(message.lines().count(), 1, "one line expected: {message:?}");
    message
}

#[test]
fn building_twice_and_from_a_copy_elsewhere_gives_the_same_digest_without_dkd() {
    let home = TestHome::new();
    let source = tempfile::tempdir().expect("source");
    write_package(source.path(), "my-package", "one");
    let first = build(&home, source.path(), "v1.0.0", &[]);
    let second = build(&home, source.path(), "v1.0.0", &[]);
    assert_eq!(digest(&first), digest(&second));
    assert_eq!(first["reference"], "my-package:v1.0.0");
    assert!(first["size"].as_u64().expect("size") > 0);
    assert!(first["created"].is_null(), "no clock time: {first}");

    let elsewhere = tempfile::tempdir().expect("copy");
    copy_elsewhere(source.path(), elsewhere.path());
    let other_home = TestHome::new();
    let copied = build(&other_home, elsewhere.path(), "v1.0.0", &[]);
    assert_eq!(digest(&copied), digest(&first));

    let table = dk(
        &home,
        &[
            "build",
            &source.path().to_string_lossy(),
            "--version",
            "v1.0.0",
        ],
        &[],
    );
    assert!(table.status.success(), "{}", stderr(&table));
    let shown = stdout(&table);
    assert!(
        shown.contains(&digest(&first)) && shown.contains("my-package:v1.0.0"),
        "{shown}"
    );

    // Another version or other content is another artifact.
    assert_ne!(
        digest(&build(&home, source.path(), "v1.0.1", &[])),
        digest(&first)
    );
    write_package(source.path(), "my-package", "two");
    assert_ne!(
        digest(&build(&home, source.path(), "v1.0.0", &[])),
        digest(&first)
    );

    assert!(!home.socket().exists(), "dk build must not start dkd");
    assert!(home.daemon_pid().is_none(), "dk build must not start dkd");
}

#[test]
fn a_git_checkout_is_annotated_with_commit_source_and_commit_time_reproducibly() {
    let home = TestHome::new();
    let repo = tempfile::tempdir().expect("repo");
    write_package(repo.path(), "git-package", "one");
    git(repo.path(), &["init", "--quiet"]);
    git(
        repo.path(),
        &[
            "remote",
            "add",
            "origin",
            "https://bot:s3cret@github.com/acme/data.git",
        ],
    );
    git(repo.path(), &["add", "."]);
    let commit = Command::new("git")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(["commit", "--quiet", "-m", "package"])
        .current_dir(repo.path())
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .status()
        .expect("git commit");
    assert!(commit.success());
    let head = git(repo.path(), &["rev-parse", "HEAD"]);

    let built = build(&home, repo.path(), "v2.0.0", &[]);
    assert_eq!(built["revision"], head.as_str());
    assert_eq!(built["source"], "https://github.com/acme/data");
    assert_eq!(built["created"], "2023-11-14T22:13:20Z");

    // The whole checkout copied elsewhere (another machine) builds the same artifact.
    let elsewhere = tempfile::tempdir().expect("copy");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", repo.path().display()))
        .arg(elsewhere.path())
        .status()
        .expect("cp");
    assert!(copied.success());
    assert_eq!(
        digest(&build(&TestHome::new(), elsewhere.path(), "v2.0.0", &[])),
        digest(&built)
    );

    // SOURCE_DATE_EPOCH wins over the commit time.
    let pinned = build(&home, repo.path(), "v2.0.0", &[("SOURCE_DATE_EPOCH", "0")]);
    assert_eq!(pinned["created"], "1970-01-01T00:00:00Z");
    assert_ne!(digest(&pinned), digest(&built));

    // The credentials in the remote URL never reach the artifact.
    let published = dk(&home, &["publish", &repo.path().to_string_lossy()], &[]);
    assert!(published.status.success(), "{}", stderr(&published));
    let layout = home.path().join("registry/git-package/blobs/sha256");
    for blob in std::fs::read_dir(layout).expect("blobs") {
        let bytes = std::fs::read(blob.expect("blob").path()).expect("read");
        assert!(!String::from_utf8_lossy(&bytes).contains("s3cret"));
    }
}

#[test]
fn publishing_to_the_embedded_registry_writes_an_oci_layout_whose_tags_never_move() {
    let home = TestHome::new();
    let source = tempfile::tempdir().expect("source");
    write_package(source.path(), "my-package", "one");
    let dir = source.path().to_string_lossy().into_owned();
    let built = digest(&build(&home, source.path(), "v1.0.0", &[]));

    let published = dk(&home, &["-o", "json", "publish", &dir], &[]);
    assert!(published.status.success(), "{}", stderr(&published));
    let shown: Value = serde_json::from_str(&stdout(&published)).expect("JSON");
    let layout = home.path().join("registry/my-package");
    assert_eq!(shown["outcome"], "published");
    assert_eq!(shown["digest"], built.as_str());
    assert_eq!(
        shown["reference"],
        format!("oci:{}:v1.0.0", layout.display()).as_str()
    );

    let marker: Value =
        serde_json::from_slice(&std::fs::read(layout.join("oci-layout")).expect("oci-layout"))
            .expect("JSON");
    assert_eq!(marker["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("JSON");
    let entries = index["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["digest"], built.as_str());
    assert_eq!(
        entries[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        "v1.0.0"
    );
    // Every blob is stored under its own digest; the manifest names the media types.
    for blob in std::fs::read_dir(layout.join("blobs/sha256")).expect("blobs") {
        let blob = blob.expect("blob");
        let bytes = std::fs::read(blob.path()).expect("read");
        assert_eq!(
            sha256_digest(&bytes),
            format!("sha256:{}", blob.file_name().to_string_lossy())
        );
    }
    let manifest_path = layout
        .join("blobs/sha256")
        .join(built.trim_start_matches("sha256:"));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(manifest_path).expect("manifest")).expect("JSON");
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.datakit.package.v1"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.datakit.package.config.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.datakit.package.content.v1.tar+gzip"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.title"],
        "my-package"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        "v1.0.0"
    );

    // The same build again changes nothing and says so.
    let again = dk(&home, &["publish", &dir], &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("nothing pushed"),
        "{}",
        stdout(&again)
    );

    // Other content under the same version is refused, naming both digests.
    let index_before = std::fs::read(layout.join("index.json")).expect("index");
    write_package(source.path(), "my-package", "two");
    let changed = digest(&build(&home, source.path(), "v1.0.0", &[]));
    let refused = fails_with(&dk(&home, &["publish", &dir], &[]), 4);
    assert!(
        refused.contains(&built) && refused.contains(&changed),
        "{refused}"
    );
    assert_eq!(
        std::fs::read(layout.join("index.json")).expect("index"),
        index_before
    );
}

#[test]
fn publishing_to_a_registry_serves_exactly_the_built_digest_and_never_moves_the_tag() {
    let server = RegistryServer::start();
    let home = TestHome::new();
    let source = tempfile::tempdir().expect("source");
    write_package(source.path(), "my-package", "one");
    let dir = source.path().to_string_lossy().into_owned();
    let registry = server.url("team");
    let built = digest(&build(&home, source.path(), "v1.0.0", &[]));

    let published = dk(&home, &["publish", &dir, "--registry", &registry], &[]);
    assert!(published.status.success(), "{}", stderr(&published));
    assert!(
        stdout(&published).contains(&format!("{registry}/my-package:v1.0.0")),
        "{}",
        stdout(&published)
    );
    let served = server.manifest("team/my-package", "v1.0.0");
    assert_eq!(served.status, 200);
    assert_eq!(served.header("Docker-Content-Digest"), Some(built.as_str()));
    assert_eq!(sha256_digest(&served.body), built);

    // DK_REGISTRY works like --registry; the same digest again is a no-op.
    let again = dk(
        &home,
        &["-o", "json", "publish", &dir],
        &[("DK_REGISTRY", &registry)],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let shown: Value = serde_json::from_str(&stdout(&again)).expect("JSON");
    assert_eq!(shown["outcome"], "unchanged");

    write_package(source.path(), "my-package", "two");
    let changed = digest(&build(&home, source.path(), "v1.0.0", &[]));
    let refused = fails_with(
        &dk(&home, &["publish", &dir, "--registry", &registry], &[]),
        4,
    );
    assert!(
        refused.contains(&built) && refused.contains(&changed),
        "{refused}"
    );
    let served = server.manifest("team/my-package", "v1.0.0");
    assert_eq!(served.header("Docker-Content-Digest"), Some(built.as_str()));

    // A new version of the changed content goes through.
    build(&home, source.path(), "v1.0.1", &[]);
    let next = dk(&home, &["publish", &dir, "--registry", &registry], &[]);
    assert!(next.status.success(), "{}", stderr(&next));
    assert_eq!(server.manifest("team/my-package", "v1.0.1").status, 200);
}

#[test]
fn an_unreachable_registry_is_exit_5() {
    let mut server = RegistryServer::start();
    let registry = server.url("team");
    server.stop();
    let home = TestHome::new();
    let source = tempfile::tempdir().expect("source");
    write_package(source.path(), "my-package", "one");
    build(&home, source.path(), "v1.0.0", &[]);
    let message = fails_with(
        &dk(
            &home,
            &[
                "publish",
                &source.path().to_string_lossy(),
                "--registry",
                &registry,
            ],
            &[],
        ),
        5,
    );
    assert!(message.contains(&server.host()), "{message}");
}

#[test]
fn a_refused_login_is_exit_4_naming_the_user_and_never_the_password() {
    let server = RegistryServer::start_with_login();
    let registry = server.url("team");
    let home = TestHome::new();
    let source = tempfile::tempdir().expect("source");
    write_package(source.path(), "my-package", "one");
    let dir = source.path().to_string_lossy().into_owned();
    let built = digest(&build(&home, source.path(), "v1.0.0", &[]));
    let publish = ["publish", dir.as_str(), "--registry", registry.as_str()];

    let anonymous = fails_with(&dk(&home, &publish, &[]), 4);
    assert!(anonymous.contains("anonymous"), "{anonymous}");
    let wrong = dk(
        &home,
        &publish,
        &[
            ("DK_REGISTRY_USERNAME", TEST_USER),
            ("DK_REGISTRY_PASSWORD", "not-the-password"),
        ],
    );
    let message = fails_with(&wrong, 4);
    assert!(message.contains(TEST_USER), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");

    // The Docker config's credentials are used.
    let docker = home.path().join("docker");
    std::fs::create_dir_all(&docker).expect("docker dir");
    let auth = base64_encode(format!("{TEST_USER}:{TEST_PASSWORD}").as_bytes());
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, server.host()),
    )
    .expect("docker config");
    let published = dk(&home, &publish, &[]);
    assert!(published.status.success(), "{}", stderr(&published));
    assert!(stdout(&published).contains(&built));
}

#[test]
fn a_bad_dk_yaml_is_exit_2_naming_the_field() {
    let home = TestHome::new();
    let source = tempfile::tempdir().expect("source");
    write_package(source.path(), "my-package", "one");
    let file = source.path().join("dk.yaml");
    let text = std::fs::read_to_string(&file).expect("dk.yaml");
    std::fs::write(&file, text.replace("name: my-package", "name: My_Package")).expect("write");
    let dir = source.path().to_string_lossy().into_owned();
    let message = fails_with(&dk(&home, &["build", &dir, "--version", "v1.0.0"], &[]), 2);
    assert!(
        message.contains("metadata.name") && message.contains("dk.yaml"),
        "{message}"
    );

    std::fs::remove_file(&file).expect("remove");
    let message = fails_with(&dk(&home, &["build", &dir, "--version", "v1.0.0"], &[]), 2);
    assert!(message.contains("dk.yaml"), "{message}");
}

#[test]
fn latest_ranges_and_empty_versions_are_exit_2_with_the_reason() {
    let home = TestHome::new();
    let source = tempfile::tempdir().expect("source");
    write_package(source.path(), "my-package", "one");
    let dir = source.path().to_string_lossy().into_owned();
    for version in ["latest", "^1.0", "1.x", ""] {
        let message = fails_with(&dk(&home, &["build", &dir, "--version", version], &[]), 2);
        assert!(message.contains("v1.2.3"), "{version}: {message}");
    }
    let message = fails_with(&dk(&home, &["build", &dir, "--version", "latest"], &[]), 2);
    assert!(message.contains("not exact"), "{message}");
}

#[test]
fn publishing_without_a_build_or_after_dk_yaml_changed_says_to_build_again() {
    let home = TestHome::new();
    let source = tempfile::tempdir().expect("source");
    write_package(source.path(), "my-package", "one");
    let dir = source.path().to_string_lossy().into_owned();
    let message = fails_with(&dk(&home, &["publish", &dir], &[]), 3);
    assert!(message.contains("dk build"), "{message}");

    build(&home, source.path(), "v1.0.0", &[]);
    let file = source.path().join("dk.yaml");
    let text = std::fs::read_to_string(&file).expect("dk.yaml");
    std::fs::write(&file, text.replace("User events", "Other events")).expect("write");
    let message = fails_with(&dk(&home, &["publish", &dir], &[]), 3);
    assert!(
        message.contains("changed since") && message.contains("run dk build again"),
        "{message}"
    );
    assert!(!home.path().join("registry/my-package").exists());
}

/// Standard base64 (for a Docker config `auth` field).
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
