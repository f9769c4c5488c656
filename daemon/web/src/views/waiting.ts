// Waiting for me: the open promotions that need an approval. Those dkd says the signed-in
// principal may approve now (ListPromotions to_approve: RBAC and the approval rule, decided
// by dkd) get working Approve and Reject buttons; the others show them disabled, saying why.
// dkd checks every click again: the page never decides what is allowed.

import type { WhoAmIResponse } from "../../gen/datakit/v1/access_pb";
import { PromotionKind, PromotionState, type Promotion } from "../../gen/datakit/v1/promotion_pb";
import { dkd, problem } from "../api";
import { h, replace } from "../dom";
import { exact, kindLabel, relative } from "../format";
import type { Live } from "../live";
import { changeLink, deniedBecause, packageLink, stateBadge, type View } from "./common";

const OPEN_STATES = [PromotionState.REQUESTED, PromotionState.VALIDATED, PromotionState.CHANGE_PROPOSED, PromotionState.APPROVED];

/** Why `me` cannot approve `promotion` now, in words; dkd's to_approve list is the truth. */
export function whyNot(promotion: Promotion, me: WhoAmIResponse): string {
  const denied = deniedBecause(me, "approve", promotion.environment, promotion.package);
  if (denied) return denied;
  if (promotion.promoter === me.name) return "You promoted it: the promoter's approval never counts.";
  if (promotion.approvals.some((approval) => approval.user === me.name)) return "You approved it already.";
  if (promotion.state === PromotionState.APPROVED || !promotion.approvalsNeeded) return "It needs no more approvals.";
  return `Not yours to give: it ${promotion.approvalsNeeded}.`;
}

export class WaitingView implements View {
  readonly element: HTMLElement;
  private readonly mine: HTMLElement;
  private readonly others: HTMLElement;
  private readonly notice: HTMLElement;
  private approvable = new Set<string>();
  private refreshing: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;

  constructor(
    private readonly live: Live,
    private readonly me: WhoAmIResponse,
    private readonly onCount: (count: number) => void,
  ) {
    this.notice = h("p", { role: "status", class: "notice", id: "action-result" });
    this.mine = h("div", { class: "cards", id: "approvable" });
    this.others = h("div", { class: "cards", id: "not-approvable" });
    this.element = h(
      "section",
      { class: "view waiting", "aria-labelledby": "waiting-title" },
      h("h1", { id: "waiting-title" }, "Waiting for me"),
      this.notice,
      h("h2", {}, "You can approve"),
      this.mine,
      h("h2", {}, "Waiting for someone else"),
      this.others,
    );
    void this.refresh();
  }

  update(): void {
    if (this.live.touched.size > 0) {
      clearTimeout(this.refreshing);
      this.refreshing = setTimeout(() => void this.refresh(), 100);
    }
    this.render();
  }

  /** Asks dkd which open promotions the caller may approve now. */
  private async refresh(): Promise<void> {
    try {
      const answer = await dkd.listPromotions({ toApprove: true, states: OPEN_STATES, pageSize: 1000 });
      if (this.disposed) return;
      this.approvable = new Set(answer.promotions.map((promotion) => promotion.id));
      this.onCount(this.approvable.size);
      this.render();
    } catch (error) {
      this.notice.textContent = problem(error);
    }
  }

  private render(): void {
    const waiting = [...this.live.promotions.values()]
      .filter((promotion) => promotion.approvalsNeeded || this.approvable.has(promotion.id))
      .sort((a, b) => Number((a.createdAt?.seconds ?? 0n) - (b.createdAt?.seconds ?? 0n)));
    const mine = waiting.filter((promotion) => this.approvable.has(promotion.id));
    const others = waiting.filter((promotion) => !this.approvable.has(promotion.id));
    // Keep a card whose reason is being typed: rebuild only what changed.
    this.fill(this.mine, mine, true, "Nothing waits for your approval.");
    this.fill(this.others, others, false, "Nothing else waits for an approval.");
  }

  private fill(list: HTMLElement, promotions: Promotion[], allowed: boolean, empty: string): void {
    const signature = (promotion: Promotion) => `${promotion.id}:${promotion.state}:${promotion.approvals.length}:${promotion.approvalsNeeded}:${allowed}`;
    const wanted = promotions.map(signature).join("|");
    if (list.dataset.signature === wanted && list.childElementCount > 0) return;
    list.dataset.signature = wanted;
    if (promotions.length === 0) replace(list, h("p", { class: "muted" }, empty));
    else replace(list, ...promotions.map((promotion) => this.card(promotion, allowed)));
  }

  private card(promotion: Promotion, allowed: boolean): HTMLElement {
    const reasonId = `why-${promotion.id}`;
    const rejectId = `reason-${promotion.id}`;
    const why = allowed ? "" : whyNot(promotion, this.me);
    const reason = h("input", { type: "text", id: rejectId, placeholder: "why (required to reject)", disabled: !allowed, maxlength: 1000 });
    const approve = h(
      "button",
      { type: "button", class: "primary", "data-action": "approve", disabled: !allowed, "aria-describedby": allowed ? null : reasonId, onclick: () => void this.approve(promotion, approve) },
      "Approve",
    );
    const reject = h(
      "button",
      { type: "button", "data-action": "reject", disabled: !allowed, "aria-describedby": allowed ? null : reasonId, onclick: () => void this.reject(promotion, reason, reject) },
      "Reject",
    );
    const title = promotion.kind === PromotionKind.STORE ? `store ${promotion.package} → ${promotion.environment}` : null;
    return h(
      "article",
      { class: "card", "data-promotion": promotion.id, "aria-labelledby": `title-${promotion.id}` },
      h(
        "h3",
        { id: `title-${promotion.id}` },
        `${promotion.id} `,
        title ?? packageLink(promotion.package),
        title ? null : ` ${promotion.version} → ${promotion.environment}`,
        " ",
        stateBadge(promotion),
      ),
      h(
        "dl",
        {},
        h("dt", {}, "Kind"),
        h("dd", {}, kindLabel(promotion.kind)),
        h("dt", {}, "Promoter"),
        h("dd", {}, promotion.promoter, " ", h("span", { class: "muted", title: exact(promotion.createdAt) }, relative(promotion.createdAt))),
        h("dt", {}, "Rule"),
        h("dd", {}, promotion.policy || "—"),
        h("dt", {}, "Approvals"),
        h("dd", {}, promotion.approvals.map((approval) => approval.user).join(", ") || "none yet"),
        h("dt", {}, "Still needed"),
        h("dd", {}, promotion.approvalsNeeded || "nothing"),
        h("dt", {}, "Change"),
        h("dd", {}, changeLink(promotion)),
      ),
      h("div", { class: "actions" }, approve, h("label", { for: rejectId, class: "visually-hidden" }, `Reason to reject ${promotion.id}`), reason, reject),
      allowed ? null : h("p", { class: "why", id: reasonId }, why),
    );
  }

  private async approve(promotion: Promotion, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      const answer = await dkd.approve({ promotionId: promotion.id });
      this.notice.textContent = `Approved ${promotion.id}: ${answer.promotion?.message || "done"}`;
    } catch (error) {
      this.notice.textContent = `Could not approve ${promotion.id}: ${problem(error)}`;
      button.disabled = false;
    }
    void this.refresh();
  }

  private async reject(promotion: Promotion, reason: HTMLInputElement, button: HTMLButtonElement): Promise<void> {
    if (!reason.value.trim()) {
      this.notice.textContent = `Type why you reject ${promotion.id} first.`;
      reason.focus();
      return;
    }
    button.disabled = true;
    try {
      await dkd.reject({ promotionId: promotion.id, reason: reason.value.trim() });
      this.notice.textContent = `Rejected ${promotion.id}.`;
    } catch (error) {
      this.notice.textContent = `Could not reject ${promotion.id}: ${problem(error)}`;
      button.disabled = false;
    }
    void this.refresh();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.refreshing);
  }
}
