//! The embedded forge's change requests: a branch in `deploy.git` plus this record,
//! kept in dkd's state store through the `ChangeRequestStore` port.

use std::time::SystemTime;

use crate::{
    promotion::{Approval, Check},
    store::StoreError,
};

/// Where an embedded change request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalChangeState {
    Open,
    Merged { commit: String },
    Closed,
}

/// One change request of the embedded forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalChange {
    /// The branch name, which is also the change request's id.
    pub id: String,
    pub promotion_id: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// Files the change writes (replayed on a rebase).
    pub paths: Vec<String>,
    pub commit_message: String,
    pub state: LocalChangeState,
    pub approvals: Vec<Approval>,
    pub checks: Vec<Check>,
    pub created_at: SystemTime,
}

/// Where the embedded forge keeps its change-request records.
pub trait ChangeRequestStore: Send + Sync + 'static {
    fn load_change(&self, id: &str) -> Result<Option<LocalChange>, StoreError>;
    /// Durable when it returns.
    fn save_change(&self, change: &LocalChange) -> Result<(), StoreError>;
}
