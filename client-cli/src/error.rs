//! `dk`'s errors and the exit codes of the contract: 0 ok, 1 other, 2 invalid input,
//! 3 not found, 4 refused by policy or precondition, 5 backend unavailable.

use std::process::ExitCode;

use tonic::Code;

/// What kind of failure, which fixes the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Other = 1,
    InvalidInput = 2,
    NotFound = 3,
    Refused = 4,
    Unavailable = 5,
}

impl Failure {
    /// The name `-o json` errors carry, e.g. `NOT_FOUND`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Other => "OTHER",
            Self::InvalidInput => "INVALID_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::Refused => "REFUSED",
            Self::Unavailable => "UNAVAILABLE",
        }
    }
}

/// An error for the user: one line on stderr and an exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub failure: Failure,
    pub message: String,
}

impl CliError {
    pub fn new(failure: Failure, message: impl Into<String>) -> Self {
        Self {
            failure,
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.failure as u8)
    }
}

/// The one mapping from gRPC codes to exit codes.
pub fn failure_for(code: Code) -> Failure {
    match code {
        Code::InvalidArgument | Code::OutOfRange => Failure::InvalidInput,
        Code::NotFound => Failure::NotFound,
        Code::FailedPrecondition
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::Aborted => Failure::Refused,
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => {
            Failure::Unavailable
        }
        Code::Ok
        | Code::Cancelled
        | Code::Unknown
        | Code::Unimplemented
        | Code::Internal
        | Code::DataLoss => Failure::Other,
    }
}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().lines().next().unwrap_or_default();
        let message = if message.is_empty() {
            format!("dkd answered {}", status.code())
        } else {
            message.to_owned()
        };
        Self::new(failure_for(status.code()), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_to_the_contracts_exit_codes() {
        assert_eq!(failure_for(Code::InvalidArgument) as u8, 2);
        assert_eq!(failure_for(Code::NotFound) as u8, 3);
        assert_eq!(failure_for(Code::FailedPrecondition) as u8, 4);
        assert_eq!(failure_for(Code::PermissionDenied) as u8, 4);
        assert_eq!(failure_for(Code::Unavailable) as u8, 5);
        assert_eq!(failure_for(Code::Internal) as u8, 1);
    }

    #[test]
    fn a_status_becomes_one_line_with_its_exit_code() {
        let error = CliError::from(tonic::Status::not_found("package x not found\nsecond line"));
        assert_eq!(error.message, "package x not found");
        assert_eq!(error.failure, Failure::NotFound);
    }
}
