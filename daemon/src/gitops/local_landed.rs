//! Which base-branch commit landed each promotion, by its `Promotion-Id:` trailer: read
//! once, then kept current by reading only the commits the branch gained since, so asking
//! before every merge costs the new commits, not the whole history.

use std::collections::HashMap;

use super::git::{Git, GitError};
use crate::promotion::ports::PROMOTION_ID_TRAILER;

/// Promotion id → the newest base-branch commit carrying its trailer.
#[derive(Debug, Default)]
pub struct LandedIndex {
    /// The branch head read last.
    head: Option<String>,
    landed: HashMap<String, String>,
}

impl LandedIndex {
    /// The commit of `branch` that landed `promotion_id`, after reading what the branch
    /// gained since the last call.
    pub async fn find(
        &mut self,
        git: &Git,
        branch: &str,
        promotion_id: &str,
    ) -> Result<Option<String>, GitError> {
        let since = git
            .lines_since(
                branch,
                self.head.as_deref(),
                &format!("{PROMOTION_ID_TRAILER}: "),
            )
            .await?;
        if since.rewritten {
            self.landed.clear();
        }
        // Oldest first, so the newest commit carrying a trailer is the one kept.
        for (id, commit) in since.found.into_iter().rev() {
            self.landed.insert(id, commit);
        }
        self.head = since.head;
        Ok(self.landed.get(promotion_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits `message` on `main` (on top of `parent`) and moves `main` there.
    async fn land(git: &Git, parent: Option<&str>, message: &str) -> String {
        let commit = git
            .commit_files(parent, &[], message)
            .await
            .expect("commit");
        git.update_ref("refs/heads/main", &commit, parent)
            .await
            .expect("move main");
        commit
    }

    #[tokio::test]
    async fn landed_commits_are_found_as_the_branch_grows_and_forgotten_when_it_is_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = Git::init_bare(dir.path().join("repo.git"), "main")
            .await
            .expect("init");
        let mut index = LandedIndex::default();
        assert_eq!(index.find(&git, "main", "p-1").await.expect("find"), None);

        let first = land(&git, None, "Promote a\n\nPromotion-Id: p-1\n").await;
        assert_eq!(
            index.find(&git, "main", "p-1").await.expect("find"),
            Some(first.clone())
        );
        let second = land(&git, Some(&first), "Promote b\n\nPromotion-Id: p-2\n").await;
        let again = land(
            &git,
            Some(&second),
            "Promote a again\n\nPromotion-Id: p-1\n",
        )
        .await;
        assert_eq!(
            index.find(&git, "main", "p-2").await.expect("find"),
            Some(second.clone()),
            "found among the commits gained since"
        );
        assert_eq!(
            index.find(&git, "main", "p-1").await.expect("find"),
            Some(again.clone()),
            "the newest commit carrying the trailer"
        );
        assert_eq!(index.find(&git, "main", "p-12").await.expect("find"), None);

        // Rewritten: main goes back to the first commit and gains another.
        git.update_ref("refs/heads/main", &first, Some(&again))
            .await
            .expect("reset main");
        let other = land(&git, Some(&first), "Promote c\n\nPromotion-Id: p-3\n").await;
        assert_eq!(index.find(&git, "main", "p-2").await.expect("find"), None);
        assert_eq!(
            index.find(&git, "main", "p-1").await.expect("find"),
            Some(first),
            "what the rewritten branch still holds"
        );
        assert_eq!(
            index.find(&git, "main", "p-3").await.expect("find"),
            Some(other)
        );
    }
}
