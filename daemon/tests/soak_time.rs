//! Soak time (`promotion: { soak: 30m }`) with dkd run in-process on a clock the test
//! moves, driven by the real `dk`: a promotion is refused with how long the version has
//! soaked, what is required and when it becomes promotable, then allowed once the clock
//! passes the soak; `--force` overrides and is recorded; `dk status` shows when the
//! upstream's version becomes promotable.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::{sync::Arc, time::Duration};

use dkd::{
    app,
    home::DkHome,
    promotion::{now, ports::ManualClock},
};
use support::{Clone, TestHome, eventually, json, last_json, package::PackageDir, stderr, stdout};

const ENVIRONMENTS: &str = "environments:\n  dev:\n    cluster: dev-cluster\n    namespace: dev\n    approval: { required: false, auto_merge: true }\n  int:\n    cluster: int-cluster\n    namespace: int\n    approval: { required: false, auto_merge: true }\n    promotion: { soak: 30m }\n";

fn succeeds(home: &TestHome, args: &[&str]) -> std::process::Output {
    let output = home.dk(args);
    assert!(
        output.status.success(),
        "dk {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

/// The `promotable` of int's row in `dk -o json status my-package`.
fn promotable_into_int(home: &TestHome) -> serde_json::Value {
    let status = json(&succeeds(home, &["-o", "json", "status", "my-package"]));
    status["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["environment"] == "int"))
        .map(|row| row["promotable"].clone())
        .unwrap_or_default()
}

#[test]
fn a_promotion_waits_for_the_soak_on_the_clock_and_force_skips_it_on_the_record() {
    let home = TestHome::new();
    let clock = ManualClock::starting_at(now());
    let dkd = InProcess::start(&home, &clock);
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("second");
    package.publish(&home, "v1.1.0");
    Clone::of(&home).push_file("config/environments.yaml", ENVIRONMENTS, "Soak int");
    succeeds(
        &home,
        &["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"],
    );

    let refusal = eventually("the soak to be enforced", || {
        let output = home.dk(&["promote", "my-package", "v1.0.0", "--to", "int"]);
        let message = stderr(&output);
        assert!(
            !output.status.success(),
            "promoted before the soak was enforced: {}",
            stdout(&output)
        );
        message.contains("soak").then_some(message)
    });
    assert_eq!(refusal.lines().count(), 1, "one line: {refusal}");
    for expected in [
        "has been Healthy in dev for 0s",
        "int requires a soak of 30m",
        "becomes promotable at 20",
        "(in 30m)",
        "--force",
    ] {
        assert!(refusal.contains(expected), "{expected:?} in {refusal}");
    }
    let waiting = promotable_into_int(&home);
    assert_eq!(
        (&waiting["version"], &waiting["from"], &waiting["now"]),
        (&"v1.0.0".into(), &"dev".into(), &false.into()),
        "{waiting}"
    );
    let table = stdout(&succeeds(&home, &["status", "my-package"]));
    assert!(
        table.contains("Promotable into int: v1.0.0 from dev at 20") && table.contains("(in "),
        "{table}"
    );

    clock.advance(Duration::from_secs(30 * 60));
    assert_eq!(promotable_into_int(&home)["now"], true);
    let table = stdout(&succeeds(&home, &["status", "my-package"]));
    assert!(
        table.contains("Promotable into int: v1.0.0 from dev now"),
        "{table}"
    );
    let promoted = last_json(&succeeds(
        &home,
        &[
            "-o",
            "json",
            "promote",
            "my-package",
            "v1.0.0",
            "--to",
            "int",
            "--wait",
        ],
    ));
    assert_eq!(promoted["promotion"]["forced"], false, "{promoted}");
    assert!(
        promotable_into_int(&home).is_null(),
        "int runs what dev runs"
    );

    succeeds(
        &home,
        &["promote", "my-package", "v1.1.0", "--to", "dev", "--wait"],
    );
    let refusal = stderr(&home.dk(&["promote", "my-package", "v1.1.0", "--to", "int"]));
    assert!(
        refusal.contains("in dev for 0s"),
        "a new version soaks anew: {refusal}"
    );
    let forced = json(&succeeds(
        &home,
        &[
            "-o",
            "json",
            "promote",
            "my-package",
            "v1.1.0",
            "--to",
            "int",
            "--force",
        ],
    ));
    assert_eq!(forced["promotion"]["forced"], true, "{forced}");
    dkd.stop();
}

#[test]
fn a_soak_added_by_a_push_shows_in_status_and_a_push_beside_the_configuration_changes_nothing() {
    let home = TestHome::new();
    let clock = ManualClock::starting_at(now());
    let dkd = InProcess::start(&home, &clock);
    PackageDir::new("my-package", &[]).publish(&home, "v1.0.0");
    let without_soak = ENVIRONMENTS.replace("    promotion: { soak: 30m }\n", "");
    Clone::of(&home).push_file("config/environments.yaml", &without_soak, "No soak");
    succeeds(
        &home,
        &["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"],
    );
    eventually("v1.0.0 to be promotable into int now", || {
        (promotable_into_int(&home)["now"] == true).then_some(())
    });

    // Cloned after dkd merged the promotion, so the push is a fast-forward.
    let head = Clone::of(&home).push_file("docs/notes.md", "Not configuration.\n", "Notes");
    eventually("dkd to serve the push beside the configuration", || {
        let status = json(&succeeds(&home, &["-o", "json", "status", "my-package"]));
        (status["revision"] == head.as_str()).then_some(())
    });
    assert_eq!(promotable_into_int(&home)["now"], true, "nothing changed");

    Clone::of(&home).push_file("config/environments.yaml", ENVIRONMENTS, "Soak int");
    let waiting = eventually("the new soak to show in Status", || {
        let promotable = promotable_into_int(&home);
        (promotable["now"] == false).then_some(promotable)
    });
    assert_eq!(waiting["version"], "v1.0.0", "{waiting}");
    dkd.stop();
}

/// dkd run in this process on `clock`, until [`InProcess::stop`].
struct InProcess {
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    daemon: tokio::task::JoinHandle<Result<(), app::AppError>>,
}

impl InProcess {
    fn start(home: &TestHome, clock: &ManualClock) -> Self {
        datakit::install_crypto_provider();
        let runtime = tokio::runtime::Runtime::new().expect("runtime for dkd");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut options = app::Options::new(DkHome::new(home.path()), None);
        options.clock = Arc::new(clock.clone());
        let daemon = runtime.spawn(app::run(options, async move {
            let _ = stopped.await;
        }));
        eventually("dkd to open its socket", || {
            std::os::unix::net::UnixStream::connect(home.socket()).ok()
        });
        Self {
            runtime,
            stop,
            daemon,
        }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.runtime
            .block_on(async { tokio::time::timeout(support::PATIENCE, self.daemon).await })
            .expect("dkd stops")
            .expect("joined")
            .expect("dkd ran cleanly");
    }
}
