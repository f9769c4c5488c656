// Typed errors: every failure of dkd or of reaching it, classed as `dk`'s exit codes are:
// 1 Other · 2 InvalidInput · 3 NotFound · 4 Refused (policy, precondition, credentials) ·
// 5 Unavailable (dkd or a backend unreachable). Catch `DataKitError` for all of them.

import { status as Status, type ServiceError } from "@grpc/grpc-js";

/** A failure with one line saying what is wrong and what to do. */
export class DataKitError extends Error {
  /** The code `dk` would exit with. */
  readonly exitCode: number = 1;
  /** The gRPC status code; undefined when the failure happened before any call. */
  readonly code?: Status;

  constructor(message: string, code?: Status) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Anything else (internal errors, unimplemented, cancelled): exit code 1. */
export class Other extends DataKitError {
  override readonly exitCode = 1;
}
/** A bad name, version, manifest or address: exit code 2. */
export class InvalidInput extends DataKitError {
  override readonly exitCode = 2;
}
/** No such package, version, promotion or environment: exit code 3. */
export class NotFound extends DataKitError {
  override readonly exitCode = 3;
}
/** Refused by policy, a precondition, RBAC or missing credentials: exit code 4. */
export class Refused extends DataKitError {
  override readonly exitCode = 4;
}
/** dkd or one of its backends cannot be reached: exit code 5. */
export class Unavailable extends DataKitError {
  override readonly exitCode = 5;
}

type ErrorClass = new (message: string, code?: Status) => DataKitError;

/** The same mapping as client-cli/src/error.rs (`failure_for`). */
const BY_CODE: Partial<Record<Status, ErrorClass>> = {
  [Status.INVALID_ARGUMENT]: InvalidInput,
  [Status.OUT_OF_RANGE]: InvalidInput,
  [Status.NOT_FOUND]: NotFound,
  [Status.FAILED_PRECONDITION]: Refused,
  [Status.ALREADY_EXISTS]: Refused,
  [Status.PERMISSION_DENIED]: Refused,
  [Status.UNAUTHENTICATED]: Refused,
  [Status.ABORTED]: Refused,
  [Status.UNAVAILABLE]: Unavailable,
  [Status.DEADLINE_EXCEEDED]: Unavailable,
  [Status.RESOURCE_EXHAUSTED]: Unavailable,
};

/** The typed error for a failed call: its class from the status code, dkd's first line. */
export function errorFor(error: ServiceError): DataKitError {
  const code = error.code ?? Status.UNKNOWN;
  const details = (error.details ?? "").split("\n")[0];
  const message = details.trim() ? details : `dkd answered ${Status[code]}`;
  return new (BY_CODE[code] ?? Other)(message, code);
}
