//! The proto is the contract for other languages: a Python client generated from
//! `proto/` alone (grpcio-tools, at run time), on a channel with grpcio's default options,
//! lists environments, promotes, follows the Watch stream, disconnects and resumes it with
//! no gap and no duplicate, and reads Status, against the real dkd. The scenario itself is
//! `tests/python/datakit_client.py`.

mod support;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use support::{TestHome, package::PackageDir};

/// The script has its own 30 s bound per step; this is the bound of the whole run.
const SCRIPT_PATIENCE: Duration = Duration::from_secs(180);

const INSTALL_HINT: &str =
    "run `bash tests/run` (it installs them) or `python3 -m pip install grpcio grpcio-tools`";

/// Fails the test, saying how to install them, unless python3 can import grpc and grpc_tools.
fn require_python_grpc() {
    let probe = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools"])
        .output();
    match probe {
        Err(error) => {
            panic!("python3 cannot be run ({error}): install Python 3, then {INSTALL_HINT}")
        }
        Ok(output) => assert!(
            output.status.success(),
            "the Python modules grpc and grpc_tools are missing: {INSTALL_HINT}\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Runs `python3 SCRIPT ARGS` with its output in files (no pipe to fill up), killing it
/// after `SCRIPT_PATIENCE`; returns (success, stdout, stderr).
fn run_python(script: &Path, args: &[&str]) -> (bool, String, String) {
    let logs = tempfile::tempdir().expect("tempdir for the script's output");
    let out_path = logs.path().join("stdout");
    let err_path = logs.path().join("stderr");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("create stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("create stderr file"))
        .spawn()
        .expect("spawn python3");
    let deadline = Instant::now() + SCRIPT_PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for python3") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = std::fs::read_to_string(&out_path).expect("read the script's stdout");
    let mut err = std::fs::read_to_string(&err_path).expect("read the script's stderr");
    if status.is_none() {
        err.push_str(&format!(
            "\n(killed: still running after {} s)",
            SCRIPT_PATIENCE.as_secs()
        ));
    }
    (status.is_some_and(|s| s.success()), out, err)
}

#[test]
fn a_python_client_with_default_channel_options_promotes_resumes_watch_and_reads_status() {
    require_python_grpc();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/datakit_client.py");
    assert!(script.is_file(), "{} is missing", script.display());

    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("py-package", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("second version");
    package.publish(&home, "v1.1.0");

    let socket = home.socket().to_string_lossy().into_owned();
    let (success, out, err) = run_python(
        &script,
        &[
            "--socket",
            &socket,
            "--package",
            &package.name,
            "--versions",
            "v1.0.0",
            "v1.1.0",
        ],
    );
    assert!(
        success,
        "the Python client failed\n--- stdout\n{out}--- stderr\n{err}"
    );
    assert!(
        out.contains("no gap, no duplicate")
            && out.contains("Status: ")
            && out.contains("ok: the Python client passed"),
        "the Python client's summary is incomplete\n--- stdout\n{out}--- stderr\n{err}"
    );
}
