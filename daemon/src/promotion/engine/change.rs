//! What a promotion writes and how its change request reads: the `DeployedPackage`
//! manifest, the branch, title, body, labels and commit message, and the diff shown by
//! `--dry-run`.

use std::collections::BTreeMap;

use datakit::manifest::{
    ANNOTATION_PROMOTED_BY, ANNOTATION_PROMOTION_ID, ANNOTATION_ROLLBACK, ANNOTATION_ROLLBACK_FROM,
    DeployedPackage, Environment, package_manifest_path,
};

use super::validate::Target;
use crate::promotion::{
    model::{Promotion, PromotionKind},
    ports::{ChangeProposal, PROMOTION_ID_TRAILER},
};

/// The manifest a promotion writes to `environments/<env>/<package>.yaml`.
pub fn manifest_for(
    package: &str,
    target: &Target,
    environment: &Environment,
    promotion_id: &str,
    promoter: &str,
    previous_version: Option<&str>,
    kind: PromotionKind,
) -> String {
    let mut annotations = BTreeMap::from([
        (ANNOTATION_PROMOTION_ID.to_owned(), promotion_id.to_owned()),
        (ANNOTATION_PROMOTED_BY.to_owned(), promoter.to_owned()),
    ]);
    if kind == PromotionKind::Rollback {
        annotations.insert(ANNOTATION_ROLLBACK.to_owned(), "true".to_owned());
        if let Some(previous) = previous_version {
            annotations.insert(ANNOTATION_ROLLBACK_FROM.to_owned(), previous.to_owned());
        }
    }
    DeployedPackage {
        name: package.to_owned(),
        namespace: environment.namespace.clone(),
        annotations,
        version: target.version.clone(),
        artifact: target.reference.clone(),
        digest: target.digest.clone(),
    }
    .to_yaml()
}

/// The manifest of a recorded promotion.
pub fn manifest_of(promotion: &Promotion, environment: &Environment) -> String {
    let target = Target {
        version: promotion.version.clone(),
        reference: promotion.artifact.clone(),
        digest: promotion.digest.clone(),
        forced_past: Vec::new(),
    };
    manifest_for(
        &promotion.package,
        &target,
        environment,
        &promotion.id,
        &promotion.promoter,
        promotion.previous_version.as_deref(),
        promotion.kind,
    )
}

/// The change request for a promotion (or a store change, see [`store_proposal`]).
pub fn proposal(promotion: &Promotion, environment: &Environment, policy: &str) -> ChangeProposal {
    if promotion.kind == PromotionKind::Store {
        return store_proposal(promotion, environment, policy);
    }
    let path = package_manifest_path(&promotion.environment, &promotion.package);
    let (verb, title) = match promotion.kind {
        PromotionKind::Promotion => (
            "Promote",
            format!(
                "Promote {} {} to {}",
                promotion.package, promotion.version, promotion.environment
            ),
        ),
        PromotionKind::Rollback | PromotionKind::Store => (
            "Roll back",
            format!(
                "Roll back {} in {} to {}",
                promotion.package, promotion.environment, promotion.version
            ),
        ),
    };
    let mut body = format!(
        "## {verb}\n\n| | |\n|---|---|\n| Package | {} |\n| Version | {} |\n| Digest | `{}` |\n| Artifact | `{}` |\n| Environment | {} |\n| Previous version | {} |\n| Approval | {policy} |\n| Promotion | {} by {} |\n",
        promotion.package,
        promotion.version,
        promotion.digest,
        promotion.artifact,
        promotion.environment,
        promotion.previous_version.as_deref().unwrap_or("none"),
        promotion.id,
        promotion.promoter,
    );
    if let Some(reason) = &promotion.reason {
        body.push_str(&format!("\n**Why:** {reason}\n"));
    }
    if promotion.forced {
        body.push_str("\n**Forced:** `--force` skipped the upstream check: the upstream environment does not run this version, or it has not been Healthy there for the soak time.\n");
    }
    body.push_str("\n*Opened by dkd.*\n");
    let mut labels = vec![
        "promotion".to_owned(),
        format!("env:{}", promotion.environment),
        format!("package:{}", promotion.package),
    ];
    if promotion.kind == PromotionKind::Rollback {
        labels.push("rollback".to_owned());
    }
    ChangeProposal {
        promotion_id: promotion.id.clone(),
        branch: crate::promotion::change_branch(
            &promotion.environment,
            &promotion.package,
            &promotion.id,
        ),
        commit_message: format!(
            "{title}\n\nDigest: {}\n{PROMOTION_ID_TRAILER}: {}\n",
            promotion.digest, promotion.id
        ),
        title,
        body,
        labels,
        files: vec![(path, manifest_of(promotion, environment).into_bytes())],
    }
}

/// The change request of a store change: the `Store` manifest at the environment's
/// stores path, with the same `Promotion-Id:` trailer as a promotion.
fn store_proposal(
    promotion: &Promotion,
    environment: &Environment,
    policy: &str,
) -> ChangeProposal {
    let path = environment.store_manifest_path(&promotion.package);
    let title = format!(
        "Add store {} in {}",
        promotion.package, promotion.environment
    );
    ChangeProposal {
        promotion_id: promotion.id.clone(),
        branch: crate::promotion::model::store_change_branch(
            &promotion.environment,
            &promotion.package,
            &promotion.id,
        ),
        body: format!(
            "## {title}\n\n| | |\n|---|---|\n| File | `{path}` |\n| Approval | {policy} |\n| Change | {} by {} |\n\n*Opened by dkd.*\n",
            promotion.id, promotion.promoter
        ),
        commit_message: format!(
            "{title}\n\nRequested-By: {}\n{PROMOTION_ID_TRAILER}: {}\n",
            promotion.promoter, promotion.id
        ),
        title,
        labels: vec!["store".to_owned(), format!("env:{}", promotion.environment)],
        files: vec![(
            path,
            promotion
                .store_manifest
                .clone()
                .unwrap_or_default()
                .into_bytes(),
        )],
    }
}

/// A unified diff of `path` from `old` (absent: a new file) to `new`.
pub fn unified_diff(path: &str, old: Option<&str>, new: &str) -> String {
    let old_text = old.unwrap_or_default();
    let old_header = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_owned()
    };
    similar::TextDiff::from_lines(old_text, new)
        .unified_diff()
        .header(&old_header, &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use datakit::manifest::{DEFAULT_ENVIRONMENTS_YAML, parse_environments};

    use super::*;
    use crate::promotion::{model::AUTO_PROMOTER, testing};

    #[test]
    fn an_auto_promotion_says_in_its_change_who_opened_it_and_why() {
        let config = parse_environments("environments.yaml", DEFAULT_ENVIRONMENTS_YAML)
            .expect("defaults parse");
        let int = config.get("int").expect("int");
        let mut promotion = testing::promotion("p-7", "my-package", "v1.2.0", "int");
        promotion.promoter = AUTO_PROMOTER.to_owned();
        promotion.reason = Some("v1.2.0 has been Healthy in dev since 2026-11-30T12:00:00Z".into());
        let body = proposal(&promotion, int, "needs 1 approval").body;
        assert!(
            body.contains("| Promotion | p-7 by dkd (auto-promotion) |"),
            "{body}"
        );
        assert!(
            body.contains("**Why:** v1.2.0 has been Healthy in dev since 2026-11-30T12:00:00Z"),
            "{body}"
        );
        promotion.reason = None;
        assert!(
            !proposal(&promotion, int, "needs 1 approval")
                .body
                .contains("Why")
        );
    }
}
