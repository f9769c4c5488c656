//! End to end through the real `dk build`: nothing a package holds or names leads out of its
//! directory. Links out of it (absolute, or climbing with `..`) and `artifact:` paths in
//! `dk.yaml` are refused with exit 2 in one line naming them, and nothing is left to publish;
//! links that stay inside are packed as links. None of it needs dkd.

mod support;

use std::{io::Read as _, os::unix::fs::symlink, process::Output};

use serde_json::Value;
use support::{TestHome, package::PackageDir, stderr, stdout};

fn dir(package: &PackageDir) -> String {
    package.path().to_string_lossy().into_owned()
}

fn build(home: &TestHome, package: &PackageDir) -> Output {
    home.dk(&["-o", "json", "build", &dir(package), "--version", "v1.0.0"])
}

/// `dk build` of `package`, which must fail with exit 2 in one line and leave no build to
/// publish; that line.
fn refused(home: &TestHome, package: &PackageDir) -> String {
    let output = build(home, package);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert_eq!(message.lines().count(), 1, "one line expected: {message:?}");
    let publish = home.dk(&["publish", &dir(package)]);
    assert!(!publish.status.success(), "published: {}", stdout(&publish));
    assert!(!home.path().join("registry").exists());
    message
}

/// Appends `line` to the `spec` of the package's `dk.yaml` (the last section).
fn add_to_spec(package: &PackageDir, line: &str) {
    let file = package.path().join("dk.yaml");
    let text = std::fs::read_to_string(&file).expect("dk.yaml");
    std::fs::write(&file, format!("{text}  {line}\n")).expect("write dk.yaml");
}

#[test]
fn a_link_to_an_absolute_path_is_refused_with_exit_2_naming_the_link_and_its_target() {
    let home = TestHome::new();
    let package = PackageDir::new("my-package", &[]);
    std::fs::create_dir(package.path().join("secrets")).expect("mkdir");
    symlink("/etc/passwd", package.path().join("secrets/passwd")).expect("symlink");
    let message = refused(&home, &package);
    assert!(
        message.contains("link secrets/passwd -> /etc/passwd")
            && message.contains("leaves the package directory")
            && message.contains("replace it with the file itself or with a link to a file inside"),
        "{message}"
    );
}

#[test]
fn a_link_climbing_out_with_dot_dot_is_refused_with_exit_2_naming_the_link_and_its_target() {
    let home = TestHome::new();
    let package = PackageDir::new("my-package", &[]);
    std::fs::create_dir(package.path().join("queries")).expect("mkdir");
    symlink("../../..", package.path().join("queries/up")).expect("symlink");
    let message = refused(&home, &package);
    assert!(
        message.contains("link queries/up -> ../../..")
            && message.contains("leaves the package directory"),
        "{message}"
    );
}

#[test]
fn an_artifact_path_climbing_out_with_dot_dot_is_refused_with_exit_2() {
    let home = TestHome::new();
    let package = PackageDir::new("my-package", &[]);
    add_to_spec(&package, "artifact: ../../etc/passwd");
    let message = refused(&home, &package);
    // dk.yaml has no artifact key at all: it never names a path to read.
    assert!(
        message.contains("dk.yaml:") && message.contains("unknown field `artifact`"),
        "{message}"
    );
}

#[test]
fn an_absolute_artifact_path_is_refused_with_exit_2() {
    let home = TestHome::new();
    let package = PackageDir::new("my-package", &[]);
    add_to_spec(&package, "artifact: /etc/passwd");
    let message = refused(&home, &package);
    assert!(
        message.contains("dk.yaml:") && message.contains("unknown field `artifact`"),
        "{message}"
    );
}

/// The (path, link target) of every entry of the layer of `digest` in the embedded registry;
/// the target is empty for what is not a link.
fn layer_entries(home: &TestHome, package: &str, digest: &str) -> Vec<(String, String)> {
    let blobs = home
        .path()
        .join("registry")
        .join(package)
        .join("blobs/sha256");
    let blob = |digest: &str| {
        std::fs::read(blobs.join(digest.trim_start_matches("sha256:"))).expect("blob")
    };
    let manifest: Value = serde_json::from_slice(&blob(digest)).expect("manifest");
    let layer = blob(manifest["layers"][0]["digest"].as_str().expect("layer"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    let mut entries = Vec::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let target = match entry.header().entry_type() {
            tar::EntryType::Symlink => entry
                .link_name()
                .expect("link name")
                .expect("target")
                .to_string_lossy()
                .into_owned(),
            _ => String::new(),
        };
        entry.read_to_end(&mut Vec::new()).expect("content");
        entries.push((path, target));
    }
    entries
}

#[test]
fn links_that_stay_inside_the_package_are_built_published_and_packed_as_links() {
    let home = TestHome::new();
    let package = PackageDir::new("my-package", &[]);
    let root = package.path();
    std::fs::create_dir(root.join("docs")).expect("mkdir");
    std::fs::write(root.join("docs/readme.md"), "# docs\n").expect("write");
    symlink("query.sql", root.join("current.sql")).expect("symlink");
    symlink("../query.sql", root.join("docs/query.sql")).expect("symlink");
    symlink("docs", root.join("all")).expect("symlink");
    let digest = package.publish(&home, "v1.0.0");
    let links: Vec<(String, String)> = layer_entries(&home, "my-package", &digest)
        .into_iter()
        .filter(|(_, target)| !target.is_empty())
        .collect();
    let expected = [
        ("all", "docs"),
        ("current.sql", "query.sql"),
        ("docs/query.sql", "../query.sql"),
    ]
    .map(|(path, target)| (path.to_owned(), target.to_owned()));
    assert_eq!(links, expected);
    let output = build(&home, &package);
    let rebuilt: Value = serde_json::from_str(&stdout(&output)).expect("dk build -o json");
    assert_eq!(
        rebuilt["digest"],
        digest.as_str(),
        "reproducible with links"
    );
}
