//! The fake API server's state: objects by resource, namespace and name, one
//! resourceVersion counter, the event history watches resume from (compacted on demand so a
//! resume answers 410 Gone), and pod logs.

use std::{collections::BTreeMap, sync::Arc, time::SystemTime};

use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Where an object lives: (resource path such as `apis/batch/v1/jobs`, namespace, name).
pub type Key = (String, String, String);

/// One recorded change, as a watch sends it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub resource_version: u64,
    pub key: Key,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub object: Value,
}

/// A pod's log.
#[derive(Debug, Default)]
pub struct PodLog {
    pub lines: Vec<(SystemTime, String)>,
    /// No more lines will come (a follow ends).
    pub finished: bool,
}

/// Everything the fake holds.
pub struct State {
    pub resource_version: u64,
    pub objects: BTreeMap<Key, Value>,
    pub history: Vec<Recorded>,
    /// Watches resuming from a resourceVersion older than this get 410 Gone.
    pub oldest: u64,
    pub live: broadcast::Sender<Arc<Recorded>>,
    /// Cancelled to drop every open watch and log stream.
    pub connections: CancellationToken,
    pub logs: BTreeMap<(String, String), PodLog>,
    pub log_lines: broadcast::Sender<(String, String)>,
    /// Requests served, as `VERB path?query` lines, for tests to inspect.
    pub requests: Vec<String>,
    /// The writes clients made over HTTP that the server accepted, oldest first (kept when
    /// the history is compacted).
    pub writes: Vec<Recorded>,
    next_uid: u64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            resource_version: 1,
            objects: BTreeMap::new(),
            history: Vec::new(),
            oldest: 0,
            live: broadcast::Sender::new(4096),
            connections: CancellationToken::new(),
            logs: BTreeMap::new(),
            log_lines: broadcast::Sender::new(4096),
            requests: Vec::new(),
            writes: Vec::new(),
            next_uid: 0,
        }
    }
}

/// `apis/<group>/<version>` or `api/v1`, then the lower-case plural of `kind`.
pub fn resource_of(api_version: &str, kind: &str) -> String {
    let prefix = if api_version.contains('/') {
        format!("apis/{api_version}")
    } else {
        format!("api/{api_version}")
    };
    format!("{prefix}/{}s", kind.to_lowercase())
}

pub fn rfc3339(time: SystemTime) -> String {
    k8s_openapi::jiff::Timestamp::try_from(time)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Whether `labels` satisfy a label selector (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-joined).
pub fn selects(selector: &str, labels: Option<&Value>) -> bool {
    let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((key, value)) = term.split_once("!=") {
                label(key.trim()) != Some(value.trim())
            } else if let Some((key, value)) = term.split_once('=') {
                label(key.trim()) == Some(value.trim_start_matches('=').trim())
            } else if let Some(key) = term.strip_prefix('!') {
                label(key).is_none()
            } else {
                label(term).is_some()
            }
        })
}

impl State {
    fn record(&mut self, key: Key, kind: &'static str, object: Value) {
        let recorded = Recorded {
            resource_version: self.resource_version,
            key,
            kind,
            object,
        };
        self.history.push(recorded.clone());
        let _ = self.live.send(Arc::new(recorded));
    }

    /// Creates or replaces `object` (it names its apiVersion, kind, namespace and name).
    pub fn apply(&mut self, mut object: Value) -> Value {
        let api_version = object["apiVersion"].as_str().unwrap_or("v1").to_owned();
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = (resource_of(&api_version, &kind), namespace.clone(), name);
        self.resource_version += 1;
        let previous = self.objects.get(&key).cloned();
        let metadata = &mut object["metadata"];
        metadata["namespace"] = json!(namespace);
        metadata["resourceVersion"] = json!(self.resource_version.to_string());
        match &previous {
            Some(previous) => {
                metadata["uid"] = previous["metadata"]["uid"].clone();
                metadata["creationTimestamp"] = previous["metadata"]["creationTimestamp"].clone();
            }
            None => {
                self.next_uid += 1;
                metadata["uid"] = json!(format!("uid-{}", self.next_uid));
                if metadata.get("creationTimestamp").is_none() {
                    metadata["creationTimestamp"] = json!(rfc3339(SystemTime::now()));
                }
            }
        }
        self.objects.insert(key.clone(), object.clone());
        let kind = if previous.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.record(key, kind, object.clone());
        object
    }

    /// Deletes an object; false when there was none.
    pub fn delete(&mut self, key: &Key) -> bool {
        let Some(mut object) = self.objects.remove(key) else {
            return false;
        };
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.record(key.clone(), "DELETED", object);
        true
    }

    /// Forgets the history: any watch resuming from before now gets 410 Gone.
    pub fn compact(&mut self) {
        self.resource_version += 1;
        self.history.clear();
        self.oldest = self.resource_version;
    }

    /// Drops every open watch and log stream.
    pub fn drop_connections(&mut self) {
        self.connections.cancel();
        self.connections = CancellationToken::new();
    }
}
