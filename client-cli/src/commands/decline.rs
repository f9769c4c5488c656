//! `dk reject ID --reason TEXT` (an approver declines) and `dk cancel ID [--reason TEXT]`
//! (the promoter withdraws): the promotion ends and its change request is closed.

use datakit::proto::{CancelRequest, RejectRequest};

use super::promotion::PromotionView;
use crate::{
    cli::{CancelArgs, RejectArgs},
    connect::Client,
    error::{CliError, Failure},
    output::{OutputFormat, render_structured},
};

/// `dk reject`.
pub async fn reject(
    client: &mut Client,
    format: OutputFormat,
    args: RejectArgs,
) -> Result<String, CliError> {
    let request = RejectRequest {
        promotion_id: args.promotion,
        reason: args.reason,
    };
    let promotion = client.reject(request).await?.into_inner().promotion;
    answer(format, promotion)
}

/// `dk cancel`.
pub async fn cancel(
    client: &mut Client,
    format: OutputFormat,
    args: CancelArgs,
) -> Result<String, CliError> {
    let request = CancelRequest {
        promotion_id: args.promotion,
        reason: args.reason.unwrap_or_default(),
    };
    let promotion = client.cancel(request).await?.into_inner().promotion;
    answer(format, promotion)
}

fn answer(
    format: OutputFormat,
    promotion: Option<datakit::proto::Promotion>,
) -> Result<String, CliError> {
    let view = promotion
        .map(PromotionView::from)
        .ok_or_else(|| CliError::new(Failure::Other, "dkd returned no promotion"))?;
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    let change = view
        .change
        .as_ref()
        .map(|change| format!("; change request {} closed", change.id))
        .unwrap_or_default();
    Ok(format!(
        "{} {} ({} {} to {}){change}\n",
        view.id, view.message, view.package, view.version, view.environment
    ))
}
