//! `dk approve PROMOTION [--as USER] [--wait [--timeout D]]`.

use datakit::proto::ApproveRequest;

use super::promotion::{ApprovalView, answered};
use crate::{
    cli::ApproveArgs,
    connect::Client,
    error::CliError,
    output::{OutputFormat, render_structured},
};

/// `dk approve`.
pub async fn approve(
    client: &mut Client,
    format: OutputFormat,
    args: ApproveArgs,
) -> Result<String, CliError> {
    let request = ApproveRequest {
        promotion_id: args.promotion,
        as_user: args.as_user.unwrap_or_default(),
    };
    let promotion = client.approve(request).await?.into_inner().promotion;
    let Some(view) = answered(client, promotion, format, args.wait, args.timeout).await? else {
        return Ok(String::new());
    };
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    let approver = view
        .approvals
        .last()
        .map(ApprovalView::describe)
        .unwrap_or_default();
    let next = view
        .approvals_needed
        .clone()
        .unwrap_or_else(|| format!("{} — {}", view.state, view.message));
    Ok(format!("approved {} as {approver}: {next}\n", view.id))
}
