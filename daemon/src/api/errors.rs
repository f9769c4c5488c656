//! The one mapping from domain errors to gRPC status codes, and the one place every status
//! dkd answers with is built: its message is made safe to send and to show — control
//! characters escaped, at most `MAX_MESSAGE_CHARS` characters — whatever input it echoes,
//! so no request can push a response past HTTP/2's header limit or drive a terminal.

use datakit::text::bounded_message;
use tonic::{Code, Status};

use crate::promotion::PromotionError;

/// The status a domain error answers with; its message is the one line the user sees.
pub fn status(error: PromotionError) -> Status {
    match error {
        PromotionError::InvalidInput(message) => answer(Code::InvalidArgument, &message),
        PromotionError::NotFound(message) => answer(Code::NotFound, &message),
        PromotionError::Refused(message) => answer(Code::FailedPrecondition, &message),
        PromotionError::NotAllowed(message) => answer(Code::PermissionDenied, &message),
        PromotionError::Unavailable(message) => answer(Code::Unavailable, &message),
    }
}

/// A status with `message`, bounded and escaped: every status dkd sends is built here.
pub fn answer(code: Code, message: &str) -> Status {
    Status::new(code, bounded_message(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_input_never_makes_a_status_long_or_multi_line() {
        let long = format!("invalid package {}\u{1b}[31m\nsecond", "a".repeat(20_000));
        let answered = status(PromotionError::InvalidInput(long));
        assert_eq!(answered.code(), Code::InvalidArgument);
        let message = answered.message();
        assert!(message.chars().count() <= 1_003, "{}", message.len());
        assert!(!message.contains(['\u{1b}', '\n']), "{message}");
        assert!(message.ends_with("[31m\\nsecond"), "{message}");
    }
}
