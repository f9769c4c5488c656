// The one client of dkd's DataKitService, over gRPC-Web on the page's own origin, with the
// caller's credential: a dashboard session (loopback, from `dk ui`'s one-time link) or the
// token the user signed in with (a shared dkd). The credential lives in this tab's
// sessionStorage only, and never in the address bar.

import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { DataKitService } from "../gen/datakit/v1/service_pb";

const CREDENTIAL = "datakit.credential";

export const credential = (): string | null => sessionStorage.getItem(CREDENTIAL);
export const setCredential = (value: string): void => sessionStorage.setItem(CREDENTIAL, value);
export const forgetCredential = (): void => sessionStorage.removeItem(CREDENTIAL);

/** Whether this page came from `dk ui`'s loopback listener (plain HTTP on this machine). */
export const onLoopback = (): boolean => location.protocol === "http:";

const bearer: Interceptor = (next) => async (request) => {
  const value = credential();
  if (value) request.header.set("authorization", `Bearer ${value}`);
  return next(request);
};

export const dkd = createClient(
  DataKitService,
  createGrpcWebTransport({ baseUrl: location.origin, useBinaryFormat: true, interceptors: [bearer] }),
);

/** Exchanges `dk ui`'s one-time code for a session of this tab. */
export async function redeemLogin(code: string): Promise<void> {
  const answer = await fetch("/login", { method: "POST", headers: { "x-dashboard-login": code } });
  if (!answer.ok) throw new Error((await answer.text()).trim());
  const { session } = (await answer.json()) as { session: string };
  setCredential(session);
}

/** dkd's one-line message for a failed call. */
export function problem(error: unknown): string {
  const failure = ConnectError.from(error);
  return failure.rawMessage || failure.message;
}

export const isUnauthenticated = (error: unknown): boolean =>
  ConnectError.from(error).code === Code.Unauthenticated;
