//! Streams end when the credentials that opened them do: a Watch or Logs stream on the
//! network listener checks its principal every `CHECK_INTERVAL` — an OIDC token or service
//! token past its expiry, a service token revoked since — and then ends with one
//! UNAUTHENTICATED message saying why, instead of streaming on for as long as the
//! connection lasts.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::time::{Interval, MissedTickBehavior};
use tokio_stream::Stream;
use tonic::{Code, Status};

use super::errors::answer;
use crate::auth::{Principal, TokenStore};

/// How often an open stream checks its credentials: a revoked or expired one stops
/// streaming within this long.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A principal whose authentication can lapse, and where to ask whether it has.
#[derive(Debug, Clone)]
pub struct Credentials {
    principal: Principal,
    tokens: Arc<TokenStore>,
}

impl Credentials {
    /// `principal`'s credentials, if they can lapse (the socket's owner and a client
    /// certificate, checked at the handshake, cannot while the connection lasts).
    pub fn of(principal: &Principal, tokens: &Arc<TokenStore>) -> Option<Self> {
        let validity = &principal.validity;
        (validity.expires_at.is_some() || validity.service_token.is_some()).then(|| Self {
            principal: principal.clone(),
            tokens: tokens.clone(),
        })
    }

    /// Why the credentials no longer hold at `now`, if they do not.
    fn lapsed(&self, now: SystemTime) -> Option<Status> {
        let validity = &self.principal.validity;
        let seconds = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let reason = match (&validity.service_token, validity.expires_at) {
            (Some(id), _) => self.tokens.still_valid(id, now).err()?.to_string(),
            (None, Some(at)) if at <= seconds => format!(
                "the credentials of {} expired at {}",
                self.principal.name,
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(at))
            ),
            (None, _) => return None,
        };
        Some(answer(
            Code::Unauthenticated,
            &format!("{reason}: this stream ends; open it again with valid credentials"),
        ))
    }
}

/// `inner`, ended with UNAUTHENTICATED once `credentials` lapse.
pub struct Bounded<S> {
    inner: S,
    credentials: Credentials,
    check: Interval,
    ended: bool,
}

impl<S> Bounded<S> {
    pub fn new(inner: S, credentials: Credentials) -> Self {
        let mut check = tokio::time::interval(CHECK_INTERVAL);
        check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            inner,
            credentials,
            check,
            ended: false,
        }
    }
}

impl<S, T> Stream for Bounded<S>
where
    S: Stream<Item = Result<T, Status>> + Unpin,
{
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        // Each tick checks; polling the interval also wakes this stream at the next one.
        while self.check.poll_tick(context).is_ready() {
            if let Some(lapsed) = self.credentials.lapsed(SystemTime::now()) {
                self.ended = true;
                return Poll::Ready(Some(Err(lapsed)));
            }
        }
        Pin::new(&mut self.inner).poll_next(context)
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;
    use crate::auth::{AuthMethod, Validity};

    fn expiring(at: SystemTime) -> Principal {
        Principal {
            name: "alice".to_owned(),
            groups: Vec::new(),
            method: AuthMethod::Oidc,
            validity: Validity {
                expires_at: Some(at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())),
                service_token: None,
            },
        }
    }

    fn tokens() -> Arc<TokenStore> {
        let dir = tempfile::tempdir().expect("tempdir");
        Arc::new(TokenStore::open(&dir.path().join("tokens.json")).expect("tokens"))
    }

    #[test]
    fn the_socket_owner_and_certificates_have_nothing_to_lapse() {
        assert!(Credentials::of(&Principal::local("carol".to_owned()), &tokens()).is_none());
    }

    #[tokio::test]
    async fn a_stream_ends_unauthenticated_once_its_token_expires() {
        let soon = SystemTime::now() + Duration::from_secs(1);
        let credentials = Credentials::of(&expiring(soon), &tokens()).expect("can lapse");
        let endless = tokio_stream::pending::<Result<u32, Status>>();
        let mut bounded = Bounded::new(endless, credentials);
        let ended = tokio::time::timeout(Duration::from_secs(5), bounded.next())
            .await
            .expect("ended within a few checks")
            .expect("one last message");
        let status = ended.expect_err("unauthenticated");
        assert_eq!(status.code(), Code::Unauthenticated);
        assert!(
            status.message().contains("alice expired at"),
            "{}",
            status.message()
        );
        assert!(bounded.next().await.is_none(), "and nothing after it");
    }

    #[tokio::test]
    async fn messages_flow_while_the_credentials_hold() {
        let later = SystemTime::now() + Duration::from_secs(3600);
        let credentials = Credentials::of(&expiring(later), &tokens()).expect("can lapse");
        let items = tokio_stream::iter([Ok::<u32, Status>(1), Ok(2)]);
        let got: Vec<u32> = Bounded::new(items, credentials)
            .filter_map(Result::ok)
            .collect()
            .await;
        assert_eq!(got, [1, 2]);
    }
}
