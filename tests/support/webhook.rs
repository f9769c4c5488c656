//! A webhook receiver on loopback: records every POST (headers, body, the status it was
//! answered with) and answers with scripted statuses first, then a default.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};

/// One POST as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub event: String,
    pub delivery: String,
    pub signature: Option<String>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Script {
    received: Vec<Received>,
    next: VecDeque<u16>,
    default: u16,
}

/// The receiver, on its own runtime; stopped when dropped.
pub struct WebhookReceiver {
    _runtime: tokio::runtime::Runtime,
    pub url: String,
    script: Arc<Mutex<Script>>,
}

impl WebhookReceiver {
    /// Answers `first` statuses in order, then `default` to every POST on `/hook`.
    pub fn start(first: &[u16], default: u16) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the receiver");
        let port = listener.local_addr().expect("address").port();
        let script = Arc::new(Mutex::new(Script {
            received: Vec::new(),
            next: first.iter().copied().collect(),
            default,
        }));
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(script.clone());
        runtime.spawn(async move { axum::serve(listener, router).await });
        Self {
            _runtime: runtime,
            url: format!("http://127.0.0.1:{port}/hook"),
            script,
        }
    }

    /// Every POST so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.script.lock().expect("lock").received.clone()
    }

    /// The POSTs answered with a 2xx.
    pub fn taken(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }
}

async fn receive(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut script = script.lock().expect("lock");
    let answered = script.next.pop_front().unwrap_or(script.default);
    script.received.push(Received {
        event: header("x-datakit-event").unwrap_or_default(),
        delivery: header("x-datakit-delivery").unwrap_or_default(),
        signature: header("x-datakit-signature"),
        body: body.to_vec(),
        answered,
    });
    StatusCode::from_u16(answered).expect("a status")
}
