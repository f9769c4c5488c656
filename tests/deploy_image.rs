//! `deploy/build-image-offline.sh` builds a working dkd image without pulling a base image:
//! from scratch, with the workspace's dkd and dk, their shared libraries and CA certificates,
//! configured like `deploy/Dockerfile` (user 65532, ports 8443 9443 8081, ENTRYPOINT dkd).
//! The image is then run with buildah (chroot isolation: no cgroups needed), as its user.
//!
//! buildah is required, in CI (`CI=true`) and outside: a missing one fails the test with the
//! command that installs it (`tests/run` installs it), it never skips.

mod support;

use std::{
    path::Path,
    process::{Command, Output},
};

/// The image and the container the test made, removed when the test ends however it ends
/// (a dkd still running in it after a failure is killed first).
struct Built {
    image: String,
    container: Option<String>,
    /// DK_HOME of the container, seen from the host.
    home: Option<std::path::PathBuf>,
}

impl Drop for Built {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(pid) = self
                .home
                .as_ref()
                .and_then(|home| std::fs::read_to_string(home.join("dkd.lock")).ok())
        {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
        if let Some(container) = &self.container {
            let _ = Command::new("buildah").args(["rm", container]).output();
        }
        let _ = Command::new("buildah")
            .args(["rmi", "--force", &self.image])
            .output();
    }
}

fn buildah(args: &[&str]) -> Output {
    let output = Command::new("buildah").args(args).output();
    output.unwrap_or_else(|error| {
        let context = if std::env::var("CI").is_ok_and(|v| v == "true") {
            "CI must provide it"
        } else {
            "this test never skips"
        };
        panic!(
            "buildah cannot be run ({error}; {context}): run `sudo apt-get install -y buildah`, or bash tests/run, which installs it"
        )
    })
}

fn succeeded(what: &str, output: Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn the_offline_image_runs_dkd_and_dk_as_the_non_root_user_with_the_dockerfiles_settings() {
    succeeded("buildah --version", buildah(&["--version"]));
    let binaries = support::binary("dkd");
    let binaries = binaries.parent().expect("the binaries' folder");
    support::binary("dk");
    let mut built = Built {
        image: format!("localhost/datakit/dkd-test:{}", std::process::id()),
        container: None,
        home: None,
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/build-image-offline.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg("--binaries")
        .arg(binaries)
        .args(["--tag", &built.image])
        .output()
        .expect("run deploy/build-image-offline.sh");
    succeeded("deploy/build-image-offline.sh", output);

    let inspected = succeeded(
        "buildah inspect",
        buildah(&["inspect", "--type", "image", &built.image]),
    );
    let inspected: serde_json::Value = serde_json::from_str(&inspected).expect("inspect is JSON");
    let config = &inspected["OCIv1"]["config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/dkd"])
    );
    let ports: Vec<&String> = config["ExposedPorts"]
        .as_object()
        .expect("ExposedPorts")
        .keys()
        .collect();
    assert_eq!(ports, ["8081", "8443", "9443"]);

    let container = succeeded("buildah from", buildah(&["from", &built.image]));
    built.container = Some(container.clone());
    let run = |args: &[&str]| {
        let mut command = vec!["run", "--isolation", "chroot", &container, "--"];
        command.extend_from_slice(args);
        buildah(&command)
    };
    for program in ["dkd", "dk"] {
        let version = succeeded(
            &format!("{program} --version in the image"),
            run(&[&format!("/usr/local/bin/{program}"), "--version"]),
        );
        assert!(version.starts_with(&format!("{program} ")), "{version}");
    }
    // Without a dkd.yaml, dkd takes the embedded forge, which needs no git (the image has
    // none; only packing, after 50 merges, would): it creates its deployment repository and serves, as the image's user. It
    // runs until SIGTERM (its pid is in DK_HOME/dkd.lock; chroot isolation shares the
    // host's pid namespace), then stops cleanly.
    let root = succeeded("buildah mount", buildah(&["mount", &container]));
    let home = Path::new(&root).join("var/lib/datakit");
    built.home = Some(home.clone());
    let mut daemon = Command::new("buildah")
        .args(["run", "--isolation", "chroot", &container, "--"])
        .args(["/usr/local/bin/dkd", "--home", "/var/lib/datakit"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("buildah run dkd");
    let pid = support::eventually("dkd in the image to serve", || {
        if let Ok(Some(status)) = daemon.try_wait() {
            panic!("dkd in the image exited with {status}");
        }
        let serving = home.join("dkd.sock").exists() && home.join("deploy.git/HEAD").exists();
        let pid = std::fs::read_to_string(home.join("dkd.lock")).ok()?;
        serving.then(|| pid.trim().to_owned())
    });
    let stopped = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(stopped.success(), "SIGTERM to dkd (pid {pid})");
    let exited = daemon.wait_with_output().expect("dkd in the image exits");
    assert!(
        exited.status.success(),
        "dkd in the image stopped with {}: {}",
        exited.status,
        String::from_utf8_lossy(&exited.stderr)
    );
    let owners: Vec<(String, u32)> = std::fs::read_dir(&home)
        .expect("DK_HOME in the container")
        .map(|entry| {
            let entry = entry.expect("entry");
            let uid = std::os::unix::fs::MetadataExt::uid(&entry.metadata().expect("metadata"));
            (entry.file_name().to_string_lossy().into_owned(), uid)
        })
        .collect();
    succeeded("buildah umount", buildah(&["umount", &container]));
    assert!(!owners.is_empty(), "dkd wrote its home");
    assert!(owners.iter().all(|(_, uid)| *uid == 65532), "{owners:?}");
}
