//! Rebuilds the engine's promotion records from what the deployment repository and the
//! forge record (merges carrying `Promotion-Id:` trailers, open change requests), so dkd's
//! state database is a cache: losing, truncating or garbling it loses no merged promotion,
//! leaves no open one behind, and never lets a new promotion reuse an id the repository
//! already knows.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use datakit::manifest::{
    ANNOTATION_PROMOTED_BY, ANNOTATION_ROLLBACK, ANNOTATION_ROLLBACK_FROM, parse_deployed_package,
};

use super::{
    PromotionError,
    model::{Promotion, PromotionKind, PromotionState, Transition},
    ports::{GitForge, RecordedPromotion, RecordedState, StateStore, blocking},
};

/// What a rebuild found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Promotions the state database did not have, restored from the repository.
    pub restored: usize,
    /// Recorded promotions whose manifest could not be read (skipped, and logged).
    pub unreadable: usize,
}

/// The number of a promotion id `p-<n>`.
pub fn promotion_number(id: &str) -> Option<u64> {
    id.strip_prefix("p-")?.parse().ok()
}

/// Restores every recorded promotion the store lacks, and raises the store's promotion
/// counter above every id the repository, the forge or the store knows.
pub async fn rebuild_from_forge(
    store: &Arc<dyn StateStore>,
    forge: &dyn GitForge,
) -> Result<Rebuilt, PromotionError> {
    let recorded = forge.recorded_promotions().await?;
    let stored = store.load_promotions()?;
    let highest = recorded
        .iter()
        .map(|r| r.promotion_id.as_str())
        .chain(stored.iter().map(|p| p.id.as_str()))
        .filter_map(promotion_number)
        .max()
        .unwrap_or(0);

    let known: HashSet<&str> = stored.iter().map(|p| p.id.as_str()).collect();
    // For each manifest, the merges that wrote it, in order: the one after a merge
    // replaced it, the one before is what it replaced.
    let mut merges_by_path: BTreeMap<&str, Vec<&RecordedPromotion>> = BTreeMap::new();
    for record in &recorded {
        if matches!(record.state, RecordedState::Merged { .. }) {
            merges_by_path.entry(&record.path).or_default().push(record);
        }
    }
    let mut rebuilt = Rebuilt::default();
    let mut restored = Vec::new();
    for record in &recorded {
        if known.contains(record.promotion_id.as_str()) {
            continue;
        }
        let merges = merges_by_path
            .get(record.path.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        match restore(record, merges) {
            Some(promotion) => restored.push(promotion),
            None => {
                tracing::warn!(promotion_id = %record.promotion_id, file = %record.path,
                    "cannot restore a recorded promotion: its manifest does not parse");
                rebuilt.unreadable += 1;
            }
        }
    }
    rebuilt.restored = restored.len();
    // One trip to the blocking pool for all of it: the counter first, then the records.
    blocking::write(store, move |store| {
        store.raise_promotion_counter(highest)?;
        restored
            .iter()
            .try_for_each(|promotion| store.save_promotion(promotion))
    })
    .await?;
    Ok(rebuilt)
}

/// The promotion `record` stands for; `merges` are the merges of its manifest, in order.
fn restore(record: &RecordedPromotion, merges: &[&RecordedPromotion]) -> Option<Promotion> {
    let manifest = parse_deployed_package(&record.path, &record.manifest).ok()?;
    let environment = record.path.split('/').nth(1)?.to_owned();
    let annotation = |key: &str| manifest.annotations.get(key).cloned();
    let kind = if annotation(ANNOTATION_ROLLBACK).as_deref() == Some("true") {
        PromotionKind::Rollback
    } else {
        PromotionKind::Promotion
    };
    let position = merges
        .iter()
        .position(|m| m.promotion_id == record.promotion_id);
    let before = match position {
        Some(index) => index.checked_sub(1).and_then(|i| merges.get(i)),
        None => merges.last(),
    };
    let previous_version = annotation(ANNOTATION_ROLLBACK_FROM).or_else(|| {
        before
            .and_then(|m| parse_deployed_package(&m.path, &m.manifest).ok())
            .map(|m| m.version)
    });
    let replaced_by = position.and_then(|index| merges.get(index + 1));
    let (state, message, change, merge_commit, superseded_by) = match &record.state {
        RecordedState::Merged { commit } => {
            let short = commit.get(..12).unwrap_or(commit);
            match replaced_by {
                Some(later) => (
                    PromotionState::Superseded,
                    format!(
                        "restored from the deployment repository: merged as {short}, later replaced by {}",
                        later.promotion_id
                    ),
                    None,
                    Some(commit.clone()),
                    Some(later.promotion_id.clone()),
                ),
                None => (
                    PromotionState::Merged,
                    format!("restored from the deployment repository: merged as {short}"),
                    None,
                    Some(commit.clone()),
                    None,
                ),
            }
        }
        RecordedState::Open { change } => (
            PromotionState::ChangeProposed,
            "restored from its open change request".to_owned(),
            Some(change.clone()),
            None,
            None,
        ),
    };
    Some(Promotion {
        id: record.promotion_id.clone(),
        package: manifest.name,
        version: manifest.version,
        environment,
        artifact: manifest.artifact,
        digest: manifest.digest,
        previous_version,
        kind,
        state,
        message,
        promoter: annotation(ANNOTATION_PROMOTED_BY).unwrap_or_else(|| "unknown".to_owned()),
        forced: false,
        change,
        approvals: Vec::new(),
        checks: Vec::new(),
        merge_commit,
        superseded_by,
        created_at: record.at,
        updated_at: record.at,
        transitions: vec![Transition {
            state,
            at: record.at,
        }],
    })
}
