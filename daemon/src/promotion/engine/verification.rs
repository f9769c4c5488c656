//! Verification runs: a promotion into an environment with `verify:` that turns Healthy
//! goes to Verifying; its run (named `verify-<promotion>-<n>`, `n` counting re-runs) is
//! started through the `VerificationRunner` port and the promotion ends Verified or Failed
//! naming the run. `dk verify` takes the newest such promotion back to Verifying. A version
//! whose verification failed, or has not passed, is not promoted onward (see
//! [`Engine::check_verified_upstream`]).

use datakit::manifest::{
    Environment, VerificationDefinition, default_verification_path, verification_path,
};

use super::{Engine, reconcile::Step};
use crate::promotion::{
    PromotionError,
    model::{Promotion, PromotionKind, PromotionState},
    ports::{VerificationOutcome, VerificationRequest},
};

/// Whether `promotion` went through verification (a Failed one failed it, then).
pub fn was_verifying(promotion: &Promotion) -> bool {
    promotion
        .transitions
        .iter()
        .any(|transition| transition.state == PromotionState::Verifying)
}

/// The name of the current run of `promotion`: `verify-<id>-<n>`.
fn run_name(promotion: &Promotion) -> String {
    let runs = promotion
        .transitions
        .iter()
        .filter(|transition| transition.state == PromotionState::Verifying)
        .count()
        .max(1);
    format!("verify-{}-{runs}", promotion.id)
}

impl Engine {
    /// Where a promotion goes once healthy: Verifying when its environment requires it.
    pub(super) fn healthy_state(&self, promotion: &Promotion) -> PromotionState {
        let requires = self.config().ok().is_some_and(|config| {
            config
                .environments
                .get(&promotion.environment)
                .is_some_and(|environment| environment.verify.is_some())
        });
        if requires && promotion.kind != PromotionKind::Store {
            PromotionState::Verifying
        } else {
            PromotionState::Healthy
        }
    }

    /// The verification definition of `package` in `environment`, as the served revision
    /// validated it.
    fn definition(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<VerificationDefinition, String> {
        let config = self.config().map_err(|error| error.to_string())?;
        let paths = [
            verification_path(environment, package),
            default_verification_path(environment),
        ];
        paths
            .iter()
            .find_map(|path| config.verifications.get(path).cloned())
            .ok_or_else(|| {
                format!(
                    "{environment} requires verification but the deployment repository has neither {} nor {}: add one",
                    paths[0], paths[1]
                )
            })
    }

    /// One step of a Verifying promotion: start or look at its run.
    pub(super) async fn await_verification(
        &self,
        mut promotion: Promotion,
    ) -> Result<Step, PromotionError> {
        let before = promotion.clone();
        let config = self.config()?;
        let Some(verify) = config
            .environments
            .get(&promotion.environment)
            .and_then(|environment| environment.verify)
        else {
            promotion.enter(
                PromotionState::Healthy,
                format!(
                    "{} no longer requires verification; {} runs {}",
                    promotion.environment, promotion.environment, promotion.version
                ),
            );
            return self.save(&promotion).await;
        };
        let run = run_name(&promotion);
        let definition = match self.definition(&promotion.environment, &promotion.package) {
            Ok(definition) => definition,
            Err(why) => {
                promotion.enter(
                    PromotionState::Failed,
                    format!("verification run {run} cannot start: {why}"),
                );
                return self.save(&promotion).await;
            }
        };
        let request = VerificationRequest {
            run: run.clone(),
            environment: promotion.environment.clone(),
            package: promotion.package.clone(),
            version: promotion.version.clone(),
            definition,
            timeout: verify.timeout,
            retries: verify.retries,
        };
        match self.verifier.poll(&request).await {
            VerificationOutcome::Running => {
                promotion.message = format!("verification run {run} is running");
                self.refresh(&before, &promotion).await
            }
            VerificationOutcome::Passed(message) => {
                promotion.enter(PromotionState::Verified, message);
                self.save(&promotion).await
            }
            VerificationOutcome::Failed(message) => {
                promotion.enter(PromotionState::Failed, message);
                self.save(&promotion).await
            }
        }
    }

    /// `dk verify`: runs the verification of what `environment` runs of `package` again.
    pub async fn reverify(
        &self,
        package: &str,
        environment: &str,
    ) -> Result<Promotion, PromotionError> {
        let config = self.config()?;
        if config
            .environments
            .get(environment)
            .is_none_or(|environment| environment.verify.is_none())
        {
            return Err(PromotionError::Refused(format!(
                "{environment} requires no verification: add verify: {{ timeout: 5m }} to it in config/environments.yaml"
            )));
        }
        let _guard = self
            .targets
            .lock(super::Target::new(environment, package, false))
            .await;
        let newest = self
            .ports
            .store
            .load_package_promotions(package)?
            .into_iter()
            .filter(|p| {
                p.package == package
                    && p.environment == environment
                    && p.kind != PromotionKind::Store
                    && p.state != PromotionState::Superseded
                    && p.merge_commit.is_some()
            })
            .max_by_key(|p| p.created_at)
            .ok_or_else(|| {
                PromotionError::NotFound(format!(
                    "no promotion of {package} reached {environment}: promote it first"
                ))
            })?;
        let mut promotion = newest;
        match promotion.state {
            PromotionState::Verified | PromotionState::Healthy => {}
            PromotionState::Failed if was_verifying(&promotion) => {}
            PromotionState::Verifying => return Ok(promotion),
            state => {
                return Err(PromotionError::Refused(format!(
                    "promotion {} of {package} to {environment} is {}, not verified or failed verification: nothing to re-run",
                    promotion.id,
                    state.name()
                )));
            }
        }
        let mut next = promotion.clone();
        next.transitions.push(crate::promotion::model::Transition {
            state: PromotionState::Verifying,
            at: crate::promotion::now(),
        });
        let run = run_name(&next);
        promotion.enter(
            PromotionState::Verifying,
            format!("verification run {run} is starting (dk verify)"),
        );
        self.persist(&promotion).await?;
        self.wake();
        Ok(promotion)
    }

    /// Refuses a version whose verification in `upstream` failed or has not passed.
    pub(super) fn check_verified_upstream(
        &self,
        upstream: &Environment,
        package: &str,
        version: &str,
    ) -> Result<Option<String>, PromotionError> {
        if upstream.verify.is_none() {
            return Ok(None);
        }
        let newest = self
            .ports
            .store
            .load_package_promotions(package)?
            .into_iter()
            .filter(|p| {
                p.package == package
                    && p.version == version
                    && p.environment == upstream.name
                    && (p.state == PromotionState::Verified || was_verifying(p))
            })
            .max_by_key(|p| p.updated_at);
        let upstream_name = &upstream.name;
        match newest {
            Some(p) if p.state == PromotionState::Verified => Ok(None),
            Some(p) if p.state == PromotionState::Verifying => Ok(Some(format!(
                "{package} {version} is still being verified in {upstream_name} ({})",
                p.message
            ))),
            Some(p) => Ok(Some(format!(
                "{package} {version} failed verification in {upstream_name}: {}",
                p.message
            ))),
            None => Ok(Some(format!(
                "{package} {version} has not passed verification in {upstream_name}: run dk verify {package} --env {upstream_name}"
            ))),
        }
    }
}
