//! Rebuilds the engine's promotion records from what the deployment repository and the
//! forge record (merges carrying `Promotion-Id:` trailers, open change requests), so dkd's
//! state database is a cache: losing, truncating or garbling it loses no merged promotion,
//! leaves no open one behind, and never lets a new promotion reuse an id the repository
//! already knows.

use std::{collections::BTreeMap, sync::Arc};

use datakit::manifest::{
    ANNOTATION_PROMOTED_BY, ANNOTATION_ROLLBACK, ANNOTATION_ROLLBACK_FROM, parse_deployed_package,
    parse_store,
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

/// A restored record's state, message, open change request, merge commit and successor.
type RestoredState = (
    PromotionState,
    String,
    Option<super::model::ChangeRef>,
    Option<String>,
    Option<String>,
);

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

    // One record per id: a merge wins over an open change request (a crash between the
    // merge and deleting the branch leaves both), which wins over a closed one.
    let rank = |record: &RecordedPromotion| match record.state {
        RecordedState::Merged { .. } => 0,
        RecordedState::Open { .. } => 1,
        RecordedState::Closed { .. } => 2,
    };
    let mut by_id: BTreeMap<&str, &RecordedPromotion> = BTreeMap::new();
    for record in &recorded {
        let kept = by_id.entry(&record.promotion_id).or_insert(record);
        if rank(record) < rank(kept) {
            *kept = record;
        }
    }
    let stored_by_id: BTreeMap<&str, &Promotion> =
        stored.iter().map(|p| (p.id.as_str(), p)).collect();
    // For each manifest, the merges that wrote it, in order: the one after a merge
    // replaced it, the one before is what it replaced.
    let mut merges_by_path: BTreeMap<&str, Vec<&RecordedPromotion>> = BTreeMap::new();
    for record in by_id.values() {
        if matches!(record.state, RecordedState::Merged { .. }) && record.manifest.is_some() {
            merges_by_path.entry(&record.path).or_default().push(record);
        }
    }
    for merges in merges_by_path.values_mut() {
        merges.sort_by_key(|m| m.at);
    }
    let mut rebuilt = Rebuilt::default();
    let mut restored = Vec::new();
    for record in by_id.values() {
        if let Some(stored) = stored_by_id.get(record.promotion_id.as_str()) {
            // An older copy of the database, or a crash after the merge: the repository
            // says it merged, so it did.
            if let (RecordedState::Merged { commit }, true) =
                (&record.state, stored.state.is_open())
            {
                let mut settled = (*stored).clone();
                let short = commit.get(..12).unwrap_or(commit);
                settled.merge_commit = Some(commit.clone());
                settled.enter(
                    PromotionState::Merged,
                    format!("merged as {short} (found in the deployment repository)"),
                );
                restored.push(settled);
            }
            continue;
        }
        if record.manifest.is_none() {
            // Nothing to restore (a closed change request, a hand-made commit with the
            // trailer): its id only stays taken.
            tracing::info!(promotion_id = %record.promotion_id, "id taken in the deployment repository; nothing to restore");
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
    restored.sort_by_key(|p| (p.created_at, promotion_number(&p.id)));
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
    if record.path.split('/').nth(2) == Some("stores") {
        return restore_store(record, merges);
    }
    let manifest = parse_deployed_package(&record.path, record.manifest.as_deref()?).ok()?;
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
            .and_then(|m| parse_deployed_package(&m.path, m.manifest.as_deref()?).ok())
            .map(|m| m.version)
    });
    let replaced_by = position.and_then(|index| merges.get(index + 1));
    let (state, message, change, merge_commit, superseded_by) = restored_state(record, replaced_by);
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
        store_manifest: None,
        reason: None,
    })
}

/// Where a restored record stands, from what the repository says of it: its state,
/// message, open change request, merge commit and the change that replaced it.
fn restored_state(
    record: &RecordedPromotion,
    replaced_by: Option<&&RecordedPromotion>,
) -> RestoredState {
    match &record.state {
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
        // Closed by `dk reject` or `dk cancel`: the forge recorded who decided and why.
        RecordedState::Closed {
            declined: Some(declined),
        } => (
            declined.decision.state(),
            declined.summary(),
            None,
            None,
            None,
        ),
        RecordedState::Closed { declined: None } => (
            PromotionState::Rejected,
            "restored from the deployment repository: its change request was closed without merging"
                .to_owned(),
            None,
            None,
            None,
        ),
    }
}

/// A store change `record` stands for (its manifest is a `Store`).
fn restore_store(record: &RecordedPromotion, merges: &[&RecordedPromotion]) -> Option<Promotion> {
    let text = record.manifest.as_deref()?;
    let store = parse_store(&record.path, text).ok()?;
    let environment = record.path.split('/').nth(1)?.to_owned();
    let position = merges
        .iter()
        .position(|m| m.promotion_id == record.promotion_id);
    let replaced_by = position.and_then(|index| merges.get(index + 1));
    let (state, message, change, merge_commit, superseded_by) = restored_state(record, replaced_by);
    Some(Promotion {
        id: record.promotion_id.clone(),
        package: store.name,
        version: String::new(),
        environment,
        artifact: String::new(),
        digest: String::new(),
        previous_version: None,
        kind: PromotionKind::Store,
        state,
        message,
        promoter: "unknown".to_owned(),
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
        store_manifest: Some(text.to_owned()),
        reason: None,
    })
}
