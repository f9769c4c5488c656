//! `promotion: { soak: 30m }` of an environment: how long a version must have been
//! Healthy in the upstream environment, continuously, before it is promoted here. Only an
//! environment with an upstream may ask for it.

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::fields::EnvironmentFields;
use crate::manifest::error::ManifestError;

/// The longest soak accepted: a longer one is almost certainly a typo (`30d` for `30m`).
const MAX_SOAK: Duration = Duration::from_secs(90 * 24 * 3600);

/// `promotion:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPromotion {
    soak: Option<Spanned<String>>,
}

/// A soak as parsed, with where it was written (checked against the upstream later).
pub(super) struct ParsedSoak {
    pub(super) duration: Duration,
    pub(super) location: Location,
}

/// The soak of `promotion:`, `None` when absent or zero.
pub(super) fn build_soak(
    fields: &EnvironmentFields<'_>,
    raw: Option<RawPromotion>,
) -> Result<Option<ParsedSoak>, ManifestError> {
    let Some(soak) = raw.and_then(|raw| raw.soak) else {
        return Ok(None);
    };
    let duration = humantime::parse_duration(soak.value.trim()).map_err(|error| {
        fields.error(
            "promotion.soak",
            soak.referenced,
            format!(
                "invalid soak {:?} ({error}): write a duration such as 30m, 2h or 1d",
                soak.value
            ),
        )
    })?;
    if duration > MAX_SOAK {
        return Err(fields.error(
            "promotion.soak",
            soak.referenced,
            format!(
                "a soak of {} is over the limit of 90 days: write a shorter duration such as 30m or 2h",
                soak.value
            ),
        ));
    }
    Ok((!duration.is_zero()).then_some(ParsedSoak {
        duration,
        location: soak.referenced,
    }))
}

/// Refuses a soak on an environment nothing comes before: there is nowhere to soak.
pub(super) fn check_soak_has_upstream(
    fields: &EnvironmentFields<'_>,
    soak: &ParsedSoak,
    upstream: Option<&str>,
) -> Result<(), ManifestError> {
    if upstream.is_some() {
        return Ok(());
    }
    Err(fields.error(
        "promotion.soak",
        soak.location,
        format!(
            "{} has no upstream environment, so there is nowhere for a version to soak first: remove promotion.soak, or put it on an environment with an upstream",
            fields.environment
        ),
    ))
}
