//! The service token RPCs (`CreateToken`, `ListTokens`, `RevokeToken`), for dkd's admins
//! (the service checks RBAC `admin` first; the socket's owner always is one). The token
//! file is written off the async workers.

use std::{sync::Arc, time::Duration};

use datakit::proto;
use tonic::{Code, Status};

use super::errors::answer;
use crate::{
    auth::{Principal, ServiceToken, TokenError, TokenStore},
    promotion::ports::blocking::WRITE_DEADLINE,
};

fn status(error: TokenError) -> Status {
    let code = match &error {
        TokenError::Invalid(_) => Code::InvalidArgument,
        TokenError::Exists(_) => Code::AlreadyExists,
        TokenError::NotFound(_) => Code::NotFound,
        TokenError::Unreadable { .. } | TokenError::Write { .. } | TokenError::Secret(_) => {
            Code::Unavailable
        }
    };
    answer(code, &error.to_string())
}

fn timestamp(seconds: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::try_from(seconds).unwrap_or(i64::MAX),
        nanos: 0,
    }
}

fn token(token: ServiceToken) -> proto::ServiceToken {
    proto::ServiceToken {
        name: token.name,
        id: token.id,
        groups: token.groups,
        created_by: token.created_by,
        created_at: Some(timestamp(token.created_at)),
        expires_at: token.expires_at.map(timestamp),
        revoked_at: token.revoked_at.map(timestamp),
    }
}

/// How long a new token lives: unset means until revoked; otherwise at least a second.
fn lifetime(expires_in: Option<prost_types::Duration>) -> Result<Option<Duration>, Status> {
    let Some(expires_in) = expires_in else {
        return Ok(None);
    };
    u64::try_from(expires_in.seconds)
        .ok()
        .filter(|seconds| *seconds >= 1)
        .map(|seconds| Some(Duration::from_secs(seconds)))
        .ok_or_else(|| {
            answer(
                Code::InvalidArgument,
                "expires_in must be at least one second (leave it unset for a token that lives until revoked)",
            )
        })
}

/// Runs a token file change on the blocking pool, waiting for it at most as long as for
/// any store write: a stuck disk answers UNAVAILABLE instead of hanging the call.
async fn blocking<T: Send + 'static>(
    change: impl FnOnce() -> Result<T, TokenError> + Send + 'static,
) -> Result<T, Status> {
    match tokio::time::timeout(WRITE_DEADLINE, tokio::task::spawn_blocking(change)).await {
        Ok(done) => done
            .map_err(|error| answer(Code::Internal, &format!("token change failed: {error}")))?
            .map_err(status),
        Err(_) => Err(answer(
            Code::Unavailable,
            &format!(
                "the token file did not finish writing within {} s: is the disk holding DK_HOME stuck?",
                WRITE_DEADLINE.as_secs()
            ),
        )),
    }
}

/// `CreateToken`.
pub async fn create(
    tokens: &Arc<TokenStore>,
    caller: &Principal,
    request: proto::CreateTokenRequest,
) -> Result<proto::CreateTokenResponse, Status> {
    let lifetime = lifetime(request.expires_in)?;
    let (tokens, by) = (tokens.clone(), caller.name.clone());
    let (record, secret) =
        blocking(move || tokens.create(&request.name, &request.groups, lifetime, &by)).await?;
    Ok(proto::CreateTokenResponse {
        token: Some(token(record)),
        secret,
    })
}

/// `ListTokens`.
pub fn list(tokens: &TokenStore) -> Result<proto::ListTokensResponse, Status> {
    Ok(proto::ListTokensResponse {
        tokens: tokens.list().into_iter().map(token).collect(),
    })
}

/// `RevokeToken`.
pub async fn revoke(
    tokens: &Arc<TokenStore>,
    caller: &Principal,
    request: proto::RevokeTokenRequest,
) -> Result<proto::RevokeTokenResponse, Status> {
    let (tokens, by) = (tokens.clone(), caller.name.clone());
    let revoked = blocking(move || tokens.revoke(&request.name, &by)).await?;
    Ok(proto::RevokeTokenResponse {
        token: Some(token(revoked)),
    })
}
