//! The web dashboard in a real browser: headless Chromium (driven over the DevTools
//! protocol, tests/support/devtools.rs) against a real dkd on the embedded default, served
//! by dkd itself — on the shared daemon's TLS port (sign in with a token) and through
//! `dk ui`'s loopback link. It shows the quick start's story in the pipeline, a promotion
//! made with `dk` within a second, approves an int promotion from the page (and shows the
//! buttons disabled, with the reason, to a principal without the right), follows a log,
//! and rides out a killed and restarted dkd without losing an event.
//!
//! Screenshots of each view (1280×800, and the pipeline at 390×800 and in dark mode) go to
//! target/dashboard-screenshots/; with DK_UPDATE_SCREENSHOTS=1 also to docs/screenshots/.

mod support;

use std::{path::PathBuf, time::Duration};

use support::{
    Clone,
    browser::{Browser, spki_hash},
    devtools::DevTools,
    package::PackageDir,
    shared::Shared,
    stderr, stdout,
};

const POLICY: &str = "roles:
  developer:
    - actions: [read, promote, rollback]
      environments: [dev]
  reader:
    - actions: [read]
      environments: [\"*\"]
  team-lead:
    - actions: [read, promote, rollback, approve]
      environments: [int]
bindings:
  - role: developer
    users: [\"*\"]
  - role: reader
    users: [\"*\"]
  - role: team-lead
    groups: [team-leads]
";

/// How soon a change made with `dk` must show on the page.
const LIVE: Duration = Duration::from_secs(1);

/// Saves a screenshot of the page at `width`×`height` as `name`.png (see the module doc).
fn screenshot(page: &mut DevTools, name: &str, width: u32, height: u32) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let artefact = root
        .join("target")
        .join("dashboard-screenshots")
        .join(format!("{name}.png"));
    page.screenshot(&artefact, width, height);
    if std::env::var("DK_UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1") {
        let committed = root.join("docs").join("screenshots");
        std::fs::create_dir_all(&committed).expect("docs/screenshots");
        std::fs::copy(&artefact, committed.join(format!("{name}.png"))).expect("copy");
    }
}

fn succeeded(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
}

/// `dk promote PACKAGE VERSION --to ENV` on the socket; the promotion's id.
fn promote(shared: &Shared, package: &str, version: &str, environment: &str, wait: bool) -> String {
    let mut args = vec![
        "-o",
        "json",
        "promote",
        package,
        version,
        "--to",
        environment,
    ];
    if wait {
        args.push("--wait");
    }
    let output = shared.home.dk(&args);
    let promoted = support::last_json(&output);
    promoted["promotion"]["id"]
        .as_str()
        .or_else(|| promoted["id"].as_str())
        .unwrap_or_else(|| panic!("no promotion id in {promoted}"))
        .to_owned()
}

/// A JavaScript expression: the text of `package`'s cell in `environment`, or "".
fn cell(package: &str, environment: &str) -> String {
    format!(
        "(document.querySelector('[data-package=\"{package}\"] [data-environment=\"{environment}\"]') || {{}}).innerText || ''"
    )
}

/// A JavaScript expression: whether that cell's text contains every one of `parts`.
fn cell_shows(package: &str, environment: &str, parts: &[&str]) -> String {
    let checks: Vec<String> = parts
        .iter()
        .map(|part| format!("text.includes({})", serde_json::json!(part)))
        .collect();
    format!(
        "(() => {{ const text = {}; return {}; }})()",
        cell(package, environment),
        checks.join(" && ")
    )
}

/// A JavaScript expression: the ids (or names) of form fields without a label and of
/// buttons without text on the page — an empty list when every control is named.
const UNNAMED_CONTROLS: &str = "[...document.querySelectorAll('input, select, button')].filter((c) => c.tagName === 'BUTTON' ? !c.innerText.trim() : c.labels.length === 0).map((c) => c.id || c.outerHTML)";

/// Opens the dashboard on `shared`'s TLS port and signs in with `token`.
fn sign_in(shared: &Shared, token: &str) -> (Browser, DevTools) {
    let browser = Browser::open(
        &format!("{}/", shared.address()),
        &spki_hash(&shared.file("tls.key")),
    );
    let mut page = browser.devtools();
    page.eventually("the sign-in form", "!!document.getElementById('token')");
    page.evaluate(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form').requestSubmit(); true",
        serde_json::json!(token)
    ));
    page.eventually(
        "the pipeline, live",
        "document.body.dataset.connection === 'live' && !!document.getElementById('pipeline-title')",
    );
    (browser, page)
}

/// A shared dkd under [`POLICY`] with my-package v1.0.0 and v1.1.0 and orders v2.0.0.
fn shared_with_packages() -> Shared {
    let shared = Shared::start_bare("", "");
    shared.set_policy(POLICY);
    let package = PackageDir::new("my-package", &[]);
    package.publish(&shared.home, "v1.0.0");
    package.touch("v1.1.0");
    package.publish(&shared.home, "v1.1.0");
    PackageDir::new("orders", &[]).publish(&shared.home, "v2.0.0");
    shared
}

#[test]
fn the_pipeline_tells_the_quick_start_story_live_and_an_int_promotion_is_approved_from_the_page() {
    let shared = shared_with_packages();
    let dave = shared.token(&["dave", "--groups", "team-leads"]);
    let carol = shared.token(&["carol", "--groups", "dev"]);
    promote(&shared, "my-package", "v1.0.0", "dev", true);
    promote(&shared, "orders", "v2.0.0", "dev", true);

    let (_browser, mut page) = sign_in(&shared, &dave);
    page.eventually(
        "my-package Healthy in dev",
        &cell_shows("my-package", "dev", &["v1.0.0", "Healthy", "Synced"]),
    );
    page.eventually(
        "orders in dev",
        &cell_shows("orders", "dev", &["v2.0.0", "Healthy"]),
    );
    let headers = page.evaluate(
        "[...document.querySelectorAll('.grid-header [role=columnheader]')].map((h) => h.innerText)",
    );
    assert_eq!(
        headers,
        serde_json::json!(["Package", "dev", "int", "prod"]),
        "path order"
    );

    // A promotion made with dk appears without a reload, within a second of dkd creating
    // it (the page measures: its clock and dkd's are this machine's).
    let reloads = page.evaluate("performance.getEntriesByType('navigation').length");
    let id = promote(&shared, "my-package", "v1.0.0", "int", false);
    page.eventually(
        "the int promotion",
        &cell_shows(
            "my-package",
            "int",
            &[
                "v1.0.0",
                "Change proposed",
                "needs 1 approval from @team-leads",
            ],
        ),
    );
    let latency = page.evaluate(&format!(
        "Number(document.querySelector('[data-promotion=\"{id}\"]').dataset.latencyMs)"
    ));
    eprintln!("the promotion reached the page {latency} ms after dkd created it");
    assert!(
        latency
            .as_f64()
            .is_some_and(|ms| ms < LIVE.as_secs_f64() * 1000.0),
        "the promotion reached the page {latency} ms after dkd created it"
    );
    assert_eq!(
        page.evaluate("performance.getEntriesByType('navigation').length"),
        reloads
    );

    // carol may not approve in int: her buttons are disabled and say why.
    let (_other, mut carols) = sign_in(&shared, &carol);
    carols.navigate(&format!("{}/#/waiting", shared.address()));
    let card = format!("#not-approvable [data-promotion=\"{id}\"]");
    carols.eventually(
        "carol's disabled buttons with the reason",
        &format!(
            "(() => {{ const card = document.querySelector('{card}'); return card && card.querySelector('[data-action=approve]').disabled && card.querySelector('[data-action=reject]').disabled && card.querySelector('.why').innerText; }})()"
        ),
    );
    let why = carols.evaluate(&format!("document.querySelector('{card} .why').innerText"));
    assert_eq!(
        why,
        "You may not approve in int: config/rbac.yaml gives carol no approve there.",
    );
    let described = carols.evaluate(&format!(
        "document.querySelector('{card} [data-action=approve]').getAttribute('aria-describedby')"
    ));
    assert_eq!(described, format!("why-{id}"));
    screenshot(&mut carols, "waiting-not-allowed", 1280, 800);

    // dave, a team lead, approves from the page: dkd merges and syncs it.
    page.navigate(&format!("{}/#/waiting", shared.address()));
    let button = format!("#approvable [data-promotion=\"{id}\"] [data-action=approve]");
    page.eventually(
        "dave's Approve button",
        &format!(
            "(() => {{ const b = document.querySelector('{button}'); return b && !b.disabled; }})()"
        ),
    );
    page.eventually(
        "the count in the menu",
        "document.getElementById('waiting-count').innerText === ' (1)'",
    );
    screenshot(&mut page, "waiting-for-me", 1280, 800);
    assert_eq!(page.evaluate(UNNAMED_CONTROLS), serde_json::json!([]));
    page.click(&button);
    page.eventually(
        "the approval's result",
        &format!("document.getElementById('action-result').innerText.startsWith('Approved {id}')"),
    );
    support::eventually("the int promotion to be Healthy", || {
        let history = shared.home.history("my-package");
        let promotion = history.iter().find(|p| p["id"] == id.as_str())?.clone();
        (promotion["state"] == "Healthy").then_some(promotion)
    });
    let approved = shared.home.history("my-package");
    assert!(
        approved
            .iter()
            .any(|p| p["id"] == id.as_str() && p.to_string().contains("\"dave\"")),
        "{approved:?}"
    );

    // The rest of the story: a new version in dev, v1.0.0 on its way to prod.
    promote(&shared, "my-package", "v1.1.0", "dev", true);
    let prod = promote(&shared, "my-package", "v1.0.0", "prod", false);
    page.navigate(&format!("{}/#/pipeline", shared.address()));
    page.eventually(
        "the story across dev, int and prod",
        &format!(
            "{} && {} && {}",
            cell_shows("my-package", "dev", &["v1.1.0", "Healthy"]),
            cell_shows("my-package", "int", &["v1.0.0", "Healthy"]),
            cell_shows("my-package", "prod", &["v1.0.0", "Change proposed"]),
        ),
    );
    assert!(!prod.is_empty());
    screenshot(&mut page, "pipeline", 1280, 800);
    assert_eq!(page.evaluate(UNNAMED_CONTROLS), serde_json::json!([]));
    screenshot(&mut page, "pipeline-narrow", 390, 800);
    page.prefer_dark(true);
    screenshot(&mut page, "pipeline-dark", 1280, 800);
    page.prefer_dark(false);
    page.resize(1280, 800);

    // The package view: history with the approval, and the environments.
    page.navigate(&format!("{}/#/package/my-package", shared.address()));
    page.eventually(
        "the history with dave's approval",
        &format!("(document.querySelector('#history [data-promotion=\"{id}\"]') || {{}}).innerText?.includes('dave')"),
    );
    screenshot(&mut page, "package", 1280, 800);
    assert_eq!(page.evaluate(UNNAMED_CONTROLS), serde_json::json!([]));

    // Roll dev back from the page: a second click confirms; dev runs v1.0.0 again, held.
    let rollback = "tr[data-environment=dev] [data-action=rollback]";
    page.click(rollback);
    page.eventually(
        "the confirmation",
        &format!("document.querySelector('{rollback}').innerText === 'Confirm rollback in dev'"),
    );
    page.click(rollback);
    page.eventually(
        "dev rolled back to v1.0.0 with a rollback hold",
        "(() => { const row = document.querySelector('tr[data-environment=dev]'); return row && row.innerText.includes('v1.0.0') && row.innerText.includes('Release hold') && document.querySelector('.holds').innerText.includes('rollback hold by dave'); })()",
    );
    // carol may roll back in dev but not in int, and the page says so.
    carols.navigate(&format!("{}/#/package/my-package", shared.address()));
    let why = carols.eventually(
        "carol's disabled rollback in int",
        "(() => { const b = document.querySelector('tr[data-environment=int] [data-action=rollback]'); return b && b.disabled && document.getElementById('why-rollback-int').innerText; })()",
    );
    assert_eq!(
        why,
        "You may not roll back in int: config/rbac.yaml gives carol no rollback there."
    );

    page.navigate(&format!("{}/#/environments", shared.address()));
    page.eventually(
        "the environments in words",
        "(() => { const prod = document.querySelector('[data-environment=prod]'); return prod && prod.innerText.includes('dev → int → prod'); })()",
    );
    screenshot(&mut page, "environments", 1280, 800);
    // A refused configuration shows as a warning on every view.
    Clone::of(&shared.home).push_file(
        "config/environments.yaml",
        "environments: [this is not valid\n",
        "Break the configuration",
    );
    page.eventually(
        "the refused configuration's banner",
        "(() => { const b = document.getElementById('config-banner'); return !b.hidden && b.innerText.includes('config/environments.yaml'); })()",
    );
}

#[test]
fn the_package_view_follows_the_sync_log_and_the_page_rides_out_a_dkd_restart_without_losing_an_event()
 {
    let mut shared = shared_with_packages();
    let dave = shared.token(&["dave", "--groups", "team-leads"]);
    promote(&shared, "my-package", "v1.0.0", "dev", true);
    let (_browser, mut page) = sign_in(&shared, &dave);
    page.navigate(&format!("{}/#/package/my-package", shared.address()));
    page.eventually(
        "the sync log of dev",
        "document.getElementById('log-state').innerText === 'following' && document.getElementById('log-lines').innerText.includes('v1.0.0')",
    );
    let lines_before = page.evaluate("document.getElementById('log-lines').childElementCount");
    promote(&shared, "my-package", "v1.1.0", "dev", true);
    page.eventually(
        "the sync of v1.1.0 in the followed log",
        "document.getElementById('log-lines').innerText.includes('v1.1.0')",
    );
    assert!(
        page.evaluate("document.getElementById('log-lines').childElementCount")
            .as_u64()
            > lines_before.as_u64(),
        "lines were appended"
    );

    // Kill dkd: the page says it is reconnecting, keeping what it showed; so does the
    // followed log, in a second browser.
    let (_logs_browser, mut logs) = sign_in(&shared, &dave);
    logs.navigate(&format!("{}/#/package/my-package", shared.address()));
    logs.eventually(
        "the followed sync log",
        "document.getElementById('log-lines').innerText.includes('v1.1.0')",
    );
    page.navigate(&format!("{}/#/pipeline", shared.address()));
    page.eventually(
        "the pipeline",
        &cell_shows("my-package", "dev", &["v1.1.0"]),
    );
    shared.daemon.signal("KILL");
    page.eventually(
        "the reconnecting notice",
        "document.getElementById('connection').innerText === 'Reconnecting…'",
    );
    logs.eventually(
        "the log reconnecting",
        "document.getElementById('log-state').innerText.startsWith('reconnecting')",
    );
    screenshot(&mut page, "reconnecting", 1280, 800);
    // Restart it and change things at once, before the page is back: the page resumes
    // after the last sequence it applied and gets every event, none twice, none missed.
    shared.daemon = shared.home.start_daemon();
    promote(&shared, "orders", "v2.0.0", "dev", false);
    page.eventually(
        "live again with the change made meanwhile",
        &format!(
            "document.getElementById('connection').innerText === 'Live' && {}",
            cell_shows("orders", "dev", &["v2.0.0"])
        ),
    );
    page.eventually(
        "orders Healthy in dev",
        &cell_shows("orders", "dev", &["v2.0.0", "Healthy"]),
    );
    assert_eq!(
        page.evaluate("document.body.dataset.gaps"),
        "0",
        "no event lost"
    );
    logs.eventually(
        "the log followed again",
        "document.getElementById('log-state').innerText === 'following' && document.getElementById('log-lines').innerText.includes('v1.1.0')",
    );
    // The page applied exactly what a fresh Watch reports as the latest sequence.
    let latest = latest_sequence(&shared);
    page.eventually(
        "the page at dkd's latest sequence",
        &format!("document.body.dataset.sequence === '{latest}'"),
    );
    assert_eq!(page.evaluate("document.body.dataset.snapshots"), "1");

    // dkd's state database lost while it was stopped: it rebuilds from git with a new
    // event log, refuses the page's resume point (OUT_OF_RANGE), and the page takes a
    // fresh snapshot that shows the same state.
    shared.daemon.signal("KILL");
    page.eventually(
        "the reconnecting notice",
        "document.getElementById('connection').innerText === 'Reconnecting…'",
    );
    std::fs::remove_dir_all(shared.home.path().join("state.sled")).expect("delete state.sled");
    shared.daemon = shared.home.start_daemon();
    page.eventually(
        "a fresh snapshot after OUT_OF_RANGE",
        &format!(
            "document.body.dataset.snapshots === '2' && document.getElementById('connection').innerText === 'Live' && {} && {}",
            cell_shows("my-package", "dev", &["v1.1.0"]),
            cell_shows("orders", "dev", &["v2.0.0"])
        ),
    );
}

/// The sequence a fresh Watch's snapshot reflects.
fn latest_sequence(shared: &Shared) -> u64 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let channel = support::channel(&shared.home.socket()).await;
        let mut client =
            datakit::proto::data_kit_service_client::DataKitServiceClient::new(channel);
        let mut stream = client
            .watch(datakit::proto::WatchRequest::default())
            .await
            .expect("watch")
            .into_inner();
        let snapshot = stream.message().await.expect("snapshot").expect("an event");
        snapshot.snapshot_sequence
    })
}

#[test]
fn dk_ui_prints_a_one_time_link_that_signs_the_browser_in_as_the_socket_owner_once() {
    let shared = Shared::start("");
    // A browser stand-in that records the link dk ui opens.
    let opened = tempfile::tempdir().expect("tempdir");
    let recorder = opened.path().join("browser");
    std::fs::write(
        &recorder,
        format!("#!/bin/sh\necho \"$1\" > {}/url\n", opened.path().display()),
    )
    .expect("write");
    std::fs::set_permissions(
        &recorder,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let ui = shared
        .home
        .dk_command(&["ui"], false)
        .env("BROWSER", &recorder)
        .output()
        .expect("dk ui");
    let printed = succeeded(&ui);
    let url = printed
        .lines()
        .find(|line| line.starts_with("http://127.0.0.1:"))
        .expect("the link")
        .to_owned();
    assert!(url.contains("/?login="), "{printed}");
    support::eventually("the browser to be started with the link", || {
        std::fs::read_to_string(opened.path().join("url"))
            .ok()
            .filter(|written| written.trim() == url)
    });

    let browser = Browser::open(&url, "");
    let mut page = browser.devtools();
    page.eventually(
        "the pipeline, signed in, live",
        "document.body.dataset.connection === 'live'",
    );
    // The keyboard reaches everything: Tab to the skip link, then along the menu, and
    // Enter on a link opens its view.
    page.press("Tab", 9);
    assert_eq!(
        page.evaluate("document.activeElement.innerText"),
        "Skip to content"
    );
    for _ in 0..3 {
        page.press("Tab", 9);
    }
    assert_eq!(
        page.evaluate("document.activeElement.innerText"),
        "Environments"
    );
    page.press("Enter", 13);
    page.eventually(
        "the environments view, opened from the keyboard",
        "location.hash === '#/environments' && !!document.getElementById('environments-title')",
    );
    let who = page.evaluate("document.querySelector('.who').innerText");
    assert_eq!(who, support::os_user(), "the socket's owner");
    let address = page.evaluate("location.href");
    assert!(
        !address.to_string().contains("login="),
        "the code leaves the address bar: {address}"
    );
    // The same link again signs in nobody.
    let again = Browser::open(&url, "");
    let mut refused = again.devtools();
    refused.eventually(
        "the refusal",
        "(document.querySelector('[role=alert]') || {}).innerText?.includes('used already or has expired')",
    );
    // A request naming another host (DNS rebinding) is refused.
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .expect("port")
        .to_owned();
    let rebinding = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Host: evil.example",
        ])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("curl");
    assert_eq!(stdout(&rebinding), "421");
    // A call without a session is refused, and the audit log records it.
    let unauthenticated = std::process::Command::new("curl")
        .args([
            "-s",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            "-H",
            "content-type: application/grpc-web+proto",
            "-H",
            "x-grpc-web: 1",
            "--data-binary",
            "@/dev/null",
        ])
        .arg(format!(
            "http://127.0.0.1:{port}/datakit.v1.DataKitService/WhoAmI"
        ))
        .output()
        .expect("curl");
    assert!(
        stdout(&unauthenticated).contains("grpc-status: 16"),
        "{}",
        stdout(&unauthenticated)
    );
    let audit = succeeded(&shared.home.dk(&["-o", "json", "audit"]));
    assert!(
        audit.contains("no dashboard session") && audit.contains("OpenDashboard"),
        "{audit}"
    );

    // Through a shared dkd's listener dk ui points at dkd's own address instead.
    let token = shared.token(&["someone"]);
    let remote = succeeded(&shared.dk_as(&token, &["-o", "json", "ui", "--no-browser"]));
    let remote: serde_json::Value = serde_json::from_str(&remote).expect("JSON");
    assert_eq!(remote["url"], format!("https://127.0.0.1:{}/", shared.port));
    assert_eq!(remote["browser"], false);
    // OpenDashboard itself is for the local socket only.
    let refused = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            support::shared::authorized(shared.channel().await, &token)
                .open_dashboard(datakit::proto::OpenDashboardRequest {})
                .await
                .expect_err("refused on the network listener")
        });
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("open https://HOST:PORT/"),
        "{}",
        refused.message()
    );
}

#[test]
fn the_pipeline_renders_only_the_rows_in_view_and_filters_by_package_and_environment() {
    let shared = Shared::start("");
    let token = shared.token(&["viewer"]);
    let names: Vec<String> = (0..40).map(|n| format!("pkg-{n:02}")).collect();
    for name in &names {
        PackageDir::new(name, &[]).publish(&shared.home, "v1.0.0");
        promote(&shared, name, "v1.0.0", "dev", false);
    }
    let (_browser, mut page) = sign_in(&shared, &token);
    page.eventually(
        "all 40 packages",
        "document.getElementById('package-count').innerText === '40 packages'",
    );
    let rendered = page
        .evaluate("document.querySelectorAll('.grid-body [data-package]').length")
        .as_u64()
        .expect("a count");
    assert!(
        (1..20).contains(&rendered),
        "only the rows in view (and a few more) exist: {rendered}"
    );
    page.evaluate("const s = document.querySelector('.grid-scroll'); s.scrollTop = s.scrollHeight; s.dispatchEvent(new Event('scroll')); true");
    page.eventually(
        "the last package after scrolling",
        &cell_shows("pkg-39", "dev", &["v1.0.0"]),
    );
    assert_eq!(
        page.evaluate("!!document.querySelector('.grid-body [data-package=\"pkg-00\"]')"),
        false,
        "rows scrolled out of view are gone"
    );
    // Filters: by name, and by environment (int runs none of them).
    page.evaluate("const f = document.getElementById('filter-package'); f.value = 'pkg-1'; f.dispatchEvent(new Event('input')); true");
    page.eventually(
        "ten packages matching pkg-1",
        "document.getElementById('package-count').innerText === '10 packages'",
    );
    page.evaluate("const e = document.getElementById('filter-environment'); e.value = 'int'; e.dispatchEvent(new Event('change')); true");
    page.eventually(
        "no package in int",
        "document.getElementById('package-count').innerText === '0 packages'",
    );
}
