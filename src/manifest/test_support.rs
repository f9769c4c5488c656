//! Test helpers: unwrap results with a readable failure message (clippy denies `unwrap`).

use std::fmt::{Debug, Display};

/// The success value of `result`; fails the test with the error's one-line message otherwise.
#[track_caller]
pub(crate) fn ok<T, E: Display>(result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("expected success, got: {error}"),
    }
}

/// The error of `result`; fails the test with the unexpected value otherwise.
#[track_caller]
pub(crate) fn err<T: Debug, E>(result: Result<T, E>) -> E {
    match result {
        Ok(value) => panic!("expected an error, got: {value:?}"),
        Err(error) => error,
    }
}
