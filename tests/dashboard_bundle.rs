//! The dashboard dkd serves is built from its sources: `daemon/web/dist/` (committed, so
//! building dkd needs no Node) must be exactly what `npm run build` makes of
//! `daemon/web/src/`, `proto/` and the locked toolchain. The test rebuilds it into a
//! temporary folder (installing the locked packages with `npm ci` when they are missing)
//! and compares byte for byte. With CI=true a missing Node fails the test; elsewhere the
//! test says it checked nothing.

mod support;

use std::{path::Path, process::Command};

fn node_present() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        support::stdout(&output),
        support::stderr(&output)
    );
}

#[test]
fn the_committed_dashboard_bundle_is_what_its_sources_build() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("daemon")
        .join("web");
    if !node_present() {
        assert!(
            !std::env::var("CI").is_ok_and(|value| value == "true"),
            "node is not installed and CI must check the dashboard bundle: run bash tests/run, which installs it"
        );
        eprintln!(
            "note: node is not installed: the dashboard bundle was not checked against its sources"
        );
        return;
    }
    if !web
        .join("node_modules")
        .join(".bin")
        .join("esbuild")
        .exists()
    {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&web),
            "npm ci in daemon/web",
        );
    }
    let rebuilt = tempfile::tempdir().expect("tempdir");
    run(
        Command::new("node")
            .arg("build.mjs")
            .arg("--outdir")
            .arg(rebuilt.path())
            .current_dir(&web),
        "node build.mjs",
    );
    for file in ["index.html", "app.js", "app.css"] {
        let committed = std::fs::read(web.join("dist").join(file)).expect("committed file");
        let built = std::fs::read(rebuilt.path().join(file)).expect("rebuilt file");
        assert!(
            committed == built,
            "daemon/web/dist/{file} is not what its sources build: run `npm run build` in daemon/web and commit dist/"
        );
    }
}
