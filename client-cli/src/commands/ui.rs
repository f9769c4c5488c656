//! `dk ui [--no-browser]`: the web dashboard. On the local socket dkd opens its loopback
//! listener and mints a one-time login link, which dk prints and opens in a browser when
//! there is one (`$BROWSER`, else `xdg-open`); without a browser the link is all there is.
//! Against a shared dkd (`DK_DAEMON=https://…`) the dashboard is served at dkd's own
//! address, where you sign in with your token: dk prints that address instead.

use std::process::{Command, Stdio};

use clap::Args;
use datakit::proto::OpenDashboardRequest;
use serde::Serialize;

use crate::{
    connect::{Client, DaemonAddress},
    error::CliError,
    output::{OutputFormat, render_structured},
};

/// `dk ui`.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// Print the link only; do not start a browser
    #[arg(long)]
    pub no_browser: bool,
}

/// The answer as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UiView {
    url: String,
    /// When the login code expires unused (RFC 3339); empty for a shared dkd.
    expires_at: String,
    /// Whether a browser was started.
    browser: bool,
}

/// Starts `$BROWSER` (its first word, as most tools read it) or `xdg-open` on `url`, in the
/// background; false when neither could start.
fn open_browser(url: &str) -> bool {
    let chosen = std::env::var("BROWSER")
        .ok()
        .and_then(|browser| browser.split(':').next().map(str::to_owned))
        .filter(|browser| !browser.trim().is_empty())
        .unwrap_or_else(|| "xdg-open".to_owned());
    Command::new(chosen.trim())
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok()
}

/// `dk ui`.
pub async fn ui(
    client: &mut Client,
    address: &DaemonAddress,
    format: OutputFormat,
    args: UiArgs,
) -> Result<String, CliError> {
    let (url, expires_at) = match address {
        DaemonAddress::Tcp(uri) => (
            format!(
                "{}://{}/",
                uri.scheme_str().unwrap_or("https"),
                uri.authority().map_or("", |a| a.as_str())
            ),
            None,
        ),
        DaemonAddress::Unix { .. } => {
            let link = client
                .open_dashboard(OpenDashboardRequest {})
                .await?
                .into_inner();
            let expires = link
                .expires_at
                .and_then(|at| std::time::SystemTime::try_from(at).ok());
            (link.url, expires)
        }
    };
    let browser = !args.no_browser && open_browser(&url);
    let view = UiView {
        url: url.clone(),
        expires_at: expires_at
            .map(|at| humantime::format_rfc3339_seconds(at).to_string())
            .unwrap_or_default(),
        browser,
    };
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    let how = match (expires_at.is_some(), browser) {
        (true, true) => {
            "Opened the dashboard in your browser; if it did not appear, open this link (one use, within 2 minutes):"
        }
        (true, false) => {
            "Open the dashboard with this link (one use, within 2 minutes; `dk ui` again for a new one):"
        }
        (false, true) => {
            "Opened the shared dkd's dashboard in your browser; sign in there with your token (DK_TOKEN):"
        }
        (false, false) => "Open the shared dkd's dashboard and sign in with your token (DK_TOKEN):",
    };
    Ok(format!("{how}\n{url}\n"))
}
