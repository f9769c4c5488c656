//! A Kubernetes API server fake for tests: the real kube client talks to it over loopback
//! HTTP through a kubeconfig file (`server: http://127.0.0.1:<port>`), and it keeps real
//! semantics — list with a resourceVersion, watch as newline-delimited JSON events with
//! bookmarks, 410 Gone for a compacted resourceVersion, get, pod logs with follow — while
//! tests create, modify and delete objects, drop connections and force 410 through
//! `KubeFake`. Clients may create Jobs and write Leases (with resourceVersion conflicts, see
//! `writes.rs`); other objects change through `KubeFake`. Namespaced resources only; no
//! auth, no field selectors.

#![allow(dead_code)]

mod http;
pub mod objects;
mod state;
mod writes;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::SystemTime,
};

use serde_json::Value;

pub use state::rfc3339;
use state::{State, resource_of};

/// Where Leases live in the fake's keys.
const LEASES: &str = "apis/coordination.k8s.io/v1/leases";

/// One accepted write of a Lease, as `KubeFake::lease_writes` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseWrite {
    pub namespace: String,
    pub name: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub verb: &'static str,
    /// `spec.holderIdentity` after the write.
    pub holder: Option<String>,
    /// `spec.leaseTransitions` after the write.
    pub transitions: i64,
    /// The resourceVersion the write got.
    pub resource_version: u64,
    /// `spec.acquireTime` after the write.
    pub acquired: Option<String>,
    /// `spec.renewTime` after the write.
    pub renewed: Option<String>,
    /// `spec.leaseDurationSeconds` after the write.
    pub duration_seconds: Option<i64>,
}

/// A running fake API server.
pub struct KubeFake {
    state: Arc<Mutex<State>>,
    port: u16,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for KubeFake {
    fn drop(&mut self) {
        self.server.abort();
        self.lock().drop_connections();
    }
}

impl KubeFake {
    /// Starts the fake on a loopback port and writes a kubeconfig for it (context `fake`).
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake API server");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app =
            axum::Router::new().fallback(move |method, uri, headers, body: axum::body::Bytes| {
                let shared = shared.clone();
                async move { http::handle(shared, method, uri, headers, body).await }
            });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let dir = tempfile::tempdir().expect("tempdir for the kubeconfig");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
                 clusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\n\
                 contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
                 users:\n- name: fake\n  user: {{}}\n"
            ),
        )
        .expect("write the kubeconfig");
        Self {
            state,
            port,
            kubeconfig,
            _dir: dir,
            server,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kubeconfig file pointing at this fake.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates or replaces an object (apiVersion, kind, metadata.namespace and name set);
    /// returns it as stored, with its new resourceVersion.
    pub fn apply(&self, object: Value) -> Value {
        self.lock().apply(object)
    }

    /// The stored object, if any.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (
            resource_of(api_version, kind),
            namespace.into(),
            name.into(),
        );
        self.lock().objects.get(&key).cloned()
    }

    /// The `coordination.k8s.io/v1` Lease `namespace/name`, if any.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.get("coordination.k8s.io/v1", "Lease", namespace, name)
    }

    /// Every Lease write clients made over HTTP that the server accepted, oldest first:
    /// what each said about the holder, so a test can check there was one leader at a time.
    pub fn lease_writes(&self) -> Vec<LeaseWrite> {
        self.lock()
            .writes
            .iter()
            .filter(|w| w.key.0 == LEASES)
            .map(|w| {
                let spec = &w.object["spec"];
                LeaseWrite {
                    namespace: w.key.1.clone(),
                    name: w.key.2.clone(),
                    verb: w.kind,
                    holder: spec["holderIdentity"].as_str().map(str::to_owned),
                    transitions: spec["leaseTransitions"].as_i64().unwrap_or(0),
                    resource_version: w.resource_version,
                    acquired: spec["acquireTime"].as_str().map(str::to_owned),
                    renewed: spec["renewTime"].as_str().map(str::to_owned),
                    duration_seconds: spec["leaseDurationSeconds"].as_i64(),
                }
            })
            .collect()
    }

    /// Deletes an object; false when there was none.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> bool {
        let key = (
            resource_of(api_version, kind),
            namespace.into(),
            name.into(),
        );
        self.lock().delete(&key)
    }

    /// Drops every open watch and followed log, as a broken connection or a restarted API
    /// server would.
    pub fn drop_connections(&self) {
        self.lock().drop_connections();
    }

    /// Compacts the history and drops the watches, so each watcher's resume answers 410
    /// Gone and it must list again.
    pub fn force_gone(&self) {
        let mut state = self.lock();
        state.compact();
        state.drop_connections();
    }

    /// Appends a line to a pod's log (the pod must exist for reads to succeed).
    pub fn log(&self, namespace: &str, pod: &str, at: SystemTime, text: &str) {
        let mut state = self.lock();
        let key = (namespace.to_owned(), pod.to_owned());
        state
            .logs
            .entry(key.clone())
            .or_default()
            .lines
            .push((at, text.to_owned()));
        let _ = state.log_lines.send(key);
    }

    /// Ends a pod's log: followers get the rest and the stream ends.
    pub fn finish_log(&self, namespace: &str, pod: &str) {
        let mut state = self.lock();
        let key = (namespace.to_owned(), pod.to_owned());
        state.logs.entry(key.clone()).or_default().finished = true;
        let _ = state.log_lines.send(key);
    }

    /// The requests served so far whose `METHOD path?query` contains `needle`.
    pub fn requests(&self, needle: &str) -> Vec<String> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.contains(needle))
            .cloned()
            .collect()
    }
}
