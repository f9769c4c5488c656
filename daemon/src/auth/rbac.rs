//! Authorization: whether a principal may take an action in an environment on a package,
//! by the `config/rbac.yaml` in force. The local socket's owner is admin and passes; on the
//! network listener everything is denied unless a role bound to the caller allows it. A
//! denial says who, what, where, and which role would allow it.

use datakit::manifest::{Action, RbacPolicy};

use super::Principal;

/// Why a call is not allowed, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The deployment repository has no (valid) `config/rbac.yaml`.
    #[error(
        "permission denied: {who} may not {what}: this dkd has no config/rbac.yaml, so nothing is allowed on its network listener: add one to the deployment repository (see docs/rbac.md)"
    )]
    NoPolicy { who: String, what: String },
    /// No role bound to the caller allows it.
    #[error("permission denied: {who} may not {what}: {remedy}")]
    NotAllowed {
        who: String,
        what: String,
        remedy: String,
    },
}

/// `carol (groups: dev)`, `ci-bot (no groups)`.
fn who(principal: &Principal) -> String {
    if principal.groups.is_empty() {
        format!("{} (no groups)", principal.name)
    } else {
        format!(
            "{} (groups: {})",
            principal.name,
            principal.groups.join(", ")
        )
    }
}

/// `approve in prod`, `promote my-package in dev`, `administer this dkd (admin: …)`.
fn what(action: Action, environment: Option<&str>, package: Option<&str>) -> String {
    if action == Action::Admin {
        return "administer this dkd (admin: service tokens, audit log, notifications)".to_owned();
    }
    let mut what = action.to_string();
    if let Some(package) = package {
        what = format!("{what} {package}");
    }
    if let Some(environment) = environment {
        what = format!("{what} in {environment}");
    }
    what
}

/// The roles (with their bindings) that would allow the call, or how to get one.
fn remedy(
    policy: &RbacPolicy,
    action: Action,
    environment: Option<&str>,
    package: Option<&str>,
) -> String {
    let allowing: Vec<String> = policy
        .roles
        .iter()
        .filter(|role| {
            role.rules
                .iter()
                .any(|rule| rule.allows(action, environment, package))
        })
        .map(|role| {
            let bound: Vec<String> = policy
                .bindings
                .iter()
                .filter(|binding| binding.role == role.name)
                .map(datakit::manifest::Binding::describe)
                .collect();
            if bound.is_empty() {
                format!("role {} (bound to nobody)", role.name)
            } else {
                format!("role {} (bound to {})", role.name, bound.join("; "))
            }
        })
        .collect();
    match allowing.as_slice() {
        [] => format!(
            "no role in config/rbac.yaml allows that: add a rule with {action} there and bind its role to the caller"
        ),
        [one] => format!("{one} allows it"),
        many => format!("{} allow it", many.join(", ")),
    }
}

/// Whether `principal` may take `action` in `environment` on `package` under `policy`.
/// `None` for the environment or the package stands for "some": reading "in prod" is
/// allowed when some package there may be read.
pub fn allow(
    policy: Option<&RbacPolicy>,
    principal: &Principal,
    action: Action,
    environment: Option<&str>,
    package: Option<&str>,
) -> Result<(), Denial> {
    if principal.is_local() {
        return Ok(());
    }
    let Some(policy) = policy else {
        return Err(Denial::NoPolicy {
            who: who(principal),
            what: what(action, environment, package),
        });
    };
    let allowed = policy
        .bindings
        .iter()
        .filter(|binding| binding.applies_to(&principal.name, &principal.groups))
        .filter_map(|binding| policy.role(&binding.role))
        .flat_map(|role| &role.rules)
        .any(|rule| rule.allows(action, environment, package));
    if allowed {
        return Ok(());
    }
    Err(Denial::NotAllowed {
        who: who(principal),
        what: what(action, environment, package),
        remedy: remedy(policy, action, environment, package),
    })
}

/// What `principal` may do in `environment`: each allowed action with the package
/// patterns it covers (`*` for all), in [`Action::ALL`] order; admin is left out.
pub fn grants(
    policy: Option<&RbacPolicy>,
    principal: &Principal,
    environment: &str,
) -> Vec<(Action, Vec<String>)> {
    let scoped = Action::ALL.into_iter().filter(|a| *a != Action::Admin);
    if principal.is_local() {
        return scoped
            .map(|action| (action, vec!["*".to_owned()]))
            .collect();
    }
    let Some(policy) = policy else {
        return Vec::new();
    };
    let rules: Vec<_> = policy
        .bindings
        .iter()
        .filter(|binding| binding.applies_to(&principal.name, &principal.groups))
        .filter_map(|binding| policy.role(&binding.role))
        .flat_map(|role| &role.rules)
        .filter(|rule| rule.environments.iter().any(|p| p.matches(environment)))
        .collect();
    scoped
        .filter_map(|action| {
            let mut packages: Vec<String> = Vec::new();
            for rule in rules.iter().filter(|rule| rule.actions.contains(&action)) {
                for pattern in &rule.packages {
                    if !packages.iter().any(|p| p == pattern.as_str()) {
                        packages.push(pattern.as_str().to_owned());
                    }
                }
            }
            if packages.iter().any(|p| p == "*") {
                packages = vec!["*".to_owned()];
            }
            (!packages.is_empty()).then_some((action, packages))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use datakit::manifest::parse_rbac;

    use super::*;
    use crate::auth::AuthMethod;

    const POLICY: &str = "roles:
  developer:
    - actions: [read, promote, rollback]
      environments: [dev]
  team-a:
    - actions: [promote]
      environments: [\"*\"]
      packages: [team-a-*]
  prod-approver:
    - actions: [approve]
      environments: [prod]
  admins:
    - actions: [admin]
      environments: [\"*\"]
bindings:
  - role: developer
    users: [\"*\"]
  - role: team-a
    users: [dave]
  - role: prod-approver
    groups: [security]
";

    fn policy() -> RbacPolicy {
        parse_rbac("config/rbac.yaml", POLICY, &["dev", "int", "prod"]).expect("valid")
    }

    fn caller(name: &str, groups: &[&str]) -> Principal {
        Principal {
            name: name.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            method: AuthMethod::ServiceToken,
            validity: crate::auth::Validity::default(),
        }
    }

    #[test]
    fn a_denial_names_the_caller_the_action_the_environment_and_the_role_that_allows_it() {
        let denial = allow(
            Some(&policy()),
            &caller("carol", &["dev"]),
            Action::Approve,
            Some("prod"),
            None,
        )
        .expect_err("carol is not in security");
        assert_eq!(
            denial.to_string(),
            "permission denied: carol (groups: dev) may not approve in prod: role prod-approver (bound to group security) allows it"
        );
        let allowed = allow(
            Some(&policy()),
            &caller("bob", &["security"]),
            Action::Approve,
            Some("prod"),
            None,
        );
        assert_eq!(allowed, Ok(()));
    }

    #[test]
    fn package_patterns_and_the_everyone_binding_decide_per_package() {
        let policy = Some(policy());
        let dave = caller("Dave", &[]);
        assert_eq!(
            allow(
                policy.as_ref(),
                &dave,
                Action::Promote,
                Some("prod"),
                Some("team-a-events")
            ),
            Ok(())
        );
        let denial = allow(
            policy.as_ref(),
            &dave,
            Action::Promote,
            Some("prod"),
            Some("billing"),
        )
        .expect_err("not a team-a package");
        assert_eq!(
            denial.to_string(),
            "permission denied: Dave (no groups) may not promote billing in prod: no role in config/rbac.yaml allows that: add a rule with promote there and bind its role to the caller"
        );
        let anyone = caller("erin", &[]);
        assert_eq!(
            allow(
                policy.as_ref(),
                &anyone,
                Action::Read,
                Some("dev"),
                Some("x")
            ),
            Ok(())
        );
        let admin = allow(policy.as_ref(), &anyone, Action::Admin, None, None).expect_err("no");
        assert!(admin.to_string().contains("may not administer this dkd (admin: service tokens, audit log, notifications): role admins (bound to nobody) allows it"), "{admin}");
    }

    #[test]
    fn without_a_policy_nothing_is_allowed_but_the_socket_owner_is_admin() {
        let denial = allow(None, &caller("erin", &[]), Action::Read, Some("dev"), None)
            .expect_err("deny by default");
        assert!(
            denial
                .to_string()
                .contains("erin (no groups) may not read in dev: this dkd has no config/rbac.yaml"),
            "{denial}"
        );
        let owner = Principal::local("me".to_owned());
        assert_eq!(allow(None, &owner, Action::Admin, None, None), Ok(()));
        assert_eq!(grants(None, &owner, "prod").len(), 5);
    }

    #[test]
    fn grants_list_the_actions_per_environment_with_their_packages() {
        let policy = Some(policy());
        let dave = caller("dave", &[]);
        let in_dev: Vec<(Action, Vec<String>)> = grants(policy.as_ref(), &dave, "dev");
        assert_eq!(
            in_dev,
            [
                (Action::Read, vec!["*".to_owned()]),
                (Action::Promote, vec!["*".to_owned()]),
                (Action::Rollback, vec!["*".to_owned()]),
            ]
        );
        assert_eq!(
            grants(policy.as_ref(), &dave, "int"),
            [(Action::Promote, vec!["team-a-*".to_owned()])]
        );
    }
}
