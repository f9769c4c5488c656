//! Chromium's DevTools protocol for the dashboard tests, over its WebSocket with a minimal
//! client (RFC 6455 text frames, masked as a client must; no extensions): navigate,
//! evaluate JavaScript in the page (to read it and to click), resize the viewport and take
//! PNG screenshots. Every read has a deadline, so a silent browser fails the test instead
//! of hanging it.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    path::Path,
    time::{Duration, Instant},
};

use base64::Engine as _;
use serde_json::{Value, json};

use super::PATIENCE;

/// A WebSocket connection to one page's DevTools target.
pub struct DevTools {
    stream: TcpStream,
    next_id: u64,
}

/// `GET path` on Chromium's DevTools HTTP endpoint at `port`: its body.
pub fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .expect("send");
    // Chromium keeps the connection open: read the head, then Content-Length bytes.
    let head = read_head(&mut stream);
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .expect("a Content-Length from DevTools");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("read the body");
    String::from_utf8(body).expect("UTF-8 from DevTools")
}

/// The head of an HTTP answer, up to and including the empty line.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("read from DevTools");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

impl DevTools {
    /// Connects to `ws://127.0.0.1:port/path`.
    pub fn connect(port: u16, path: &str) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ZGF0YWtpdC1kYXNoYm9hcmQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("send the upgrade");
        let head = read_head(&mut stream);
        assert!(head.starts_with("HTTP/1.1 101"), "DevTools refused: {head}");
        Self { stream, next_id: 0 }
    }

    fn send(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mask = [0x5a, 0x17, 0xc3, 0x8e];
        let mut frame = vec![0x81u8];
        match payload.len() {
            short @ 0..126 => frame.push(0x80 | u8::try_from(short).expect("short")),
            medium @ 126..65536 => {
                frame.push(0x80 | 126);
                frame.extend(u16::try_from(medium).expect("medium").to_be_bytes());
            }
            long => {
                frame.push(0x80 | 127);
                frame.extend((long as u64).to_be_bytes());
            }
        }
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).expect("send to DevTools");
    }

    /// The next whole text message (answering pings on the way).
    fn receive(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.stream
                .read_exact(&mut head)
                .expect("read from DevTools");
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let length = match head[1] & 0x7f {
                126 => {
                    let mut bytes = [0u8; 2];
                    self.stream.read_exact(&mut bytes).expect("length");
                    u64::from(u16::from_be_bytes(bytes))
                }
                127 => {
                    let mut bytes = [0u8; 8];
                    self.stream.read_exact(&mut bytes).expect("length");
                    u64::from_be_bytes(bytes)
                }
                short => u64::from(short),
            };
            let mut payload = vec![0u8; usize::try_from(length).expect("length")];
            self.stream.read_exact(&mut payload).expect("payload");
            match opcode {
                0x9 => {
                    // Ping: answer with a pong carrying the same payload (masked).
                    let mut pong = vec![0x8a, 0x80 | u8::try_from(payload.len()).unwrap_or(0)];
                    pong.extend([0, 0, 0, 0]);
                    pong.extend(&payload);
                    self.stream.write_all(&pong).expect("pong");
                }
                0x8 => panic!("DevTools closed the connection"),
                _ => {
                    message.extend(payload);
                    if fin {
                        return String::from_utf8(message).expect("UTF-8 from DevTools");
                    }
                }
            }
        }
    }

    /// Calls `method` with `params`; its result, failing the test on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "id": id, "method": method, "params": params }).to_string());
        loop {
            let message: Value = serde_json::from_str(&self.receive()).expect("JSON from DevTools");
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    /// Opens `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
    }

    /// The value of `expression` evaluated in the page (awaited when it is a promise), or
    /// what it threw.
    pub fn try_evaluate(&mut self, expression: &str) -> Result<Value, Value> {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        match result.get("exceptionDetails") {
            Some(thrown) => Err(thrown.clone()),
            None => Ok(result["result"]["value"].clone()),
        }
    }

    /// The value of `expression`, failing the test when it throws.
    pub fn evaluate(&mut self, expression: &str) -> Value {
        self.try_evaluate(expression)
            .unwrap_or_else(|thrown| panic!("{expression}: {thrown}"))
    }

    /// Polls `expression` until it is neither null, false nor "" (nor throws: the page
    /// may still be loading) and returns it, failing after `within` with the page's text.
    pub fn wait_for(&mut self, what: &str, expression: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self.try_evaluate(expression);
            if let Ok(value) = &value
                && !(value.is_null() || *value == false || *value == "")
            {
                return value.clone();
            }
            if Instant::now() > deadline {
                let text = self.evaluate("document.body ? document.body.innerText : ''");
                panic!(
                    "the page did not show {what} within {within:?} (last: {value:?}); it shows:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Polls like [`DevTools::wait_for`] with the tests' usual patience.
    pub fn eventually(&mut self, what: &str, expression: &str) -> Value {
        self.wait_for(what, expression, PATIENCE)
    }

    /// The page's visible text.
    pub fn text(&mut self) -> String {
        self.evaluate("document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Clicks the element `selector` finds (failing when there is none).
    pub fn click(&mut self, selector: &str) {
        let clicked = self.evaluate(&format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; e.click(); return true; }})()",
            json!(selector)
        ));
        assert_eq!(clicked, true, "nothing to click at {selector}");
    }

    /// Presses and releases a key the way a keyboard does: `Tab` (9) or `Enter` (13).
    pub fn press(&mut self, key: &str, code: u32) {
        let text = if key == "Enter" { "\r" } else { "" };
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code, "text": if kind == "keyDown" { text } else { "" } }),
            );
        }
    }

    /// Sets the viewport to `width`×`height` CSS pixels.
    pub fn resize(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 }),
        );
    }

    /// Emulates the OS's dark (or light) colour scheme.
    pub fn prefer_dark(&mut self, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        self.call(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        );
    }

    /// A PNG of the viewport at `width`×`height`, written to `path`, after the page painted.
    pub fn screenshot(&mut self, path: &Path, width: u32, height: u32) {
        self.resize(width, height);
        self.evaluate(
            "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))",
        );
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}
