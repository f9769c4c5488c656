//! How long a package's current version has been Healthy in one environment, from the
//! health transitions the status board observes: the span starts when the version is first
//! seen Healthy and ends when its health leaves Healthy or another version replaces it.
//! Spans are saved with the statuses, so a restart of dkd neither resets nor extends them
//! (a version seen Healthy before and after a restart is taken to have stayed Healthy);
//! a lost state database loses them, and continuity starts again when dkd next sees the
//! version Healthy.

use std::time::{Duration, SystemTime};

use super::ports::{HealthState, PackageSync};

/// The recorded health of the version a package runs in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpan {
    pub environment: String,
    pub package: String,
    pub version: String,
    pub digest: String,
    /// Since when it has been Healthy without interruption; `None` while it is not.
    pub healthy_since: Option<SystemTime>,
    /// When its health last left Healthy, if it did.
    pub left_healthy_at: Option<SystemTime>,
}

impl HealthSpan {
    /// The span after observing `status` at `now`, given the span recorded before.
    pub fn after(previous: Option<&Self>, status: &PackageSync, now: SystemTime) -> Self {
        let healthy = status.health == HealthState::Healthy;
        let same_version =
            previous.filter(|span| span.version == status.version && span.digest == status.digest);
        let (healthy_since, left_healthy_at) = match same_version {
            Some(span) if healthy => (span.healthy_since.or(Some(now)), span.left_healthy_at),
            Some(span) => (
                None,
                if span.healthy_since.is_some() {
                    Some(now)
                } else {
                    span.left_healthy_at
                },
            ),
            None => (healthy.then_some(now), None),
        };
        Self {
            environment: status.environment.clone(),
            package: status.package.clone(),
            version: status.version.clone(),
            digest: status.digest.clone(),
            healthy_since,
            left_healthy_at,
        }
    }

    /// How long `version` has been Healthy at `now`; `None` when it is not Healthy (or is
    /// not the version this span records).
    pub fn soaked(&self, version: &str, now: SystemTime) -> Option<Duration> {
        if self.version != version {
            return None;
        }
        self.healthy_since
            .map(|since| now.duration_since(since).unwrap_or_default())
    }

    /// When `version` has been Healthy for `soak`, whatever the time now; `None` when it
    /// is not Healthy (or is not the version this span records).
    pub fn soaked_at(&self, version: &str, soak: Duration) -> Option<SystemTime> {
        if self.version != version {
            return None;
        }
        self.healthy_since.map(|since| since + soak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotion::ports::SyncState;

    const MINUTE: Duration = Duration::from_secs(60);

    fn status(version: &str, health: HealthState) -> PackageSync {
        PackageSync {
            package: "a".into(),
            environment: "int".into(),
            version: version.into(),
            digest: format!("sha256:{version}"),
            promotion_id: None,
            revision: "c1".into(),
            sync: SyncState::Synced,
            health,
            last_sync: SystemTime::UNIX_EPOCH,
            message: String::new(),
            last_run: None,
        }
    }

    fn at(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + MINUTE * u32::try_from(minutes).expect("small")
    }

    #[test]
    fn healthy_then_degraded_then_healthy_starts_the_soak_again() {
        let span = HealthSpan::after(None, &status("v1", HealthState::Healthy), at(0));
        let span = HealthSpan::after(Some(&span), &status("v1", HealthState::Healthy), at(20));
        assert_eq!(span.soaked("v1", at(25)), Some(25 * MINUTE));
        let span = HealthSpan::after(Some(&span), &status("v1", HealthState::Degraded), at(26));
        assert_eq!(span.soaked("v1", at(27)), None);
        assert_eq!(span.left_healthy_at, Some(at(26)));
        let span = HealthSpan::after(Some(&span), &status("v1", HealthState::Healthy), at(30));
        assert_eq!(span.soaked("v1", at(40)), Some(10 * MINUTE));
        assert_eq!(span.soaked_at("v1", 15 * MINUTE), Some(at(45)));
        assert_eq!(span.left_healthy_at, Some(at(26)), "kept for explanations");
    }

    #[test]
    fn a_new_version_starts_its_own_soak_and_progressing_is_not_healthy() {
        let span = HealthSpan::after(None, &status("v1", HealthState::Healthy), at(0));
        let span = HealthSpan::after(Some(&span), &status("v2", HealthState::Progressing), at(10));
        assert_eq!(span.soaked("v2", at(11)), None);
        assert_eq!(span.soaked_at("v2", MINUTE), None, "not Healthy yet");
        assert_eq!(span.soaked("v1", at(11)), None, "v1 no longer runs");
        assert_eq!(span.soaked_at("v1", MINUTE), None, "v1 no longer runs");
        let span = HealthSpan::after(Some(&span), &status("v2", HealthState::Healthy), at(12));
        assert_eq!(span.soaked("v2", at(15)), Some(3 * MINUTE));
        assert_eq!(span.left_healthy_at, None);
    }

    #[test]
    fn a_clock_that_went_backwards_counts_as_no_soak_rather_than_failing() {
        let span = HealthSpan::after(None, &status("v1", HealthState::Healthy), at(10));
        assert_eq!(span.soaked("v1", at(5)), Some(Duration::ZERO));
    }
}
