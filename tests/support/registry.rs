//! A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on a free
//! loopback port with a temporary storage directory, optionally behind an htpasswd login,
//! killed when dropped; and a small blocking HTTP/1.1 GET to look at what it serves.
//!
//! The binary is required, in CI (`CI=true`) and outside: a missing one fails the test with
//! the command that installs it (`tests/run` installs it), it never skips.
//!
//! Self-contained so the daemon's tests can include it with `#[path]`.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long the registry may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The user of `RegistryServer::start_with_login`.
pub const TEST_USER: &str = "tester";
/// Its password.
pub const TEST_PASSWORD: &str = "correct-horse";
/// bcrypt of `TEST_PASSWORD` (cost 4, to keep tests fast), as htpasswd files hold it.
const TEST_PASSWORD_BCRYPT: &str = "$2b$04$OL60UfFjI3Hh5Al9NQu5guNpUW205kC.QcOkvm5e96djZaOVZBfI.";

/// The `docker-registry` binary, or a test failure saying how to install it.
pub fn docker_registry_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("docker-registry"))
            .find(|candidate| candidate.is_file())
    });
    let found = on_path.or_else(|| {
        let default = PathBuf::from("/usr/bin/docker-registry");
        default.is_file().then_some(default)
    });
    let context = if std::env::var("CI").is_ok_and(|v| v == "true") {
        "CI must provide it"
    } else {
        "these tests never skip"
    };
    found.unwrap_or_else(|| {
        panic!(
            "docker-registry is not installed ({context}): run `sudo apt-get install -y docker-registry`, or bash tests/run, which installs it"
        )
    })
}

/// A running `docker-registry`; stopped when dropped.
pub struct RegistryServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

impl RegistryServer {
    /// A registry anyone may push to.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A registry that requires `TEST_USER` with `TEST_PASSWORD` (HTTP basic auth).
    pub fn start_with_login() -> Self {
        Self::launch(true)
    }

    fn launch(login: bool) -> Self {
        let binary = docker_registry_binary();
        let mut dir = tempfile::Builder::new()
            .prefix("dk-registry-")
            .tempdir()
            .expect("tempdir");
        // A free port can be taken by someone else before the registry binds it: retry.
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(&config, config_yaml(dir.path(), port, login)).expect("config");
            if login {
                std::fs::write(
                    dir.path().join("htpasswd"),
                    format!("{TEST_USER}:{TEST_PASSWORD_BCRYPT}\n"),
                )
                .expect("htpasswd");
            }
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            let mut server = Self {
                child: Some(child),
                dir,
                port,
            };
            match server.wait_until_ready() {
                Ok(()) => return server,
                Err(log) if log.contains("address already in use") => {
                    dir = server.into_dir();
                }
                Err(log) => panic!("docker-registry did not start:\n{log}"),
            }
        }
        panic!("docker-registry found no free port after 5 attempts");
    }

    /// Waits until `GET /v2/` gets any HTTP answer; the log if the process died first.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if http_get(&self.host(), "/v2/", &[]).is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().expect("try_wait"));
            if exited.is_some() || Instant::now() >= deadline {
                return Err(self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn into_dir(mut self) -> tempfile::TempDir {
        self.stop();
        let dir = tempfile::Builder::new()
            .prefix("dk-registry-")
            .tempdir()
            .expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// What the registry logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>/<namespace>`, as `dk publish --registry` takes it.
    pub fn url(&self, namespace: &str) -> String {
        format!("{}/{namespace}", self.host())
    }

    /// `GET /v2/<repository>/manifests/<reference>` asking for an OCI manifest.
    pub fn manifest(&self, repository: &str, reference: &str) -> HttpResponse {
        http_get(
            &self.host(),
            &format!("/v2/{repository}/manifests/{reference}"),
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        )
        .expect("GET manifest")
    }

    /// Stops the registry (its port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config_yaml(dir: &std::path::Path, port: u16, login: bool) -> String {
    let mut yaml = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        dir.join("storage").display()
    );
    if login {
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: dk-test\n    path: {}\n",
            dir.join("htpasswd").display()
        ));
    }
    yaml
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// A response of `http_get`.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A blocking HTTP/1.1 GET of `path` on `host` (`ip:port`), reading until the server
/// closes the connection.
pub fn http_get(host: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}
