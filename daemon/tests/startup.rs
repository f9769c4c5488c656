//! `dkd` refuses to start on a configuration it cannot honour, before binding anything.

use std::process::Command;

#[test]
fn an_invalid_dkd_yaml_stops_dkd_at_start_naming_the_key() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        home.path().join("dkd.yaml"),
        "forge:\n  type: embedded\nregistyr: oci\n",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_dkd"))
        .arg("--home")
        .arg(home.path())
        .output()
        .expect("run dkd");
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("registyr"), "{message}");
    assert!(!home.path().join("dkd.sock").exists(), "nothing was bound");
}

#[test]
fn an_explicit_config_file_that_does_not_parse_stops_dkd() {
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("other.yaml");
    std::fs::write(&config, "poll_interval_ms: often\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_dkd"))
        .arg("--home")
        .arg(home.path())
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run dkd");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("poll_interval_ms"));
}

#[test]
fn a_github_forge_without_its_token_stops_dkd_at_start_naming_the_key() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        home.path().join("dkd.yaml"),
        "forge:\n  type: github\n  owner: acme\n  repo: deploy\n  token_env: DK_TEST_NO_SUCH_TOKEN\n",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_dkd"))
        .arg("--home")
        .arg(home.path())
        .env_remove("DK_TEST_NO_SUCH_TOKEN")
        .output()
        .expect("run dkd");
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("forge.token_env"), "{message}");
    assert!(!home.path().join("dkd.sock").exists(), "nothing was bound");
}
