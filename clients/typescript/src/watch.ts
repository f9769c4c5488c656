// `watch()`: the Watch stream as an async iterator that survives disconnects. It yields a
// snapshot first (or, given `resumeAfter`, the events after it), then every change. When
// the connection drops or dkd restarts it reconnects with a growing delay and resumes after
// the last sequence it yielded: nothing skipped, nothing twice. When dkd no longer holds
// that point (OUT_OF_RANGE) it yields a fresh snapshot: a snapshot always means "replace
// what you know". A large snapshot, which dkd sends in parts (`Snapshot.more`), is gathered
// and yielded once, whole; a stream lost before its last part is watched again as if that
// snapshot had never begun. Heartbeats are not yielded.

import { status as Status, type ServiceError } from "@grpc/grpc-js";

import type { Client } from "./connect";
import { Unavailable, errorFor } from "./errors";
import type { Snapshot__Output as Snapshot } from "./generated/datakit/v1/Snapshot";
import type { WatchEvent__Output as WatchEvent } from "./generated/datakit/v1/WatchEvent";
import type { WatchRequest } from "./generated/datakit/v1/WatchRequest";

export type { WatchEvent };

export interface WatchOptions {
  /** Only events about this package. */
  package?: string;
  /** Only events about this environment. */
  environment?: string;
  /** Resume after this sequence instead of taking a snapshot. */
  resumeAfter?: number;
  /** Milliseconds to keep trying after the connection is lost before throwing
   * `Unavailable`; default 60000, `Infinity` for ever (as an IDE extension may want). */
  reconnectForMs?: number;
  /** Longest delay between two attempts; default 2000 ms. */
  maxDelayMs?: number;
}

/** Failures after which the stream is opened again: the connection, not the request, failed. */
const RECONNECT = new Set([Status.UNAVAILABLE, Status.INTERNAL, Status.UNKNOWN]);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Appends `items` to `into` one by one (a spread of a large array overflows the stack). */
function append<T>(into: T[], items: T[]): void {
  for (const item of items) into.push(item);
}

/** Adds a later part of a snapshot to the parts gathered in `whole`. */
function addPart(whole: Snapshot, part: Snapshot): void {
  append(whole.environments, part.environments);
  append(whole.promotions, part.promotions);
  append(whole.packages, part.packages);
}

/** Follows dkd's changes; `break` out of the loop (or `return()`) to stop watching. */
export async function* watch(client: Client, options: WatchOptions = {}): AsyncGenerator<WatchEvent> {
  const reconnectForMs = options.reconnectForMs ?? 60_000;
  const maxDelayMs = options.maxDelayMs ?? 2000;
  let last = options.resumeAfter;
  let delay = 100;
  let lostSince: number | undefined;
  for (;;) {
    const request: WatchRequest = { package: options.package ?? "", environment: options.environment ?? "" };
    if (last !== undefined) request.resumeAfter = last;
    const call = client.raw.Watch(request, client.callMetadata());
    let reason = "dkd ended the stream";
    let snapshot: WatchEvent | undefined; // the parts of a snapshot received so far
    try {
      for await (let event of call as AsyncIterable<WatchEvent>) {
        lostSince = undefined;
        delay = 100;
        if (event.event === "heartbeat") continue;
        if (event.event === "snapshot") {
          const part = event.snapshot;
          if (snapshot?.snapshot && part) addPart(snapshot.snapshot, part);
          else snapshot = event; // the first part
          if (part?.more) continue;
          event = snapshot;
          snapshot = undefined;
          if (event.snapshot) event.snapshot.more = false;
          last = event.snapshotSequence;
        } else if (last !== undefined && event.sequence <= last) {
          continue; // already yielded before a reconnect
        } else {
          last = event.sequence;
        }
        yield event;
      }
    } catch (caught) {
      const error = caught as ServiceError;
      if (error.code === Status.OUT_OF_RANGE) {
        last = undefined; // the log no longer holds the resume point: a fresh snapshot
        continue;
      }
      if (!RECONNECT.has(error.code)) throw errorFor(error);
      reason = errorFor(error).message;
    } finally {
      call.cancel();
    }
    const now = Date.now();
    lostSince ??= now;
    if (now - lostSince > reconnectForMs) {
      throw new Unavailable(
        `the Watch stream to dkd was lost (${reason}) and did not come back within ${Math.round(reconnectForMs / 1000)} s; check that dkd is running`,
      );
    }
    await sleep(delay);
    delay = Math.min(delay * 2, maxDelayMs);
  }
}
