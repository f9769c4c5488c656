//! A first promotion without reading scripts, through the real binaries: `dk init`
//! scaffolds a package that validates and builds, refuses to overwrite or to guess a bad
//! name, and a newcomer goes from an empty directory to Healthy in dev in five commands.

mod support;

use std::{path::Path, process::Output};

use support::{TestHome, json, stderr, stdout};

/// `dk ARGS` run in `dir` on `home`, starting dkd when needed, as a newcomer runs it.
fn dk_in(home: &TestHome, dir: &Path, args: &[&str]) -> Output {
    home.dk_command(args, true)
        .current_dir(dir)
        .output()
        .expect("run dk")
}

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
}

/// Exit 2 with one line on stderr containing `expected`.
fn invalid(output: &Output, expected: &str) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    assert!(message.contains(expected), "{expected:?} not in: {message}");
}

#[test]
fn dk_init_writes_a_commented_dk_yaml_that_validates_and_builds() {
    let home = TestHome::new();
    let work = tempfile::tempdir().expect("tempdir");
    succeeded(&dk_in(&home, work.path(), &["init", "sales-events"]));
    let dir = work.path().join("sales-events");
    let manifest = std::fs::read_to_string(dir.join("dk.yaml")).expect("dk.yaml");
    let package = datakit::manifest::parse_data_package("dk.yaml", &manifest).expect("valid");
    assert_eq!(package.name, "sales-events");
    assert!(
        manifest.lines().filter(|l| l.contains('#')).count() >= 5,
        "{manifest}"
    );
    assert!(dir.join("transform.sql").is_file());
    let built = json(&dk_in(
        &home,
        work.path(),
        &["-o", "json", "build", "sales-events", "--version", "v0.1.0"],
    ));
    assert!(built.to_string().contains("sha256:"), "{built}");
}

#[test]
fn dk_init_takes_name_for_a_directory_whose_name_is_not_a_package_name() {
    let home = TestHome::new();
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("My_Package");
    std::fs::create_dir(&dir).expect("mkdir");
    invalid(&dk_in(&home, &dir, &["init"]), "pass --name");
    assert!(!dir.join("dk.yaml").exists());
    succeeded(&dk_in(&home, &dir, &["init", "--name", "my-package"]));
    let manifest = std::fs::read_to_string(dir.join("dk.yaml")).expect("dk.yaml");
    assert!(manifest.contains("name: my-package"), "{manifest}");
    invalid(
        &dk_in(&home, &dir, &["init", "--name", "Bad_Name"]),
        "invalid package name",
    );
}

#[test]
fn dk_init_never_overwrites_an_existing_dk_yaml() {
    let home = TestHome::new();
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("my-package");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("dk.yaml"), "mine\n").expect("write");
    invalid(&dk_in(&home, &dir, &["init"]), "exists already");
    assert_eq!(
        std::fs::read_to_string(dir.join("dk.yaml")).expect("read"),
        "mine\n"
    );
}

#[test]
fn a_newcomer_goes_from_an_empty_directory_to_healthy_in_dev_in_five_commands() {
    let home = TestHome::new();
    let work = tempfile::tempdir().expect("empty directory");
    let path: [&[&str]; 5] = [
        &["init", "my-package"],
        &[
            "store",
            "add",
            "dev",
            "events-store",
            "--type",
            "kafka-topic",
            "--set",
            "brokers=dev-kafka:9092",
            "--set",
            "topic=my-package-dev",
        ],
        &["build", "my-package", "--version", "v0.1.0"],
        &["publish", "my-package"],
        &["promote", "my-package", "v0.1.0", "--to", "dev", "--wait"],
    ];
    for args in path {
        succeeded(&dk_in(&home, work.path(), args));
    }
    let status = json(&home.dk(&["-o", "json", "status", "my-package"]));
    let dev = status["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["environment"] == "dev"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(dev["version"], "v0.1.0", "{status}");
    assert_eq!(dev["health"], "Healthy", "{status}");
}
