//! A blob deleted from the embedded registry after `dk publish`, through the real binaries:
//! a deployed version turns Degraded naming the blob, promoting one is not found (exit 3)
//! naming the blob, and publishing the same build again restores it.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::{TestHome, eventually, package::PackageDir, stderr, stdout};

/// `DK_HOME/registry/<package>/blobs/sha256/<hex>` of `digest`.
fn blob_path(home: &TestHome, package: &str, digest: &str) -> PathBuf {
    home.path()
        .join("registry")
        .join(package)
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn promote_and_wait(home: &TestHome, package: &str, version: &str) {
    let output = home.dk(&["promote", package, version, "--to", "dev", "--wait"]);
    assert!(
        output.status.success(),
        "promote {version}: {}",
        stderr(&output)
    );
}

#[test]
fn a_deployed_version_whose_manifest_blob_is_deleted_turns_degraded_naming_the_blob() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("loader", &[]);
    let digest = package.publish(&home, "v1.0.0");
    promote_and_wait(&home, "loader", "v1.0.0");

    std::fs::remove_file(blob_path(&home, "loader", &digest)).expect("delete the blob");
    let row = eventually("loader to turn Degraded", || {
        let output = home.dk(&["-o", "json", "status", "--env", "dev"]);
        let json: Value = serde_json::from_slice(&output.stdout).ok()?;
        let row = json["rows"].as_array()?.first()?.clone();
        (row["health"] == "Degraded").then_some(row)
    });
    let message = row["message"].as_str().expect("message");
    assert!(
        message.contains(&digest) && message.contains("dk publish"),
        "{message}"
    );
    let table = stdout(&home.dk(&["status", "--env", "dev"]));
    assert!(table.contains("Degraded ⚠"), "{table}");
}

#[test]
fn promoting_a_version_whose_config_blob_is_deleted_exits_3_until_it_is_published_again() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("loader", &[]);
    package.publish(&home, "v1.0.0");
    promote_and_wait(&home, "loader", "v1.0.0");

    package.touch("v2");
    let digest = package.publish(&home, "v2.0.0");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(blob_path(&home, "loader", &digest)).expect("read"))
            .expect("manifest");
    let config = manifest["config"]["digest"]
        .as_str()
        .expect("config digest");
    std::fs::remove_file(blob_path(&home, "loader", config)).expect("delete the blob");

    let output = home.dk(&["promote", "loader", "v2.0.0", "--to", "dev"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{message}");
    assert_eq!(message.lines().count(), 1, "one line expected: {message:?}");
    assert!(
        message.contains(config) && message.contains("dk publish"),
        "{message}"
    );

    let again = home.dk(&["publish", &package.path().to_string_lossy()]);
    assert!(again.status.success(), "dk publish: {}", stderr(&again));
    assert!(blob_path(&home, "loader", config).is_file(), "restored");
    promote_and_wait(&home, "loader", "v2.0.0");
}
