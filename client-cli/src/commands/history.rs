//! `dk history PACKAGE [--env ENV]`: every promotion and rollback, newest first.

use datakit::proto::{ListHoldsRequest, ListPromotionsRequest};

use super::promotion::{ApprovalView, PromotionView};
use crate::{
    cli::HistoryArgs,
    connect::Client,
    error::CliError,
    output::{NONE, OutputFormat, Table, render_structured},
};

/// `dk history`.
pub async fn history(
    client: &mut Client,
    format: OutputFormat,
    args: HistoryArgs,
) -> Result<String, CliError> {
    let request = ListPromotionsRequest {
        package: args.package.clone(),
        environment: args.env.clone().unwrap_or_default(),
        ..ListPromotionsRequest::default()
    };
    let views = list_all(client, request).await?;
    if format != OutputFormat::Table {
        return render_structured(format, &views);
    }
    let holds = holds_section(client, &args).await?;
    if views.is_empty() {
        return Ok(format!("no promotions of {} yet\n{holds}", args.package));
    }
    let mut table = Table::new(&[
        "ID",
        "Environment",
        "Version",
        "Previous",
        "Kind",
        "Who",
        "When",
        "Approvals",
        "State",
        "Merge",
    ]);
    for view in &views {
        let approvals: Vec<String> = view.approvals.iter().map(ApprovalView::describe).collect();
        table.row(vec![
            view.id.clone(),
            view.environment.clone(),
            view.version.clone(),
            view.previous_version
                .clone()
                .unwrap_or_else(|| NONE.to_owned()),
            view.kind.clone(),
            view.promoter.clone(),
            view.when(),
            if approvals.is_empty() {
                NONE.to_owned()
            } else {
                approvals.join(", ")
            },
            state_with_decision(view),
            view.merge_commit
                .as_deref()
                .map_or_else(|| NONE.to_owned(), |c| c.get(..12).unwrap_or(c).to_owned()),
        ]);
    }
    Ok(table.render() + &holds)
}

/// The holds on the package (released ones too), one line each after a blank line; empty
/// when there are none.
async fn holds_section(client: &mut Client, args: &HistoryArgs) -> Result<String, CliError> {
    let request = ListHoldsRequest {
        package: args.package.clone(),
        environment: args.env.clone().unwrap_or_default(),
        include_released: true,
    };
    let lines: String = super::hold::holds_of(client, request)
        .await?
        .iter()
        .map(|hold| format!("Hold in {}: {}\n", hold.environment, hold.describe()))
        .collect();
    Ok(if lines.is_empty() {
        lines
    } else {
        format!("\n{lines}")
    })
}

/// Every page of `request`'s promotions; dkd's notices are printed once.
pub async fn list_all(
    client: &mut Client,
    mut request: ListPromotionsRequest,
) -> Result<Vec<PromotionView>, CliError> {
    let mut views = Vec::new();
    loop {
        let first_page = request.page_token.is_empty();
        let page = client.list_promotions(request.clone()).await?.into_inner();
        if first_page {
            super::warn_notices(&page.notices);
        }
        views.extend(page.promotions.into_iter().map(PromotionView::from));
        if page.next_page_token.is_empty() {
            return Ok(views);
        }
        request.page_token = page.next_page_token;
    }
}

/// The state, and for a promotion someone rejected or cancelled, who and why (its
/// message, e.g. "Rejected: rejected by bob: not before the audit").
fn state_with_decision(view: &PromotionView) -> String {
    match view.state.as_str() {
        "Rejected" | "Cancelled" if !view.message.is_empty() => {
            format!("{}: {}", view.state, view.message)
        }
        _ => view.state.clone(),
    }
}
