//! Why a promotion request was refused, by kind — the API maps each kind to one gRPC
//! code and `dk` to one exit code.

use super::ports::{ClusterError, ForgeError, RegistryError, StoreError};

/// A refused or failed request, with a one-line message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromotionError {
    /// Malformed input: a bad name, an unknown environment, a malformed version.
    #[error("{0}")]
    InvalidInput(String),
    /// Something named does not exist: an unpublished version, an unknown promotion.
    #[error("{0}")]
    NotFound(String),
    /// Refused by policy or precondition: skipped environment, `latest`, freeze,
    /// missing binding, nothing to approve.
    #[error("{0}")]
    Refused(String),
    /// The caller may not do this (not an allowed approver, self-approval).
    #[error("{0}")]
    NotAllowed(String),
    /// A backend (forge, registry, cluster, database) cannot be reached now.
    #[error("{0}")]
    Unavailable(String),
}

impl From<ForgeError> for PromotionError {
    fn from(error: ForgeError) -> Self {
        match error {
            ForgeError::UnknownChange(_) => Self::NotFound(error.to_string()),
            ForgeError::NotMergeable { .. } | ForgeError::Unsupported(_) => {
                Self::Refused(error.to_string())
            }
            _ => Self::Unavailable(error.to_string()),
        }
    }
}

impl From<RegistryError> for PromotionError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::NotFound { .. } | RegistryError::BlobMissing { .. } => {
                Self::NotFound(error.to_string())
            }
            RegistryError::Denied(_) | RegistryError::Unavailable(_) => {
                Self::Unavailable(error.to_string())
            }
        }
    }
}

impl From<StoreError> for PromotionError {
    fn from(error: StoreError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<ClusterError> for PromotionError {
    fn from(error: ClusterError) -> Self {
        Self::Unavailable(error.to_string())
    }
}
