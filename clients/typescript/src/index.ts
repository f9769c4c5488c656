// DataKit's Node client: `connect()` to dkd like `dk`, a resuming `watch()`, typed errors.
// The generated message types are under `./generated` (e.g. `WatchEvent`, `PromoteRequest`).

export { Client, connect, defaultAddress, type ConnectOptions, type UnaryMethod } from "./connect";
export { DataKitError, InvalidInput, NotFound, Other, Refused, Unavailable, errorFor } from "./errors";
export { watch, type WatchEvent, type WatchOptions } from "./watch";
export type { PackageStatus__Output as PackageStatus } from "./generated/datakit/v1/PackageStatus";
export type { Promotion__Output as Promotion } from "./generated/datakit/v1/Promotion";
