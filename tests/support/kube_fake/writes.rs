//! Writes over HTTP, for the resources a client may change — Jobs (create) and
//! `coordination.k8s.io/v1` Leases (create, get-modify-replace, patch, delete) — with the
//! real API server's optimistic concurrency: a create of a taken name is 409 AlreadyExists,
//! a replace or patch naming a `metadata.resourceVersion` other than the stored one is 409
//! Conflict, a replace without one is unconditional, and every write gets a new
//! resourceVersion and reaches watches like any other change.

use axum::{
    body::Bytes,
    http::{HeaderMap, Method, StatusCode, header},
    response::Response,
};
use serde_json::{Value, json};

use super::{
    http::{Shared, failure, json_response},
    state::{Key, State},
};

/// The resources a client may write, with the verbs it may use on them.
const WRITABLE: &[(&str, &[Method])] = &[
    ("apis/batch/v1/jobs", &[Method::POST]),
    (
        "apis/coordination.k8s.io/v1/leases",
        &[Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
    ),
];

/// The real server's message for a stale resourceVersion.
const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// Whether `method` on `resource` is a write this fake serves.
pub fn writable(method: &Method, resource: &str) -> bool {
    WRITABLE
        .iter()
        .any(|(r, verbs)| *r == resource && verbs.contains(method))
}

/// `leases.coordination.k8s.io`, `jobs.batch`: how the real server names a resource in
/// its messages.
fn qualified(resource: &str) -> String {
    let segments: Vec<&str> = resource.split('/').collect();
    match segments.as_slice() {
        ["apis", group, _, plural] => format!("{plural}.{group}"),
        [.., plural] => (*plural).to_owned(),
        [] => String::new(),
    }
}

fn stored_version(object: &Value) -> Option<&str> {
    object["metadata"]["resourceVersion"]
        .as_str()
        .filter(|v| !v.is_empty())
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` removes, the rest replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    for (name, value) in fields {
        if value.is_null() {
            if let Some(object) = target.as_object_mut() {
                object.remove(name);
            }
        } else {
            merge(&mut target[name], value);
        }
    }
}

/// One write: `resource` in `namespace`, `name` for all but a create.
pub struct Write<'a> {
    pub method: &'a Method,
    pub resource: &'a str,
    pub namespace: &'a str,
    pub name: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
}

/// Serves a write (the caller checked [`writable`]).
pub fn handle(shared: &Shared, write: &Write<'_>) -> Response {
    let body = if write.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(write.body) {
            Ok(body) => body,
            Err(_) => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "the body is not JSON",
                );
            }
        }
    };
    let Ok(mut state) = shared.lock() else {
        return failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "poisoned",
        );
    };
    let what = qualified(write.resource);
    let answer = match (write.method, write.name) {
        (&Method::POST, None) => create(&mut state, write, &what, body),
        (&Method::PUT, Some(name)) => replace(&mut state, write, &what, name, body),
        (&Method::PATCH, Some(name)) => patch(&mut state, write, &what, name, &body),
        (&Method::DELETE, Some(name)) => delete(&mut state, write, &what, name, &body),
        _ => Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!("{} is not served on {what}", write.method),
        )),
    };
    match answer {
        Ok((code, stored)) => {
            // Recorded for `KubeFake::lease_writes`, in the order the server accepted them.
            let accepted = state.history.last().cloned();
            state.writes.extend(accepted);
            json_response(code, &stored)
        }
        Err(refused) => failure(refused.code, refused.reason, &refused.message),
    }
}

/// A write the server refuses: its status code, reason and message.
struct Refusal {
    code: StatusCode,
    reason: &'static str,
    message: String,
}

fn refuse(code: StatusCode, reason: &'static str, message: &str) -> Refusal {
    Refusal {
        code,
        reason,
        message: message.to_owned(),
    }
}

type Answer = Result<(StatusCode, Value), Refusal>;

fn key(write: &Write<'_>, name: &str) -> Key {
    (write.resource.into(), write.namespace.into(), name.into())
}

fn not_found(what: &str, name: &str) -> Refusal {
    refuse(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{what} {name:?} not found"),
    )
}

fn conflict(what: &str, name: &str) -> Refusal {
    refuse(
        StatusCode::CONFLICT,
        "Conflict",
        &format!("Operation cannot be fulfilled on {what} {name:?}: {MODIFIED}"),
    )
}

/// Fills in the namespace and name the path gives, refusing a body naming others.
fn place(object: &mut Value, write: &Write<'_>, name: &str) -> Result<(), Refusal> {
    if !object.is_object() {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not an object",
        ));
    }
    let named = object["metadata"]["name"].as_str().unwrap_or(name);
    if named != name {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "the name of the object ({named}) does not match the name on the URL ({name})"
            ),
        ));
    }
    object["metadata"]["name"] = json!(name);
    object["metadata"]["namespace"] = json!(write.namespace);
    Ok(())
}

fn create(state: &mut State, write: &Write<'_>, what: &str, mut object: Value) -> Answer {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if name.is_empty() {
        return Err(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            &format!("{what} is invalid: metadata.name: Required value: name is required"),
        ));
    }
    place(&mut object, write, &name)?;
    if stored_version(&object).is_some() {
        return Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "resourceVersion should not be set on objects to be created",
        ));
    }
    if state.objects.contains_key(&key(write, &name)) {
        return Err(refuse(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("{what} {name:?} already exists"),
        ));
    }
    Ok((StatusCode::CREATED, state.apply(object)))
}

fn replace(
    state: &mut State,
    write: &Write<'_>,
    what: &str,
    name: &str,
    mut object: Value,
) -> Answer {
    place(&mut object, write, name)?;
    let Some(current) = state.objects.get(&key(write, name)) else {
        return Err(not_found(what, name));
    };
    if let Some(expected) = stored_version(&object)
        && Some(expected) != stored_version(current)
    {
        return Err(conflict(what, name));
    }
    Ok((StatusCode::OK, state.apply(object)))
}

/// Merge, strategic-merge (merged the same way: Leases have no lists it would treat
/// differently) and server-side apply (which also creates); a `metadata.resourceVersion`
/// in the patch is a precondition, as on the real server.
fn patch(state: &mut State, write: &Write<'_>, what: &str, name: &str, patch: &Value) -> Answer {
    let content_type = write
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let apply = content_type.starts_with("application/apply-patch");
    if !apply
        && !content_type.starts_with("application/merge-patch+json")
        && !content_type.starts_with("application/strategic-merge-patch+json")
    {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!("the fake does not serve {content_type:?} patches"),
        ));
    }
    let current = state.objects.get(&key(write, name)).cloned();
    let (mut object, code) = match current {
        Some(current) => {
            if let Some(expected) = stored_version(patch)
                && Some(expected) != stored_version(&current)
            {
                return Err(conflict(what, name));
            }
            (current, StatusCode::OK)
        }
        None if apply => (json!({}), StatusCode::CREATED),
        None => return Err(not_found(what, name)),
    };
    merge(&mut object, patch);
    place(&mut object, write, name)?;
    Ok((code, state.apply(object)))
}

/// Delete, with the `preconditions.resourceVersion` of DeleteOptions honoured.
fn delete(state: &mut State, write: &Write<'_>, what: &str, name: &str, options: &Value) -> Answer {
    let key = key(write, name);
    let Some(current) = state.objects.get(&key) else {
        return Err(not_found(what, name));
    };
    if let Some(expected) = options["preconditions"]["resourceVersion"].as_str()
        && Some(expected) != stored_version(current)
    {
        return Err(conflict(what, name));
    }
    let gone = current.clone();
    state.delete(&key);
    Ok((StatusCode::OK, gone))
}
