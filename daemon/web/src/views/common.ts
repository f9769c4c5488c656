// Pieces several views share: badges, a promotion's one-line summary, the view contract.

import type { WhoAmIResponse } from "../../gen/datakit/v1/access_pb";
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

/** Whether `pattern` (RBAC's `*` wildcards) covers `name`. */
function covers(pattern: string, name: string): boolean {
  const expression = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*");
  return new RegExp(`^${expression}$`).test(name);
}

/**
 * Why WhoAmI says `me` may not take `action` on `pkg` in `environment`, or "" when it
 * may. Only to explain a disabled button: dkd checks every call itself.
 */
export function deniedBecause(me: WhoAmIResponse, action: string, environment: string, pkg: string): string {
  if (me.authenticatedBy === "local-socket") return "";
  const access = me.environments.find((entry) => entry.environment === environment);
  const grant = access?.grants.find((entry) => entry.action === action);
  if (grant?.packages.some((pattern) => covers(pattern, pkg))) return "";
  const verb = action === "rollback" ? "roll back" : action;
  return `You may not ${verb} in ${environment}: config/rbac.yaml gives ${me.name} no ${action} there.`;
}
