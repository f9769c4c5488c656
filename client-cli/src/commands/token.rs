//! `dk token create|list|revoke`: service tokens for a shared dkd. `create` prints the
//! secret alone on stdout (so `DK_TOKEN=$(dk token create ci-bot)` works) and what it is on
//! stderr; dkd cannot show the secret again.

use std::time::SystemTime;

use datakit::proto::{self, CreateTokenRequest, ListTokensRequest, RevokeTokenRequest};
use serde::Serialize;

use crate::{
    cli::TokenCreateArgs,
    connect::Client,
    error::{CliError, Failure},
    output::{NONE, OutputFormat, Table, note, render_structured},
};

/// A token as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView {
    name: String,
    id: String,
    groups: Vec<String>,
    created_by: String,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    /// active, expired or revoked.
    state: &'static str,
    /// Only in the answer of `dk token create`.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn is_past(timestamp: &prost_types::Timestamp) -> bool {
    SystemTime::try_from(*timestamp).is_ok_and(|at| at <= SystemTime::now())
}

impl From<proto::ServiceToken> for TokenView {
    fn from(token: proto::ServiceToken) -> Self {
        let state = if token.revoked_at.is_some() {
            "revoked"
        } else if token.expires_at.as_ref().is_some_and(is_past) {
            "expired"
        } else {
            "active"
        };
        Self {
            name: token.name,
            id: token.id,
            groups: token.groups,
            created_by: token.created_by,
            created_at: token.created_at.map(|t| t.to_string()).unwrap_or_default(),
            expires_at: token.expires_at.map(|t| t.to_string()),
            revoked_at: token.revoked_at.map(|t| t.to_string()),
            state,
            secret: None,
        }
    }
}

fn missing() -> CliError {
    CliError::new(Failure::Other, "dkd returned no token")
}

fn groups(view: &TokenView) -> String {
    if view.groups.is_empty() {
        NONE.to_owned()
    } else {
        view.groups.join(", ")
    }
}

/// `dk token create NAME [--groups G1,G2] [--expires 30d]`.
pub async fn create(
    client: &mut Client,
    format: OutputFormat,
    args: TokenCreateArgs,
) -> Result<String, CliError> {
    let request = CreateTokenRequest {
        name: args.name,
        groups: args.groups,
        expires_in: args.expires.map(|lifetime| prost_types::Duration {
            seconds: i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
            nanos: 0,
        }),
    };
    let response = client.create_token(request).await?.into_inner();
    let mut view = TokenView::from(response.token.ok_or_else(missing)?);
    if format != OutputFormat::Table {
        view.secret = Some(response.secret);
        return render_structured(format, &view);
    }
    note(&format!(
        "dk: service token {} (groups: {}; expires: {}) — its secret follows, shown this once: store it now and send it as DK_TOKEN",
        view.name,
        groups(&view),
        view.expires_at.as_deref().unwrap_or("never"),
    ));
    Ok(format!("{}\n", response.secret))
}

/// `dk token list`.
pub async fn list(client: &mut Client, format: OutputFormat) -> Result<String, CliError> {
    let tokens: Vec<TokenView> = client
        .list_tokens(ListTokensRequest {})
        .await?
        .into_inner()
        .tokens
        .into_iter()
        .map(TokenView::from)
        .collect();
    if format != OutputFormat::Table {
        return render_structured(format, &tokens);
    }
    let mut table = Table::new(&["Name", "Groups", "State", "Expires", "Created", "By", "Id"]);
    for token in &tokens {
        let state = match &token.revoked_at {
            Some(at) => format!("revoked {at}"),
            None => token.state.to_owned(),
        };
        table.row(vec![
            token.name.clone(),
            groups(token),
            state,
            token
                .expires_at
                .clone()
                .unwrap_or_else(|| "never".to_owned()),
            token.created_at.clone(),
            token.created_by.clone(),
            token.id.clone(),
        ]);
    }
    Ok(table.render())
}

/// `dk token revoke NAME`.
pub async fn revoke(
    client: &mut Client,
    format: OutputFormat,
    name: String,
) -> Result<String, CliError> {
    let revoked = client
        .revoke_token(RevokeTokenRequest { name })
        .await?
        .into_inner()
        .token
        .ok_or_else(missing)?;
    let view = TokenView::from(revoked);
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    Ok(format!(
        "revoked service token {} (id {}): calls with it are refused from now on\n",
        view.name, view.id
    ))
}
