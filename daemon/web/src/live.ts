// What the page knows, kept current by one Watch stream: a snapshot (gathered from its
// parts when dkd sends a large one in several messages), then every change. When the
// stream breaks (dkd restarted, the network dropped) it reconnects with `resume_after` =
// the last sequence applied, so dkd replays what was missed, nothing twice; the parts of a
// snapshot cut short are dropped, and applied is only a whole one. OUT_OF_RANGE (the resume
// point is gone) takes a fresh snapshot instead. Listeners hear of every change,
// coalesced, within a frame.

import { Code, ConnectError } from "@connectrpc/connect";
import type { ConfigProblem, Environment } from "../gen/datakit/v1/environment_pb";
import type { Promotion } from "../gen/datakit/v1/promotion_pb";
import type { PackageStatus } from "../gen/datakit/v1/status_pb";
import type { Snapshot, WatchEvent } from "../gen/datakit/v1/watch_pb";
import { dkd, problem } from "./api";
import { dateOf, isOpen } from "./format";

export type Connection = "connecting" | "live" | "reconnecting" | "signed-out";

/** How long to wait before reconnect attempt n (1-based). */
const backoff = (attempt: number): number => Math.min(250 * 2 ** (attempt - 1), 3000);

export class Live {
  /** package → environment → status. */
  readonly packages = new Map<string, Map<string, PackageStatus>>();
  /** Open promotions by id. */
  readonly promotions = new Map<string, Promotion>();
  environments: Environment[] = [];
  problems: ConfigProblem[] = [];
  revision = "";
  connection: Connection = "connecting";
  detail = "";
  /** The last sequence applied; resume after it. */
  sequence: bigint | null = null;
  /** Events that arrived out of order (should stay 0 on the unfiltered stream). */
  gaps = 0;
  /** Snapshots taken: the first, and one after each OUT_OF_RANGE. */
  snapshots = 0;
  /**
   * How long after its creation (dkd's clock) the page first applied each promotion, in
   * ms: the page's own measure of "live within a second".
   */
  readonly latency = new Map<string, number>();
  /** Packages whose promotions, statuses or holds changed since listeners last heard. */
  readonly touched = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private scheduled = false;
  /** The parts of a snapshot received so far on the current stream; applied at its last. */
  private snapshotParts: Snapshot[] = [];

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      for (const listener of [...this.listeners]) listener();
      this.touched.clear();
    }, 16);
  }

  private setConnection(connection: Connection, detail = ""): void {
    if (this.connection === connection && this.detail === detail) return;
    this.connection = connection;
    this.detail = detail;
    this.changed();
  }

  /** Package names, sorted, from statuses and open promotions (store changes aside). */
  packageNames(): string[] {
    const names = new Set(this.packages.keys());
    for (const promotion of this.promotions.values()) {
      if (promotion.version) names.add(promotion.package);
    }
    return [...names].sort();
  }

  status(pkg: string, environment: string): PackageStatus | undefined {
    return this.packages.get(pkg)?.get(environment);
  }

  /** The open promotion of `pkg` into `environment`, newest first. */
  openPromotion(pkg: string, environment: string): Promotion | undefined {
    let found: Promotion | undefined;
    for (const promotion of this.promotions.values()) {
      if (promotion.package === pkg && promotion.environment === environment && promotion.version) {
        if (!found || (promotion.createdAt?.seconds ?? 0n) > (found.createdAt?.seconds ?? 0n)) found = promotion;
      }
    }
    return found;
  }

  /** Follows Watch until the page closes or the credential is refused. */
  async run(): Promise<void> {
    let attempt = 0;
    for (;;) {
      try {
        const request = this.sequence === null ? {} : { resumeAfter: this.sequence };
        this.snapshotParts = [];
        for await (const event of dkd.watch(request)) {
          attempt = 0;
          this.apply(event);
        }
        this.setConnection("reconnecting", "dkd ended the stream");
      } catch (error) {
        const failure = ConnectError.from(error);
        if (failure.code === Code.Unauthenticated || failure.code === Code.PermissionDenied) {
          this.setConnection("signed-out", problem(error));
          return;
        }
        if (failure.code === Code.OutOfRange) {
          this.sequence = null; // the resume point is gone: start from a fresh snapshot
          continue;
        }
        this.setConnection("reconnecting", problem(error));
      }
      attempt += 1;
      await new Promise((resolve) => setTimeout(resolve, backoff(attempt)));
    }
  }

  private apply(event: WatchEvent): void {
    const body = event.event;
    if (body.case === "heartbeat") {
      this.setConnection("live");
      return;
    }
    if (body.case === "snapshot") {
      this.snapshotParts.push(body.value);
      if (body.value.more) return;
      const parts = this.snapshotParts;
      this.snapshotParts = [];
      this.packages.clear();
      this.promotions.clear();
      this.environments = [];
      for (const part of parts) {
        for (const status of part.packages) this.putStatus(status);
        for (const promotion of part.promotions) this.putPromotion(promotion, false);
        for (const environment of part.environments) this.environments.push(environment);
      }
      this.sequence = event.snapshotSequence;
      this.snapshots += 1;
      void this.loadConfiguration();
      this.setConnection("live");
      this.changed();
      return;
    }
    if (this.sequence !== null && event.sequence !== this.sequence + 1n) this.gaps += 1;
    this.sequence = event.sequence;
    switch (body.case) {
      case "promotion":
        this.putPromotion(body.value);
        break;
      case "status":
        this.touched.add(body.value.package);
        this.putStatus(body.value);
        break;
      case "hold": {
        this.touched.add(body.value.package);
        const status = this.status(body.value.package, body.value.environment);
        if (status) status.hold = body.value.released ? undefined : body.value;
        break;
      }
      case "config":
        this.revision = body.value.revision;
        this.problems = body.value.problems;
        void this.loadConfiguration();
        break;
    }
    this.setConnection("live");
    this.changed();
  }

  private putStatus(status: PackageStatus): void {
    let row = this.packages.get(status.package);
    if (!row) this.packages.set(status.package, (row = new Map()));
    row.set(status.environment, status);
  }

  private putPromotion(promotion: Promotion, live = true): void {
    this.touched.add(promotion.package);
    const created = dateOf(promotion.createdAt);
    if (live && created && !this.latency.has(promotion.id)) this.latency.set(promotion.id, Date.now() - created.getTime());
    if (isOpen(promotion.state)) this.promotions.set(promotion.id, promotion);
    else this.promotions.delete(promotion.id);
  }

  /** The environments and the problems of a refused newer configuration. */
  private async loadConfiguration(): Promise<void> {
    try {
      const answer = await dkd.listEnvironments({});
      this.environments = answer.environments;
      this.problems = answer.problems;
      this.revision = answer.revision;
      this.changed();
    } catch {
      // The stream reports connection trouble; the next snapshot or change retries.
    }
  }
}
