//! `dk store add` and `dk store scaffold`: a `Store` manifest from a type and its
//! connection keys, proposed through dkd as a change request, or printed for a GitOps user
//! to commit.

use clap::{Args, Subcommand};
use datakit::{
    manifest::{StoreScaffoldError, parse_settings, scaffold_store},
    proto::{self, AddStoreRequest},
};
use serde::Serialize;

use super::promotion::{PromotionView, Waiting, wait_for};
use crate::{
    connect::Client,
    error::{CliError, Failure},
    output::{OutputFormat, note, render_structured},
};

/// `dk store`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Add a store to an environment through a change request under its approval rule
    ///
    /// Writes environments/ENV/stores/NAME.yaml on a change branch; dkd merges it at once
    /// where the environment auto-merges (dev on the embedded default) and returns when dkd
    /// serves it; elsewhere the change request waits for its approvals on the forge. With
    /// --print, prints the manifest instead and contacts nothing.
    Add(StoreArgs),
    /// Print a Store manifest for ENV without contacting dkd, to commit it yourself
    ///
    /// Prints YAML (with -o json, the same document as JSON) and, on stderr, the path to
    /// commit it at in the deployment repository.
    Scaffold(StoreArgs),
}

/// What a store is made of.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The environment
    pub env: String,
    /// The store's name (what dk.yaml's spec.store names)
    pub name: String,
    /// The store type: kafka-topic, postgres-table or s3-prefix
    #[arg(long = "type", value_name = "TYPE")]
    pub store_type: String,
    /// A connection key and its value; repeat for each key. kafka-topic: brokers, topic
    /// [partitions, tls]; postgres-table: host, table [port, database, schema, user];
    /// s3-prefix: bucket, prefix [region, endpoint]
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// The secret holding the store's credentials (never put them in --set)
    #[arg(long, value_name = "SECRET")]
    pub secret_ref: Option<String>,
    /// Replace a store of that name that exists already
    #[arg(long)]
    pub replace: bool,
    /// Print the manifest instead of proposing it (like dk store scaffold)
    #[arg(long)]
    pub print: bool,
    /// Wait until dkd serves the store (after its approvals): exit 0 when it does, 1 when
    /// the change is rejected, cancelled or superseded
    #[arg(long, conflicts_with = "print")]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 90s, 5m), exit 1 saying where it stands
    #[arg(long, value_name = "DURATION", requires = "wait", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AddedView {
    environment: String,
    store: String,
    /// The store change's id (`p-N`), for dk approve, dk reject and dk cancel.
    id: String,
    merged: bool,
    change_id: String,
    change_url: String,
    file: String,
    policy: String,
    message: String,
}

fn scaffold_error(error: StoreScaffoldError) -> CliError {
    CliError::new(Failure::InvalidInput, error.to_string())
}

/// The manifest the arguments describe.
pub fn manifest(args: &StoreArgs) -> Result<String, CliError> {
    datakit::manifest::validate_name("environment", &args.env)
        .map_err(|e| CliError::new(Failure::InvalidInput, e.to_string()))?;
    let connection = parse_settings(&args.settings).map_err(scaffold_error)?;
    scaffold_store(
        &args.name,
        &args.store_type,
        &connection,
        args.secret_ref.as_deref(),
    )
    .map_err(scaffold_error)
}

/// `dk store scaffold` (and `dk store add --print`): the manifest on stdout (under
/// `-o json`, the same document as JSON), where to commit it on stderr.
pub fn scaffold(format: OutputFormat, args: &StoreArgs) -> Result<String, CliError> {
    let text = manifest(args)?;
    let printed = if format == OutputFormat::Json {
        let document: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| {
            CliError::new(Failure::Other, format!("cannot render the manifest: {e}"))
        })?;
        render_structured(format, &document)?
    } else {
        text
    };
    note(&format!(
        "commit it as environments/{}/stores/{}.yaml (the environment's stores path) in the deployment repository",
        args.env, args.name
    ));
    Ok(printed)
}

/// `dk store add`: proposes the store through dkd; with `--wait`, follows its change
/// until dkd serves the store.
pub async fn add(
    client: &mut Client,
    format: OutputFormat,
    args: StoreArgs,
) -> Result<String, CliError> {
    let text = manifest(&args)?;
    let mut answer = client
        .add_store(AddStoreRequest {
            environment: args.env.clone(),
            name: args.name.clone(),
            manifest: text,
            replace: args.replace,
        })
        .await?
        .into_inner();
    if args.wait
        && let Some(change) = answer.promotion.take()
    {
        let view = PromotionView::from(change);
        if !view.is_terminal() && format == OutputFormat::Table {
            println!("{}", crate::output::safe(&answer.message));
        }
        let waiting = Waiting {
            timeout: args.timeout,
            ndjson: false,
        };
        let served = wait_for(client, view, waiting, |_| Ok(())).await?;
        answer.merged = true;
        answer.message = format!(
            "store {} added to {} ({})",
            args.name, args.env, answer.policy
        );
        answer.promotion = None;
        return render(format, &args, answer, served.id);
    }
    let id = answer
        .promotion
        .as_ref()
        .map(|p| p.id.clone())
        .unwrap_or_default();
    render(format, &args, answer, id)
}

fn render(
    format: OutputFormat,
    args: &StoreArgs,
    answer: proto::AddStoreResponse,
    id: String,
) -> Result<String, CliError> {
    let view = AddedView {
        environment: args.env.clone(),
        store: args.name.clone(),
        id,
        merged: answer.merged,
        change_id: answer.change_id,
        change_url: answer.change_url,
        file: answer.file,
        policy: answer.policy,
        message: answer.message,
    };
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    let change = if view.change_url.is_empty() {
        view.change_id.clone()
    } else {
        view.change_url.clone()
    };
    Ok(format!(
        "{}\nId:       {}\nChange:   {change}\nFile:     {}\nApproval: {}\n",
        view.message, view.id, view.file, view.policy
    ))
}
