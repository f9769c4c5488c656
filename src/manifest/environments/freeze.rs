//! `freeze:` windows of an environment: promotions inside one are refused (rollbacks are not).

use std::str::FromStr;
use std::time::SystemTime;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::fields::EnvironmentFields;
use crate::manifest::error::ManifestError;

/// A time range in which promotions to an environment are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeWindow {
    /// First instant of the freeze.
    pub start: SystemTime,
    /// First instant after the freeze (exclusive).
    pub end: SystemTime,
    /// Why, shown to whoever is refused.
    pub reason: String,
}

impl FreezeWindow {
    /// Whether `now` falls inside the window (`start` included, `end` excluded).
    pub fn contains(&self, now: SystemTime) -> bool {
        self.start <= now && now < self.end
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFreeze {
    start: Spanned<String>,
    end: Spanned<String>,
    reason: Spanned<String>,
}

/// Checks an environment's `freeze:` list.
pub(super) fn build_freezes(
    fields: &EnvironmentFields<'_>,
    raw: Vec<RawFreeze>,
) -> Result<Vec<FreezeWindow>, ManifestError> {
    raw.into_iter()
        .enumerate()
        .map(|(index, window)| build_freeze(fields, index, window))
        .collect()
}

fn build_freeze(
    fields: &EnvironmentFields<'_>,
    index: usize,
    raw: RawFreeze,
) -> Result<FreezeWindow, ManifestError> {
    let start = parse_time(fields, &format!("freeze[{index}].start"), &raw.start)?;
    let end = parse_time(fields, &format!("freeze[{index}].end"), &raw.end)?;
    if end <= start {
        return Err(fields.error(
            &format!("freeze[{index}].end"),
            raw.end.referenced,
            format!(
                "end {} is not after start {}: swap them or fix the dates",
                raw.end.value, raw.start.value
            ),
        ));
    }
    let reason = raw.reason.value.trim().to_string();
    if reason.is_empty() {
        return Err(fields.error(
            &format!("freeze[{index}].reason"),
            raw.reason.referenced,
            "reason is empty: say why promotions are frozen",
        ));
    }
    Ok(FreezeWindow { start, end, reason })
}

fn parse_time(
    fields: &EnvironmentFields<'_>,
    field: &str,
    text: &Spanned<String>,
) -> Result<SystemTime, ManifestError> {
    let invalid = || {
        fields.error(
            field,
            text.referenced,
            format!(
                "{:?} is not an RFC 3339 time: write e.g. 2025-12-20T00:00:00Z",
                text.value
            ),
        )
    };
    let timestamp = prost_types::Timestamp::from_str(&text.value).map_err(|_| invalid())?;
    SystemTime::try_from(timestamp).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::manifest::environments::test_fixtures::parse;
    use crate::manifest::test_support::{err, ok};

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    const FROZEN_DEV: &str = "\
environments:
  dev:
    cluster: c
    namespace: n
    approval: { required: false, auto_merge: true }
    freeze:
      - { start: 2025-12-20T00:00:00Z, end: \"2026-01-05T00:00:00+01:00\", reason: holidays }
";

    #[test]
    fn freeze_windows_are_read_and_active_only_between_start_and_end() {
        let config = ok(parse(FROZEN_DEV));
        let Some(dev) = config.get("dev") else {
            panic!("dev is missing")
        };
        let start = 1_766_188_800; // 2025-12-20T00:00:00Z
        let end = 1_767_567_600; // 2026-01-04T23:00:00Z
        assert_eq!(
            dev.freezes,
            [FreezeWindow {
                start: at(start),
                end: at(end),
                reason: "holidays".into()
            }]
        );
        assert!(dev.active_freeze(at(start - 1)).is_none());
        assert_eq!(
            dev.active_freeze(at(start))
                .map(|window| window.reason.as_str()),
            Some("holidays")
        );
        assert!(dev.active_freeze(at(end - 1)).is_some());
        assert!(dev.active_freeze(at(end)).is_none());
    }

    #[test]
    fn a_freeze_that_ends_before_it_starts_is_refused() {
        let error = err(parse(&FROZEN_DEV.replace("2025-12-20", "2026-02-01")));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("environments.dev.freeze[0].end", Some(7))
        );
        assert!(error.message.contains("is not after start"), "{error}");
    }

    #[test]
    fn a_freeze_time_that_is_not_rfc_3339_is_refused() {
        let error = err(parse(
            &FROZEN_DEV.replace("2025-12-20T00:00:00Z", "next-monday"),
        ));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("environments.dev.freeze[0].start", Some(7))
        );
        assert!(error.message.contains("not an RFC 3339 time"), "{error}");
    }

    #[test]
    fn a_freeze_without_a_reason_is_refused() {
        let error = err(parse(
            &FROZEN_DEV.replace("reason: holidays", "reason: \" \""),
        ));
        assert_eq!(error.field, "environments.dev.freeze[0].reason");
        let error = err(parse(&FROZEN_DEV.replace(", reason: holidays", "")));
        assert!(error.message.contains("missing field `reason`"), "{error}");
    }
}
