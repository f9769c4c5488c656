//! `dk hold PKG --env E --reason TEXT`, `dk hold release PKG --env E [--reason TEXT]` and
//! `dk hold list [--env E] [--package PKG] [--all]`: holds, recorded on the deployment
//! repository's base branch as `holds/<env>/<package>.yaml`.

use clap::{Args, Subcommand};
use datakit::proto::{self, ListHoldsRequest, ReleaseHoldRequest, SetHoldRequest};
use serde::Serialize;

use crate::{
    connect::Client,
    error::{CliError, Failure},
    output::{NONE, OutputFormat, Table, render_structured},
};

/// `dk hold`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct HoldArgs {
    #[command(subcommand)]
    pub action: Option<HoldAction>,
    /// The package to hold
    #[arg(required = true)]
    pub package: Option<String>,
    /// The environment promotions into are refused
    #[arg(long, required = true)]
    pub env: Option<String>,
    /// Why, one line (recorded in the hold file and shown to everyone refused)
    #[arg(long, required = true)]
    pub reason: Option<String>,
}

/// `dk hold release` and `dk hold list`.
#[derive(Debug, Subcommand)]
pub enum HoldAction {
    /// Release the hold on a package in an environment (set by hand or left by a rollback)
    ///
    /// Needs the RBAC approve action in the environment. The hold file stays on the base
    /// branch with who released it, when and why.
    Release(ReleaseArgs),
    /// Holds that apply now; --all also shows released ones
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The held package
    pub package: String,
    /// The environment it is held in
    #[arg(long)]
    pub env: String,
    /// Why, one line
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only holds in this environment
    #[arg(long)]
    pub env: Option<String>,
    /// Only holds on this package
    #[arg(long)]
    pub package: Option<String>,
    /// Also released holds
    #[arg(long)]
    pub all: bool,
}

/// A hold as `dk` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldView {
    pub package: String,
    pub environment: String,
    pub kind: String,
    pub set_by: String,
    pub set_at: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<String>,
    pub released: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_reason: Option<String>,
    pub file: String,
}

fn time(stamp: Option<&prost_types::Timestamp>) -> String {
    stamp
        .and_then(|stamp| std::time::SystemTime::try_from(*stamp).ok())
        .map(|time| humantime::format_rfc3339_seconds(time).to_string())
        .unwrap_or_default()
}

fn some(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

impl From<&proto::Hold> for HoldView {
    fn from(hold: &proto::Hold) -> Self {
        Self {
            package: hold.package.clone(),
            environment: hold.environment.clone(),
            kind: hold.kind.clone(),
            set_by: hold.set_by.clone(),
            set_at: time(hold.set_at.as_ref()),
            reason: hold.reason.clone(),
            blocks: some(&hold.blocks_version)
                .map(|version| format!("{version} and newer than {}", hold.blocks_newer_than)),
            released: hold.released,
            released_by: hold.released.then(|| hold.released_by.clone()),
            released_at: hold.released.then(|| time(hold.released_at.as_ref())),
            release_reason: some(&hold.release_reason),
            file: hold.file.clone(),
        }
    }
}

impl HoldView {
    /// `manual hold by carol since …: reason` (and who released it), one line.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "{} hold by {} since {}: {}",
            self.kind, self.set_by, self.set_at, self.reason
        );
        if let Some(blocks) = &self.blocks {
            line.push_str(&format!(" (blocks {blocks} from automatic promotion)"));
        }
        if self.released {
            line.push_str(&format!(
                "; released by {} at {}",
                self.released_by.as_deref().unwrap_or(NONE),
                self.released_at.as_deref().unwrap_or(NONE)
            ));
            if let Some(reason) = &self.release_reason {
                line.push_str(&format!(": {reason}"));
            }
        }
        line
    }
}

fn missing(what: &str) -> CliError {
    CliError::new(
        Failure::InvalidInput,
        format!("dk hold needs {what}: dk hold PKG --env ENV --reason TEXT"),
    )
}

/// Checks the names `dk hold` carries before connecting.
pub fn check_names(args: &HoldArgs) -> Result<(), CliError> {
    let name = |what: &str, value: &str| {
        datakit::manifest::validate_name(what, value)
            .map_err(|e| CliError::new(Failure::InvalidInput, e.to_string()))
    };
    match &args.action {
        Some(HoldAction::Release(release)) => {
            name("package", &release.package)?;
            name("environment", &release.env)
        }
        Some(HoldAction::List(list)) => {
            list.env
                .as_deref()
                .map_or(Ok(()), |e| name("environment", e))?;
            list.package
                .as_deref()
                .map_or(Ok(()), |p| name("package", p))
        }
        None => {
            name("package", args.package.as_deref().unwrap_or_default())?;
            name("environment", args.env.as_deref().unwrap_or_default())
        }
    }
}

/// `dk hold`, `dk hold release`, `dk hold list`.
pub async fn hold(
    client: &mut Client,
    format: OutputFormat,
    args: HoldArgs,
) -> Result<String, CliError> {
    let response = match args.action {
        Some(HoldAction::List(list)) => return list_holds(client, format, list).await,
        Some(HoldAction::Release(release)) => client
            .release_hold(ReleaseHoldRequest {
                package: release.package,
                environment: release.env,
                reason: release.reason.unwrap_or_default(),
            })
            .await?
            .into_inner(),
        None => {
            let reason = args.reason.filter(|r| !r.trim().is_empty());
            client
                .set_hold(SetHoldRequest {
                    package: args.package.ok_or_else(|| missing("a package"))?,
                    environment: args.env.ok_or_else(|| missing("--env"))?,
                    reason: reason.ok_or_else(|| missing("--reason"))?,
                })
                .await?
                .into_inner()
        }
    };
    let view = response.hold.as_ref().map(HoldView::from);
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    Ok(format!(
        "{} ({})\n",
        response.message,
        short(&response.commit)
    ))
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Holds as dkd lists them.
pub async fn holds_of(
    client: &mut Client,
    request: ListHoldsRequest,
) -> Result<Vec<HoldView>, CliError> {
    let holds = client.list_holds(request).await?.into_inner().holds;
    Ok(holds.iter().map(HoldView::from).collect())
}

async fn list_holds(
    client: &mut Client,
    format: OutputFormat,
    args: ListArgs,
) -> Result<String, CliError> {
    let views = holds_of(
        client,
        ListHoldsRequest {
            package: args.package.unwrap_or_default(),
            environment: args.env.unwrap_or_default(),
            include_released: args.all,
        },
    )
    .await?;
    if format != OutputFormat::Table {
        return render_structured(format, &views);
    }
    if views.is_empty() {
        return Ok("no holds\n".to_owned());
    }
    let mut table = Table::new(&[
        "Environment",
        "Package",
        "Kind",
        "Set by",
        "Since",
        "Reason",
        "Released",
    ]);
    for view in &views {
        table.row(vec![
            view.environment.clone(),
            view.package.clone(),
            view.kind.clone(),
            view.set_by.clone(),
            view.set_at.clone(),
            view.reason.clone(),
            if view.released {
                format!(
                    "by {} at {}",
                    view.released_by.as_deref().unwrap_or(NONE),
                    view.released_at.as_deref().unwrap_or(NONE)
                )
            } else {
                NONE.to_owned()
            },
        ]);
    }
    Ok(table.render())
}
