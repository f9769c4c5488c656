//! `dk status PKG` / `dk status --env ENV` (and `--watch`): the product docs' tables,
//! served from dkd's cache.

use std::{
    io::{IsTerminal, Write},
    time::SystemTime,
};

use datakit::proto::{self, StatusRequest, WatchRequest, watch_event::Event};
use serde::Serialize;
use tokio_stream::StreamExt;

use crate::{
    cli::StatusArgs,
    connect::Client,
    error::{CliError, Failure},
    output::{NONE, OutputFormat, Table, render_structured, safe, time_ago},
};

/// One row as `-o json|yaml` shows it (absolute times).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RowView {
    package: String,
    environment: String,
    deployed: bool,
    version: Option<String>,
    digest: Option<String>,
    status: Option<String>,
    health: Option<String>,
    last_sync: Option<String>,
    last_run: Option<String>,
    synced_revision: Option<String>,
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold: Option<super::hold::HoldView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    promotable: Option<PromotableView>,
}

/// When the upstream's version can be promoted into a row's environment.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PromotableView {
    version: String,
    from: String,
    /// RFC 3339; absent while the version is not Healthy upstream.
    at: Option<String>,
    /// Whether it is promotable now (the soak time, if any, has passed on dkd's clock).
    now: bool,
    /// Why waiting will not make it promotable (a failed verification upstream).
    blocked: Option<String>,
}

impl PromotableView {
    fn from(promotable: &proto::Promotable) -> Self {
        let at = promotable
            .at
            .as_ref()
            .and_then(|at| SystemTime::try_from(*at).ok());
        Self {
            version: promotable.version.clone(),
            from: promotable.from_environment.clone(),
            at: at.map(|at| humantime::format_rfc3339_seconds(at).to_string()),
            now: promotable.now,
            blocked: Some(promotable.blocked.clone()).filter(|b| !b.is_empty()),
        }
    }

    /// "v1.2.0 from int at 2026-11-30T14:05:00Z (in 12m)", "… from int now", or when it
    /// waits for health.
    fn describe(&self, at: Option<SystemTime>, now: SystemTime) -> String {
        if let Some(blocked) = &self.blocked {
            return format!("not {}: {blocked}", self.version);
        }
        let when = match at {
            _ if self.now => "now".to_owned(),
            Some(at) => {
                let left = at.duration_since(now).unwrap_or_default().as_secs();
                let left = if left > 60 {
                    left.div_ceil(60) * 60
                } else {
                    left
                };
                format!(
                    "at {} (in {})",
                    self.at.as_deref().unwrap_or_default(),
                    humantime::format_duration(std::time::Duration::from_secs(left))
                )
            }
            None => format!("once it is Healthy in {}", self.from),
        };
        format!("{} from {} {when}", self.version, self.from)
    }
}

#[derive(Debug, Serialize)]
struct TableView {
    package: Option<String>,
    environment: Option<String>,
    revision: String,
    rows: Vec<RowView>,
}

fn enum_name(prefix: &str, name: &str) -> String {
    name.trim_start_matches(prefix)
        .split('_')
        .map(|w| w[..1].to_owned() + &w[1..].to_lowercase())
        .collect()
}

fn sync_name(value: i32) -> String {
    proto::SyncStatus::try_from(value).map_or_else(
        |_| "Unknown".into(),
        |s| enum_name("SYNC_STATUS_", s.as_str_name()),
    )
}

fn health_name(value: i32) -> String {
    proto::Health::try_from(value).map_or_else(
        |_| "Unknown".into(),
        |h| enum_name("HEALTH_", h.as_str_name()),
    )
}

fn row_view(row: &proto::PackageStatus) -> RowView {
    let some = |text: &str| Some(text.to_owned()).filter(|t| !t.is_empty());
    RowView {
        package: row.package.clone(),
        environment: row.environment.clone(),
        deployed: row.deployed,
        version: some(&row.version),
        digest: some(&row.digest),
        status: row.deployed.then(|| sync_name(row.sync_status)),
        health: row.deployed.then(|| health_name(row.health)),
        last_sync: row.last_sync.as_ref().map(ToString::to_string),
        last_run: row
            .last_run
            .as_ref()
            .and_then(|r| r.started_at.as_ref())
            .map(ToString::to_string),
        synced_revision: some(&row.synced_revision),
        message: some(&row.message),
        hold: row.hold.as_ref().map(super::hold::HoldView::from),
        promotable: row.promotable.as_ref().map(PromotableView::from),
    }
}

/// "Promotable into prod: v1.2.0 from int at … (in 12m)" lines, one per environment that has
/// an upstream version to take.
fn promotable_lines(response: &proto::StatusResponse) -> String {
    let now = SystemTime::now();
    response
        .packages
        .iter()
        .filter_map(|row| {
            let promotable = row.promotable.as_ref()?;
            let at = promotable
                .at
                .as_ref()
                .and_then(|at| SystemTime::try_from(*at).ok());
            let view = PromotableView::from(promotable);
            Some(format!(
                "Promotable into {}: {}\n",
                row.environment,
                view.describe(at, now)
            ))
        })
        .collect()
}

fn ago(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|t| SystemTime::try_from(*t).ok())
        .map_or_else(|| NONE.to_owned(), |t| time_ago(t, SystemTime::now()))
}

fn last_run(row: &proto::PackageStatus) -> String {
    let Some(run) = &row.last_run else {
        return NONE.to_owned();
    };
    let result = proto::RunResult::try_from(run.result).map_or_else(
        |_| "unknown".into(),
        |r| {
            r.as_str_name()
                .trim_start_matches("RUN_RESULT_")
                .to_lowercase()
        },
    );
    format!("{} ({result})", ago(run.started_at.as_ref()))
}

fn heading(title: &str) -> String {
    format!("{title}\n{}\n\n", "━".repeat(title.chars().count()))
}

fn render(args: &StatusArgs, response: &proto::StatusResponse) -> String {
    if let (Some(package), None) = (&args.package, &args.env) {
        let mut table = Table::new(&["Environment", "Version", "Status", "Last Sync", "Last Run"]);
        for row in &response.packages {
            let deployed = row.deployed;
            table.row(vec![
                row.environment.clone(),
                if deployed {
                    row.version.clone()
                } else {
                    NONE.into()
                },
                if deployed {
                    sync_name(row.sync_status)
                } else {
                    NONE.into()
                },
                if deployed {
                    ago(row.last_sync.as_ref())
                } else {
                    NONE.into()
                },
                if deployed { last_run(row) } else { NONE.into() },
            ]);
        }
        let holds: String = response
            .packages
            .iter()
            .filter_map(|row| {
                let hold = super::hold::HoldView::from(row.hold.as_ref()?);
                Some(format!(
                    "Held in {}: {}\n",
                    row.environment,
                    hold.describe()
                ))
            })
            .collect();
        let notes = holds + &promotable_lines(response);
        let notes = if notes.is_empty() {
            notes
        } else {
            format!("\n{notes}")
        };
        return heading(&format!("Package: {package}")) + &table.render() + &notes;
    }
    let environment = args.env.clone().unwrap_or_default();
    let mut table = Table::new(&["Package", "Version", "Status", "Health"]);
    for row in response.packages.iter().filter(|r| r.deployed) {
        let health = health_name(row.health);
        let marked = if row.health == proto::Health::Degraded as i32 {
            format!("{health} ⚠")
        } else {
            health
        };
        table.row(vec![
            row.package.clone(),
            row.version.clone(),
            sync_name(row.sync_status),
            marked,
        ]);
    }
    heading(&format!("Environment: {environment}")) + &table.render()
}

async fn fetch(client: &mut Client, args: &StatusArgs) -> Result<proto::StatusResponse, CliError> {
    let request = StatusRequest {
        package: args.package.clone().unwrap_or_default(),
        environment: args.env.clone().unwrap_or_default(),
    };
    Ok(client.status(request).await?.into_inner())
}

fn output(
    args: &StatusArgs,
    format: OutputFormat,
    response: &proto::StatusResponse,
) -> Result<String, CliError> {
    render_view(args, format, response, false)
}

/// The table, or the JSON/YAML document; `ndjson` makes JSON one line (for `--watch`).
fn render_view(
    args: &StatusArgs,
    format: OutputFormat,
    response: &proto::StatusResponse,
    ndjson: bool,
) -> Result<String, CliError> {
    if format == OutputFormat::Table {
        return Ok(render(args, response));
    }
    let view = TableView {
        package: args.package.clone(),
        environment: args.env.clone(),
        revision: response.revision.clone(),
        rows: response.packages.iter().map(row_view).collect(),
    };
    if ndjson && format == OutputFormat::Json {
        return serde_json::to_string(&view)
            .map(|line| line + "\n")
            .map_err(|e| CliError::new(Failure::Other, format!("cannot render output: {e}")));
    }
    render_structured(format, &view)
}

/// `dk status`.
pub async fn status(
    client: &mut Client,
    format: OutputFormat,
    args: StatusArgs,
) -> Result<String, CliError> {
    if !args.watch {
        return output(&args, format, &fetch(client, &args).await?);
    }
    watch(client, format, &args).await
}

/// Draws the table, then redraws it whenever the Watch stream reports a change that alters
/// it — including a package's first deployment, so a published package can be watched
/// before it runs anywhere.
async fn watch(
    client: &mut Client,
    format: OutputFormat,
    args: &StatusArgs,
) -> Result<String, CliError> {
    // Under -o json: NDJSON, one document per change, never a clear-screen.
    let ndjson = format == OutputFormat::Json;
    let terminal = std::io::stdout().is_terminal() && !ndjson;
    let draw = |text: &str| {
        let mut stdout = std::io::stdout().lock();
        let clear = if terminal { "\x1b[2J\x1b[H" } else { "" };
        // Only the clear-screen sequence is dk's own; the table is escaped like all output.
        let text = crate::colour::paint(&safe(text), crate::colour::enabled() && !ndjson);
        let _ = write!(stdout, "{clear}{text}");
        if !terminal && !ndjson {
            let _ = writeln!(stdout);
        }
        let _ = stdout.flush();
    };
    let request = WatchRequest {
        package: args.package.clone().unwrap_or_default(),
        environment: args.env.clone().unwrap_or_default(),
        resume_after: None,
    };
    // Watch first and read the table once dkd has sent the snapshot's last part (it
    // subscribes before that): a change that lands in between is then an event, never lost.
    let mut events = client.watch(request).await?.into_inner();
    let mut shown: Option<String> = None;
    while let Some(event) = events.next().await {
        let event = event?;
        let changed = match event.event {
            Some(Event::Heartbeat(_)) | None => false,
            Some(Event::Snapshot(part)) => shown.is_none() && !part.more,
            Some(_) => true,
        };
        if !changed {
            continue;
        }
        let text = render_view(args, format, &fetch(client, args).await?, ndjson)?;
        if shown.as_ref() != Some(&text) {
            draw(&text);
            shown = Some(text);
        }
    }
    Err(CliError::new(
        Failure::Unavailable,
        "dkd closed the watch stream (shutting down?)",
    ))
}
