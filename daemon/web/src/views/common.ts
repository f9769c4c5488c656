// Pieces several views share: badges, a promotion's one-line summary, the view contract.

import type { Promotion } from "../../gen/datakit/v1/promotion_pb";
import { h } from "../dom";
import { stateLabel, stateTone } from "../format";

/** A mounted view: told when the state changed, disposed when the user leaves it. */
export interface View {
  readonly element: HTMLElement;
  update(): void;
  dispose(): void;
}

export const badge = (text: string, tone: string): HTMLElement => h("span", { class: `badge ${tone}` }, text);

export const stateBadge = (promotion: Promotion): HTMLElement =>
  h("span", { class: `badge ${stateTone(promotion.state)}`, "data-state": stateLabel(promotion.state) }, stateLabel(promotion.state));

/** The change request as a link (GitHub) or its id (embedded forge). */
export function changeLink(promotion: Promotion): HTMLElement | string {
  const change = promotion.change;
  if (!change) return "—";
  if (change.url) return h("a", { href: change.url, target: "_blank", rel: "noopener noreferrer" }, change.title || change.id);
  return h("code", {}, change.id);
}

export const packageLink = (name: string): HTMLElement =>
  h("a", { href: `#/package/${encodeURIComponent(name)}`, class: "package-link" }, name);
