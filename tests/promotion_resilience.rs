//! Promotions under pressure: concurrent promotions of one package to one environment,
//! and `kill -9` of dkd with promotions in flight — nothing lost, nothing landed twice.

mod support;

use support::{TestHome, eventually, git, package::PackageDir, stderr};

fn terminal(state: &serde_json::Value) -> bool {
    matches!(
        state.as_str(),
        Some("Healthy" | "Failed" | "Superseded" | "Rejected")
    )
}

/// How many commits on main carry `Promotion-Id: <id>`.
fn landings(home: &TestHome, id: &str) -> usize {
    let pattern = format!("--grep=^Promotion-Id: {id}$");
    git(
        home.path(),
        &[
            "--git-dir",
            "deploy.git",
            "log",
            "--format=%H",
            &pattern,
            "main",
        ],
    )
    .lines()
    .count()
}

#[test]
fn five_concurrent_promotions_of_one_package_end_with_the_newest_and_lose_nothing() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    let versions: Vec<String> = (0..5).map(|i| format!("v1.0.{i}")).collect();
    for version in &versions {
        package.touch(version);
        package.publish(&home, version);
    }
    std::thread::scope(|scope| {
        for version in &versions {
            let home = &home;
            scope.spawn(move || {
                let output = home.dk(&["promote", "my-package", version, "--to", "dev"]);
                assert!(output.status.success(), "{}", stderr(&output));
            });
        }
    });
    let promotions = eventually("every promotion to end", || {
        let promotions = home.history("my-package");
        (promotions.len() == 5 && promotions.iter().all(|p| terminal(&p["state"])))
            .then_some(promotions)
    });
    let newest = &promotions[0];
    assert_eq!(
        newest["state"], "Healthy",
        "the newest request wins: {promotions:?}"
    );
    let on_main = git(
        home.path(),
        &[
            "--git-dir",
            "deploy.git",
            "show",
            "main:environments/dev/my-package.yaml",
        ],
    );
    assert!(
        on_main.contains(&format!(
            "version: {}",
            newest["version"].as_str().unwrap_or_default()
        )),
        "{on_main}"
    );
    for promotion in &promotions {
        let id = promotion["id"].as_str().expect("id");
        assert!(
            matches!(promotion["state"].as_str(), Some("Healthy" | "Superseded")),
            "{promotion}"
        );
        let merged = promotion["mergeCommit"].is_string();
        assert_eq!(
            landings(&home, id),
            usize::from(merged),
            "{id} lands once if merged, never twice"
        );
    }
    git(
        home.path(),
        &["--git-dir", "deploy.git", "fsck", "--strict"],
    );
}

#[test]
fn promotions_in_flight_when_dkd_is_killed_each_land_exactly_once_after_restart() {
    let home = TestHome::new();
    let mut daemon = home.start_daemon();
    let names = ["alpha", "beta", "gamma", "delta"];
    let packages: Vec<PackageDir> = names.iter().map(|n| PackageDir::new(n, &[])).collect();
    for package in &packages {
        package.publish(&home, "v1.0.0");
    }
    for name in names {
        let output = home.dk(&["promote", name, "v1.0.0", "--to", "dev"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    daemon.signal("KILL");
    let _ = daemon.wait();

    let _restarted = home.start_daemon();
    for name in names {
        let promotions = eventually("the promotion to end after the restart", || {
            let promotions = home.history(name);
            promotions
                .iter()
                .all(|p| terminal(&p["state"]))
                .then_some(promotions)
        });
        assert_eq!(promotions.len(), 1, "{name}: {promotions:?}");
        assert_eq!(promotions[0]["state"], "Healthy", "{name}: {promotions:?}");
        assert_eq!(
            landings(&home, promotions[0]["id"].as_str().expect("id")),
            1,
            "{name} landed exactly once"
        );
    }
    git(
        home.path(),
        &["--git-dir", "deploy.git", "fsck", "--strict"],
    );
}

/// `git count-objects -v` of the deployment repository: (loose objects, packed objects).
fn object_counts(home: &TestHome) -> (usize, usize) {
    let counts = git(
        home.path(),
        &["--git-dir", "deploy.git", "count-objects", "-v"],
    );
    let value = |key: &str| {
        counts
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} in {counts}"))
    };
    (value("count:"), value("in-pack:"))
}

#[test]
fn promotions_go_on_while_dkd_packs_the_repository_and_each_lands_once() {
    let home = TestHome::new();
    std::fs::write(home.path().join("dkd.yaml"), "forge: { pack_every: 3 }\n")
        .expect("write dkd.yaml");
    let mut daemon = home.start_daemon();
    assert_eq!(object_counts(&home).1, 0, "a new repository has no pack");
    let names: Vec<String> = (0..12).map(|i| format!("pkg-{i:02}")).collect();
    for name in &names {
        PackageDir::new(name, &[]).publish(&home, "v1.0.0");
    }
    std::thread::scope(|scope| {
        for name in &names {
            let home = &home;
            scope.spawn(move || {
                let output = home.dk(&["promote", name, "v1.0.0", "--to", "dev"]);
                assert!(output.status.success(), "{}", stderr(&output));
            });
        }
    });
    for name in &names {
        let promotion = eventually("the promotion to be Healthy", || {
            let promotions = home.history(name);
            (promotions.len() == 1 && promotions[0]["state"] == "Healthy")
                .then(|| promotions[0].clone())
        });
        let id = promotion["id"].as_str().expect("id");
        assert_eq!(landings(&home, id), 1, "{name} landed exactly once");
    }
    let log = eventually("dkd to pack the repository", || {
        let log = daemon.log();
        log.contains("packed the deployment repository's loose objects")
            .then_some(log)
    });
    assert!(!log.contains("git repack failed"), "{log}");
    let (loose, packed) = object_counts(&home);
    assert!(packed > 0, "{loose} loose, {packed} packed");
    git(
        home.path(),
        &["--git-dir", "deploy.git", "fsck", "--strict"],
    );
    // A restarted dkd reads every manifest back, packed or not.
    daemon.signal("KILL");
    let _ = daemon.wait();
    let _restarted = home.start_daemon();
    for name in &names {
        let status = home.dk(&["-o", "json", "status", name]);
        let rows = support::json(&status);
        assert_eq!(rows["rows"][0]["version"], "v1.0.0", "{name}: {rows}");
    }
}
