//! Where the GitHub forge's repository is and how dkd authenticates to it. The token
//! redacts itself wherever it could be printed.

/// A GitHub token: shown as `[redacted]` in `Debug`, never logged or echoed.
#[derive(Clone, PartialEq, Eq)]
pub struct GithubToken(String);

impl GithubToken {
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The token itself, for the Authorization header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for GithubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The validated `forge:` section for `type: github`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubSettings {
    pub owner: String,
    pub repo: String,
    pub base_branch: String,
    /// REST API root, e.g. `https://api.github.com` or `https://HOST/api/v3`.
    pub api_url: String,
    pub token: GithubToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_shows_in_debug_output() {
        let token = GithubToken::new("ghp_very-secret".into());
        assert_eq!(format!("{token:?}"), "[redacted]");
        assert_eq!(token.expose(), "ghp_very-secret");
    }
}
