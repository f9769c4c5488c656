//! Recording calls in the audit log.
//!
//! A mutating call writes an `attempt` line, fsynced, before the change is made; if it
//! cannot be written the call fails UNAVAILABLE naming the audit log and nothing changes.
//! After the call its outcome line follows. If that second write fails the answer still
//! goes out: the change is already made and recorded by its attempt line, and failing the
//! call would tell the caller something untrue (the failure goes to dkd's log). A change
//! runs as a task of its own, so neither a client that goes away nor the listener's
//! deadline can leave it half made or unrecorded. Dry runs and refused calls
//! (PERMISSION_DENIED, UNAUTHENTICATED) get one line, written before the answer (a request
//! from another uid on the socket: just after); reads are recorded only when refused.
//! Fields a caller chose are cut to a bounded length, and calls refused before reaching the
//! API are recorded at most `MAX_REFUSALS_PER_SECOND` a second, the rest counted.

use std::{
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};

use datakit::proto;
use tonic::{Code, Request, Response, Status};

use super::errors::answer;
use crate::{
    audit::{AuditEvent, AuditLog, Outcome, now_rfc3339},
    auth::Principal,
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

/// The most characters the audit log keeps of a field a caller chose (a name, a version,
/// the RPC path of a refused request); longer values are cut, so no caller can flush the
/// log's history with a few huge requests.
const MAX_FIELD_CHARS: usize = 256;
/// The most characters kept of an answer's message.
const MAX_MESSAGE_CHARS: usize = 1024;
/// Calls refused before they reach the API (no credentials, another uid) recorded per
/// second at most; beyond that they are counted and the count recorded once, so a flood of
/// anonymous requests can neither stall the changes waiting to be recorded nor rotate the
/// log's history away.
const MAX_REFUSALS_PER_SECOND: u32 = 50;

/// `value`, unless empty, cut to `MAX_FIELD_CHARS`.
pub fn given(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| clipped(value, MAX_FIELD_CHARS))
}

/// `value`, cut to `max` characters (marked with `…` when cut).
fn clipped(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}…", &value[..end]),
    }
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
        auth: principal.map_or("none", |p| p.method.key()).to_owned(),
        peer: caller.peer.clone(),
        rpc: clipped(rpc, MAX_FIELD_CHARS),
        package: target.package.clone(),
        environment: target.environment.clone(),
        version: target.version.clone(),
        promotion_id: target.promotion_id.clone(),
        token: target.token.clone(),
        as_user: target.as_user.clone(),
        dry_run: target.dry_run,
        outcome: outcome.to_owned(),
        message: message.map(|message| clipped(&message, MAX_MESSAGE_CHARS)),
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
    refusals: Arc<Mutex<RefusalBudget>>,
}

/// How many early refusals were recorded in the current second, and how many were not.
#[derive(Debug, Default)]
struct RefusalBudget {
    second: u64,
    recorded: u32,
    skipped: u64,
}

impl RefusalBudget {
    /// Whether a refusal at `second` may be recorded, and how many refusals before it were
    /// not (to be recorded first) when this one is the first of a new second.
    fn admit(&mut self, second: u64) -> (bool, u64) {
        if second != self.second {
            self.second = second;
            self.recorded = 0;
        }
        if self.recorded >= MAX_REFUSALS_PER_SECOND {
            self.skipped += 1;
            return (false, 0);
        }
        self.recorded += 1;
        (true, std::mem::take(&mut self.skipped))
    }
}

impl Recorder {
    pub fn new(log: Arc<AuditLog>) -> Self {
        Self {
            log,
            refusals: Arc::default(),
        }
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
    /// At most `MAX_REFUSALS_PER_SECOND` are recorded; the rest are counted in one line.
    pub async fn refused(&self, rpc: &str, caller: Caller, code: Code, message: &str) {
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let (admitted, skipped) = self
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(second);
        if skipped > 0 {
            let summary = event(
                "-",
                &Caller {
                    principal: None,
                    peer: "-".to_owned(),
                },
                &Target::default(),
                "NOT_RECORDED",
                Some(format!(
                    "{skipped} more calls were refused before reaching the API (more than {MAX_REFUSALS_PER_SECOND} a second) and not recorded one by one"
                )),
            );
            if let Err(error) = self.write(summary).await {
                tracing::error!(%error, "cannot record skipped refusals in the audit log");
            }
        }
        if !admitted {
            return;
        }
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

    /// Runs the read that `call` starts (a `DataKitService` method named `method`) and
    /// records it only when it was refused. The read's future is made in this one, not
    /// passed in made: a future passed in is held twice (as an argument, then awaited),
    /// kilobytes copied on every read.
    pub async fn read<T, F: Future<Output = Result<Response<T>, Status>>>(
        &self,
        method: &str,
        caller: Caller,
        target: Target,
        call: impl FnOnce() -> F,
    ) -> Result<Response<T>, Status> {
        let answered = call().await;
        if let Err(status) = &answered
            && is_refusal(status.code())
        {
            // Boxed: recording is kilobytes of future, which every read that is answered
            // would otherwise carry and copy.
            Box::pin(self.record_refused_read(method, &caller, &target, status)).await;
        }
        answered
    }

    /// Records the read `method` that `status` refused.
    async fn record_refused_read(
        &self,
        method: &str,
        caller: &Caller,
        target: &Target,
        status: &Status,
    ) {
        let refused = event(
            &rpc_name(method),
            caller,
            target,
            &code_name(status.code()),
            Some(status.message().to_owned()),
        );
        if let Err(error) = self.write(refused).await {
            tracing::error!(%error, method, "cannot record a refused call in the audit log");
        }
    }

    /// Runs the change `call` (a `DataKitService` method named `method`) as the module
    /// documentation says; `completes` adds what a successful answer tells (the promotion).
    /// The change runs as a task of its own: a caller that goes away, or the listener's
    /// deadline, stops the waiting, never a change half made or its outcome line.
    pub async fn change<T: Send + 'static>(
        &self,
        method: &'static str,
        caller: Caller,
        target: Target,
        call: impl Future<Output = Result<Response<T>, Status>> + Send + 'static,
        completes: impl FnOnce(&T, &mut Target) + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let recorder = self.clone();
        tokio::spawn(async move {
            recorder
                .record_change(method, caller, target, call, completes)
                .await
        })
        .await
        .map_err(|failed| answer(Code::Internal, &format!("{method} failed: {failed}")))?
    }

    async fn record_change<T>(
        &self,
        method: &str,
        caller: Caller,
        mut target: Target,
        call: impl Future<Output = Result<Response<T>, Status>>,
        completes: impl FnOnce(&T, &mut Target),
    ) -> Result<Response<T>, Status> {
        let rpc = rpc_name(method);
        if !target.dry_run {
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
        if let Err(error) = self
            .write(event(&rpc, &caller, &target, &outcome, message))
            .await
        {
            tracing::error!(%error, rpc, %outcome, "cannot record a call's outcome in the audit log");
        }
        answered
    }
}

/// Whether `code` says the caller was refused (recorded even for reads).
fn is_refusal(code: Code) -> bool {
    matches!(code, Code::PermissionDenied | Code::Unauthenticated)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorder writing to `audit.log` in `dir`, and that file's path.
    fn recorder_in(dir: &std::path::Path) -> (Recorder, std::path::PathBuf) {
        let path = dir.join("audit.log");
        let log = Arc::new(AuditLog::new(
            &path,
            crate::audit::AuditSettings {
                max_bytes: 1 << 20,
                keep: 1,
            },
        ));
        (Recorder::new(log), path)
    }

    #[test]
    fn long_fields_are_cut_on_a_character_boundary() {
        assert_eq!(given(""), None);
        assert_eq!(given("v1.0.0").as_deref(), Some("v1.0.0"));
        let huge = "é".repeat(10_000);
        let cut = given(&huge).expect("kept");
        assert_eq!(
            cut.chars().count(),
            MAX_FIELD_CHARS + 1,
            "the cut and its mark"
        );
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn refusals_beyond_the_budget_are_counted_and_reported_with_the_next_one() {
        let mut budget = RefusalBudget::default();
        for _ in 0..MAX_REFUSALS_PER_SECOND {
            assert_eq!(budget.admit(7), (true, 0));
        }
        assert_eq!(budget.admit(7), (false, 0));
        assert_eq!(budget.admit(7), (false, 0));
        assert_eq!(
            budget.admit(8),
            (true, 2),
            "the next second says how many were left out"
        );
        assert_eq!(budget.admit(8), (true, 0));
    }

    #[tokio::test]
    async fn a_change_whose_caller_gives_up_still_finishes_and_records_its_outcome() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (recorder, path) = recorder_in(dir.path());
        let made = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let making = made.clone();
        let call = async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            making.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(Response::new(()))
        };
        let caller = Caller {
            principal: Some(Principal::local("carol".to_owned())),
            peer: "local socket".to_owned(),
        };
        let waited = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            recorder.change("Promote", caller, Target::default(), call, |(), _| {}),
        )
        .await;
        assert!(waited.is_err(), "the caller gave up first");
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        assert!(
            made.load(std::sync::atomic::Ordering::SeqCst),
            "the change finished"
        );
        let lines = std::fs::read_to_string(&path).expect("audit.log");
        let outcomes: Vec<&str> = lines
            .lines()
            .filter_map(|line| line.split("\"outcome\":\"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert_eq!(outcomes, ["attempt", "ok"], "{lines}");
    }

    #[tokio::test]
    async fn a_read_is_recorded_only_when_refused_and_with_what_it_was_about() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (recorder, path) = recorder_in(dir.path());
        let caller = || Caller {
            principal: Some(Principal::local("dave".to_owned())),
            peer: "local socket".to_owned(),
        };
        let target = || Target {
            package: Some("my-package".to_owned()),
            environment: Some("prod".to_owned()),
            ..Target::default()
        };
        let answered = recorder
            .read("Status", caller(), target(), || async {
                Ok(Response::new(()))
            })
            .await;
        assert!(answered.is_ok());
        let refused = recorder
            .read("Status", caller(), target(), || async {
                Err::<Response<()>, _>(Status::permission_denied("dave may not read prod"))
            })
            .await;
        assert_eq!(
            refused.map_err(|status| status.code()).err(),
            Some(Code::PermissionDenied),
            "the refusal is answered as it was"
        );
        let lines = std::fs::read_to_string(&path).expect("audit.log");
        let events: Vec<serde_json::Value> = lines
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
            .collect();
        assert_eq!(events.len(), 1, "only the refusal: {lines}");
        assert_eq!(events[0]["outcome"], "PERMISSION_DENIED", "{lines}");
        assert_eq!(events[0]["package"], "my-package", "{lines}");
        assert_eq!(events[0]["environment"], "prod", "{lines}");
        assert!(
            lines.contains("dave may not read prod"),
            "the refusal's message: {lines}"
        );
    }

    #[test]
    fn codes_read_as_their_canonical_names() {
        assert_eq!(code_name(Code::PermissionDenied), "PERMISSION_DENIED");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
    }
}
