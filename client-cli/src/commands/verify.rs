//! `dk verify PKG --env ENV [--wait [--timeout D]]`: runs the environment's verification
//! of what it runs of the package again.

use std::time::Duration;

use clap::Args;
use datakit::proto::VerifyRequest;

use super::promotion::{PromotionView, follow};
use crate::{
    connect::Client,
    error::{CliError, Failure},
    output::{OutputFormat, render_structured},
};

/// `dk verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Package name
    pub package: String,
    /// Environment (it must declare verify: in config/environments.yaml)
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// Wait until the run ends: exit 0 when Verified, 1 when it Failed
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long, e.g. 10m
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "wait")]
    pub timeout: Option<Duration>,
}

/// `dk verify`.
pub async fn verify(
    client: &mut Client,
    format: OutputFormat,
    args: VerifyArgs,
) -> Result<String, CliError> {
    let request = VerifyRequest {
        package: args.package,
        environment: args.env,
    };
    let promotion = client.verify(request).await?.into_inner().promotion;
    let mut view = promotion
        .map(PromotionView::from)
        .ok_or_else(|| CliError::new(Failure::Other, "dkd returned no promotion"))?;
    if args.wait {
        // `-o json`: NDJSON, one promotion per change; the last line is the final state.
        match follow(client, view, format, args.timeout).await? {
            Some(followed) => view = followed,
            None => return Ok(String::new()),
        }
    }
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    Ok(format!("{} {} — {}\n", view.id, view.state, view.message))
}
