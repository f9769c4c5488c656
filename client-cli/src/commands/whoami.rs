//! `dk whoami`: the caller as dkd authenticated it, and what RBAC allows per environment.

use datakit::proto::{self, WhoAmIRequest};
use serde::Serialize;

use crate::{
    connect::Client,
    error::CliError,
    output::{NONE, OutputFormat, Table, render_structured},
};

/// One allowed action as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
struct GrantView {
    action: String,
    packages: Vec<String>,
}

/// What the caller may do in one environment.
#[derive(Debug, Serialize)]
struct EnvironmentView {
    environment: String,
    allowed: Vec<GrantView>,
}

/// The answer as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WhoamiView {
    name: String,
    groups: Vec<String>,
    authenticated_by: String,
    admin: bool,
    environments: Vec<EnvironmentView>,
    revision: String,
    has_policy: bool,
}

impl From<proto::WhoAmIResponse> for WhoamiView {
    fn from(answer: proto::WhoAmIResponse) -> Self {
        Self {
            name: answer.name,
            groups: answer.groups,
            authenticated_by: answer.authenticated_by,
            admin: answer.admin,
            environments: answer
                .environments
                .into_iter()
                .map(|access| EnvironmentView {
                    environment: access.environment,
                    allowed: access
                        .grants
                        .into_iter()
                        .map(|grant| GrantView {
                            action: grant.action,
                            packages: grant.packages,
                        })
                        .collect(),
                })
                .collect(),
            revision: answer.revision,
            has_policy: answer.has_policy,
        }
    }
}

/// `read`, or `promote (team-a-*)` when scoped to some packages.
fn grant(grant: &GrantView) -> String {
    if grant.packages.iter().any(|p| p == "*") {
        grant.action.clone()
    } else {
        format!("{} ({})", grant.action, grant.packages.join(", "))
    }
}

fn method(key: &str) -> &str {
    match key {
        "local-socket" => "the local socket (dkd's owner: admin, RBAC does not apply)",
        "service-token" => "a service token",
        "oidc" => "an OIDC token",
        "client-certificate" => "a client certificate",
        other => other,
    }
}

/// `dk whoami`.
pub async fn whoami(client: &mut Client, format: OutputFormat) -> Result<String, CliError> {
    let view = WhoamiView::from(client.who_am_i(WhoAmIRequest {}).await?.into_inner());
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    let groups = if view.groups.is_empty() {
        NONE.to_owned()
    } else {
        view.groups.join(", ")
    };
    let mut text = format!(
        "name:              {}\ngroups:            {groups}\nauthenticated by:  {}\nadmin:             {}\n",
        view.name,
        method(&view.authenticated_by),
        if view.admin { "yes" } else { "no" },
    );
    if !view.has_policy && view.authenticated_by != "local-socket" {
        text.push_str(
            "policy:            none (no config/rbac.yaml): nothing is allowed on the network listener\n",
        );
    }
    let mut table = Table::new(&["Environment", "Allowed"]);
    for access in &view.environments {
        let allowed: Vec<String> = access.allowed.iter().map(grant).collect();
        table.row(vec![
            access.environment.clone(),
            if allowed.is_empty() {
                NONE.to_owned()
            } else {
                allowed.join(", ")
            },
        ]);
    }
    text.push('\n');
    text.push_str(&table.render());
    Ok(text)
}
