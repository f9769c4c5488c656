// The dashboard's entry point: signs in (dk ui's one-time code, or a token on a shared
// dkd), starts the one Watch stream, and shows the view the address names:
// #/pipeline, #/package/NAME, #/waiting, #/environments.

import type { WhoAmIResponse } from "../gen/datakit/v1/access_pb";
import { PromotionState } from "../gen/datakit/v1/promotion_pb";
import { credential, dkd, forgetCredential, isUnauthenticated, onLoopback, problem, redeemLogin, setCredential } from "./api";
import { h, replace } from "./dom";
import { Live, type Connection } from "./live";
import type { View } from "./views/common";
import { EnvironmentsView } from "./views/environments";
import { PackageView } from "./views/package";
import { PipelineView } from "./views/pipeline";
import { WaitingView } from "./views/waiting";

const app = document.getElementById("app") as HTMLElement;

const CONNECTION_WORDS: Record<Connection, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  "signed-out": "Signed out",
};

/** The sign-in screen, with `message` saying why it shows. */
function signIn(message: string): void {
  document.title = "DataKit — sign in";
  if (onLoopback()) {
    replace(
      app,
      h(
        "main",
        { class: "sign-in" },
        h("h1", {}, "DataKit"),
        h("p", { role: "alert" }, message),
        h("p", {}, "Run ", h("code", {}, "dk ui"), " for a new login link: each link signs in once, within 2 minutes."),
      ),
    );
    return;
  }
  const token = h("input", { type: "password", id: "token", autocomplete: "off", required: true });
  const form = h(
    "form",
    {
      class: "sign-in",
      onsubmit: (event: Event) => {
        event.preventDefault();
        setCredential(token.value.trim());
        void start();
      },
    },
    h("h1", {}, "DataKit"),
    message ? h("p", { role: "alert" }, message) : null,
    h("label", { for: "token" }, "Token (a service token from ", h("code", {}, "dk token create"), ", or your OIDC token)"),
    token,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    h("p", { class: "muted" }, "The token stays in this tab only and is sent to this dkd alone."),
  );
  replace(app, h("main", {}, form));
  token.focus();
}

/** Exchanges `?login=CODE` from dk ui for a session, then removes it from the address. */
async function redeemFromAddress(): Promise<string | null> {
  const code = new URLSearchParams(location.search).get("login");
  if (!code) return null;
  history.replaceState(null, "", location.pathname + location.hash);
  try {
    await redeemLogin(code);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function route(live: Live, me: WhoAmIResponse, onCount: (count: number) => void): View {
  const [, page, argument] = location.hash.split("/");
  switch (page) {
    case "package":
      return new PackageView(live, decodeURIComponent(argument ?? ""), me);
    case "waiting":
      return new WaitingView(live, me, onCount);
    case "environments":
      return new EnvironmentsView(live);
    default:
      return new PipelineView(live);
  }
}

function shell(live: Live, me: WhoAmIResponse): void {
  const connection = h("span", { class: "connection", role: "status", id: "connection" });
  const waitingCount = h("span", { id: "waiting-count" });
  const links = [
    h("a", { href: "#/pipeline", "data-page": "pipeline" }, "Pipeline"),
    h("a", { href: "#/waiting", "data-page": "waiting" }, "Waiting for me", waitingCount),
    h("a", { href: "#/environments", "data-page": "environments" }, "Environments"),
  ];
  const banner = h("div", { id: "config-banner", class: "banner", role: "alert", hidden: true });
  const main = h("main", { id: "main", tabindex: "-1" });
  const signOut = onLoopback()
    ? null
    : h("button", { type: "button", onclick: () => { forgetCredential(); location.reload(); } }, "Sign out");
  replace(
    app,
    h("a", { href: "#main", class: "skip" }, "Skip to content"),
    h(
      "header",
      {},
      h("span", { class: "brand" }, "DataKit"),
      h("nav", { "aria-label": "Views" }, ...links),
      connection,
      h("span", { class: "who", title: `authenticated by ${me.authenticatedBy}` }, me.name),
      signOut,
    ),
    banner,
    main,
  );
  const onCount = (count: number) => {
    waitingCount.textContent = count ? ` (${count})` : "";
  };
  let view: View | null = null;
  const show = () => {
    view?.dispose();
    view = route(live, me, onCount);
    replace(main, view.element);
    const page = location.hash.split("/")[1] || "pipeline";
    for (const link of links) link.setAttribute("aria-current", link.dataset.page === page ? "page" : "false");
    document.title = `DataKit — ${view.element.querySelector("h1")?.textContent ?? ""}`;
  };
  addEventListener("hashchange", show);
  show();
  // "12s ago" grows old: redraw now and then even when nothing changed.
  setInterval(() => view?.update(), 15_000);
  let counting: ReturnType<typeof setTimeout> | undefined;
  const countApprovals = async () => {
    try {
      const open = [PromotionState.REQUESTED, PromotionState.VALIDATED, PromotionState.CHANGE_PROPOSED, PromotionState.APPROVED];
      onCount((await dkd.listPromotions({ toApprove: true, states: open, pageSize: 1000 })).promotions.length);
    } catch {
      // The view shows the failure; the count waits for the next change.
    }
  };
  void countApprovals();
  live.subscribe(() => {
    connection.textContent = CONNECTION_WORDS[live.connection];
    connection.className = `connection ${live.connection}`;
    connection.title = live.detail;
    document.body.dataset.connection = live.connection;
    document.body.dataset.sequence = String(live.sequence ?? "");
    document.body.dataset.gaps = String(live.gaps);
    document.body.dataset.snapshots = String(live.snapshots);
    if (live.problems.length > 0) {
      banner.hidden = false;
      replace(
        banner,
        h("strong", {}, "The deployment repository's newest configuration was refused; dkd keeps serving the last good one. "),
        ...live.problems.map((p) => h("div", {}, `${p.file}${p.line ? `:${p.line}` : ""} (${p.revision.slice(0, 12)}): ${p.message}`)),
      );
    } else {
      banner.hidden = true;
    }
    if (live.touched.size > 0) {
      clearTimeout(counting);
      counting = setTimeout(() => void countApprovals(), 100);
    }
    view?.update();
  });
}

async function start(): Promise<void> {
  const refused = await redeemFromAddress();
  if (refused) return signIn(refused);
  if (!credential()) return signIn(onLoopback() ? "This tab is not signed in." : "");
  let me: WhoAmIResponse;
  try {
    me = await dkd.whoAmI({});
  } catch (error) {
    if (isUnauthenticated(error)) forgetCredential();
    return signIn(problem(error));
  }
  const live = new Live();
  shell(live, me);
  live.subscribe(() => {
    if (live.connection === "signed-out") {
      forgetCredential();
      signIn(live.detail);
    }
  });
  void live.run();
}

void start();
