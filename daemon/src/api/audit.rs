//! Recording calls in the audit log.
//!
//! A mutating call writes an `attempt` line, fsynced, before the change is made; if it
//! cannot be written the call fails UNAVAILABLE naming the audit log and nothing changes.
//! After the call its outcome line follows. If that second write fails the answer still
//! goes out: the change is already made and recorded by its attempt line, and failing the
//! call would tell the caller something untrue (the failure goes to dkd's log). Dry runs
//! and refused calls (PERMISSION_DENIED, UNAUTHENTICATED) get one line, written before the
//! answer; reads are recorded only when refused.

use std::{future::Future, sync::Arc};

use datakit::proto;
use tonic::{Code, Request, Response, Status};

use super::errors::answer;
use crate::{
    audit::{AuditEvent, AuditLog, Outcome, now_rfc3339},
    auth::{AuthMethod, Principal},
    promotion::ports::blocking,
};

/// What a call is about, as far as the request (and for a promotion id, the answer) says.
#[derive(Debug, Default, Clone)]
pub struct Target {
    pub package: Option<String>,
    pub environment: Option<String>,
    pub version: Option<String>,
    pub promotion_id: Option<String>,
    pub token: Option<String>,
    pub as_user: Option<String>,
    pub dry_run: bool,
}

/// `value`, unless empty.
pub fn given(value: &str) -> Option<String> {
    Some(value.to_owned()).filter(|value| !value.is_empty())
}

/// The full method path of a request, kept for the checks that run before routing (an
/// interceptor sees no URI).
#[derive(Debug, Clone)]
pub struct RpcPath(pub String);

/// Keeps `request`'s method path in its extensions as an [`RpcPath`].
pub fn remember_rpc_path(
    mut request: http::Request<tonic::body::Body>,
) -> http::Request<tonic::body::Body> {
    let path = RpcPath(request.uri().path().to_owned());
    request.extensions_mut().insert(path);
    request
}

/// Whether a call changes something (recorded always) or only reads (recorded if refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mutation,
    Read,
}

/// The caller of a call: its principal (none if unauthenticated) and where it came from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Option<Principal>,
    pub peer: String,
}

impl Caller {
    pub fn of<T>(request: &Request<T>) -> Self {
        Self {
            principal: request.extensions().get::<Principal>().cloned(),
            peer: request
                .remote_addr()
                .map_or_else(|| "local socket".to_owned(), |peer| peer.to_string()),
        }
    }
}

fn auth_key(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::LocalSocket => "local-socket",
        AuthMethod::ServiceToken => "service-token",
        AuthMethod::Oidc => "oidc",
        AuthMethod::ClientCertificate => "client-certificate",
    }
}

/// The full gRPC method name of `DataKitService`'s `method`.
pub fn rpc_name(method: &str) -> String {
    format!("/{}/{method}", proto::data_kit_service_server::SERVICE_NAME)
}

/// Builds one event.
fn event(
    rpc: &str,
    caller: &Caller,
    target: &Target,
    outcome: &str,
    message: Option<String>,
) -> AuditEvent {
    let principal = caller.principal.as_ref();
    AuditEvent {
        time: now_rfc3339(),
        principal: principal.map(|p| p.name.clone()).unwrap_or_default(),
        groups: principal.map(|p| p.groups.clone()).unwrap_or_default(),
        auth: principal.map_or("none", |p| auth_key(p.method)).to_owned(),
        peer: caller.peer.clone(),
        rpc: rpc.to_owned(),
        package: target.package.clone(),
        environment: target.environment.clone(),
        version: target.version.clone(),
        promotion_id: target.promotion_id.clone(),
        token: target.token.clone(),
        as_user: target.as_user.clone(),
        dry_run: target.dry_run,
        outcome: outcome.to_owned(),
        message,
    }
}

/// The gRPC code's canonical name, e.g. `PERMISSION_DENIED`.
fn code_name(code: Code) -> String {
    format!("{code:?}")
        .chars()
        .enumerate()
        .flat_map(|(index, c)| {
            let separator = (index > 0 && c.is_ascii_uppercase()).then_some('_');
            separator
                .into_iter()
                .chain(std::iter::once(c.to_ascii_uppercase()))
        })
        .collect()
}

/// Writes events to the audit log off the async workers.
#[derive(Debug, Clone)]
pub struct Recorder {
    log: Arc<AuditLog>,
}

impl Recorder {
    pub fn new(log: Arc<AuditLog>) -> Self {
        Self { log }
    }

    /// Appends `event`, fsynced, within the store write deadline; the error names the log.
    pub async fn write(&self, event: AuditEvent) -> Result<(), String> {
        match blocking::write(&self.log, move |log| Ok(log.append(&event))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Records a call to `rpc` (a full method path) refused before it reached the API:
    /// unauthenticated on the listener, or from another user on the socket.
    pub async fn refused(&self, rpc: &str, caller: Caller, code: Code, message: &str) {
        let refused = event(
            rpc,
            &caller,
            &Target::default(),
            &code_name(code),
            Some(message.to_owned()),
        );
        if let Err(error) = self.write(refused).await {
            tracing::error!(%error, rpc, "cannot record a refused call in the audit log");
        }
    }

    /// Runs `call` (a `DataKitService` method named `method`) and records it as the module
    /// documentation says; `completes` adds what a successful answer tells (the promotion).
    pub async fn call<T>(
        &self,
        method: &str,
        kind: Kind,
        caller: Caller,
        mut target: Target,
        call: impl Future<Output = Result<Response<T>, Status>>,
        completes: impl FnOnce(&T, &mut Target),
    ) -> Result<Response<T>, Status> {
        let rpc = rpc_name(method);
        let changes = kind == Kind::Mutation && !target.dry_run;
        if changes {
            self.write(event(&rpc, &caller, &target, Outcome::ATTEMPT, None))
                .await
                .map_err(|error| {
                    answer(
                        Code::Unavailable,
                        &format!("{error}: dkd records every change there first, so nothing was changed; fix the audit log's disk and retry"),
                    )
                })?;
        }
        let answered = call.await;
        let (outcome, message) = match &answered {
            Ok(response) => {
                completes(response.get_ref(), &mut target);
                (Outcome::OK.to_owned(), None)
            }
            Err(status) => (code_name(status.code()), Some(status.message().to_owned())),
        };
        let refused = answered.as_ref().is_err_and(|status| {
            matches!(
                status.code(),
                Code::PermissionDenied | Code::Unauthenticated
            )
        });
        if (kind == Kind::Mutation || refused)
            && let Err(error) = self
                .write(event(&rpc, &caller, &target, &outcome, message))
                .await
        {
            tracing::error!(%error, rpc, %outcome, "cannot record a call's outcome in the audit log");
        }
        answered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_their_canonical_names() {
        assert_eq!(code_name(Code::PermissionDenied), "PERMISSION_DENIED");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
    }
}
