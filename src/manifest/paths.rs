//! Where things live in the deployment repository.

/// The environments, their order and approval rules.
pub const ENVIRONMENTS_FILE: &str = "config/environments.yaml";

/// The reviewer groups of the embedded forge.
pub const TEAMS_FILE: &str = "config/teams.yaml";

/// Who may do what on a shared dkd's network listener (RBAC).
pub const RBAC_FILE: &str = "config/rbac.yaml";

/// The `DeployedPackage` manifest of `package` in `env`: `environments/<env>/<package>.yaml`.
/// Both names must be valid (see [`super::validate_name`]) so the path stays in its folder.
pub fn package_manifest_path(env: &str, package: &str) -> String {
    format!("environments/{env}/{package}.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_manifest_lives_in_its_environment_folder() {
        assert_eq!(
            package_manifest_path("dev", "my-package"),
            "environments/dev/my-package.yaml"
        );
    }
}
