//! The fake API server's HTTP side, the way the real one answers the kube client: list
//! (with the collection's resourceVersion), get, watch as newline-delimited JSON events
//! (ADDED/MODIFIED/DELETED, BOOKMARK when asked, an ERROR Status 410 for a resourceVersion
//! older than the compacted history), and pod logs (tailLines, sinceTime/sinceSeconds,
//! timestamps, follow streamed until the log finishes or the client goes away); writes go
//! to `writes.rs`.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::Response,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{
    state::{Key, State, rfc3339, selects},
    writes,
};

/// How often an idle watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_millis(300);

pub(super) type Shared = Arc<Mutex<State>>;
type Sender = mpsc::Sender<Result<Bytes, Infallible>>;

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub(super) fn json_response(code: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code
    })
}

pub(super) fn failure(code: StatusCode, reason: &str, message: &str) -> Response {
    json_response(code, &status(code.as_u16(), reason, message))
}

fn streaming(receiver: mpsc::Receiver<Result<Bytes, Infallible>>, content_type: &str) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(ReceiverStream::new(receiver)))
        .unwrap_or_default()
}

/// Serves one request.
pub async fn handle(
    shared: Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = query(&uri);
    if let Ok(mut state) = shared.lock() {
        state.requests.push(format!("{method} {uri}"));
    }
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    // api/v1/namespaces/NS/RES[/NAME[/log]] or apis/G/V/namespaces/NS/RES[/NAME]
    let (prefix_len, rest) = match segments.first() {
        Some(&"api") => (2, &segments[..]),
        Some(&"apis") => (3, &segments[..]),
        _ => return failure(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    };
    let tail = rest.get(prefix_len..).unwrap_or_default();
    let (namespace, plural, name, sub) = match tail {
        ["namespaces", ns, res] => (*ns, *res, None, None),
        ["namespaces", ns, res, name] => (*ns, *res, Some(*name), None),
        ["namespaces", ns, res, name, sub] => (*ns, *res, Some(*name), Some(*sub)),
        _ => return failure(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    };
    let resource = format!("{}/{plural}", rest[..prefix_len].join("/"));
    if method != Method::GET {
        if sub.is_some() || !writes::writable(&method, &resource) {
            return failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the fake serves reads, Job creation and Lease writes; change other objects through its handle",
            );
        }
        let write = writes::Write {
            method: &method,
            resource: &resource,
            namespace,
            name,
            headers: &headers,
            body: &body,
        };
        return writes::handle(&shared, &write);
    }
    match (name, sub) {
        (None, _) if params.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(&shared, &resource, namespace, &params)
        }
        (None, _) => list(&shared, &resource, namespace, &params),
        (Some(name), None) => get(&shared, &(resource, namespace.into(), name.into())),
        (Some(pod), Some("log")) if plural == "pods" => logs(&shared, namespace, pod, &params),
        _ => failure(StatusCode::NOT_FOUND, "NotFound", "unknown subresource"),
    }
}

fn get(shared: &Shared, key: &Key) -> Response {
    let Ok(state) = shared.lock() else {
        return failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "poisoned",
        );
    };
    match state.objects.get(key) {
        Some(object) => json_response(StatusCode::OK, object),
        None => failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{} {:?} not found", key.0, key.2),
        ),
    }
}

fn matches(key: &Key, object: &Value, resource: &str, namespace: &str, selector: &str) -> bool {
    key.0 == resource && key.1 == namespace && selects(selector, object["metadata"].get("labels"))
}

fn list(
    shared: &Shared,
    resource: &str,
    namespace: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let Ok(state) = shared.lock() else {
        return failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "poisoned",
        );
    };
    let selector = params.get("labelSelector").map_or("", String::as_str);
    let items: Vec<&Value> = state
        .objects
        .iter()
        .filter(|(k, o)| matches(k, o, resource, namespace, selector))
        .map(|(_, o)| o)
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "List", "apiVersion": "v1",
            "metadata": { "resourceVersion": state.resource_version.to_string() },
            "items": items,
        }),
    )
}

fn line(value: &Value) -> Bytes {
    Bytes::from(format!("{value}\n"))
}

fn watch(
    shared: &Shared,
    resource: &str,
    namespace: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let (sender, receiver) = mpsc::channel(256);
    let Ok(state) = shared.lock() else {
        return failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "poisoned",
        );
    };
    let selector = params.get("labelSelector").cloned().unwrap_or_default();
    let from: u64 = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let timeout = Duration::from_secs(
        params
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .unwrap_or(300),
    );
    let mut backlog = Vec::new();
    if from == 0 {
        for (key, object) in &state.objects {
            if matches(key, object, resource, namespace, &selector) {
                backlog.push(line(&json!({ "type": "ADDED", "object": object })));
            }
        }
    } else if from < state.oldest {
        let gone = status(
            410,
            "Expired",
            &format!("too old resource version: {from} ({})", state.oldest),
        );
        backlog.push(line(&json!({ "type": "ERROR", "object": gone })));
        drop(state);
        tokio::spawn(async move {
            for bytes in backlog {
                let _ = sender.send(Ok(bytes)).await;
            }
        });
        return streaming(receiver, "application/json");
    } else {
        for recorded in state.history.iter().filter(|r| r.resource_version > from) {
            if matches(
                &recorded.key,
                &recorded.object,
                resource,
                namespace,
                &selector,
            ) {
                backlog.push(line(
                    &json!({ "type": recorded.kind, "object": recorded.object }),
                ));
            }
        }
    }
    let mut live = state.live.subscribe();
    let dropped = state.connections.clone();
    let shared = shared.clone();
    let (resource, namespace) = (resource.to_owned(), namespace.to_owned());
    drop(state);
    tokio::spawn(async move {
        for bytes in backlog {
            if sender.send(Ok(bytes)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut bookmark = tokio::time::interval(BOOKMARK_INTERVAL);
        loop {
            let bytes = tokio::select! {
                biased;
                () = dropped.cancelled() => return,
                () = &mut deadline => return,
                () = sender.closed() => return,
                _ = bookmark.tick(), if bookmarks => {
                    let Ok(version) = shared.lock().map(|s| s.resource_version) else { return };
                    line(&json!({ "type": "BOOKMARK", "object": {
                        "kind": "Bookmark", "apiVersion": "v1",
                        "metadata": { "resourceVersion": version.to_string() }
                    }}))
                }
                recorded = live.recv() => match recorded {
                    Ok(r) if r.resource_version > from
                        && matches(&r.key, &r.object, &resource, &namespace, &selector) =>
                    {
                        line(&json!({ "type": r.kind, "object": r.object }))
                    }
                    Ok(_) => continue,
                    // A real API server ends a watch it cannot keep up with.
                    Err(_) => return,
                },
            };
            if sender.send(Ok(bytes)).await.is_err() {
                return;
            }
        }
    });
    streaming(receiver, "application/json")
}

fn logs(
    shared: &Shared,
    namespace: &str,
    pod: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let Ok(state) = shared.lock() else {
        return failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "poisoned",
        );
    };
    let key = (namespace.to_owned(), pod.to_owned());
    let pod_key: Key = ("api/v1/pods".into(), namespace.into(), pod.into());
    if !state.objects.contains_key(&pod_key) {
        return failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods {pod:?} not found"),
        );
    }
    let since = params
        .get("sinceTime")
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map(SystemTime::from)
        .or_else(|| {
            let seconds: u64 = params.get("sinceSeconds")?.parse().ok()?;
            SystemTime::now().checked_sub(Duration::from_secs(seconds))
        });
    let timestamps = params.get("timestamps").is_some_and(|t| t == "true");
    let follow = params.get("follow").is_some_and(|f| f == "true");
    let tail: Option<usize> = params.get("tailLines").and_then(|t| t.parse().ok());
    let render = move |(at, text): &(SystemTime, String)| {
        if timestamps {
            Bytes::from(format!("{} {text}\n", rfc3339(*at)))
        } else {
            Bytes::from(format!("{text}\n"))
        }
    };
    let (lines, finished) = state
        .logs
        .get(&key)
        .map(|l| (l.lines.clone(), l.finished))
        .unwrap_or_default();
    let wanted: Vec<&(SystemTime, String)> = lines
        .iter()
        .filter(|(at, _)| since.is_none_or(|s| *at >= s))
        .collect();
    let skip = tail.map_or(0, |t| wanted.len().saturating_sub(t));
    let first: Vec<Bytes> = wanted[skip..].iter().map(|l| render(l)).collect();
    let mut seen = lines.len();
    let mut more = state.log_lines.subscribe();
    let dropped = state.connections.clone();
    let shared = shared.clone();
    drop(state);
    let (sender, receiver): (Sender, _) = mpsc::channel(256);
    tokio::spawn(async move {
        for bytes in first {
            if sender.send(Ok(bytes)).await.is_err() {
                return;
            }
        }
        if !follow || finished {
            return;
        }
        loop {
            tokio::select! {
                biased;
                () = dropped.cancelled() => return,
                () = sender.closed() => return,
                changed = more.recv() => match changed {
                    Ok(changed) if changed != key => continue,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
            }
            let Ok((new, finished)) = shared.lock().map(|s| {
                s.logs
                    .get(&key)
                    .map(|l| (l.lines[seen.min(l.lines.len())..].to_vec(), l.finished))
                    .unwrap_or_default()
            }) else {
                return;
            };
            seen += new.len();
            for l in &new {
                if sender.send(Ok(render(l))).await.is_err() {
                    return;
                }
            }
            if finished {
                return;
            }
        }
    });
    streaming(receiver, "text/plain")
}
