// Environments: the promotion path's configuration in words — path, approval rules,
// freezes, signatures, automation and stores — as dkd serves it from the deployment
// repository's base branch.

import type { Environment } from "../../gen/datakit/v1/environment_pb";
import { h, replace } from "../dom";
import { dateOf } from "../format";
import type { Live } from "../live";
import { badge, type View } from "./common";

function freezes(environment: Environment): HTMLElement {
  if (environment.freezes.length === 0) return h("span", { class: "muted" }, "none");
  const now = Date.now();
  return h(
    "ul",
    {},
    ...environment.freezes.map((freeze) => {
      const start = dateOf(freeze.start);
      const end = dateOf(freeze.end);
      const active = !!start && !!end && start.getTime() <= now && now < end.getTime();
      return h("li", {}, `${start?.toISOString() ?? "?"} – ${end?.toISOString() ?? "?"}: ${freeze.reason} `, active ? badge("frozen now", "bad") : null);
    }),
  );
}

function stores(environment: Environment): HTMLElement {
  if (environment.stores.length === 0) return h("p", { class: "muted" }, `No stores in ${environment.storesPath}.`);
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ...["Store", "Type", "Connection", "Secret", "File"].map((title) => h("th", { scope: "col" }, title)))),
      h(
        "tbody",
        {},
        ...environment.stores.map((store) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, store.name),
            h("td", {}, store.type),
            h("td", {}, Object.entries(store.connection).map(([key, value]) => `${key}=${value}`).join(", ") || "—"),
            h("td", {}, store.secretRef || "—"),
            h("td", {}, h("code", {}, store.file)),
          ),
        ),
      ),
    ),
  );
}

function card(environment: Environment): HTMLElement {
  const approval = environment.approval;
  const rows: [string, HTMLElement | string][] = [
    ["Path", environment.path.join(" → ")],
    ["After", environment.upstream || "first environment"],
    ["Approval", approval?.description || "—"],
    ["Rollbacks", approval?.rollback?.description || "the same rule"],
    ["Merging", approval?.autoMerge ? "dkd merges once checks pass" : "dkd merges once approved"],
    ["Automation", environment.autoPromote ? "dkd promotes versions Healthy upstream itself" : "promotions by hand"],
    ["Soak", environment.soakSeconds ? `${environment.soakSeconds}s Healthy upstream first` : "none"],
    ["Signatures", environment.signatureKeys.length ? `signed by one of ${environment.signatureKeys.join(", ")}` : "not required"],
    ["Cluster", `${environment.cluster || "—"} / ${environment.namespace || "—"}`],
    ["Freezes", freezes(environment)],
  ];
  return h(
    "article",
    { class: "card environment", "data-environment": environment.name, "aria-labelledby": `env-${environment.name}` },
    h("h2", { id: `env-${environment.name}` }, environment.name),
    h("dl", {}, ...rows.flatMap(([term, detail]) => [h("dt", {}, term), h("dd", {}, detail)])),
    h("h3", {}, "Stores"),
    stores(environment),
  );
}

export class EnvironmentsView implements View {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly revision: HTMLElement;

  constructor(private readonly live: Live) {
    this.list = h("div", { class: "cards" });
    this.revision = h("p", { class: "muted" });
    this.element = h("section", { class: "view environments", "aria-labelledby": "environments-title" }, h("h1", { id: "environments-title" }, "Environments"), this.revision, this.list);
    this.update();
  }

  update(): void {
    this.revision.textContent = this.live.revision ? `From config/environments.yaml at ${this.live.revision.slice(0, 12)} on the base branch.` : "";
    replace(this.list, ...this.live.environments.map(card));
  }

  dispose(): void {}
}
