//! `dk history PACKAGE [--env ENV]`: every promotion and rollback, newest first.

use datakit::proto::ListPromotionsRequest;

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
    let mut views = Vec::new();
    let mut page_token = String::new();
    loop {
        let first_page = page_token.is_empty();
        let request = ListPromotionsRequest {
            package: args.package.clone(),
            environment: args.env.clone().unwrap_or_default(),
            page_size: 0,
            page_token,
        };
        let page = client.list_promotions(request).await?.into_inner();
        if first_page {
            super::warn_notices(&page.notices);
        }
        views.extend(page.promotions.into_iter().map(PromotionView::from));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if format != OutputFormat::Table {
        return render_structured(format, &views);
    }
    if views.is_empty() {
        return Ok(format!("no promotions of {} yet\n", args.package));
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
            view.state.clone(),
            view.merge_commit
                .as_deref()
                .map_or_else(|| NONE.to_owned(), |c| c.get(..12).unwrap_or(c).to_owned()),
        ]);
    }
    Ok(table.render())
}
