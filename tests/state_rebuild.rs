//! dkd's state database is a cache: deleted, truncated or garbled while dkd is stopped (or
//! deleted across `kill -9` restarts), everything merged comes back from the deployment
//! repository, open promotions resume, and no id is ever handed out twice.

mod support;

use std::{collections::BTreeSet, path::Path};

use support::{Daemon, TestHome, eventually, git, package::PackageDir, stderr};

fn id_of(promotion: &serde_json::Value) -> String {
    promotion["id"].as_str().expect("id").to_owned()
}

fn state_of(home: &TestHome, package: &str, id: &str) -> String {
    home.history(package)
        .iter()
        .find(|p| id_of(p) == id)
        .map(|p| p["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn promote(home: &TestHome, package: &str, version: &str, env: &str) -> String {
    let output = home.dk(&["-o", "json", "promote", package, version, "--to", env]);
    assert!(output.status.success(), "{}", stderr(&output));
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    reply["promotion"]["id"]
        .as_str()
        .or_else(|| reply["id"].as_str())
        .unwrap_or_else(|| panic!("no promotion id in {reply}"))
        .to_owned()
}

fn await_state(home: &TestHome, package: &str, id: &str, wanted: &str) {
    eventually(&format!("{id} to be {wanted}"), || {
        (state_of(home, package, id) == wanted).then_some(())
    });
}

/// Every `Promotion-Id:` trailer on main, in order.
fn trailers(home: &TestHome) -> Vec<String> {
    git(
        home.path(),
        &[
            "--git-dir",
            "deploy.git",
            "log",
            "--format=%(trailers:key=Promotion-Id,valueonly)",
            "main",
        ],
    )
    .lines()
    .map(str::trim)
    .filter(|l| !l.is_empty())
    .map(str::to_owned)
    .collect()
}

fn stop(daemon: Daemon, signal: &str) {
    let mut daemon = daemon;
    daemon.signal(signal);
    let _ = daemon.wait();
}

/// What happens to `state.sled` while dkd is stopped.
#[derive(Debug, Clone, Copy)]
enum Damage {
    Delete,
    Truncate,
    Garble,
}

fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read state.sled").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn damage(home: &TestHome, how: Damage) {
    let database = home.path().join("state.sled");
    match how {
        Damage::Delete => std::fs::remove_dir_all(&database).expect("delete state.sled"),
        Damage::Truncate => {
            for file in files_below(&database) {
                let length = std::fs::metadata(&file).expect("stat").len();
                let handle = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&file)
                    .expect("open");
                handle.set_len(length / 2).expect("truncate");
            }
        }
        Damage::Garble => {
            for file in files_below(&database) {
                let mut bytes = std::fs::read(&file).expect("read");
                let length = bytes.len();
                for (index, byte) in bytes.iter_mut().enumerate() {
                    if index > length / 8 && index % 7 == 3 {
                        *byte ^= 0x5a;
                    }
                }
                std::fs::write(&file, bytes).expect("write");
            }
        }
    }
}

/// Two merged promotions to dev and one open to int, then `how`, then a restart.
fn nothing_merged_is_lost_and_ids_never_repeat_after(how: Damage) {
    let home = TestHome::demo();
    let daemon = home.start_daemon();
    let package = PackageDir::new("alpha", &[]);
    for version in ["v1.0.0", "v1.1.0", "v1.2.0"] {
        package.touch(version);
        package.publish(&home, version);
    }
    let first = promote(&home, "alpha", "v1.0.0", "dev");
    await_state(&home, "alpha", &first, "Healthy");
    let second = promote(&home, "alpha", "v1.1.0", "dev");
    await_state(&home, "alpha", &second, "Healthy");
    let open = promote(&home, "alpha", "v1.1.0", "int");
    await_state(&home, "alpha", &open, "ChangeProposed");
    let before: Vec<String> = home.history("alpha").iter().map(id_of).collect();
    stop(daemon, "TERM");

    damage(&home, how);
    let _daemon = home.start_daemon();

    let env_list = home.dk(&["env", "list"]);
    assert!(env_list.status.success(), "{}", stderr(&env_list));
    assert!(
        stderr(&env_list).contains("warning: dkd:"),
        "{how:?}: the loss is reported in one line: {}",
        stderr(&env_list)
    );
    let restored = home.history("alpha");
    let after: BTreeSet<String> = restored.iter().map(id_of).collect();
    for id in &before {
        assert!(after.contains(id), "{how:?}: {id} is back: {restored:?}");
    }
    let merged: Vec<&serde_json::Value> = restored
        .iter()
        .filter(|p| id_of(p) == first || id_of(p) == second)
        .collect();
    assert!(
        merged.iter().all(|p| p["mergeCommit"].is_string()),
        "{how:?}: merged promotions keep their merge commit: {merged:?}"
    );
    await_state(&home, "alpha", &second, "Healthy");

    // The open promotion resumes: approvals are given again, and it lands once.
    let approved = home.dk(&["approve", &open, "--as", "alice"]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    await_state(&home, "alpha", &open, "Healthy");

    // A new promotion gets a new id and lands against its own commit.
    let newest = promote(&home, "alpha", "v1.2.0", "dev");
    assert!(
        !before.contains(&newest),
        "{how:?}: {newest} was handed out before: {before:?}"
    );
    await_state(&home, "alpha", &newest, "Healthy");
    let on_main = trailers(&home);
    let unique: BTreeSet<&String> = on_main.iter().collect();
    assert_eq!(unique.len(), on_main.len(), "{how:?}: {on_main:?}");
    let manifest = git(
        home.path(),
        &[
            "--git-dir",
            "deploy.git",
            "show",
            "main:environments/dev/alpha.yaml",
        ],
    );
    assert!(manifest.contains("version: v1.2.0"), "{manifest}");
    assert!(manifest.contains(&newest), "{manifest}");
}

#[test]
fn a_deleted_state_database_is_rebuilt_from_the_deployment_repository() {
    nothing_merged_is_lost_and_ids_never_repeat_after(Damage::Delete);
}

#[test]
fn a_truncated_state_database_is_rebuilt_from_the_deployment_repository() {
    nothing_merged_is_lost_and_ids_never_repeat_after(Damage::Truncate);
}

#[test]
fn a_garbled_state_database_is_set_aside_and_rebuilt() {
    nothing_merged_is_lost_and_ids_never_repeat_after(Damage::Garble);
}

/// A small deterministic generator, so a failing run can be replayed from its seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[test]
fn kill_9_restarts_that_sometimes_delete_the_state_database_land_each_promotion_once() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(7);
    eprintln!("seed {seed}");
    let mut random = Lcg(seed);
    let home = TestHome::new();
    let names = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let packages: Vec<PackageDir> = names.iter().map(|n| PackageDir::new(n, &[])).collect();
    let rounds = 11;
    for (package, name) in packages.iter().zip(names) {
        for round in 0..rounds {
            let version = format!("v1.0.{round}");
            package.touch(&format!("{name}-{version}"));
            package.publish(&home, &version);
        }
    }
    let mut acknowledged: Vec<(String, String, String)> = Vec::new();
    let mut daemon = home.start_daemon();
    for round in 0..rounds {
        let version = format!("v1.0.{round}");
        for name in names {
            let output = home.dk(&["-o", "json", "promote", name, &version, "--to", "dev"]);
            assert!(
                output.status.success(),
                "{}\n{}",
                stderr(&output),
                daemon.log()
            );
            let reply: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
            let id = reply["promotion"]["id"].as_str().expect("id").to_owned();
            acknowledged.push((id, name.to_owned(), version.clone()));
        }
        std::thread::sleep(std::time::Duration::from_millis(random.next(300)));
        stop(daemon, "KILL");
        if random.next(2) == 0 {
            damage(&home, Damage::Delete);
        }
        daemon = home.start_daemon();
    }
    assert!(acknowledged.len() >= 50);
    let ids: BTreeSet<&String> = acknowledged.iter().map(|(id, _, _)| id).collect();
    assert_eq!(
        ids.len(),
        acknowledged.len(),
        "ids never repeat: {acknowledged:?}"
    );

    for name in names {
        eventually(&format!("{name}'s promotions to end"), || {
            home.history(name)
                .iter()
                .all(|p| {
                    matches!(
                        p["state"].as_str(),
                        Some("Healthy" | "Superseded" | "Failed" | "Rejected")
                    )
                })
                .then_some(())
        });
    }
    let on_main = trailers(&home);
    let landed: BTreeSet<&String> = on_main.iter().collect();
    assert_eq!(
        landed.len(),
        on_main.len(),
        "nothing landed twice: {on_main:?}"
    );
    for id in &on_main {
        assert!(ids.contains(id), "{id} on main was acknowledged");
    }
    for name in names {
        let newest = format!("v1.0.{}", rounds - 1);
        let manifest = git(
            home.path(),
            &[
                "--git-dir",
                "deploy.git",
                "show",
                &format!("main:environments/dev/{name}.yaml"),
            ],
        );
        assert!(
            manifest.contains(&format!("version: {newest}")),
            "{name} ends at the newest acknowledged version: {manifest}"
        );
        let states: Vec<String> = home
            .history(name)
            .iter()
            .map(|p| p["state"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(
            !states.iter().any(|s| s == "Failed"),
            "{name}: nothing failed: {states:?}"
        );
    }
    drop(daemon);
}

#[test]
fn ids_of_closed_change_requests_are_never_handed_out_again_after_the_database_is_lost() {
    let home = TestHome::new();
    let daemon = home.start_daemon();
    PackageDir::new("alpha", &[]).publish(&home, "v1.0.0");
    // A broken manifest on main fails the change's check: the newest id is a closed one.
    let clone = support::Clone::of(&home);
    clone.push_file(
        "environments/dev/broken.yaml",
        "kind: Nonsense\n",
        "Broken by hand",
    );
    let rejected = promote(&home, "alpha", "v1.0.0", "dev");
    await_state(&home, "alpha", &rejected, "Rejected");
    clone.remove_file("environments/dev/broken.yaml", "Fixed by hand");
    stop(daemon, "TERM");
    damage(&home, Damage::Delete);
    let _daemon = home.start_daemon();
    let next = promote(&home, "alpha", "v1.0.0", "dev");
    assert_ne!(
        next, rejected,
        "a closed change request's id is handed out again"
    );
    await_state(&home, "alpha", &next, "Healthy");
}

#[test]
fn a_merge_whose_branch_survived_a_crash_comes_back_merged() {
    let home = TestHome::new();
    let daemon = home.start_daemon();
    PackageDir::new("alpha", &[]).publish(&home, "v1.0.0");
    let id = promote(&home, "alpha", "v1.0.0", "dev");
    await_state(&home, "alpha", &id, "Healthy");
    stop(daemon, "TERM");
    // As a crash between landing the merge and deleting the branch leaves it.
    let merge = git(
        home.path(),
        &["--git-dir", "deploy.git", "rev-parse", "main"],
    );
    git(
        home.path(),
        &[
            "--git-dir",
            "deploy.git",
            "update-ref",
            &format!("refs/heads/promote/dev/alpha/{id}"),
            merge.trim(),
        ],
    );
    damage(&home, Damage::Delete);
    let _daemon = home.start_daemon();
    await_state(&home, "alpha", &id, "Healthy");
}

#[test]
fn a_lost_database_and_a_refused_newest_revision_still_serve_the_last_good_one() {
    let home = TestHome::new();
    let daemon = home.start_daemon();
    PackageDir::new("alpha", &[]).publish(&home, "v1.0.0");
    let id = promote(&home, "alpha", "v1.0.0", "dev");
    await_state(&home, "alpha", &id, "Healthy");
    support::Clone::of(&home).push_file(
        "environments/dev/broken.yaml",
        "kind: Nonsense\n",
        "A manifest that does not validate",
    );
    eventually("the broken revision to be refused", || {
        let output = home.dk(&["env", "list"]);
        stderr(&output).contains("was refused").then_some(())
    });
    stop(daemon, "TERM");
    damage(&home, Damage::Delete);
    let _daemon = home.start_daemon();
    let listing = home.dk(&["env", "list"]);
    assert!(listing.status.success(), "{}", stderr(&listing));
    assert!(
        support::stdout(&listing).contains("prod"),
        "the last good configuration is served: {}",
        support::stdout(&listing)
    );
    assert!(
        stderr(&listing).contains("environments/dev/broken.yaml"),
        "{}",
        stderr(&listing)
    );
    eventually("status to come back as dkd observes dev again", || {
        let status = home.dk(&["status", "alpha"]);
        (status.status.success() && support::stdout(&status).contains("v1.0.0")).then_some(())
    });
}

#[test]
fn rejected_and_cancelled_promotions_come_back_with_who_decided_and_why_after_the_database_is_lost()
{
    let home = TestHome::new();
    let daemon = home.start_daemon();
    let package = PackageDir::new("alpha", &[]);
    package.publish(&home, "v1.0.0");
    let dev = promote(&home, "alpha", "v1.0.0", "dev");
    await_state(&home, "alpha", &dev, "Healthy");
    let rejected = promote(&home, "alpha", "v1.0.0", "int");
    await_state(&home, "alpha", &rejected, "ChangeProposed");
    let output = home.dk(&["reject", &rejected, "--reason", "not before the audit: v2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let cancelled = promote(&home, "alpha", "v1.0.0", "int");
    await_state(&home, "alpha", &cancelled, "ChangeProposed");
    let output = home.dk(&["cancel", &cancelled, "--reason", "wrong version"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let decided = |home: &TestHome| -> Vec<(String, String, String)> {
        let mut decided: Vec<(String, String, String)> = home
            .history("alpha")
            .iter()
            .filter(|p| [&rejected, &cancelled].contains(&&id_of(p)))
            .map(|p| {
                let field = |key: &str| p[key].as_str().unwrap_or_default().to_owned();
                (id_of(p), field("state"), field("message"))
            })
            .collect();
        decided.sort();
        decided
    };
    let before = decided(&home);
    let me = support::os_user();
    assert_eq!(
        before,
        [
            (
                rejected.clone(),
                "Rejected".to_owned(),
                format!("rejected by {me}: not before the audit: v2")
            ),
            (
                cancelled.clone(),
                "Cancelled".to_owned(),
                format!("cancelled by {me}: wrong version")
            ),
        ],
    );
    stop(daemon, "TERM");
    damage(&home, Damage::Delete);
    let _daemon = home.start_daemon();
    assert_eq!(decided(&home), before, "as before the database was lost");
    // The decision commits kept under refs/closed/ are well-formed.
    git(
        home.path(),
        &[
            "--git-dir",
            "deploy.git",
            "fsck",
            "--strict",
            "--no-dangling",
        ],
    );
}

#[test]
fn what_was_pushed_while_dkd_was_stopped_is_applied_when_it_starts_again() {
    let home = TestHome::new();
    let daemon = home.start_daemon();
    for name in ["alpha", "beta"] {
        PackageDir::new(name, &[]).publish(&home, "v1.0.0");
        let id = promote(&home, name, "v1.0.0", "dev");
        await_state(&home, name, &id, "Healthy");
    }
    stop(daemon, "TERM");
    // dkd picks up from the revision it applied last (its marker in the target), so it
    // must still notice this change, made while it was down.
    support::Clone::of(&home).remove_file("environments/dev/beta.yaml", "Remove beta by hand");
    let _daemon = home.start_daemon();
    let deployed_in_dev = |name: &str| {
        let status = home.dk(&["-o", "json", "status", name]);
        let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
        json["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|row| row["environment"] == "dev" && row["status"] == "Synced")
    };
    eventually("beta to leave dev", || {
        (!deployed_in_dev("beta")).then_some(())
    });
    assert!(deployed_in_dev("alpha"), "alpha still runs in dev");
    assert!(
        !home.path().join("targets/dev/beta.yaml").exists(),
        "the target no longer runs beta"
    );
}
