//! `verify: { timeout: 5m, retries: 1 }` of an environment: a verification runs after a
//! package is Synced and Healthy there (its definition lives in the deployment repository
//! at `environments/<env>/verify/<package>.yaml` or `environments/<env>/verify/default.yaml`).

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::fields::EnvironmentFields;
use crate::manifest::error::ManifestError;

/// How long one attempt may run when `timeout` is not written.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The longest attempt accepted: a longer one is almost certainly a typo.
const MAX_VERIFY_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// The most retries accepted.
const MAX_VERIFY_RETRIES: u32 = 10;

/// `verify:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerify {
    timeout: Option<Spanned<String>>,
    retries: Option<Spanned<u32>>,
}

/// The verification an environment requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// How long one attempt may run before it is killed and counts as failed.
    pub timeout: Duration,
    /// How many more attempts a failed one gets.
    pub retries: u32,
}

/// The verification of `verify:`, `None` when absent.
pub(super) fn build_verify(
    fields: &EnvironmentFields<'_>,
    raw: Option<RawVerify>,
) -> Result<Option<Verification>, ManifestError> {
    let Some(raw) = raw else { return Ok(None) };
    let timeout = match raw.timeout {
        None => DEFAULT_VERIFY_TIMEOUT,
        Some(timeout) => {
            let duration = humantime::parse_duration(timeout.value.trim()).map_err(|error| {
                fields.error(
                    "verify.timeout",
                    timeout.referenced,
                    format!(
                        "invalid timeout {:?} ({error}): write a duration such as 30s or 5m",
                        timeout.value
                    ),
                )
            })?;
            if duration.is_zero() || duration > MAX_VERIFY_TIMEOUT {
                return Err(fields.error(
                    "verify.timeout",
                    timeout.referenced,
                    format!(
                        "a timeout of {} is outside 1s..24h: write a duration such as 5m",
                        timeout.value
                    ),
                ));
            }
            duration
        }
    };
    let retries = match raw.retries {
        None => 0,
        Some(retries) if retries.value > MAX_VERIFY_RETRIES => {
            return Err(fields.error(
                "verify.retries",
                retries.referenced,
                format!(
                    "{} retries is over the limit of {MAX_VERIFY_RETRIES}: write a smaller number",
                    retries.value
                ),
            ));
        }
        Some(retries) => retries.value,
    };
    Ok(Some(Verification { timeout, retries }))
}
