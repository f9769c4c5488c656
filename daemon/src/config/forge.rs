//! The `forge:` keys of `dkd.yaml`: checked at load naming the key at fault, and turned
//! into the GitHub forge's settings (reading the token, which is never logged or echoed).

use super::{ConfigError, ForgeConfig, ForgeKind};
use crate::gitops::{GithubSettings, GithubToken};

const DEFAULT_BASE_BRANCH: &str = "main";
const DEFAULT_API_URL: &str = "https://api.github.com";
const DEFAULT_TOKEN_ENV: &str = "GITHUB_TOKEN";
const GITHUB_KEYS: [&str; 6] = [
    "owner",
    "repo",
    "base_branch",
    "api_url",
    "token_env",
    "token_file",
];

/// Checks the `forge:` section of `file` without reading the token.
pub(super) fn validate(forge: &ForgeConfig, file: &str) -> Result<(), ConfigError> {
    let refuse = |key: &'static str, reason: &str| ConfigError::Forge {
        file: file.to_owned(),
        key,
        reason: reason.to_owned(),
    };
    let values = [
        &forge.owner,
        &forge.repo,
        &forge.base_branch,
        &forge.api_url,
        &forge.token_env,
        &forge.token_file,
    ];
    if forge.kind == ForgeKind::Github && forge.asserted_approvers {
        return Err(refuse(
            "asserted_approvers",
            "only for the embedded forge's single-user demo: on GitHub, approvals are the pull request's reviews",
        ));
    }
    if forge.kind == ForgeKind::Github && forge.pack_every.is_some() {
        return Err(refuse(
            "pack_every",
            "only for the embedded forge's repository: GitHub packs its own",
        ));
    }
    if forge.kind == ForgeKind::Embedded {
        if let Some((key, _)) = GITHUB_KEYS.iter().zip(values).find(|(_, v)| v.is_some()) {
            return Err(refuse(
                key,
                "only used with forge.type github: remove it, or set type: github",
            ));
        }
        return Ok(());
    }
    for (key, value) in [("owner", &forge.owner), ("repo", &forge.repo)] {
        match value.as_deref() {
            None => {
                return Err(refuse(
                    key,
                    "required when forge.type is github: set it to the repository's owner and name",
                ));
            }
            Some(name) if !is_github_name(name) => {
                return Err(refuse(
                    key,
                    &format!(
                        "{name:?} is not a GitHub name: use letters, digits, '-', '_' and '.'"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(branch) = forge.base_branch.as_deref()
        && (branch.is_empty() || branch.contains("..") || branch.contains(' '))
    {
        return Err(refuse(
            "base_branch",
            &format!("{branch:?} is not a branch name: e.g. main"),
        ));
    }
    if let Some(url) = forge.api_url.as_deref() {
        let parsed: Result<http::Uri, _> = url.parse();
        let ok = parsed.as_ref().is_ok_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some()
        });
        if !ok {
            return Err(refuse(
                "api_url",
                &format!(
                    "{url:?} is not an http(s) URL: e.g. https://api.github.com or https://HOST/api/v3"
                ),
            ));
        }
    }
    if forge.token_env.is_some() && forge.token_file.is_some() {
        return Err(refuse(
            "token_file",
            "set either token_env or token_file, not both",
        ));
    }
    Ok(())
}

fn is_github_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The GitHub forge's settings from a validated `forge:` section, reading the token from
/// `token_file` or the `token_env` variable (default `GITHUB_TOKEN`).
pub fn github_settings(forge: &ForgeConfig, file: &str) -> Result<GithubSettings, ConfigError> {
    let refuse = |key: &'static str, reason: String| ConfigError::Forge {
        file: file.to_owned(),
        key,
        reason,
    };
    let token = match (&forge.token_file, &forge.token_env) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|error| refuse("token_file", format!("cannot read {path}: {error}")))?,
        (None, variable) => {
            let variable = variable.as_deref().unwrap_or(DEFAULT_TOKEN_ENV);
            std::env::var(variable).map_err(|_| {
                refuse(
                    "token_env",
                    format!("the environment variable {variable} is not set: export the GitHub token in it"),
                )
            })?
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        let key = if forge.token_file.is_some() {
            "token_file"
        } else {
            "token_env"
        };
        return Err(refuse(
            key,
            "the token is empty: provide a GitHub token".into(),
        ));
    }
    let required = |key: &'static str, value: &Option<String>| {
        value
            .clone()
            .ok_or_else(|| refuse(key, "required when forge.type is github".into()))
    };
    Ok(GithubSettings {
        owner: required("owner", &forge.owner)?,
        repo: required("repo", &forge.repo)?,
        base_branch: forge
            .base_branch
            .clone()
            .unwrap_or_else(|| DEFAULT_BASE_BRANCH.to_owned()),
        api_url: forge
            .api_url
            .clone()
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
        token: GithubToken::new(token),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::DaemonConfig;

    use super::*;

    fn error(text: &str) -> String {
        DaemonConfig::parse("dkd.yaml", text)
            .expect_err(text)
            .to_string()
    }

    #[test]
    fn a_github_forge_without_owner_or_repo_is_refused_naming_the_key() {
        assert!(
            error("forge: { type: github, repo: deploy }\n").starts_with("dkd.yaml: forge.owner: ")
        );
        assert!(
            error("forge: { type: github, owner: acme }\n").starts_with("dkd.yaml: forge.repo: ")
        );
    }

    #[test]
    fn a_bad_api_url_or_both_token_sources_are_refused_naming_the_key() {
        let base = "forge: { type: github, owner: acme, repo: deploy, ";
        assert!(
            error(&format!("{base}api_url: \"ftp://x\" }}\n"))
                .starts_with("dkd.yaml: forge.api_url: ")
        );
        assert!(
            error(&format!("{base}token_env: A, token_file: /t }}\n"))
                .starts_with("dkd.yaml: forge.token_file: ")
        );
    }

    #[test]
    fn github_keys_on_the_embedded_forge_are_refused() {
        assert!(error("forge: { owner: acme }\n").starts_with("dkd.yaml: forge.owner: "));
    }

    #[test]
    fn asserted_approvers_is_a_demo_of_the_embedded_forge_only() {
        let demo = DaemonConfig::parse("dkd.yaml", "forge: { asserted_approvers: true }\n")
            .expect("valid");
        assert!(demo.forge.asserted_approvers);
        let default = DaemonConfig::parse("dkd.yaml", "forge: { type: embedded }\n").expect("ok");
        assert!(!default.forge.asserted_approvers, "off by default");
        assert!(
            error("forge: { type: github, owner: a, repo: b, asserted_approvers: true }\n")
                .starts_with("dkd.yaml: forge.asserted_approvers: ")
        );
    }

    #[test]
    fn pack_every_is_for_the_embedded_forge_only() {
        let set = DaemonConfig::parse("dkd.yaml", "forge: { pack_every: 0 }\n").expect("valid");
        assert_eq!(set.forge.pack_every, Some(0));
        assert!(
            error("forge: { type: github, owner: a, repo: b, pack_every: 10 }\n")
                .starts_with("dkd.yaml: forge.pack_every: ")
        );
    }

    #[test]
    fn a_valid_github_forge_gets_defaults_and_a_token_that_never_prints() {
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "ghp_secret-value\n").expect("write token");
        let text = format!(
            "forge: {{ type: github, owner: acme, repo: deploy, token_file: {} }}\n",
            token_file.display()
        );
        let config = DaemonConfig::parse("dkd.yaml", &text).expect("valid");
        let settings = github_settings(&config.forge, "dkd.yaml").expect("settings");
        assert_eq!(settings.base_branch, "main");
        assert_eq!(settings.api_url, "https://api.github.com");
        assert_eq!(settings.token.expose(), "ghp_secret-value");
        assert!(!format!("{settings:?}").contains("secret-value"));
    }

    #[test]
    fn a_missing_token_variable_is_refused_naming_token_env() {
        let config = DaemonConfig::parse(
            "dkd.yaml",
            "forge: { type: github, owner: acme, repo: deploy, token_env: DK_TEST_SURELY_UNSET_TOKEN }\n",
        )
        .expect("valid");
        let error = github_settings(&config.forge, "dkd.yaml").expect_err("no token");
        assert!(
            error.to_string().starts_with("dkd.yaml: forge.token_env: "),
            "{error}"
        );
    }
}
