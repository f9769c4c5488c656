//! Holds: `dk hold` sets one by hand and `dk hold release` releases it, each as a commit of
//! `holds/<env>/<package>.yaml` on the base branch (a change request dkd merges at once);
//! a rollback writes its own hold in its change. Promotions read the served revision's
//! holds: a manual hold refuses them, a rollback hold only warns (it stops automation).

use datakit::manifest::{Blocks, Hold, HoldKind, Release, Version, hold_path, validate_name};

use super::{Engine, PromoteRequest};
use crate::promotion::{
    LoadedConfig, PromotionError,
    model::{Promotion, PromotionKind},
    ports::ChangeProposal,
};

/// What a set or release did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldOutcome {
    pub hold: Hold,
    pub commit: String,
    pub message: String,
}

/// RFC 3339 (UTC, seconds) of `time`, as hold files record times.
fn rfc3339(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Refuses a promotion into a manually held package; names a rollback hold that blocks the
/// version as a warning. Rollbacks are never held.
pub(super) fn hold_check(
    config: &LoadedConfig,
    request: &PromoteRequest,
) -> Result<Option<String>, PromotionError> {
    if request.kind == PromotionKind::Rollback {
        return Ok(None);
    }
    let Some(hold) = config.active_hold(&request.environment, &request.package) else {
        return Ok(None);
    };
    match hold.kind {
        HoldKind::Manual => Err(PromotionError::Refused(format!(
            "{} is held in {}: {}; release it with dk hold release {} --env {}",
            request.package,
            request.environment,
            hold.summary(),
            request.package,
            request.environment
        ))),
        HoldKind::Rollback => Ok(Version::parse(&request.version)
            .ok()
            .filter(|version| hold.blocks_version(version))
            .map(|_| {
                format!(
                    "{} blocks this version from automatic promotion ({}); dk hold release {} --env {} lifts it",
                    hold.summary(),
                    hold_path(&hold.environment, &hold.package),
                    hold.package,
                    hold.environment
                )
            })),
    }
}

/// The hold file a rollback writes with its manifest: none where a manual hold applies
/// (it stays, being stronger) or nothing was rolled back from.
pub(super) fn rollback_hold_file(
    promotion: &Promotion,
    config: &LoadedConfig,
) -> Option<(String, Vec<u8>)> {
    let from = promotion.previous_version.as_ref()?;
    if promotion.kind != PromotionKind::Rollback
        || config
            .active_hold(&promotion.environment, &promotion.package)
            .is_some_and(|hold| hold.kind == HoldKind::Manual)
    {
        return None;
    }
    let hold = Hold {
        package: promotion.package.clone(),
        environment: promotion.environment.clone(),
        kind: HoldKind::Rollback,
        set_by: promotion.promoter.clone(),
        set_at: rfc3339(promotion.created_at),
        reason: format!(
            "rolled back from {from} to {} by {}",
            promotion.version, promotion.promoter
        ),
        blocks: Some(Blocks {
            version: from.clone(),
            newer_than: promotion.version.clone(),
        }),
        released: None,
    };
    Some((
        hold_path(&promotion.environment, &promotion.package),
        hold.to_yaml().into_bytes(),
    ))
}

impl Engine {
    /// Holds `package` in `environment` by hand: every promotion into it is refused until
    /// released. A rollback's hold there is replaced; a manual one is refused.
    pub async fn set_hold(
        &self,
        package: &str,
        environment: &str,
        reason: &str,
        by: &str,
    ) -> Result<HoldOutcome, PromotionError> {
        let config = self.held_place(package, environment)?;
        let reason = one_line(reason).ok_or_else(|| {
            PromotionError::InvalidInput("a hold needs a reason: pass --reason TEXT".into())
        })?;
        if let Some(hold) = config
            .active_hold(environment, package)
            .filter(|hold| hold.kind == HoldKind::Manual)
        {
            return Err(PromotionError::Refused(format!(
                "{package} is already held in {environment}: {}",
                hold.summary()
            )));
        }
        let hold = Hold {
            package: package.to_owned(),
            environment: environment.to_owned(),
            kind: HoldKind::Manual,
            set_by: by.to_owned(),
            set_at: rfc3339(crate::promotion::model::now()),
            reason,
            blocks: None,
            released: None,
        };
        let title = format!("Hold {package} in {environment}");
        let commit = self.commit_hold(&hold, &title).await?;
        Ok(HoldOutcome {
            message: format!(
                "{package} is held in {environment}: promotions into it are refused until dk hold release {package} --env {environment}"
            ),
            hold,
            commit,
        })
    }

    /// Releases the hold on `package` in `environment` (manual or a rollback's).
    pub async fn release_hold(
        &self,
        package: &str,
        environment: &str,
        reason: Option<&str>,
        by: &str,
    ) -> Result<HoldOutcome, PromotionError> {
        let config = self.held_place(package, environment)?;
        let mut hold = config
            .active_hold(environment, package)
            .cloned()
            .ok_or_else(|| {
                PromotionError::NotFound(format!(
                    "{package} is not held in {environment}: nothing to release (see dk hold list)"
                ))
            })?;
        hold.released = Some(Release {
            by: by.to_owned(),
            at: rfc3339(crate::promotion::model::now()),
            reason: reason.and_then(one_line),
        });
        let title = format!("Release the hold on {package} in {environment}");
        let commit = self.commit_hold(&hold, &title).await?;
        Ok(HoldOutcome {
            message: format!(
                "released the {} hold on {package} in {environment} set by {}",
                hold.kind.as_str(),
                hold.set_by
            ),
            hold,
            commit,
        })
    }

    /// Holds of the served revision, sorted by environment and package; released ones
    /// only with `include_released`.
    pub fn holds(
        &self,
        package: Option<&str>,
        environment: Option<&str>,
        include_released: bool,
    ) -> Result<Vec<Hold>, PromotionError> {
        Ok(self
            .config()?
            .holds
            .values()
            .filter(|hold| include_released || hold.is_active())
            .filter(|hold| package.is_none_or(|p| hold.package == p))
            .filter(|hold| environment.is_none_or(|e| hold.environment == e))
            .cloned()
            .collect())
    }

    /// The configuration, once `package` and `environment` are valid names of a known
    /// environment.
    fn held_place(
        &self,
        package: &str,
        environment: &str,
    ) -> Result<std::sync::Arc<LoadedConfig>, PromotionError> {
        let invalid = |e: &dyn std::fmt::Display| PromotionError::InvalidInput(e.to_string());
        validate_name("package", package).map_err(|e| invalid(&e))?;
        validate_name("environment", environment).map_err(|e| invalid(&e))?;
        let config = self.config()?;
        config
            .environment(environment)
            .map_err(PromotionError::NotFound)?;
        Ok(config)
    }

    /// Commits `hold` to the base branch through a change request merged at once, then
    /// serves the new revision, so the next request sees the hold.
    async fn commit_hold(&self, hold: &Hold, title: &str) -> Result<String, PromotionError> {
        let file = hold_path(&hold.environment, &hold.package);
        let stamp = crate::promotion::model::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let by = hold
            .released
            .as_ref()
            .map_or(hold.set_by.as_str(), |release| release.by.as_str());
        let proposal = ChangeProposal {
            promotion_id: String::new(),
            branch: format!("hold/{}/{}-{stamp}", hold.environment, hold.package),
            title: title.to_owned(),
            body: format!(
                "## {title}\n\n| | |\n|---|---|\n| File | `{file}` |\n| By | {by} |\n| Reason | {} |\n\n*Opened and merged by dkd.*\n",
                hold.released
                    .as_ref()
                    .and_then(|release| release.reason.as_deref())
                    .unwrap_or(&hold.reason)
            ),
            labels: vec![
                "hold".to_owned(),
                format!("env:{}", hold.environment),
                format!("package:{}", hold.package),
            ],
            files: vec![(file, hold.to_yaml().into_bytes())],
            commit_message: format!("{title}\n\nHold-By: {by}\n"),
        };
        let change = self.ports.forge.propose_change(&proposal).await?;
        let merged = self
            .merge_change(change.clone())
            .await
            .and_then(|answer| answer.map_err(PromotionError::from));
        let commit = match merged {
            Ok(commit) => commit,
            Err(error) => {
                if let Err(close) = self.ports.forge.close(&change, &error.to_string()).await {
                    tracing::warn!(change = %change.id, %close, "cannot close the hold's change request");
                }
                return Err(error);
            }
        };
        if let Err(error) = self
            .ports
            .catalog
            .refresh(self.ports.forge.as_ref(), &self.ports.store)
            .await
        {
            tracing::warn!(%error, "hold committed; dkd serves it once it reads the new revision");
        }
        Ok(commit)
    }
}

/// `text` trimmed to one line; `None` when empty.
fn one_line(text: &str) -> Option<String> {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!line.is_empty()).then_some(line)
}
