// `connect()`: finds and reaches dkd by the same rules as `dk`. The address is the
// argument, else `DK_DAEMON`, else `DK_HOME`'s socket (default `~/.datakit/dkd.sock`):
// `unix:///path/dkd.sock`, `https://host:port` (trusting `DK_CA_FILE` when set, else the
// system's roots) or `http://` on loopback. `DK_TOKEN` is sent as a bearer token. Unlike
// `dk`, it never starts a dkd: it throws `Unavailable`.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

import { InvalidInput, Unavailable, errorFor } from "./errors";
import type { ProtoGrpcType } from "./generated/service";
import type { DataKitServiceClient } from "./generated/datakit/v1/DataKitService";

/** The loader options the types in src/generated were generated with (scripts/generate.js). */
const LOADER_OPTIONS: protoLoader.Options = {
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [path.join(__dirname, "..", "..", "proto")],
};

/** Reconnect quickly after dkd restarts (the default backoff grows to 2 minutes). */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 2000,
};

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

export interface ConnectOptions {
  /** `unix:///path`, `https://host:port` or `http://` on loopback; default as `dk`. */
  address?: string;
  /** Bearer token; default `DK_TOKEN`. */
  token?: string;
  /** PEM file of the CA that signed dkd's certificate; default `DK_CA_FILE`. */
  caFile?: string;
  /** Milliseconds to wait for dkd to answer; default 5000. */
  timeoutMs?: number;
}

function env(name: string): string | undefined {
  return process.env[name] || undefined;
}

/** `DK_DAEMON`, else the socket in `DK_HOME` (default ~/.datakit). */
export function defaultAddress(): string {
  const daemon = env("DK_DAEMON");
  if (daemon) return daemon;
  const home = env("DK_HOME") ?? path.join(os.homedir(), ".datakit");
  return `unix://${path.join(home, "dkd.sock")}`;
}

/** A connection to dkd: `raw` is the generated client; `call` maps failures to typed errors. */
export class Client {
  constructor(
    readonly raw: DataKitServiceClient,
    readonly address: string,
    private readonly metadata: () => grpc.Metadata,
  ) {}

  /** Calls the unary RPC `method` (e.g. "Promote") and resolves to its response. */
  call<Response>(method: UnaryMethod, request: object, timeoutMs = 30_000): Promise<Response> {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + timeoutMs);
      const rpc = (this.raw as unknown as Record<string, Function>)[method];
      rpc.call(this.raw, request, this.metadata(), { deadline }, (error: grpc.ServiceError | null, response: Response) =>
        error ? reject(errorFor(error)) : resolve(response),
      );
    });
  }

  /** Metadata for a call (the bearer token when there is one). */
  callMetadata(): grpc.Metadata {
    return this.metadata();
  }

  close(): void {
    this.raw.close();
  }
}

/** The unary methods of DataKitService. */
export type UnaryMethod =
  | "Promote" | "Rollback" | "GetPromotion" | "ListPromotions" | "Approve" | "Status"
  | "ListEnvironments" | "CreateToken" | "ListTokens" | "RevokeToken" | "WhoAmI"
  | "ListAuditEvents" | "GetVersion" | "Reject" | "Cancel" | "AddStore" | "SetHold"
  | "ReleaseHold" | "ListHolds" | "GetNotificationStatus" | "Verify" | "OpenDashboard";

function target(address: string, token: string | undefined, caFile: string | undefined) {
  const invalid = new InvalidInput(
    `invalid daemon address ${JSON.stringify(address)}: use unix:///path/to/dkd.sock or https://host:port`,
  );
  if (address.startsWith("unix:")) {
    const socket = address.replace(/^unix:(\/\/)?/, "");
    if (!socket.startsWith("/")) throw invalid;
    if (!fs.existsSync(socket)) {
      throw new Unavailable(`cannot reach dkd at ${socket}: no such socket; start it with \`dkd\``);
    }
    return { target: `unix://${socket}`, credentials: grpc.credentials.createInsecure() };
  }
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw invalid;
  }
  if (!["https:", "http:"].includes(url.protocol) || !url.hostname || url.username) throw invalid;
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const hostPort = `${url.hostname}:${port}`;
  if (url.protocol === "http:") {
    if (token && !LOOPBACK.has(url.hostname)) {
      throw new InvalidInput(`refusing to send DK_TOKEN in plain text to ${address}: use https://`);
    }
    return { target: hostPort, credentials: grpc.credentials.createInsecure() };
  }
  let roots: Buffer | undefined;
  if (caFile) {
    try {
      roots = fs.readFileSync(caFile);
    } catch (error) {
      throw new InvalidInput(`DK_CA_FILE: cannot read ${caFile}: ${(error as Error).message}`);
    }
    if (!roots.includes("-----BEGIN CERTIFICATE-----")) {
      throw new InvalidInput(`DK_CA_FILE: ${caFile} holds no PEM certificate`);
    }
  }
  return { target: hostPort, credentials: grpc.credentials.createSsl(roots) };
}

let definition: ProtoGrpcType | undefined;

/** The service definition, loaded once from the protos shipped with the package. */
function loadDefinition(): ProtoGrpcType {
  definition ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(["datakit/v1/service.proto"], LOADER_OPTIONS),
  ) as unknown as ProtoGrpcType;
  return definition;
}

/** Connects to dkd and waits for it to answer; throws `InvalidInput` or `Unavailable`. */
export async function connect(options: ConnectOptions = {}): Promise<Client> {
  const address = options.address || defaultAddress();
  const token = options.token || env("DK_TOKEN");
  const caFile = options.caFile || env("DK_CA_FILE");
  const timeoutMs = options.timeoutMs ?? 5000;
  const { target: dial, credentials } = target(address, token, caFile);
  const raw = new (loadDefinition().datakit.v1.DataKitService)(dial, credentials, CHANNEL_OPTIONS);
  await new Promise<void>((resolve, reject) =>
    raw.waitForReady(new Date(Date.now() + timeoutMs), (error) => {
      if (!error) return resolve();
      raw.close();
      reject(new Unavailable(
        `cannot reach dkd at ${address} within ${Math.round(timeoutMs / 1000)} s; check that dkd is running (or DK_DAEMON)`,
      ));
    }),
  );
  const metadata = () => {
    const metadata = new grpc.Metadata();
    if (token) metadata.set("authorization", `Bearer ${token}`);
    return metadata;
  };
  return new Client(raw, address, metadata);
}
