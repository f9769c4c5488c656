//! An environment's soak time (`promotion.soak`): a version is promoted into it only after
//! it has been Healthy in the upstream environment, continuously, for that long — measured
//! from the health spans the status board records (see `health_span`), on the engine's
//! clock. `--force` skips the check, and the promotion is recorded as forced.

use std::time::{Duration, SystemTime};

use datakit::manifest::Environment;

use super::Engine;
use crate::promotion::{HealthSpan, LoadedConfig, PromotionError, ports::PackageSync};

/// When the version an upstream environment runs can be promoted onward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotable {
    /// The version the upstream runs.
    pub version: String,
    /// The upstream environment.
    pub from: String,
    /// From when on (when it turned Healthy there, plus the soak); `None` while the
    /// version is not Healthy there.
    pub at: Option<SystemTime>,
    /// Whether that time has come, on the engine's clock, and nothing blocks it.
    pub now: bool,
    /// Why waiting will not make it promotable: its verification upstream did not pass.
    pub blocked: Option<String>,
}

/// `at` relative to `now`: "now", or "in 12m" (rounded up to the minute past a minute).
pub fn relative(at: SystemTime, now: SystemTime) -> String {
    match at.duration_since(now) {
        Ok(left) if !left.is_zero() => format!("in {}", rounded(left)),
        _ => "now".to_owned(),
    }
}

/// A duration in humantime words, whole seconds, rounded up to whole minutes past a minute.
fn rounded(duration: Duration) -> String {
    let mut seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    if seconds > 60 {
        seconds = seconds.div_ceil(60) * 60;
    }
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

fn rfc3339(time: SystemTime) -> String {
    prost_types::Timestamp::from(time).to_string()
}

impl Engine {
    /// The time on the engine's clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// How long `version` of `package` has been Healthy in `environment`, if it is.
    fn soaked(
        &self,
        environment: &str,
        package: &str,
        version: &str,
    ) -> Result<Option<Duration>, PromotionError> {
        // A read, like the other reads: served by the store without waiting for a flush.
        let span = self.ports.store.load_health_span(environment, package)?;
        Ok(span.and_then(|span| span.soaked(version, self.now())))
    }

    /// Refuses `version` of `package` unless it has soaked in the upstream of
    /// `environment` as long as `environment` requires; with `force`, lets it through and
    /// returns what was skipped, in words.
    pub(super) async fn check_soak(
        &self,
        environment: &Environment,
        package: &str,
        version: &str,
        force: bool,
    ) -> Result<Option<String>, PromotionError> {
        let (Some(required), Some(upstream)) = (environment.soak, environment.upstream.as_deref())
        else {
            return Ok(None);
        };
        let soaked = self.soaked(upstream, package, version)?;
        if soaked.is_some_and(|soaked| soaked >= required) {
            return Ok(None);
        }
        let required_words = humantime::format_duration(required);
        let shortfall = match soaked {
            Some(soaked) => {
                let at = self.now() + (required - soaked);
                format!(
                    "{package} {version} has been Healthy in {upstream} for {}, and {} requires a soak of {required_words}: it becomes promotable at {} ({})",
                    humantime::format_duration(Duration::from_secs(soaked.as_secs())),
                    environment.name,
                    rfc3339(at),
                    relative(at, self.now()),
                )
            }
            None => format!(
                "{package} {version} is not Healthy in {upstream} (soaked 0s), and {} requires a soak of {required_words} of continuous health there: it becomes promotable {required_words} after it turns Healthy",
                environment.name,
            ),
        };
        if force {
            return Ok(Some(shortfall));
        }
        Err(PromotionError::Refused(format!(
            "{shortfall}; or use --force"
        )))
    }

    /// When the version `package` runs upstream of `environment` can be promoted into it;
    /// `None` when `environment` has no upstream, the upstream does not run the package, or
    /// `environment` runs that version already.
    pub async fn promotable(
        &self,
        config: &LoadedConfig,
        environment: &str,
        package: &str,
    ) -> Result<Option<Promotable>, PromotionError> {
        let Some(upstream) = config.environments.upstream_of(environment) else {
            return Ok(None);
        };
        let upstream_status = self
            .ports
            .cluster
            .package_status(&upstream.name, package)
            .await?;
        let here = self
            .ports
            .cluster
            .package_status(environment, package)
            .await?;
        let upstream_span = self.ports.store.load_health_span(&upstream.name, package)?;
        self.promotable_between(
            config,
            environment,
            package,
            upstream_status.as_ref(),
            upstream_span.as_ref(),
            here.as_ref(),
        )
    }

    /// The same from what is already at hand (the status board's): what `upstream_status`
    /// (of `environment`'s upstream), Healthy as its health span `upstream_span` says,
    /// makes promotable into `environment`, which runs `here`.
    pub fn promotable_between(
        &self,
        config: &LoadedConfig,
        environment: &str,
        package: &str,
        upstream_status: Option<&PackageSync>,
        upstream_span: Option<&HealthSpan>,
        here: Option<&PackageSync>,
    ) -> Result<Option<Promotable>, PromotionError> {
        let (Some(upstream), Some(upstream_status)) = (
            config.environments.upstream_of(environment),
            upstream_status,
        ) else {
            return Ok(None);
        };
        if here.is_some_and(|here| here.version == upstream_status.version) {
            return Ok(None);
        }
        let soak = config
            .environments
            .get(environment)
            .and_then(|environment| environment.soak)
            .unwrap_or_default();
        let now = self.now();
        // From the span's start, not from `now`: a row computed a moment after a call took
        // its clock still reads as promotable now once the soak is over.
        let at = upstream_span.and_then(|span| span.soaked_at(&upstream_status.version, soak));
        let blocked = self.check_verified_upstream(upstream, package, &upstream_status.version)?;
        Ok(Some(Promotable {
            at,
            now: blocked.is_none() && at.is_some_and(|at| at <= now),
            blocked,
            version: upstream_status.version.clone(),
            from: upstream.name.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotable_times_read_as_now_or_in_whole_minutes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(relative(now, now), "now");
        assert_eq!(relative(now - Duration::from_secs(5), now), "now");
        assert_eq!(relative(now + Duration::from_secs(42), now), "in 42s");
        assert_eq!(
            relative(now + Duration::from_secs(11 * 60 + 1), now),
            "in 12m"
        );
    }
}
