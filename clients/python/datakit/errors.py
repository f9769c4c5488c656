"""Typed errors: every failure of dkd or of reaching it, classed as `dk`'s exit codes are.

    1 Other · 2 InvalidInput · 3 NotFound · 4 Refused (policy, precondition, credentials)
    · 5 Unavailable (dkd or a backend unreachable)

Catch `DataKitError` for all of them; `error.exit_code` is the code `dk` would exit with,
`error.code` the gRPC status code (None when the failure happened before any call).
"""

from __future__ import annotations

import grpc


class DataKitError(Exception):
    """A failure with one line saying what is wrong and what to do."""

    exit_code = 1

    def __init__(self, message: str, code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.message = message
        self.code = code


class Other(DataKitError):
    """Anything else (internal errors, unimplemented, cancelled): exit code 1."""

    exit_code = 1


class InvalidInput(DataKitError):
    """A bad name, version, manifest or address: exit code 2."""

    exit_code = 2


class NotFound(DataKitError):
    """No such package, version, promotion or environment: exit code 3."""

    exit_code = 3


class Refused(DataKitError):
    """Refused by policy, a precondition, RBAC or missing credentials: exit code 4."""

    exit_code = 4


class Unavailable(DataKitError):
    """dkd or one of its backends cannot be reached: exit code 5."""

    exit_code = 5


# The same mapping as client-cli/src/error.rs (`failure_for`).
_BY_CODE: dict[grpc.StatusCode, type[DataKitError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.OUT_OF_RANGE: InvalidInput,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: Refused,
    grpc.StatusCode.ALREADY_EXISTS: Refused,
    grpc.StatusCode.PERMISSION_DENIED: Refused,
    grpc.StatusCode.UNAUTHENTICATED: Refused,
    grpc.StatusCode.ABORTED: Refused,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Unavailable,
}


def error_for(error: grpc.RpcError) -> DataKitError:
    """The typed error for a failed call: its class from the status code, dkd's first line."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or ""
    message = details.splitlines()[0] if details.strip() else f"dkd answered {code.name}"
    return _BY_CODE.get(code, Other)(message, code)
