// Words for the API's enums and times, the same ones `dk` prints.

import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { PromotionKind, PromotionState } from "../gen/datakit/v1/promotion_pb";
import { Health, RunResult, SyncStatus } from "../gen/datakit/v1/status_pb";

const STATES: Record<PromotionState, string> = {
  [PromotionState.UNSPECIFIED]: "Unknown",
  [PromotionState.REQUESTED]: "Requested",
  [PromotionState.VALIDATED]: "Validated",
  [PromotionState.CHANGE_PROPOSED]: "Change proposed",
  [PromotionState.APPROVED]: "Approved",
  [PromotionState.MERGED]: "Merged",
  [PromotionState.SYNCING]: "Syncing",
  [PromotionState.HEALTHY]: "Healthy",
  [PromotionState.FAILED]: "Failed",
  [PromotionState.SUPERSEDED]: "Superseded",
  [PromotionState.REJECTED]: "Rejected",
  [PromotionState.CANCELLED]: "Cancelled",
  [PromotionState.VERIFYING]: "Verifying",
  [PromotionState.VERIFIED]: "Verified",
};

export const stateLabel = (state: PromotionState): string => STATES[state] ?? "Unknown";

/** Terminal states: the promotion will not change any more (but `dk verify`). */
const TERMINAL = new Set([
  PromotionState.HEALTHY,
  PromotionState.FAILED,
  PromotionState.SUPERSEDED,
  PromotionState.REJECTED,
  PromotionState.CANCELLED,
  PromotionState.VERIFIED,
]);
export const isOpen = (state: PromotionState): boolean => !TERMINAL.has(state);

/** A tone for a state's badge: good, bad, busy or quiet. */
export function stateTone(state: PromotionState): string {
  switch (state) {
    case PromotionState.HEALTHY:
    case PromotionState.VERIFIED:
      return "good";
    case PromotionState.FAILED:
    case PromotionState.REJECTED:
      return "bad";
    case PromotionState.SUPERSEDED:
    case PromotionState.CANCELLED:
      return "quiet";
    default:
      return "busy";
  }
}

export const kindLabel = (kind: PromotionKind): string =>
  kind === PromotionKind.ROLLBACK ? "rollback" : kind === PromotionKind.STORE ? "store change" : "promotion";

export function syncLabel(sync: SyncStatus): [string, string] {
  switch (sync) {
    case SyncStatus.SYNCED:
      return ["Synced", "good"];
    case SyncStatus.OUT_OF_SYNC:
      return ["Out of sync", "bad"];
    case SyncStatus.SYNCING:
      return ["Syncing", "busy"];
    default:
      return ["Sync unknown", "quiet"];
  }
}

export function healthLabel(health: Health): [string, string] {
  switch (health) {
    case Health.HEALTHY:
      return ["Healthy", "good"];
    case Health.PROGRESSING:
      return ["Progressing", "busy"];
    case Health.DEGRADED:
      return ["Degraded", "bad"];
    case Health.SUSPENDED:
      return ["Suspended", "quiet"];
    case Health.MISSING:
      return ["Missing", "bad"];
    default:
      return ["Health unknown", "quiet"];
  }
}

export function runLabel(result: RunResult): [string, string] {
  switch (result) {
    case RunResult.RUNNING:
      return ["running", "busy"];
    case RunResult.SUCCESS:
      return ["succeeded", "good"];
    case RunResult.FAILURE:
      return ["failed", "bad"];
    default:
      return ["unknown", "quiet"];
  }
}

export const dateOf = (time: Timestamp | undefined): Date | undefined =>
  time ? timestampDate(time) : undefined;

/** "12s ago", "3 min ago", "in 2 h": how far `time` is from now. */
export function relative(time: Timestamp | undefined): string {
  const date = dateOf(time);
  if (!date) return "—";
  const seconds = Math.round((date.getTime() - Date.now()) / 1000);
  const size = Math.abs(seconds);
  const amount =
    size < 60 ? `${size}s` : size < 3600 ? `${Math.round(size / 60)} min` : size < 86400 ? `${Math.round(size / 3600)} h` : `${Math.round(size / 86400)} d`;
  return seconds <= 0 ? `${amount} ago` : `in ${amount}`;
}

/** The exact time, for a tooltip. */
export const exact = (time: Timestamp | undefined): string => dateOf(time)?.toISOString() ?? "";
