//! A verification definition, `environments/<env>/verify/<package>.yaml` or the
//! environment's default `environments/<env>/verify/default.yaml`: on the embedded target a
//! `command` dkd runs on its own host (only when `dkd.yaml` opts in), on Argo CD a
//! Kubernetes Job template under `job`.

use serde::Deserialize;

use super::error::ManifestError;
use super::yaml;

/// The file of `package`'s own verification in `env`.
pub fn verification_path(env: &str, package: &str) -> String {
    format!("environments/{env}/verify/{package}.yaml")
}

/// The environment's default verification, used when a package has none of its own.
pub fn default_verification_path(env: &str) -> String {
    format!("environments/{env}/verify/default.yaml")
}

/// What a verification runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationDefinition {
    /// The program and its arguments (embedded target), e.g. `["sh", "-c", "…"]`.
    #[serde(default)]
    pub command: Vec<String>,
    /// A Kubernetes Job template (Argo CD), kept as written.
    #[serde(default)]
    pub job: Option<serde_json::Value>,
}

/// Parses a verification definition; `file` is used in errors.
pub fn parse_verification(file: &str, text: &str) -> Result<VerificationDefinition, ManifestError> {
    let definition: VerificationDefinition = yaml::parse_yaml(file, text)?;
    if definition.command.is_empty() && definition.job.is_none() {
        return Err(ManifestError::new(
            file,
            "command",
            "nothing to run: write command: [\"sh\", \"-c\", \"…\"] (embedded target) or job: {…} (Argo CD)",
        ));
    }
    if definition
        .command
        .first()
        .is_some_and(|program| program.trim().is_empty())
    {
        return Err(ManifestError::new(
            file,
            "command",
            "the program (first item) is empty: name the program to run, e.g. sh",
        ));
    }
    Ok(definition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_needs_a_command_or_a_job_and_a_named_program() {
        let definition =
            parse_verification("v.yaml", "command: [\"sh\", \"-c\", \"true\"]\n").expect("parses");
        assert_eq!(definition.command, ["sh", "-c", "true"]);
        let nothing = parse_verification("v.yaml", "command: []\n").expect_err("refused");
        assert!(nothing.to_string().contains("nothing to run"), "{nothing}");
        let blank = parse_verification("v.yaml", "command: [\" \"]\n").expect_err("refused");
        assert!(blank.to_string().contains("program"), "{blank}");
        assert!(parse_verification("v.yaml", "script: x\n").is_err());
    }
}
