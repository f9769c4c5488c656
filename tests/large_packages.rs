//! End to end through the real `dk`: a package of 200 MB of incompressible data is built,
//! published to the embedded registry and to a real registry on loopback, each time with
//! dk's peak resident memory measured and held under 64 MB (a dk that held the package in
//! memory peaked above 200 MB), and with a progress bar only when stderr is a terminal.

mod support;

use std::{
    io::Read as _,
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{TestHome, binary, registry::RegistryServer, stderr, stdout};

/// The package's content: over three times the memory cap, so a dk that read it whole, or
/// held its layer in memory, fails.
const PACKAGE_BYTES: u64 = 200_000_000;
/// The cap on dk's peak resident memory, in kB.
const PEAK_RSS_CAP_KB: u64 = 64 * 1024;
/// How long one dk run may take (debug builds on a shared 2-core machine).
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// A finished dk run and the highest resident memory the kernel recorded for it.
struct Measured {
    output: Output,
    peak_rss_kb: u64,
}

/// Runs `dk ARGS` on `home` (isolated from the caller's registry settings), sampling its
/// `VmHWM` (the kernel's own high-water mark of resident memory) every 10 ms until it exits.
fn dk_measured(home: &TestHome, args: &[&str]) -> Measured {
    let mut command = home.dk_command(args, false);
    command
        .env("DOCKER_CONFIG", home.path().join("docker"))
        .env_remove("DK_REGISTRY")
        .env_remove("DK_REGISTRY_TOKEN")
        .env_remove("DK_REGISTRY_USERNAME")
        .env_remove("DK_REGISTRY_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run dk");
    let status_file = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut peak_rss_kb = 0;
    while child.try_wait().expect("wait for dk").is_none() {
        if let Some(high_water) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(vm_hwm_kb)
        {
            peak_rss_kb = peak_rss_kb.max(high_water);
        }
        assert!(
            Instant::now() < deadline,
            "dk {args:?} ran past {RUN_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("dk output");
    assert!(peak_rss_kb > 0, "no memory sample of dk {args:?}");
    Measured {
        output,
        peak_rss_kb,
    }
}

/// `VmHWM:  12345 kB` of a `/proc/<pid>/status`.
fn vm_hwm_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A package whose one data file is `PACKAGE_BYTES` of random bytes.
fn write_large_package(dir: &Path) {
    std::fs::write(
        dir.join("dk.yaml"),
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataPackage\nmetadata: { name: big-package, description: Large }\nspec:\n  store: events-store\n  bindings: { output: warehouse }\n",
    )
    .expect("dk.yaml");
    std::fs::create_dir(dir.join("data")).expect("mkdir");
    let mut random = std::fs::File::open("/dev/urandom")
        .expect("urandom")
        .take(PACKAGE_BYTES);
    let mut file = std::fs::File::create(dir.join("data/events.bin")).expect("create");
    std::io::copy(&mut random, &mut file).expect("random data");
}

/// Asserts that `measured` succeeded under the cap, printed nothing on stderr (no progress
/// bar when piped) and, for `-o json`, valid JSON; its JSON, or Null for a table.
fn succeeded_under_the_cap(what: &str, measured: &Measured) -> Value {
    let output = &measured.output;
    assert!(output.status.success(), "{what}: {}", stderr(output));
    eprintln!("{what}: peak RSS {} kB", measured.peak_rss_kb);
    assert!(
        measured.peak_rss_kb < PEAK_RSS_CAP_KB,
        "{what} peaked at {} kB, over the {PEAK_RSS_CAP_KB} kB cap",
        measured.peak_rss_kb
    );
    assert_eq!(stderr(output), "", "{what}: nothing on a piped stderr");
    serde_json::from_str(&stdout(output)).unwrap_or(Value::Null)
}

#[test]
fn a_200_mb_package_builds_and_publishes_everywhere_under_64_mb_with_a_progress_bar_only_on_a_terminal()
 {
    let home = TestHome::new();
    let source = tempfile::tempdir().expect("source");
    write_large_package(source.path());
    let dir = source.path().to_string_lossy().into_owned();

    let built = dk_measured(&home, &["-o", "json", "build", &dir, "--version", "v1.0.0"]);
    let built = succeeded_under_the_cap("dk build", &built);
    let digest = built["digest"].as_str().expect("digest").to_owned();
    let size = built["size"].as_u64().expect("exact bytes under -o json");
    assert!(
        size > PACKAGE_BYTES,
        "random data does not compress: {size}"
    );

    // A table on a piped stdout and stderr: sizes for people, and no bar.
    let table = dk_measured(&home, &["build", &dir, "--version", "v1.0.0"]);
    succeeded_under_the_cap("dk build (table)", &table);
    assert!(
        stdout(&table.output).contains("Size       200.03 MB"),
        "{}",
        stdout(&table.output)
    );

    // On a terminal (a pseudo-terminal from util-linux's `script`), the bar shows bytes
    // and rate while packing.
    let on_a_terminal = Command::new("script")
        .args([
            "-qec",
            &format!("{} build {dir} --version v1.0.0", binary("dk").display()),
            "/dev/null",
        ])
        .env("DK_HOME", home.path())
        .env("DK_NO_AUTOSTART", "1")
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs dk on a pseudo-terminal");
    let transcript = stdout(&on_a_terminal);
    assert!(on_a_terminal.status.success(), "{transcript}");
    assert!(
        transcript.contains("Packing") && transcript.contains("MB/s"),
        "a bar with bytes and rate: {transcript:?}"
    );

    let embedded = dk_measured(&home, &["-o", "json", "publish", &dir]);
    let embedded = succeeded_under_the_cap("dk publish (embedded)", &embedded);
    assert_eq!(embedded["outcome"], "published");
    assert_eq!(embedded["digest"], digest.as_str());
    let blob = home
        .path()
        .join("registry/big-package/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    assert!(blob.is_file(), "manifest {digest} in the embedded registry");

    let server = RegistryServer::start();
    let registry = server.url("team");
    let remote = dk_measured(&home, &["publish", &dir, "--registry", &registry]);
    succeeded_under_the_cap("dk publish (registry)", &remote);
    assert!(
        stdout(&remote.output).contains("Size       200.03 MB"),
        "{}",
        stdout(&remote.output)
    );
    // The registry accepts a manifest only once every blob it names is there, by digest.
    let served = server.manifest("team/big-package", "v1.0.0");
    assert_eq!(served.status, 200, "{}", server.log());
    assert_eq!(
        served.header("Docker-Content-Digest"),
        Some(digest.as_str())
    );
}
