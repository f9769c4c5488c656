//! A real browser for the gRPC-Web tests: Debian's headless `chromium`, trusting one server
//! key (by its SPKI hash, no other certificate check relaxed), opening a page that a tiny
//! HTTP server on loopback serves; the page posts its results back to that server as JSON.
//!
//! Chromium is required, in CI (`CI=true`) and outside: a missing one fails the test with
//! the command that installs it (`tests/run` installs it), it never skips.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Instant,
};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::PATIENCE;

/// The `chromium` binary, or a test failure saying how to install it.
pub fn chromium_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    let context = if std::env::var("CI").is_ok_and(|v| v == "true") {
        "CI must provide it"
    } else {
        "these tests never skip"
    };
    on_path.unwrap_or_else(|| {
        panic!(
            "chromium is not installed ({context}): run `sudo apt-get install -y chromium`, or bash tests/run, which installs it"
        )
    })
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of the key in the PEM file `key`: what
/// `--ignore-certificate-errors-spki-list` takes.
pub fn spki_hash(key: &Path) -> String {
    let pem = std::fs::read_to_string(key).expect("read the server key");
    let key = rcgen::KeyPair::from_pem(&pem).expect("a PEM key");
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki))
}

/// Headless Chromium showing one page; killed when dropped.
pub struct Browser {
    child: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Opens `url`, trusting the server whose key hashes to `trusted_spki`.
    pub fn open(url: &str, trusted_spki: &str) -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let log = std::fs::File::create(profile.path().join("chromium.log")).expect("log");
        let child = Command::new(chromium_binary())
            .args([
                "--headless",
                // Containers (and CI) run the tests as root, where Chromium's sandbox
                // cannot start; the page is the test's own.
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                // Keeps headless Chromium running with the page open until it is killed.
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!(
                "--ignore-certificate-errors-spki-list={trusted_spki}"
            ))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chromium");
        Self { child, profile }
    }

    /// The DevTools protocol of the page it shows (for the dashboard tests: clicks,
    /// screenshots), once Chromium has written its debugging port.
    pub fn devtools(&self) -> super::devtools::DevTools {
        let active = self.profile.path().join("DevToolsActivePort");
        let port: u16 = super::eventually("chromium to open its DevTools port", || {
            std::fs::read_to_string(&active)
                .ok()?
                .lines()
                .next()?
                .parse()
                .ok()
        });
        let targets: serde_json::Value =
            serde_json::from_str(&super::devtools::http_get(port, "/json/list")).expect("targets");
        let page = targets
            .as_array()
            .and_then(|targets| targets.iter().find(|target| target["type"] == "page"))
            .and_then(|page| page["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let path = page
            .split_once(&format!("127.0.0.1:{port}"))
            .map(|(_, path)| path.to_owned())
            .expect("a local DevTools address");
        super::devtools::DevTools::connect(port, &path)
    }

    /// What Chromium logged, for a failure message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.profile.path().join("chromium.log")).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback HTTP server for one page: `GET /` answers the page, `POST /result` hands
/// the JSON posted to `results`.
pub struct PageServer {
    pub port: u16,
    results: mpsc::Receiver<serde_json::Value>,
}

impl PageServer {
    /// Listens on a free loopback port; `page` is built per request from its query string
    /// (`/` → "", `/?blocked` → "blocked").
    pub fn start(page: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the page server");
        let port = listener.local_addr().expect("address").port();
        let (sender, results) = mpsc::channel();
        let page = std::sync::Arc::new(page);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (sender, page) = (sender.clone(), page.clone());
                std::thread::spawn(move || serve(stream, &*page, &sender));
            }
        });
        Self { port, results }
    }

    /// The next result the page posted whose `kind` is `kind`, failing the test (with
    /// everything else it posted and `browser`'s log) if none comes within the patience.
    pub fn wait_for(&self, kind: &str, browser: &Browser) -> serde_json::Value {
        let deadline = Instant::now() + PATIENCE;
        let mut others = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.results.recv_timeout(left) {
                Ok(result) if result["kind"] == kind => return result,
                Ok(result) => others.push(result),
                Err(_) => break,
            }
        }
        panic!(
            "the page posted no {kind:?} result; it posted {others:?}; chromium logged:\n{}",
            browser.log()
        )
    }
}

/// Answers one HTTP/1.1 request, then closes the connection.
fn serve(
    stream: TcpStream,
    page: &dyn Fn(&str) -> String,
    results: &mpsc::Sender<serde_json::Value>,
) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, answer) = match (method, target.split_once('?')) {
        ("POST", _) if target == "/result" => {
            if let Ok(result) = serde_json::from_slice(&body) {
                let _ = results.send(result);
            }
            ("204 No Content", "text/plain", String::new())
        }
        ("GET", Some(("/", query))) => ("200 OK", "text/html; charset=utf-8", page(query)),
        ("GET", None) if target == "/" => ("200 OK", "text/html; charset=utf-8", page("")),
        _ => ("404 Not Found", "text/plain", String::new()),
    };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}
