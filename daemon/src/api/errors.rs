//! The one mapping from domain errors to gRPC status codes.

use tonic::Status;

use crate::promotion::PromotionError;

/// The status a domain error answers with; its message is the one line the user sees.
pub fn status(error: PromotionError) -> Status {
    match error {
        PromotionError::InvalidInput(message) => Status::invalid_argument(message),
        PromotionError::NotFound(message) => Status::not_found(message),
        PromotionError::Refused(message) => Status::failed_precondition(message),
        PromotionError::NotAllowed(message) => Status::permission_denied(message),
        PromotionError::Unavailable(message) => Status::unavailable(message),
    }
}
