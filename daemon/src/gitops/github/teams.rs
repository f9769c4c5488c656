//! Reviewer groups on GitHub: the `@groups` named in the environments' approval rules,
//! resolved to the members of the organization's teams with those slugs.

use datakit::manifest::{ENVIRONMENTS_FILE, Teams, parse_environments};
use http::StatusCode;

use super::{GithubForge, reads::entries, unexpected};
use crate::promotion::ports::{ForgeError, GitForge};

impl GithubForge {
    /// The members of every team named in `config/environments.yaml` on the base branch.
    /// A team GitHub does not know has no members (so no one can approve for it).
    pub(super) async fn teams(&self) -> Result<Teams, ForgeError> {
        let base = self.base_revision().await?;
        let Some(file) = self.file_at(&base, ENVIRONMENTS_FILE).await? else {
            return Ok(Teams::from_members(Vec::new()));
        };
        let text = String::from_utf8_lossy(&file.bytes);
        // An invalid file is reported by the configuration follower, not here.
        let Ok(environments) = parse_environments(ENVIRONMENTS_FILE, &text) else {
            return Ok(Teams::from_members(Vec::new()));
        };
        let mut groups: Vec<String> = Vec::new();
        for environment in environments.environments() {
            let approval = &environment.approval;
            let rollback = approval.rollback.iter().flat_map(|r| &r.approvers);
            for group in approval.approvers.iter().chain(rollback) {
                if !groups.contains(group) {
                    groups.push(group.clone());
                }
            }
        }
        let mut members = Vec::with_capacity(groups.len());
        for group in groups {
            let logins = self.team_members(&group).await?;
            members.push((group, logins));
        }
        Ok(Teams::from_members(members))
    }

    async fn team_members(&self, slug: &str) -> Result<Vec<String>, ForgeError> {
        let url = format!(
            "/orgs/{}/teams/{}/members?per_page=100",
            self.owner,
            super::rest::encode(slug)
        );
        let reply = self.rest.get(&url).await?;
        match reply.status {
            StatusCode::OK => Ok(entries(&reply.body)
                .filter_map(|member| member["login"].as_str().map(str::to_owned))
                .collect()),
            StatusCode::NOT_FOUND => {
                tracing::warn!(team = %slug, owner = %self.owner, "GitHub team not found; no one can approve for it");
                Ok(Vec::new())
            }
            _ => Err(unexpected(
                &reply,
                &format!("read the members of team {slug}"),
            )),
        }
    }
}
