//! `config/rbac.yaml`: who may do what on a shared dkd's network listener. Roles are lists
//! of rules (actions × environment patterns × package patterns, `*` a glob), bound to
//! users and groups. Parsed and validated here; the decision is dkd's (`auth::rbac`).

use std::fmt;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::error::ManifestError;
use super::names::{is_valid_login, validate_name};
use super::ordered_map::OrderedMap;
use super::yaml;

/// What a caller does, as RBAC rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Status, Watch, Logs, ListEnvironments, ListPromotions, GetPromotion.
    Read,
    /// Promote.
    Promote,
    /// Rollback, Promote with `rollback`, and SetHold (`dk hold`).
    Rollback,
    /// Approve, Reject, and ReleaseHold (`dk hold release`).
    Approve,
    /// Change an environment's configuration through a change request (AddStore).
    Configure,
    /// Service tokens and the audit log: not scoped by environment.
    Admin,
}

impl Action {
    /// Every action, in the order messages list them.
    pub const ALL: [Self; 6] = [
        Self::Read,
        Self::Promote,
        Self::Rollback,
        Self::Approve,
        Self::Configure,
        Self::Admin,
    ];

    /// The action's name in `config/rbac.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Promote => "promote",
            Self::Rollback => "rollback",
            Self::Approve => "approve",
            Self::Configure => "configure",
            Self::Admin => "admin",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An environment or package name pattern: lowercase letters, digits, '-' and `*`, which
/// stands for any run of characters (`*` alone: everything; `team-a-*`: a prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// Whether `name` matches the pattern.
    pub fn matches(&self, name: &str) -> bool {
        glob_matches(self.0.as_bytes(), name.as_bytes())
    }

    /// Whether the pattern matches every name.
    pub fn is_everything(&self) -> bool {
        self.0 == "*"
    }

    /// Whether the pattern has a `*`.
    fn is_glob(&self) -> bool {
        self.0.contains('*')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `*` matches any run of bytes, everything else itself.
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| glob_matches(rest, &name[skip..])),
        Some((first, rest)) => name
            .split_first()
            .is_some_and(|(byte, name)| byte == first && glob_matches(rest, name)),
    }
}

/// One rule of a role: these actions, in environments and on packages matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub actions: Vec<Action>,
    pub environments: Vec<Pattern>,
    /// `*` when the file leaves `packages` out.
    pub packages: Vec<Pattern>,
}

impl Rule {
    /// Whether the rule allows `action` in `environment` on `package`; `None` stands for
    /// "some": a rule allows reading "in prod" when it allows reading any package there.
    pub fn allows(&self, action: Action, environment: Option<&str>, package: Option<&str>) -> bool {
        let covers = |patterns: &[Pattern], name: Option<&str>| {
            name.is_none_or(|name| patterns.iter().any(|p| p.matches(name)))
        };
        self.actions.contains(&action)
            && covers(&self.environments, environment)
            && covers(&self.packages, package)
    }
}

/// A named list of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A role given to users and groups; the user `*` is every authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub role: String,
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

impl Binding {
    /// Whether the binding applies to the caller `user` in `groups` (users compare
    /// case-insensitively, as logins do).
    pub fn applies_to(&self, user: &str, groups: &[String]) -> bool {
        self.users
            .iter()
            .any(|bound| bound == "*" || bound.eq_ignore_ascii_case(user))
            || self.groups.iter().any(|bound| groups.contains(bound))
    }

    /// To whom the role is bound, in words: `group security`, `everyone`, `user alice`.
    pub fn describe(&self) -> String {
        let users = self.users.iter().map(|user| {
            if user == "*" {
                "everyone".to_owned()
            } else {
                format!("user {user}")
            }
        });
        let groups = self.groups.iter().map(|group| format!("group {group}"));
        users.chain(groups).collect::<Vec<_>>().join(", ")
    }
}

/// A validated `config/rbac.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacPolicy {
    pub roles: Vec<Role>,
    pub bindings: Vec<Binding>,
}

impl RbacPolicy {
    /// The role called `name`.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|role| role.name == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    roles: OrderedMap<Vec<RawRule>>,
    #[serde(default)]
    bindings: Vec<RawBinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    actions: Spanned<Vec<Spanned<String>>>,
    environments: Spanned<Vec<Spanned<String>>>,
    packages: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    role: Spanned<String>,
    #[serde(default)]
    users: Vec<Spanned<String>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
}

/// Builds errors about one file.
struct Problems<'a> {
    file: &'a str,
}

impl Problems<'_> {
    fn at(&self, field: &str, location: Location, message: impl Into<String>) -> ManifestError {
        ManifestError::new(self.file, field, message).at(location)
    }
}

/// Parses and validates `config/rbac.yaml` (`file` is used in errors); an environment
/// named without `*` must be one of `environments`.
pub fn parse_rbac(
    file: &str,
    text: &str,
    environments: &[&str],
) -> Result<RbacPolicy, ManifestError> {
    let raw: RawPolicy = yaml::parse_yaml(file, text)?;
    let problems = Problems { file };
    let mut roles = Vec::with_capacity(raw.roles.entries.len());
    for (name, raw_rules) in raw.roles.entries {
        validate_name("role", &name.value)
            .map_err(|error| problems.at("roles", name.referenced, error.to_string()))?;
        let field = format!("roles.{}", name.value);
        let rules = raw_rules
            .into_iter()
            .map(|rule| parse_rule(&problems, &field, environments, rule))
            .collect::<Result<_, _>>()?;
        roles.push(Role {
            name: name.value,
            rules,
        });
    }
    let mut bindings = Vec::with_capacity(raw.bindings.len());
    for (index, binding) in raw.bindings.into_iter().enumerate() {
        bindings.push(parse_binding(
            &problems,
            &format!("bindings[{index}]"),
            &roles,
            binding,
        )?);
    }
    Ok(RbacPolicy { roles, bindings })
}

fn parse_rule(
    problems: &Problems<'_>,
    field: &str,
    environments: &[&str],
    raw: RawRule,
) -> Result<Rule, ManifestError> {
    let mut actions = Vec::new();
    for action in &raw.actions.value {
        let parsed = Action::parse(&action.value).ok_or_else(|| {
            problems.at(
                &format!("{field}.actions"),
                action.referenced,
                format!(
                    "unknown action {:?}: use read, promote, rollback, approve, configure or admin",
                    action.value
                ),
            )
        })?;
        actions.push(parsed);
    }
    if actions.is_empty() {
        return Err(problems.at(
            &format!("{field}.actions"),
            raw.actions.referenced,
            "list at least one action (read, promote, rollback, approve, configure, admin)",
        ));
    }
    let environments_field = format!("{field}.environments");
    let environment_patterns = patterns(problems, &environments_field, &raw.environments)?;
    for (pattern, raw) in environment_patterns.iter().zip(&raw.environments.value) {
        if !pattern.is_glob() && !environments.contains(&pattern.as_str()) {
            return Err(problems.at(
                &environments_field,
                raw.referenced,
                format!(
                    "unknown environment {:?} (known: {}): name one of config/environments.yaml or use a pattern with *",
                    pattern.as_str(),
                    environments.join(", ")
                ),
            ));
        }
    }
    let packages = match &raw.packages {
        Some(packages) => patterns(problems, &format!("{field}.packages"), packages)?,
        None => vec![Pattern("*".to_owned())],
    };
    let everywhere = |patterns: &[Pattern]| patterns.iter().any(Pattern::is_everything);
    if actions.contains(&Action::Admin)
        && !(everywhere(&environment_patterns) && everywhere(&packages))
    {
        return Err(problems.at(
            &format!("{field}.actions"),
            raw.actions.referenced,
            "admin (tokens, audit) is not scoped by environment or package: give it its own rule with environments: [\"*\"] and no packages",
        ));
    }
    Ok(Rule {
        actions,
        environments: environment_patterns,
        packages,
    })
}

fn patterns(
    problems: &Problems<'_>,
    field: &str,
    raw: &Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<Pattern>, ManifestError> {
    if raw.value.is_empty() {
        return Err(problems.at(
            field,
            raw.referenced,
            "list at least one name or pattern (\"*\" for all)",
        ));
    }
    raw.value
        .iter()
        .map(|pattern| {
            let valid = !pattern.value.is_empty()
                && pattern.value.len() <= 63
                && pattern
                    .value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*');
            if valid {
                Ok(Pattern(pattern.value.clone()))
            } else {
                Err(problems.at(
                    field,
                    pattern.referenced,
                    format!(
                        "invalid pattern {:?}: use lowercase letters, digits, '-' and '*' (any run of characters)",
                        pattern.value
                    ),
                ))
            }
        })
        .collect()
}

fn parse_binding(
    problems: &Problems<'_>,
    field: &str,
    roles: &[Role],
    raw: RawBinding,
) -> Result<Binding, ManifestError> {
    if !roles.iter().any(|role| role.name == raw.role.value) {
        let known: Vec<&str> = roles.iter().map(|role| role.name.as_str()).collect();
        return Err(problems.at(
            &format!("{field}.role"),
            raw.role.referenced,
            format!(
                "unknown role {:?} (defined: {}): define it under roles",
                raw.role.value,
                known.join(", ")
            ),
        ));
    }
    for user in &raw.users {
        if user.value != "*" && !is_valid_login(&user.value) {
            return Err(problems.at(
                &format!("{field}.users"),
                user.referenced,
                format!(
                    "invalid user {:?}: use a user name (letters, digits and '-'), or \"*\" for every authenticated caller",
                    user.value
                ),
            ));
        }
    }
    for group in &raw.groups {
        validate_name("group", group.value.trim_start_matches('@')).map_err(|error| {
            problems.at(
                &format!("{field}.groups"),
                group.referenced,
                error.to_string(),
            )
        })?;
    }
    if raw.users.is_empty() && raw.groups.is_empty() {
        return Err(problems.at(
            &format!("{field}.role"),
            raw.role.referenced,
            "the binding names nobody: list users (\"*\" for everyone) or groups",
        ));
    }
    Ok(Binding {
        role: raw.role.value,
        users: raw.users.into_iter().map(|user| user.value).collect(),
        groups: raw
            .groups
            .into_iter()
            .map(|group| group.value.trim_start_matches('@').to_owned())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_support::{err, ok};

    const FILE: &str = "config/rbac.yaml";
    const ENVIRONMENTS: [&str; 3] = ["dev", "int", "prod"];

    /// The complete example of docs/rbac.md, as users copy it.
    fn documented_example() -> &'static str {
        include_str!("../../docs/rbac.md")
            .split("# config/rbac.yaml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/rbac.md's complete config/rbac.yaml")
    }

    fn parse(text: &str) -> Result<RbacPolicy, ManifestError> {
        parse_rbac(FILE, text, &ENVIRONMENTS)
    }

    #[test]
    fn a_star_matches_any_run_of_characters() {
        let pattern = |p: &str| Pattern(p.to_owned());
        assert!(pattern("*").matches("anything"));
        assert!(pattern("*").matches(""));
        assert!(pattern("team-a-*").matches("team-a-events"));
        assert!(!pattern("team-a-*").matches("team-b-events"));
        assert!(pattern("*-events").matches("user-events"));
        assert!(pattern("a*b*c").matches("aXXbYc"));
        assert!(!pattern("a*b*c").matches("aXXbY"));
        assert!(pattern("dev").matches("dev") && !pattern("dev").matches("dev2"));
    }

    #[test]
    fn the_documented_example_parses_with_defaults_and_groups_without_at() {
        let policy = ok(parse(documented_example()));
        assert_eq!(policy.roles.len(), 4);
        let approver = policy.role("prod-approver").expect("role");
        assert!(approver.rules[0].allows(Action::Approve, Some("prod"), Some("any-package")));
        assert!(!approver.rules[0].allows(Action::Approve, Some("int"), None));
        assert_eq!(policy.bindings[2].groups, ["security"]);
        assert_eq!(
            policy.role("team-lead").expect("role").rules[0].packages[0].as_str(),
            "*"
        );
        assert!(policy.bindings[0].applies_to("anyone", &[]));
        assert!(policy.bindings[1].applies_to("dave", &["team-leads".to_owned()]));
        assert!(!policy.bindings[1].applies_to("dave", &["security".to_owned()]));
        assert_eq!(policy.bindings[2].describe(), "group security");
    }

    #[test]
    fn package_patterns_scope_a_rule() {
        let policy = ok(parse(
            "roles:\n  a:\n    - actions: [promote]\n      environments: [\"*\"]\n      packages: [team-a-*]\n",
        ));
        let rule = &policy.roles[0].rules[0];
        assert!(rule.allows(Action::Promote, Some("prod"), Some("team-a-events")));
        assert!(!rule.allows(Action::Promote, Some("prod"), Some("team-b-events")));
        assert!(
            rule.allows(Action::Promote, Some("prod"), None),
            "some package"
        );
        assert!(!rule.allows(Action::Read, Some("prod"), None));
    }

    #[test]
    fn an_unknown_action_is_refused_with_its_line() {
        let error = err(parse(
            "roles:\n  a:\n    - actions: [read, deploy]\n      environments: [dev]\n",
        ));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("roles.a.actions", Some(3))
        );
        assert!(
            error.message.contains("unknown action \"deploy\""),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_environment_is_refused_but_a_pattern_is_not() {
        let error = err(parse(
            "roles:\n  a:\n    - actions: [read]\n      environments: [dev, qa]\n",
        ));
        assert_eq!(error.line, Some(4));
        assert!(
            error
                .message
                .contains("unknown environment \"qa\" (known: dev, int, prod)"),
            "{error}"
        );
        ok(parse(
            "roles:\n  a:\n    - actions: [read]\n      environments: [q*]\n",
        ));
    }

    #[test]
    fn a_binding_to_an_undefined_role_is_refused() {
        let error = err(parse(
            "roles:\n  a:\n    - actions: [read]\n      environments: [dev]\nbindings:\n  - role: b\n    users: [\"*\"]\n",
        ));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("bindings[0].role", Some(6))
        );
        assert!(
            error.message.contains("unknown role \"b\" (defined: a)"),
            "{error}"
        );
    }

    #[test]
    fn a_binding_naming_nobody_is_refused() {
        let error = err(parse(
            "roles:\n  a:\n    - actions: [read]\n      environments: [dev]\nbindings:\n  - role: a\n",
        ));
        assert!(error.message.contains("names nobody"), "{error}");
    }

    #[test]
    fn admin_scoped_to_an_environment_is_refused() {
        let error = err(parse(
            "roles:\n  a:\n    - actions: [admin]\n      environments: [prod]\n",
        ));
        assert!(error.message.contains("admin"), "{error}");
        ok(parse(
            "roles:\n  a:\n    - actions: [admin]\n      environments: [\"*\"]\n",
        ));
    }

    #[test]
    fn invalid_patterns_users_and_unknown_fields_are_refused() {
        let bad_pattern = err(parse(
            "roles:\n  a:\n    - actions: [read]\n      environments: [\"Dev/..\"]\n",
        ));
        assert!(
            bad_pattern.message.contains("invalid pattern"),
            "{bad_pattern}"
        );
        let bad_user = err(parse(
            "roles:\n  a:\n    - actions: [read]\n      environments: [dev]\nbindings:\n  - role: a\n    users: [\"a b\"]\n",
        ));
        assert!(bad_user.message.contains("invalid user"), "{bad_user}");
        let unknown = err(parse(
            "roles:\n  a:\n    - actions: [read]\n      environment: [dev]\n",
        ));
        assert_eq!(unknown.line, Some(4), "{unknown}");
    }
}
