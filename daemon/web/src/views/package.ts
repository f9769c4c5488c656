// Package: one package across its environments — what runs, holds, soak and verification —
// its history (who, when, approvals, change, outcome), and the run, sync or verification
// log of an environment, following live.

import { Code, ConnectError } from "@connectrpc/connect";
import type { WhoAmIResponse } from "../../gen/datakit/v1/access_pb";
import type { Hold } from "../../gen/datakit/v1/hold_pb";
import type { Promotion } from "../../gen/datakit/v1/promotion_pb";
import { LogSource, type LogsResponse, type Promotable } from "../../gen/datakit/v1/status_pb";
import { dkd, problem } from "../api";
import { h, replace } from "../dom";
import { exact, healthLabel, kindLabel, relative, runLabel, syncLabel } from "../format";
import type { Live } from "../live";
import { badge, changeLink, deniedBecause, stateBadge, type View } from "./common";

/** Lines kept in the log panel; older ones scroll away. */
const LOG_LINES = 2000;

type LogKind = "run" | "sync" | "verify";

function holdText(hold: Hold): string {
  const blocks = hold.blocksVersion ? `, blocks ${hold.blocksVersion} and newer than ${hold.blocksNewerThan}` : "";
  return `${hold.kind} hold by ${hold.setBy} ${relative(hold.setAt)}: ${hold.reason}${blocks}`;
}

export class PackageView implements View {
  readonly element: HTMLElement;
  private readonly environments: HTMLElement;
  private readonly history: HTMLElement;
  private readonly holds: HTMLElement;
  private readonly logLines: HTMLElement;
  private readonly logState: HTMLElement;
  private readonly notice: HTMLElement;
  /** The environment whose rollback waits for a confirming second click. */
  private confirming: string | null = null;
  /** When each environment's upstream version becomes promotable (Status computes it). */
  private promotable = new Map<string, Promotable>();
  /** Every hold of the package, released ones included (ListHolds). */
  private released: Hold[] = [];
  private readonly logEnvironment: HTMLSelectElement;
  private readonly logKind: HTMLSelectElement;
  private readonly followButton: HTMLButtonElement;
  private following: AbortController | null = null;
  private refreshing: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly live: Live,
    private readonly name: string,
    private readonly me: WhoAmIResponse,
  ) {
    this.notice = h("p", { role: "status", class: "notice", id: "action-result" });
    this.environments = h("tbody");
    this.history = h("tbody");
    this.holds = h("ul", { class: "holds" });
    this.logEnvironment = h("select", { id: "log-environment", onchange: () => this.follow() });
    this.logKind = h(
      "select",
      { id: "log-kind", onchange: () => this.follow() },
      h("option", { value: "sync" }, "Sync log"),
      h("option", { value: "run" }, "Run logs"),
      h("option", { value: "verify" }, "Verification"),
    );
    this.followButton = h("button", { type: "button", id: "log-follow", onclick: () => (this.following ? this.stop() : this.follow()) }, "Stop following");
    this.logState = h("span", { class: "muted", role: "status", id: "log-state" });
    this.logLines = h("pre", { class: "log", id: "log-lines", role: "log", "aria-label": "Log lines", tabindex: "0" });
    this.element = h(
      "section",
      { class: "view package", "aria-labelledby": "package-title" },
      h("p", {}, h("a", { href: "#/pipeline" }, "← Pipeline")),
      h("h1", { id: "package-title" }, name),
      this.notice,
      h("h2", {}, "Environments"),
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ...["Environment", "Version", "Sync", "Health", "Last sync", "Last run", "Next", "Open promotion", "Actions"].map((title) => h("th", { scope: "col" }, title)))),
          this.environments,
        ),
      ),
      h("h2", {}, "Holds"),
      this.holds,
      h("h2", {}, "Logs"),
      h(
        "div",
        { class: "filters" },
        h("label", { for: "log-environment" }, "Environment"),
        this.logEnvironment,
        h("label", { for: "log-kind" }, "Log"),
        this.logKind,
        this.followButton,
        this.logState,
      ),
      this.logLines,
      h("h2", {}, "History"),
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { id: "history" },
          h("thead", {}, h("tr", {}, ...["Promotion", "Version", "Into", "Outcome", "Promoter", "When", "Approvals", "Change", "Message"].map((title) => h("th", { scope: "col" }, title)))),
          this.history,
        ),
      ),
    );
    this.update();
    void this.loadHistory();
    this.follow();
  }

  update(): void {
    const names = this.live.environments.map((environment) => environment.name);
    if (this.logEnvironment.options.length !== names.length) {
      const chosen = this.logEnvironment.value;
      replace(this.logEnvironment, ...names.map((name) => h("option", { value: name }, name)));
      if (names.includes(chosen)) this.logEnvironment.value = chosen;
    }
    const rows = names.map((environment) => {
      const status = this.live.status(this.name, environment);
      const open = this.live.openPromotion(this.name, environment);
      const deployed = status?.deployed;
      const [sync, syncTone] = syncLabel(status?.syncStatus ?? 0);
      const [health, healthTone] = healthLabel(status?.health ?? 0);
      const run = status?.lastRun ? runLabel(status.lastRun.result) : null;
      const promotable = this.promotable.get(environment);
      const next = promotable
        ? promotable.blocked
          ? `${promotable.version} from ${promotable.fromEnvironment}: ${promotable.blocked}`
          : promotable.now
            ? `${promotable.version} from ${promotable.fromEnvironment} is promotable now`
            : promotable.at
              ? `${promotable.version} from ${promotable.fromEnvironment}: soaking, promotable ${relative(promotable.at)}`
              : `${promotable.version} from ${promotable.fromEnvironment}: not healthy there yet`
        : "—";
      return h(
        "tr",
        { "data-environment": environment },
        h("th", { scope: "row" }, environment),
        h("td", {}, deployed ? h("strong", {}, status.version) : h("span", { class: "muted" }, "not deployed")),
        h("td", {}, deployed ? badge(sync, syncTone) : "—"),
        h("td", {}, deployed ? badge(health, healthTone) : "—", status?.message ? h("div", { class: "muted" }, status.message) : null),
        h("td", { title: exact(status?.lastSync) }, deployed ? relative(status.lastSync) : "—"),
        h("td", { title: exact(status?.lastRun?.startedAt) }, run ? badge(run[0], run[1]) : "—", status?.lastRun ? ` ${relative(status.lastRun.startedAt)}` : null),
        h("td", {}, next),
        h("td", {}, open ? h("span", {}, `${open.id} ${open.version} `, stateBadge(open), open.approvalsNeeded ? ` ${open.approvalsNeeded}` : "") : "—"),
        h("td", { class: "row-actions" }, ...this.actions(environment, !!deployed, status?.hold)),
      );
    });
    replace(this.environments, ...rows);
    const holds = names.map((environment) => this.live.status(this.name, environment)?.hold).filter((hold): hold is Hold => !!hold);
    const released = this.released.filter((hold) => hold.released);
    replace(
      this.holds,
      ...holds.map((hold) => h("li", {}, h("strong", {}, hold.environment), ": ", holdText(hold))),
      ...released.map((hold) =>
        h("li", { class: "muted" }, h("strong", {}, hold.environment), `: ${holdText(hold)} — released by ${hold.releasedBy} ${relative(hold.releasedAt)}${hold.releaseReason ? `: ${hold.releaseReason}` : ""}`),
      ),
      holds.length + released.length ? null : h("li", { class: "muted" }, "No holds."),
    );
    if (this.live.touched.has(this.name)) {
      clearTimeout(this.refreshing);
      this.refreshing = setTimeout(() => void this.loadHistory(), 100);
    }
  }

  /** Roll back and Release hold, disabled with the reason when RBAC does not allow them. */
  private actions(environment: string, deployed: boolean, hold: Hold | undefined): HTMLElement[] {
    const elements: HTMLElement[] = [];
    const button = (label: string, why: string, run: () => void, id: string) => {
      elements.push(h("button", { type: "button", "data-action": id, disabled: !!why, "aria-describedby": why ? `why-${id}-${environment}` : null, onclick: run }, label));
      if (why) elements.push(h("span", { class: "why", id: `why-${id}-${environment}` }, why));
    };
    if (deployed) {
      const why = deniedBecause(this.me, "rollback", environment, this.name);
      const confirming = this.confirming === environment;
      button(confirming ? `Confirm rollback in ${environment}` : "Roll back", why, () => void this.rollback(environment), "rollback");
    }
    if (hold) {
      button("Release hold", deniedBecause(this.me, "approve", environment, this.name), () => void this.release(environment), "release");
    }
    return elements;
  }

  /** First click asks for confirmation; the second rolls back to the previous version. */
  private async rollback(environment: string): Promise<void> {
    if (this.confirming !== environment) {
      this.confirming = environment;
      this.notice.textContent = `Click again to roll ${this.name} back in ${environment} to the version it ran before.`;
      this.update();
      return;
    }
    this.confirming = null;
    try {
      const answer = await dkd.rollback({ package: this.name, environment });
      this.notice.textContent = answer.summary || `Rolling back ${this.name} in ${environment}.`;
    } catch (error) {
      this.notice.textContent = `Could not roll back: ${problem(error)}`;
    }
    this.update();
  }

  private async release(environment: string): Promise<void> {
    try {
      const answer = await dkd.releaseHold({ package: this.name, environment, reason: "released from the dashboard" });
      this.notice.textContent = answer.message;
    } catch (error) {
      this.notice.textContent = `Could not release the hold: ${problem(error)}`;
    }
  }

  private async loadHistory(): Promise<void> {
    try {
      const rows = (await dkd.status({ package: this.name })).packages;
      this.promotable = new Map(rows.flatMap((row) => (row.promotable ? [[row.environment, row.promotable] as const] : [])));
      this.update();
    } catch {
      this.promotable.clear(); // the history below reports what failed
    }
    try {
      this.released = (await dkd.listHolds({ package: this.name, includeReleased: true })).holds;
    } catch {
      this.released = []; // the history below reports what failed
    }
    try {
      const answer = await dkd.listPromotions({ package: this.name, pageSize: 100 });
      replace(this.history, ...answer.promotions.map((promotion) => this.historyRow(promotion)));
      if (answer.promotions.length === 0) replace(this.history, h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No promotions yet.")));
    } catch (error) {
      replace(this.history, h("tr", {}, h("td", { colspan: 9 }, problem(error))));
    }
  }

  private historyRow(promotion: Promotion): HTMLElement {
    return h(
      "tr",
      { "data-promotion": promotion.id },
      h("td", {}, promotion.id, h("div", { class: "muted" }, kindLabel(promotion.kind))),
      h("td", {}, promotion.version, promotion.previousVersion ? h("div", { class: "muted" }, `from ${promotion.previousVersion}`) : null),
      h("td", {}, promotion.environment),
      h("td", {}, stateBadge(promotion)),
      h("td", {}, promotion.promoter),
      h("td", { title: exact(promotion.createdAt) }, relative(promotion.createdAt)),
      h("td", {}, promotion.approvals.map((approval) => `${approval.user} ${relative(approval.at)}`).join(", ") || "—"),
      h("td", {}, changeLink(promotion)),
      h("td", { class: "message" }, promotion.message),
    );
  }

  private stop(): void {
    this.following?.abort();
    this.following = null;
    this.followButton.textContent = "Follow";
    this.logState.textContent = "stopped";
  }

  /** Streams the chosen log, following new lines until stopped or the view closes. */
  private follow(): void {
    this.following?.abort();
    const environment = this.logEnvironment.value || this.live.environments[0]?.name;
    if (!environment) return;
    const kind = this.logKind.value as LogKind;
    const control = new AbortController();
    this.following = control;
    this.followButton.textContent = "Stop following";
    this.logState.textContent = "following";
    replace(this.logLines);
    void (async () => {
      try {
        const lines = dkd.logs(
          { package: this.name, environment, follow: true, sync: kind === "sync", verify: kind === "verify", tail: 500 },
          { signal: control.signal },
        );
        for await (const line of lines) this.appendLine(line);
        if (this.following === control) this.logState.textContent = "ended";
      } catch (error) {
        if (control.signal.aborted) return;
        const code = ConnectError.from(error).code;
        if (code !== Code.Unavailable && code !== Code.Unknown && code !== Code.Internal && code !== Code.Canceled) {
          this.logState.textContent = problem(error);
          return;
        }
        // dkd went away or the stream broke: start over (the tail again) in a moment.
        this.logState.textContent = `reconnecting: ${problem(error)}`;
        setTimeout(() => {
          if (this.following === control) this.follow();
        }, 2000);
      }
    })();
  }

  private appendLine(line: LogsResponse): void {
    const source = line.source === LogSource.SYNC ? "sync" : line.source === LogSource.RUN ? "run" : "dkd";
    const stick = this.logLines.scrollTop + this.logLines.clientHeight >= this.logLines.scrollHeight - 4;
    this.logLines.append(h("span", { class: `line ${source}` }, `${exact(line.time)} ${line.origin ? `[${line.origin}] ` : ""}${line.text}\n`));
    while (this.logLines.childElementCount > LOG_LINES) this.logLines.firstElementChild?.remove();
    if (stick) this.logLines.scrollTop = this.logLines.scrollHeight;
  }

  dispose(): void {
    this.following?.abort();
    clearTimeout(this.refreshing);
  }
}
