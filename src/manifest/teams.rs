//! `config/teams.yaml`: the reviewer groups of the embedded forge
//! (`teams: { team-leads: [alice, dave], security: [bob] }`).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::ManifestError;
use super::names::{is_valid_login, validate_name};
use super::ordered_map::OrderedMap;
use super::yaml;

/// Reviewer groups and their members, in file order. Logins compare case-insensitively,
/// as on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teams {
    groups: Vec<(String, Vec<String>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeamsFile {
    teams: OrderedMap<Vec<Spanned<String>>>,
}

/// Parses and validates `config/teams.yaml` (`file` is used in errors).
pub fn parse_teams(file: &str, text: &str) -> Result<Teams, ManifestError> {
    let raw: RawTeamsFile = yaml::parse_yaml(file, text)?;
    let mut groups = Vec::with_capacity(raw.teams.entries.len());
    for (team, members) in raw.teams.entries {
        validate_name("team", &team.value).map_err(|error| {
            ManifestError::new(file, "teams", error.to_string()).at(team.referenced)
        })?;
        let field = format!("teams.{}", team.value);
        let mut logins: Vec<String> = Vec::with_capacity(members.len());
        for member in members {
            if !is_valid_login(&member.value) {
                return Err(ManifestError::new(
                    file,
                    &field,
                    format!(
                        "invalid user {:?}: use a GitHub login (letters, digits and '-', at most 39, not starting with '-')",
                        member.value
                    ),
                )
                .at(member.referenced));
            }
            if logins
                .iter()
                .any(|login| login.eq_ignore_ascii_case(&member.value))
            {
                return Err(ManifestError::new(
                    file,
                    &field,
                    format!(
                        "user {:?} is listed twice: list each member once",
                        member.value
                    ),
                )
                .at(member.referenced));
            }
            logins.push(member.value);
        }
        groups.push((team.value, logins));
    }
    Ok(Teams { groups })
}

impl Teams {
    /// Groups built from a forge's own team membership (e.g. GitHub teams), in the order
    /// given; logins keep the forge's spelling.
    pub fn from_members(groups: Vec<(String, Vec<String>)>) -> Self {
        Self { groups }
    }

    /// The members of `group` (a name without '@'), or `None` if there is no such group.
    pub fn members(&self, group: &str) -> Option<&[String]> {
        self.groups
            .iter()
            .find(|(name, _)| name == group)
            .map(|(_, members)| members.as_slice())
    }

    /// The groups `user` belongs to, in file order.
    pub fn groups_of(&self, user: &str) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|(_, members)| {
                members
                    .iter()
                    .any(|member| member.eq_ignore_ascii_case(user))
            })
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Every group name, in file order.
    pub fn group_names(&self) -> Vec<&str> {
        self.groups.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// How many different users belong to at least one of `groups` (unknown groups count 0).
    pub(crate) fn distinct_member_count(&self, groups: &[String]) -> usize {
        let mut seen: Vec<String> = Vec::new();
        for member in groups
            .iter()
            .filter_map(|group| self.members(group))
            .flatten()
        {
            let member = member.to_ascii_lowercase();
            if !seen.contains(&member) {
                seen.push(member);
            }
        }
        seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_support::{err, ok};

    const TEAMS: &str =
        "teams:\n  team-leads: [alice, dave]\n  security:\n    - bob\n    - Alice\n";

    fn teams() -> Teams {
        ok(parse_teams("config/teams.yaml", TEAMS))
    }

    #[test]
    fn members_lists_a_group_and_none_for_an_unknown_one() {
        let teams = teams();
        assert_eq!(
            teams.members("team-leads"),
            Some(&["alice".to_string(), "dave".to_string()][..])
        );
        assert_eq!(teams.members("perf-team"), None);
    }

    #[test]
    fn groups_of_matches_logins_case_insensitively_in_file_order() {
        assert_eq!(teams().groups_of("ALICE"), ["team-leads", "security"]);
        assert_eq!(teams().groups_of("bob"), ["security"]);
        assert!(teams().groups_of("mallory").is_empty());
    }

    #[test]
    fn group_names_keep_file_order() {
        assert_eq!(teams().group_names(), ["team-leads", "security"]);
    }

    #[test]
    fn distinct_members_count_a_user_in_two_groups_once() {
        let groups = ["team-leads".to_string(), "security".to_string()];
        assert_eq!(teams().distinct_member_count(&groups), 3);
    }

    #[test]
    fn an_empty_teams_map_is_accepted() {
        assert!(
            ok(parse_teams("config/teams.yaml", "teams: {}\n"))
                .group_names()
                .is_empty()
        );
    }

    #[test]
    fn an_invalid_team_name_is_refused_with_its_line() {
        let error = err(parse_teams(
            "config/teams.yaml",
            "teams:\n  ok: [a]\n  Team_Leads: [a]\n",
        ));
        assert_eq!(error.line, Some(3));
        assert!(
            error.message.contains("invalid team name \"Team_Leads\""),
            "{error}"
        );
    }

    #[test]
    fn a_duplicate_team_is_refused_with_the_line_of_the_second() {
        let error = err(parse_teams(
            "config/teams.yaml",
            "teams:\n  a: [x]\n  a: [y]\n",
        ));
        assert_eq!(error.line, Some(3));
        assert!(error.message.contains("duplicate key \"a\""), "{error}");
    }

    #[test]
    fn an_invalid_user_is_refused_with_its_team_and_line() {
        let error = err(parse_teams(
            "config/teams.yaml",
            "teams:\n  a:\n    - ok\n    - \"@bob\"\n",
        ));
        assert_eq!((error.field.as_str(), error.line), ("teams.a", Some(4)));
        assert!(error.message.contains("invalid user \"@bob\""), "{error}");
    }

    #[test]
    fn a_user_listed_twice_in_one_team_is_refused() {
        let error = err(parse_teams(
            "config/teams.yaml",
            "teams:\n  a: [bob, Bob]\n",
        ));
        assert_eq!(error.field, "teams.a");
        assert!(error.message.contains("listed twice"), "{error}");
    }

    #[test]
    fn unknown_top_level_fields_are_refused() {
        let error = err(parse_teams("config/teams.yaml", "teams: {}\nusers: []\n"));
        assert_eq!(error.line, Some(2));
    }
}
