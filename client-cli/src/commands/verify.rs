//! `dk verify PKG --env ENV [--wait [--timeout D]]`: runs the environment's verification
//! of what it runs of the package again.

use std::time::Duration;

use clap::Args;
use datakit::proto::VerifyRequest;

use super::promotion::answered;
use crate::{
    connect::Client,
    error::CliError,
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
    let Some(view) = answered(client, promotion, format, args.wait, args.timeout).await? else {
        return Ok(String::new());
    };
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    Ok(format!("{} {} — {}\n", view.id, view.state, view.message))
}
