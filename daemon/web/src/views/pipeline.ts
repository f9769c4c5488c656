// Pipeline: every package as a row across its environments in path order, each cell with
// what runs there and the open promotion into it. Rows are virtualized (only those in
// view exist in the DOM), so thousands of packages scroll and update smoothly.

import type { PackageStatus } from "../../gen/datakit/v1/status_pb";
import type { Promotion } from "../../gen/datakit/v1/promotion_pb";
import { h, replace } from "../dom";
import { exact, healthLabel, relative, runLabel, syncLabel } from "../format";
import type { Live } from "../live";
import { badge, packageLink, stateBadge, type View } from "./common";

/** Height of a row in pixels; fixed, so the visible range follows from the scroll offset. */
const ROW_HEIGHT = 112;
/** Rows rendered beyond the visible ones, above and below. */
const OVERSCAN = 4;

function statusCell(status: PackageStatus | undefined): HTMLElement[] {
  if (!status || !status.deployed) return [h("span", { class: "muted" }, "not deployed")];
  const [sync, syncTone] = syncLabel(status.syncStatus);
  const [health, healthTone] = healthLabel(status.health);
  const parts: HTMLElement[] = [
    h("div", { class: "cell-line" }, h("strong", { class: "version" }, status.version), badge(health, healthTone), badge(sync, syncTone)),
    h("div", { class: "cell-line muted", title: exact(status.lastSync) }, `synced ${relative(status.lastSync)}`),
  ];
  if (status.lastRun) {
    const [run, runTone] = runLabel(status.lastRun.result);
    parts.push(h("div", { class: "cell-line muted", title: exact(status.lastRun.startedAt) }, "run ", badge(run, runTone), ` ${relative(status.lastRun.startedAt)}`));
  }
  if (status.hold) parts.push(h("div", { class: "cell-line" }, badge(status.hold.kind === "rollback" ? "rollback hold" : "held", "bad")));
  return parts;
}

function promotionLine(promotion: Promotion | undefined, latency: number | undefined): HTMLElement | null {
  if (!promotion) return null;
  return h(
    "div",
    { class: "cell-line pending", "data-promotion": promotion.id, "data-latency-ms": latency },
    h("span", { "aria-hidden": "true" }, "→ "),
    h("strong", {}, promotion.version),
    " ",
    stateBadge(promotion),
    promotion.approvalsNeeded ? h("span", { class: "needs" }, ` ${promotion.approvalsNeeded}`) : null,
  );
}

export class PipelineView implements View {
  readonly element: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly body: HTMLElement;
  private readonly header: HTMLElement;
  private readonly count: HTMLElement;
  private readonly packageFilter: HTMLInputElement;
  private readonly environmentFilter: HTMLSelectElement;
  private rows: string[] = [];
  private columns: string[] = [];

  constructor(private readonly live: Live) {
    this.packageFilter = h("input", { type: "search", id: "filter-package", placeholder: "name contains…", oninput: () => this.update() });
    this.environmentFilter = h("select", { id: "filter-environment", onchange: () => this.update() });
    this.count = h("p", { class: "muted", role: "status", id: "package-count" });
    this.header = h("div", { class: "grid-row grid-header", role: "row" });
    this.body = h("div", { class: "grid-body", role: "rowgroup" });
    this.scroller = h(
      "div",
      { class: "grid-scroll", role: "table", "aria-label": "Packages by environment", tabindex: "0", onscroll: () => this.renderRows() },
      h("div", { role: "rowgroup", class: "grid-head" }, this.header),
      this.body,
    );
    this.element = h(
      "section",
      { class: "view pipeline", "aria-labelledby": "pipeline-title" },
      h("h1", { id: "pipeline-title" }, "Pipeline"),
      h(
        "div",
        { class: "filters" },
        h("label", { for: "filter-package" }, "Package"),
        this.packageFilter,
        h("label", { for: "filter-environment" }, "Environment"),
        this.environmentFilter,
        this.count,
      ),
      this.scroller,
    );
    addEventListener("resize", this.onResize);
    this.update();
  }

  private readonly onResize = (): void => this.renderRows();

  update(): void {
    const environments = this.live.environments.map((environment) => environment.name);
    const chosen = this.environmentFilter.value;
    if (this.environmentFilter.options.length !== environments.length + 1 || environments.some((name, i) => this.environmentFilter.options[i + 1]?.value !== name)) {
      replace(this.environmentFilter, h("option", { value: "" }, "All"), ...environments.map((name) => h("option", { value: name }, name)));
      this.environmentFilter.value = environments.includes(chosen) ? chosen : "";
    }
    const environment = this.environmentFilter.value;
    this.columns = environment ? [environment] : environments;
    const needle = this.packageFilter.value.trim().toLowerCase();
    this.rows = this.live.packageNames().filter((name) => name.toLowerCase().includes(needle));
    if (environment) {
      this.rows = this.rows.filter((name) => this.live.status(name, environment)?.deployed || this.live.openPromotion(name, environment));
    }
    this.count.textContent = `${this.rows.length} ${this.rows.length === 1 ? "package" : "packages"}`;
    const template = `minmax(10rem, 14rem) repeat(${this.columns.length}, minmax(13rem, 1fr))`;
    // Header and rows share one minimum width, so their columns line up when they scroll.
    this.scroller.style.setProperty("--grid-min-width", `${10 + 13 * this.columns.length}rem`);
    this.header.style.gridTemplateColumns = template;
    replace(
      this.header,
      h("div", { role: "columnheader", class: "grid-cell" }, "Package"),
      ...this.columns.map((name) => h("div", { role: "columnheader", class: "grid-cell" }, name)),
    );
    this.body.style.height = `${this.rows.length * ROW_HEIGHT}px`;
    this.body.style.gridTemplateColumns = template;
    this.scroller.setAttribute("aria-rowcount", String(this.rows.length + 1));
    this.renderRows();
  }

  /** Renders the rows in view (and a few around them). */
  private renderRows(): void {
    const top = this.scroller.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + this.scroller.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    const template = this.header.style.gridTemplateColumns;
    const rows: HTMLElement[] = [];
    for (let index = first; index < last; index += 1) {
      const name = this.rows[index];
      const row = h(
          "div",
          { class: "grid-row", role: "row", "aria-rowindex": index + 2, "data-package": name },
          h("div", { role: "rowheader", class: "grid-cell" }, packageLink(name)),
          ...this.columns.map((environment) =>
            h(
              "div",
              { role: "cell", class: "grid-cell", "data-environment": environment },
              ...statusCell(this.live.status(name, environment)),
              this.promotionLine(name, environment),
            ),
          ),
        );
      // Through the CSSOM: the content security policy forbids style attributes.
      row.style.top = `${index * ROW_HEIGHT}px`;
      row.style.height = `${ROW_HEIGHT}px`;
      row.style.gridTemplateColumns = template;
      rows.push(row);
    }
    replace(this.body, ...rows);
  }

  private promotionLine(name: string, environment: string): HTMLElement | null {
    const promotion = this.live.openPromotion(name, environment);
    return promotionLine(promotion, promotion && this.live.latency.get(promotion.id));
  }

  dispose(): void {
    removeEventListener("resize", this.onResize);
  }
}
