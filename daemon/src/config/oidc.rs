//! `auth.oidc:` of `dkd.yaml`: whose OIDC tokens (JWT) authenticate callers on the network
//! listener — the issuer, the audience, where its keys are — and which claims name the user
//! and their groups. Checked at load, naming the field at fault.

use std::{net::IpAddr, time::Duration};

use reqwest::Url;
use serde::Deserialize;

use super::ConfigError;

/// The claim naming the user unless configured.
const DEFAULT_USERNAME_CLAIM: &str = "preferred_username";
/// The claim listing the user's groups unless configured.
const DEFAULT_GROUPS_CLAIM: &str = "groups";
/// How far dkd's clock and the issuer's may disagree unless configured, in seconds.
const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
/// The most clock skew dkd tolerates: more would keep expired tokens alive too long.
const MAX_CLOCK_SKEW_SECONDS: u64 = 300;
/// The least time between two fetches of the issuer's keys unless configured, in seconds.
const DEFAULT_JWKS_REFETCH_INTERVAL_SECONDS: u64 = 30;
const JWKS_REFETCH_INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 1..=3600;

/// `auth:` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// OIDC tokens (JWT) on the network listener.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
}

/// `auth.oidc:` as written. `issuer` and `audience` are required; they are options here so
/// that a missing one is refused with this module's message, naming it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer's URL, exactly as its tokens' `iss` claim says it.
    #[serde(default)]
    pub issuer: Option<String>,
    /// What a token's `aud` claim must contain: the client id dkd's users sign in with.
    #[serde(default)]
    pub audience: Option<String>,
    /// The issuer's JWKS; default: the `jwks_uri` of `ISSUER/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    #[serde(default = "default_clock_skew_seconds")]
    pub clock_skew_seconds: u64,
    #[serde(default = "default_jwks_refetch_interval_seconds")]
    pub jwks_refetch_interval_seconds: u64,
}

fn default_username_claim() -> String {
    DEFAULT_USERNAME_CLAIM.to_owned()
}

fn default_groups_claim() -> String {
    DEFAULT_GROUPS_CLAIM.to_owned()
}

fn default_clock_skew_seconds() -> u64 {
    DEFAULT_CLOCK_SKEW_SECONDS
}

fn default_jwks_refetch_interval_seconds() -> u64 {
    DEFAULT_JWKS_REFETCH_INTERVAL_SECONDS
}

/// Validated `auth.oidc:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    /// `None`: discovered from the issuer.
    pub jwks_url: Option<Url>,
    pub username_claim: String,
    pub groups_claim: String,
    pub clock_skew: Duration,
    pub jwks_refetch_interval: Duration,
}

impl OidcConfig {
    /// Checks `auth.oidc:` of `file`.
    pub fn validate(&self, file: &str) -> Result<OidcSettings, ConfigError> {
        let refuse = |key: &'static str, reason: String| ConfigError::Oidc {
            file: file.to_owned(),
            key,
            reason,
        };
        let issuer = self.issuer.as_deref().ok_or_else(|| {
            refuse(
                "issuer",
                "required: the issuer URL exactly as its tokens' iss claim says it, e.g. https://id.example.com/realms/acme".to_owned(),
            )
        })?;
        endpoint_url(issuer).map_err(|reason| refuse("issuer", reason))?;
        let audience = self
            .audience
            .as_deref()
            .filter(|audience| !audience.trim().is_empty())
            .ok_or_else(|| {
                refuse(
                    "audience",
                    "required: what the tokens' aud claim must contain, usually the client id dkd's users sign in with".to_owned(),
                )
            })?;
        let jwks_url = self
            .jwks_url
            .as_deref()
            .map(endpoint_url)
            .transpose()
            .map_err(|reason| refuse("jwks_url", reason))?;
        for (key, claim) in [
            ("username_claim", &self.username_claim),
            ("groups_claim", &self.groups_claim),
        ] {
            if claim.trim().is_empty() {
                return Err(refuse(
                    key,
                    "must name a claim of the tokens, or be left out for the default".to_owned(),
                ));
            }
        }
        if self.clock_skew_seconds > MAX_CLOCK_SKEW_SECONDS {
            return Err(refuse(
                "clock_skew_seconds",
                format!(
                    "must be between 0 and {MAX_CLOCK_SKEW_SECONDS}, not {}: fix the clocks (NTP) rather than accept expired tokens",
                    self.clock_skew_seconds
                ),
            ));
        }
        if !JWKS_REFETCH_INTERVAL_RANGE.contains(&self.jwks_refetch_interval_seconds) {
            return Err(refuse(
                "jwks_refetch_interval_seconds",
                format!(
                    "must be between {} and {}, not {}",
                    JWKS_REFETCH_INTERVAL_RANGE.start(),
                    JWKS_REFETCH_INTERVAL_RANGE.end(),
                    self.jwks_refetch_interval_seconds
                ),
            ));
        }
        Ok(OidcSettings {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            jwks_url,
            username_claim: self.username_claim.clone(),
            groups_claim: self.groups_claim.clone(),
            clock_skew: Duration::from_secs(self.clock_skew_seconds),
            jwks_refetch_interval: Duration::from_secs(self.jwks_refetch_interval_seconds),
        })
    }
}

/// `text` as a URL dkd may fetch the issuer's documents from: https, or plain http to a
/// loopback address only; no credentials or fragment in it.
pub fn endpoint_url(text: &str) -> Result<Url, String> {
    let shown = datakit::text::quoted(text);
    let url = Url::parse(text).map_err(|error| format!("{shown} is not a URL: {error}"))?;
    let loopback = url
        .host_str()
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|host| host.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{shown}: plain http is allowed only to a loopback address (127.0.0.1, [::1]): use https://"
            ));
        }
        _ => return Err(format!("{shown}: use an https:// URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{shown}: no host in it"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{shown}: credentials do not belong in the URL: the issuer's keys are public"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!("{shown}: remove the #fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc(text: &str) -> Result<OidcSettings, ConfigError> {
        let config: OidcConfig = datakit::manifest::parse_yaml("dkd.yaml", text).expect("parses");
        config.validate("dkd.yaml")
    }

    #[test]
    fn an_issuer_and_an_audience_are_enough_and_the_rest_has_defaults() {
        let settings =
            oidc("issuer: https://id.example.com/realms/acme\naudience: dkd\n").expect("valid");
        assert_eq!(
            settings,
            OidcSettings {
                issuer: "https://id.example.com/realms/acme".to_owned(),
                audience: "dkd".to_owned(),
                jwks_url: None,
                username_claim: "preferred_username".to_owned(),
                groups_claim: "groups".to_owned(),
                clock_skew: Duration::from_secs(60),
                jwks_refetch_interval: Duration::from_secs(30),
            }
        );
    }

    #[test]
    fn every_refused_field_is_named_in_one_line() {
        let base = "issuer: https://id.example.com\naudience: dkd\n";
        let cases = [
            ("audience: dkd\n".to_owned(), "auth.oidc.issuer: required"),
            (
                "issuer: https://id.example.com\n".to_owned(),
                "auth.oidc.audience: required",
            ),
            (
                "issuer: http://id.example.com\naudience: dkd\n".to_owned(),
                "auth.oidc.issuer: \"http://id.example.com\": plain http is allowed only to a loopback address",
            ),
            (
                "issuer: id.example.com\naudience: dkd\n".to_owned(),
                "auth.oidc.issuer: \"id.example.com\" is not a URL",
            ),
            (
                format!("{base}jwks_url: ftp://id.example.com/keys\n"),
                "auth.oidc.jwks_url:",
            ),
            (
                format!("{base}jwks_url: https://user:pw@id.example.com/keys\n"),
                "auth.oidc.jwks_url: \"https://user:pw@id.example.com/keys\": credentials",
            ),
            (
                format!("{base}username_claim: \"\"\n"),
                "auth.oidc.username_claim: must name a claim",
            ),
            (
                format!("{base}clock_skew_seconds: 3600\n"),
                "auth.oidc.clock_skew_seconds: must be between 0 and 300, not 3600",
            ),
            (
                format!("{base}jwks_refetch_interval_seconds: 0\n"),
                "auth.oidc.jwks_refetch_interval_seconds: must be between 1 and 3600, not 0",
            ),
        ];
        for (text, expected) in cases {
            let message = oidc(&text).expect_err(&text).to_string();
            assert!(
                message.starts_with(&format!("dkd.yaml: {expected}")),
                "{text}: {message}"
            );
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn plain_http_is_accepted_to_loopback_addresses_only() {
        for loopback in ["http://127.0.0.1:8080/", "http://[::1]:8080/realms/acme"] {
            assert!(endpoint_url(loopback).is_ok(), "{loopback}");
        }
        for remote in ["http://10.0.0.1/", "http://localhost/", "http://[::]/"] {
            assert!(endpoint_url(remote).is_err(), "{remote}");
        }
    }
}
