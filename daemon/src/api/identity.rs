//! Who is calling. On the local socket: the OS user of the connecting process, from the
//! socket's peer credentials. dkd serves only its own user there: the socket is mode 0600
//! in a 0700 home, and `OwnerOnly` refuses any request whose peer is someone else anyway
//! (root passes file modes, and a socket may be handed over or its modes loosened). On the
//! network listener: the principal `authenticate` established. Either way the caller is a
//! `Principal` in the request's extensions, and every RPC acts as it — an Approve too,
//! unless the embedded forge's demo mode lets the socket's owner claim a name (`approver`).

use datakit::users::describe_uid;
use tonic::{Code, Request, Status, service::Interceptor, transport::server::UdsConnectInfo};

use super::{
    audit::{Caller, Recorder, RpcPath},
    errors::answer,
};
use crate::{auth::Principal, promotion::Approver};

/// The authenticated caller of `request`. Missing only if a server was put together
/// without authentication, which fails closed.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| {
            answer(
                Code::Unauthenticated,
                "dkd cannot tell who is calling: no authenticated principal",
            )
        })
}

/// `uid`'s user name, or `uid-N` when the user database does not know it.
fn user_name(uid: u32) -> String {
    datakit::users::user_name(uid).unwrap_or_else(|| format!("uid-{uid}"))
}

fn peer_uid<T>(request: &Request<T>) -> Option<u32> {
    request
        .extensions()
        .get::<UdsConnectInfo>()
        .and_then(|info| info.peer_cred)
        .map(|cred| cred.uid())
}

/// Lets through only requests from the uid dkd runs as, as its `Principal`; everyone else
/// gets PermissionDenied naming that uid.
#[derive(Debug, Clone)]
pub struct OwnerOnly {
    owner: u32,
    /// The owner's principal, named once: no request reads the user database.
    principal: Principal,
    /// Where refusals are recorded.
    audit: Option<Recorder>,
}

impl OwnerOnly {
    /// Serves only `owner` (dkd's own uid).
    pub fn new(owner: u32) -> Self {
        Self {
            owner,
            principal: Principal::local(user_name(owner)),
            audit: None,
        }
    }

    /// This check, recording every request it refuses with `audit` (in the background:
    /// an interceptor cannot wait for the disk).
    pub fn audited(mut self, audit: Recorder) -> Self {
        self.audit = Some(audit);
        self
    }

    fn refusal(&self, caller: Option<u32>) -> Status {
        let owner = self.owner;
        let who = caller.map_or_else(
            || "cannot tell who is calling (no peer credentials)".to_owned(),
            |uid| format!("you are uid {uid} ({})", describe_uid(uid)),
        );
        answer(
            Code::PermissionDenied,
            &format!(
                "permission denied: dkd serves only its owner, uid {owner} ({}), and {who}: run dk as that user, or start a dkd of your own with its own DK_HOME",
                describe_uid(owner)
            ),
        )
    }
}

impl Interceptor for OwnerOnly {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        match peer_uid(&request) {
            Some(uid) if uid == self.owner => {
                let mut request = request;
                request.extensions_mut().insert(self.principal.clone());
                Ok(request)
            }
            caller => {
                tracing::warn!(peer_uid = ?caller, owner = self.owner, "refused a request from another user");
                let refusal = self.refusal(caller);
                if let Some(audit) = self.audit.clone() {
                    let rpc = request
                        .extensions()
                        .get::<RpcPath>()
                        .map_or_else(String::new, |path| path.0.clone());
                    let who = Caller {
                        principal: caller.map(|uid| Principal::local(user_name(uid))),
                        peer: "local socket".to_owned(),
                    };
                    let message = refusal.message().to_owned();
                    tokio::spawn(async move {
                        audit
                            .refused(&rpc, who, Code::PermissionDenied, &message)
                            .await;
                    });
                }
                Err(refusal)
            }
        }
    }
}

/// Who an Approve by `caller` approves as. A name the caller typed (`as_user`) is a claim:
/// it is refused on the network listener, and on the local socket honoured only in the
/// embedded forge's demo mode, marked as asserted by the caller.
pub fn approver(
    caller: &Principal,
    as_user: Option<&str>,
    asserted_approvers: bool,
) -> Result<Approver, Status> {
    let claimed = match as_user {
        Some(name) if !name.eq_ignore_ascii_case(&caller.name) => name,
        _ => {
            return Ok(Approver::authenticated(
                caller.name.clone(),
                caller.groups.clone(),
            ));
        }
    };
    if !caller.is_local() {
        return Err(answer(
            Code::PermissionDenied,
            &format!(
                "as_user (dk approve --as) is accepted only on dkd's local socket: here you approve as yourself, {}, authenticated by {}",
                caller.name,
                caller.method.describe()
            ),
        ));
    }
    if !asserted_approvers {
        return Err(answer(
            Code::PermissionDenied,
            &format!(
                "dk approve --as {claimed}: a typed name is a claim, not an approver, and dkd counts only authenticated approvals; let {claimed} approve as themselves (a service token, OIDC or a client certificate on the listener), or, for a single-user demo on the embedded forge, set forge.asserted_approvers: true in dkd.yaml"
            ),
        ));
    }
    Ok(Approver {
        user: claimed.to_owned(),
        groups: Vec::new(),
        asserted_by: Some(caller.name.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_peer_credentials_is_refused_naming_the_owner() {
        let refused = OwnerOnly::new(0)
            .call(Request::new(()))
            .expect_err("no credentials, no service");
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert!(
            refused
                .message()
                .contains("dkd serves only its owner, uid 0 (root)"),
            "{}",
            refused.message()
        );
    }

    #[test]
    fn a_request_without_a_principal_is_unauthenticated() {
        let refused = principal(&Request::new(())).expect_err("fails closed");
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
}
