//! `dk logs PKG --env ENV [--follow] [--sync|--verify] [--tail N] [--since D]`: streams lines as
//! dkd sends them; dkd's own notices go to stderr so stdout is only the log.

use std::{io::Write, time::SystemTime};

use datakit::proto::{LogSource, LogsRequest};
use tokio_stream::StreamExt;

use datakit::text::escape_controls;

use crate::{
    cli::LogsArgs,
    connect::Client,
    error::CliError,
    output::{OutputFormat, json_line, note},
};

/// One line as `dk logs -o json` prints it, one object per line.
#[derive(Debug, serde::Serialize)]
struct LineView<'a> {
    time: String,
    source: &'static str,
    origin: &'a str,
    text: &'a str,
}

/// `dk logs`.
pub async fn logs(
    client: &mut Client,
    format: OutputFormat,
    args: LogsArgs,
) -> Result<String, CliError> {
    let since = args
        .since
        .and_then(|d| SystemTime::now().checked_sub(d))
        .map(prost_types::Timestamp::from);
    let request = LogsRequest {
        package: args.package,
        environment: args.env,
        follow: args.follow,
        sync: args.sync,
        verify: args.verify,
        tail: args.tail.unwrap_or_default(),
        since,
    };
    let mut lines = client.logs(request).await?.into_inner();
    while let Some(line) = lines.next().await {
        let line = line?;
        if line.source == LogSource::Notice as i32 {
            note(&format!("note: {}", line.text));
            continue;
        }
        let time = line.time.map(|t| t.to_string()).unwrap_or_default();
        if format == OutputFormat::Json {
            json_line(&LineView {
                time,
                source: if line.source == LogSource::Sync as i32 {
                    "sync"
                } else {
                    "run"
                },
                origin: &line.origin,
                text: &line.text,
            })?;
            continue;
        }
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`dk logs … | head`) ends the command quietly.
        if writeln!(stdout, "{time} {}", escape_controls(&line.text))
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    Ok(String::new())
}
