//! `notifications:` of `dkd.yaml`: outgoing webhooks — where each one posts, which events it
//! sends, the secret its bodies are signed with, and how hard it tries.

use std::{collections::BTreeSet, path::Path, time::Duration};

use serde::Deserialize;

use super::ConfigError;

/// Every event name a webhook may ask for. `hold.set` and `hold.released` are accepted now
/// and sent once holds exist.
pub const EVENT_NAMES: [&str; 10] = [
    "promotion.opened",
    "promotion.waiting_for_approval",
    "promotion.merged",
    "promotion.healthy",
    "promotion.failed",
    "promotion.rolled_back",
    "promotion.rejected",
    "promotion.cancelled",
    "hold.set",
    "hold.released",
];

/// One `notifications:` entry as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique; names the webhook in logs and `dk notifications status`.
    pub name: String,
    /// Where events are POSTed (`http://` or `https://`).
    pub url: String,
    /// The events to send (default: all of them).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// A file holding the signing secret (relative to `dkd.yaml`'s folder).
    #[serde(default)]
    pub secret_file: Option<String>,
    /// An environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// `json` (default) or `slack`.
    #[serde(default)]
    pub format: WebhookFormat,
    /// How long one attempt may take, in milliseconds (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts per event before it is given up (default 5).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_max_attempts() -> u32 {
    5
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    /// The event as a JSON document.
    #[default]
    Json,
    /// `{"text": "…"}`, as Slack's incoming webhooks take it.
    Slack,
}

/// A validated webhook, its secret read.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub name: String,
    pub url: reqwest::Url,
    pub events: BTreeSet<String>,
    /// `None` only for `format: slack` without a secret (Slack checks no signature).
    pub secret: Option<Vec<u8>>,
    pub format: WebhookFormat,
    pub timeout: Duration,
    pub max_attempts: u32,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("events", &self.events)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Validates every entry of `notifications:` of `file`; the secrets are read now, so a
/// missing one stops dkd at start.
pub fn validate(entries: &[WebhookConfig], file: &str) -> Result<Vec<Webhook>, ConfigError> {
    let base = Path::new(file).parent().unwrap_or(Path::new("."));
    let mut names = BTreeSet::new();
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let refuse = |key: &str, reason: String| ConfigError::Notification {
                file: file.to_owned(),
                key: format!("notifications[{index}].{key}"),
                reason,
            };
            if entry.name.trim().is_empty() {
                return Err(refuse("name", "must not be empty".to_owned()));
            }
            if !names.insert(entry.name.clone()) {
                return Err(refuse(
                    "name",
                    format!(
                        "{} is used twice: give each webhook its own name",
                        entry.name
                    ),
                ));
            }
            let url = reqwest::Url::parse(&entry.url)
                .map_err(|error| refuse("url", format!("{}: {error}", entry.url)))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(refuse(
                    "url",
                    format!("{} is not an http:// or https:// address", entry.url),
                ));
            }
            let events = match &entry.events {
                None => EVENT_NAMES.iter().map(|e| (*e).to_owned()).collect(),
                Some(events) if events.is_empty() => {
                    return Err(refuse(
                        "events",
                        "is empty: list events, or leave it out for all".to_owned(),
                    ));
                }
                Some(events) => {
                    if let Some(unknown) =
                        events.iter().find(|e| !EVENT_NAMES.contains(&e.as_str()))
                    {
                        return Err(refuse(
                            "events",
                            format!("unknown event {unknown}; known: {}", EVENT_NAMES.join(", ")),
                        ));
                    }
                    events.iter().cloned().collect()
                }
            };
            let secret = match (&entry.secret_file, &entry.secret_env) {
                (Some(_), Some(_)) => {
                    return Err(refuse(
                        "secret_file",
                        "set either secret_file or secret_env, not both".to_owned(),
                    ));
                }
                (Some(path), None) => {
                    let path = base.join(path);
                    let text = std::fs::read_to_string(&path).map_err(|error| {
                        refuse(
                            "secret_file",
                            format!("cannot read {}: {error}", path.display()),
                        )
                    })?;
                    Some(non_empty(text.trim()).ok_or_else(|| {
                        refuse("secret_file", format!("{} is empty", path.display()))
                    })?)
                }
                (None, Some(variable)) => {
                    let value = std::env::var(variable).unwrap_or_default();
                    Some(non_empty(value.trim()).ok_or_else(|| {
                        refuse(
                            "secret_env",
                            format!("environment variable {variable} is not set"),
                        )
                    })?)
                }
                (None, None) if entry.format == WebhookFormat::Slack => None,
                (None, None) => {
                    return Err(refuse(
                        "secret_file",
                        "a json webhook needs a signing secret: set secret_file or secret_env"
                            .to_owned(),
                    ));
                }
            };
            if !(100..=60_000).contains(&entry.timeout_ms) {
                return Err(refuse(
                    "timeout_ms",
                    format!("must be between 100 and 60000, not {}", entry.timeout_ms),
                ));
            }
            if !(1..=20).contains(&entry.max_attempts) {
                return Err(refuse(
                    "max_attempts",
                    format!("must be between 1 and 20, not {}", entry.max_attempts),
                ));
            }
            Ok(Webhook {
                name: entry.name.clone(),
                url,
                events,
                secret,
                format: entry.format,
                timeout: Duration::from_millis(entry.timeout_ms),
                max_attempts: entry.max_attempts,
            })
        })
        .collect()
}

fn non_empty(text: &str) -> Option<Vec<u8>> {
    (!text.is_empty()).then(|| text.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::super::DaemonConfig;

    fn refused(text: &str) -> String {
        DaemonConfig::parse("dkd.yaml", text)
            .expect_err(text)
            .to_string()
    }

    #[test]
    fn each_mistake_in_a_webhook_is_refused_naming_its_key() {
        the_unset_variable_is_unset();
        for (text, key) in [
            (
                "notifications: [{ name: a, url: \"ftp://x\", secret_env: DK_TEST_HOOK }]",
                "notifications[0].url",
            ),
            (
                "notifications: [{ name: a, url: \"http://x\", events: [promotion.openned], secret_env: DK_TEST_HOOK }]",
                "notifications[0].events",
            ),
            (
                "notifications: [{ name: a, url: \"http://x\" }]",
                "notifications[0].secret_file",
            ),
            (
                "notifications: [{ name: a, url: \"http://x\", secret_env: DK_TEST_HOOK_UNSET }]",
                "notifications[0].secret_env",
            ),
            (
                "notifications: [{ name: a, url: \"http://x\", format: slack, timeout_ms: 1 }]",
                "notifications[0].timeout_ms",
            ),
            (
                "notifications: [{ name: a, url: \"http://x\", format: slack, max_attempts: 0 }]",
                "notifications[0].max_attempts",
            ),
            (
                "notifications: [{ name: a, url: \"http://x\", format: slack }, { name: a, url: \"http://y\", format: slack }]",
                "notifications[1].name",
            ),
        ] {
            let message = refused(text);
            assert!(
                message.starts_with(&format!("dkd.yaml: {key}: ")),
                "{message}"
            );
        }
        let message = refused("notifications: [{ name: a, url: \"http://x\", sekret: s }]");
        assert!(message.contains("sekret"), "{message}");
    }

    /// Setting variables in tests is racy: these rely on one nobody sets.
    fn the_unset_variable_is_unset() {
        assert!(std::env::var("DK_TEST_HOOK_UNSET").is_err());
    }

    #[test]
    fn a_slack_webhook_needs_no_secret_and_defaults_to_every_event() {
        let config = DaemonConfig::parse(
            "dkd.yaml",
            "notifications: [{ name: chat, url: \"https://hooks.slack.com/services/T/B/X\", format: slack }]",
        )
        .expect("valid");
        let hooks = super::validate(&config.notifications, "dkd.yaml").expect("valid");
        assert_eq!(hooks[0].events.len(), super::EVENT_NAMES.len());
        assert_eq!(hooks[0].secret, None);
    }
}
