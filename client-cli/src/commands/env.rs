//! `dk env list` and `dk env show ENV`.

use std::collections::BTreeMap;

use datakit::proto::{self, ListEnvironmentsRequest};
use serde::Serialize;

use crate::{
    connect::Client,
    error::{CliError, Failure},
    output::{NONE, OutputFormat, Table, note, render_structured},
};

/// An environment as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentView {
    name: String,
    upstream: Option<String>,
    path: Vec<String>,
    cluster: String,
    namespace: String,
    approval: ApprovalView,
    stores_path: String,
    stores: Vec<StoreView>,
    freezes: Vec<FreezeView>,
    /// Public keys one of which must have signed a version's digest; empty: none required.
    signature_keys: Vec<String>,
    /// dkd opens promotions of versions Healthy upstream itself.
    auto_promote: bool,
    /// How long a version must have been Healthy upstream first, e.g. "30m"; none: no soak.
    soak: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalView {
    required: bool,
    auto_merge: bool,
    approvers: Vec<String>,
    count: u32,
    description: String,
    rollback: Option<RollbackView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RollbackView {
    approvers: Vec<String>,
    count: u32,
    description: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StoreView {
    name: String,
    #[serde(rename = "type")]
    store_type: String,
    connection: BTreeMap<String, String>,
    secret_ref: Option<String>,
    file: String,
}

#[derive(Debug, Serialize)]
struct FreezeView {
    start: String,
    end: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct EnvironmentListView {
    revision: String,
    environments: Vec<EnvironmentView>,
    problems: Vec<ProblemView>,
    /// dkd's notices about its own state (e.g. a replaced state database).
    notices: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ProblemView {
    file: String,
    line: Option<u32>,
    message: String,
    revision: String,
}

fn groups(names: &[String]) -> Vec<String> {
    names.iter().map(|n| format!("@{n}")).collect()
}

fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp.map(ToString::to_string).unwrap_or_default()
}

fn view(environment: proto::Environment) -> EnvironmentView {
    let approval = environment.approval.unwrap_or_default();
    EnvironmentView {
        upstream: Some(environment.upstream).filter(|u| !u.is_empty()),
        path: environment.path,
        cluster: environment.cluster,
        namespace: environment.namespace,
        approval: ApprovalView {
            required: approval.required,
            auto_merge: approval.auto_merge,
            approvers: groups(&approval.approvers),
            count: approval.count,
            description: approval.description,
            rollback: approval.rollback.map(|r| RollbackView {
                approvers: groups(&r.approvers),
                count: r.count,
                description: r.description,
            }),
        },
        stores_path: environment.stores_path,
        stores: environment
            .stores
            .into_iter()
            .map(|s| StoreView {
                name: s.name,
                store_type: s.r#type,
                connection: s.connection.into_iter().collect(),
                secret_ref: Some(s.secret_ref).filter(|r| !r.is_empty()),
                file: s.file,
            })
            .collect(),
        freezes: environment
            .freezes
            .iter()
            .map(|f| FreezeView {
                start: time(f.start.as_ref()),
                end: time(f.end.as_ref()),
                reason: f.reason.clone(),
            })
            .collect(),
        signature_keys: environment.signature_keys,
        auto_promote: environment.auto_promote,
        soak: (environment.soak_seconds > 0).then(|| {
            humantime::format_duration(std::time::Duration::from_secs(environment.soak_seconds))
                .to_string()
        }),
        name: environment.name,
    }
}

/// Fetches the environments, warning on stderr about any refused configuration.
async fn fetch(client: &mut Client) -> Result<EnvironmentListView, CliError> {
    let response = client
        .list_environments(ListEnvironmentsRequest {})
        .await?
        .into_inner();
    let problems: Vec<ProblemView> = response
        .problems
        .into_iter()
        .map(|p| ProblemView {
            line: Some(p.line).filter(|l| *l > 0),
            file: p.file,
            message: p.message,
            revision: p.revision,
        })
        .collect();
    for problem in &problems {
        let location = problem
            .line
            .map(|l| format!("{}:{l}", problem.file))
            .unwrap_or_else(|| problem.file.clone());
        let serving = if response.revision.is_empty() {
            "no earlier configuration to fall back to".to_owned()
        } else {
            format!(
                "serving the last good configuration from commit {}",
                short(&response.revision)
            )
        };
        note(&format!(
            "warning: commit {} of the deployment repository was refused: {location}: {}; {serving}",
            short(&problem.revision),
            problem.message
        ));
    }
    super::warn_notices(&response.notices);
    Ok(EnvironmentListView {
        revision: response.revision,
        environments: response.environments.into_iter().map(view).collect(),
        problems,
        notices: response.notices,
    })
}

fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

/// `dk env list`.
pub async fn list(client: &mut Client, format: OutputFormat) -> Result<String, CliError> {
    let listing = fetch(client).await?;
    if format != OutputFormat::Table {
        return render_structured(format, &listing);
    }
    let mut table = Table::new(&[
        "Environment",
        "Upstream",
        "Cluster",
        "Namespace",
        "Approval",
        "Stores",
    ]);
    for env in &listing.environments {
        table.row(vec![
            env.name.clone(),
            env.upstream.clone().unwrap_or_else(|| NONE.to_owned()),
            env.cluster.clone(),
            env.namespace.clone(),
            env.approval.description.clone(),
            if env.stores.is_empty() {
                NONE.to_owned()
            } else {
                env.stores.len().to_string()
            },
        ]);
    }
    Ok(table.render())
}

/// `dk env show ENV`.
pub async fn show(
    client: &mut Client,
    format: OutputFormat,
    name: &str,
) -> Result<String, CliError> {
    let listing = fetch(client).await?;
    let known: Vec<&str> = listing
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let Some(env) = listing.environments.iter().find(|e| e.name == name) else {
        // On a shared dkd the list holds only environments the caller may read: ask for
        // the environment itself, so a denial names the role that would allow it.
        let status = proto::StatusRequest {
            environment: name.to_owned(),
            ..Default::default()
        };
        if let Err(denied) = client.status(status).await
            && denied.code() == tonic::Code::PermissionDenied
        {
            return Err(denied.into());
        }
        let message = format!(
            "environment {name:?} not found; known environments: {} (see dk env list)",
            known.join(", ")
        );
        return Err(CliError::new(Failure::NotFound, message));
    };
    if format != OutputFormat::Table {
        return render_structured(format, env);
    }
    Ok(describe(env))
}

fn describe(env: &EnvironmentView) -> String {
    let rollback = env
        .approval
        .rollback
        .as_ref()
        .map_or("same rule as promotions".to_owned(), |r| {
            r.description.clone()
        });
    let freezes = if env.freezes.is_empty() {
        "none".to_owned()
    } else {
        env.freezes
            .iter()
            .map(|f| format!("{} to {} ({})", f.start, f.end, f.reason))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let signatures = if env.signature_keys.is_empty() {
        "not required".to_owned()
    } else {
        format!("required, by one of {}", env.signature_keys.join(", "))
    };
    let soak = env.soak.as_deref().map_or("none".to_owned(), |soak| {
        format!("{soak} of continuous health upstream")
    });
    let automation = if env.auto_promote {
        "auto-promotion: dkd opens promotions of versions Healthy upstream"
    } else {
        "manual promotions only"
    };
    let mut out = format!(
        "Environment: {}\nPath:        {}\nUpstream:    {}\nCluster:     {}\nNamespace:   {}\nApproval:    {}\nRollbacks:   {}\nFreezes:     {}\nSignatures:  {}\nSoak:        {}\nPromotions:  {}\n",
        env.name,
        env.path.join(" → "),
        env.upstream
            .as_deref()
            .unwrap_or("none (first environment)"),
        env.cluster,
        env.namespace,
        env.approval.description,
        rollback,
        freezes,
        signatures,
        soak,
        automation,
    );
    if env.stores.is_empty() {
        out.push_str(&format!(
            "Stores:      none (add Store manifests under {})\n",
            env.stores_path
        ));
        return out;
    }
    out.push_str(&format!(
        "Stores:      {} in {}\n\n",
        env.stores.len(),
        env.stores_path
    ));
    let mut table = Table::new(&["Store", "Type", "Connection", "Secret"]);
    for store in &env.stores {
        let connection: Vec<String> = store
            .connection
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        table.row(vec![
            store.name.clone(),
            store.store_type.clone(),
            if connection.is_empty() {
                NONE.to_owned()
            } else {
                connection.join(", ")
            },
            store.secret_ref.clone().unwrap_or_else(|| NONE.to_owned()),
        ]);
    }
    out.push_str(&table.render());
    out
}
