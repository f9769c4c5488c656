//! `dk promote` (and `--status`, `--rollback`, `--dry-run`, `--wait`) and `dk rollback`.

use datakit::proto::{self, GetPromotionRequest, PromoteRequest, RollbackRequest};
use serde::Serialize;

use super::promotion::{PromotionView, Waiting, wait_for};
use crate::{
    cli::{PromoteArgs, RollbackArgs},
    connect::Client,
    error::{CliError, Failure},
    output::{OutputFormat, render_structured},
};

/// What `dk promote -o json|yaml` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PromoteView {
    summary: String,
    no_op: bool,
    policy: String,
    diff: Option<String>,
    promotion: Option<PromotionView>,
}

/// `dk promote`.
pub async fn promote(
    client: &mut Client,
    format: OutputFormat,
    args: PromoteArgs,
) -> Result<String, CliError> {
    if args.status {
        let request = GetPromotionRequest {
            package: args.package,
            version: args.version,
            environment: args.to,
            ..Default::default()
        };
        let promotion = client.get_promotion(request).await?.into_inner().promotion;
        let view = promotion
            .map(PromotionView::from)
            .ok_or_else(|| CliError::new(Failure::Other, "dkd returned no promotion"))?;
        return if format == OutputFormat::Table {
            Ok(view.describe())
        } else {
            render_structured(format, &view)
        };
    }
    let request = PromoteRequest {
        package: args.package,
        version: args.version,
        environment: args.to,
        dry_run: args.dry_run,
        force: args.force,
        rollback: args.rollback,
    };
    let response = client.promote(request).await?.into_inner();
    let waiting = args.wait.then_some(Waiting {
        timeout: args.timeout,
        ndjson: format == OutputFormat::Json,
    });
    finish(client, format, response, waiting).await
}

/// `dk rollback`.
pub async fn rollback(
    client: &mut Client,
    format: OutputFormat,
    args: RollbackArgs,
) -> Result<String, CliError> {
    if args.is_old_form() {
        crate::output::note(
            "warning: `dk rollback PKG --env ENV [--to VERSION]` is deprecated: use `dk rollback PKG --to ENV [--version VERSION]`",
        );
    }
    let (environment, version) = args.target();
    let request = RollbackRequest {
        package: args.package.clone(),
        environment: environment.to_owned(),
        to_version: version.unwrap_or_default().to_owned(),
        dry_run: args.dry_run,
    };
    let response = client.rollback(request).await?.into_inner();
    let waiting = args.wait.then_some(Waiting {
        timeout: args.timeout,
        ndjson: format == OutputFormat::Json,
    });
    finish(client, format, response, waiting).await
}

async fn finish(
    client: &mut Client,
    format: OutputFormat,
    response: proto::PromoteResponse,
    waiting: Option<Waiting>,
) -> Result<String, CliError> {
    let mut view = PromoteView {
        summary: response.summary,
        no_op: response.no_op,
        policy: response.policy,
        diff: Some(response.diff).filter(|d| !d.is_empty()),
        promotion: response.promotion.map(PromotionView::from),
    };
    let table = format == OutputFormat::Table;
    let wait = waiting.is_some();
    if let Some(waiting) = waiting
        && let Some(promotion) = view.promotion.take()
    {
        if table {
            // Say what was opened before the (possibly long) wait.
            println!("{}", crate::output::safe(&view.summary));
        }
        let summary = view.summary.clone();
        // `-o json`: NDJSON, one PromoteView per change; the last line is the final state.
        let print_line = |promotion: &PromotionView| {
            if !waiting.ndjson {
                return Ok(());
            }
            let line = serde_json::json!({
                "summary": summary,
                "noOp": view.no_op,
                "policy": view.policy,
                "diff": view.diff,
                "promotion": promotion,
            });
            crate::output::json_line(&line)
        };
        let promotion = wait_for(client, promotion, waiting, print_line).await?;
        if waiting.ndjson {
            return Ok(String::new());
        }
        view.promotion = Some(promotion);
    }
    if !table {
        return render_structured(format, &view);
    }
    let mut out = if wait && view.promotion.is_some() {
        String::new()
    } else {
        format!("{}\n", view.summary)
    };
    if let Some(promotion) = &view.promotion {
        out.push_str(&promotion.describe());
    } else if !view.no_op {
        out.push_str(&format!("  Policy:   {}\n", view.policy));
    }
    if let Some(diff) = &view.diff {
        out.push('\n');
        out.push_str(diff);
    }
    Ok(out)
}
