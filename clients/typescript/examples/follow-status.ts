// Streams the status of one package and prints each change: where an IDE extension starts.
//
//   node dist/examples/follow-status.js PACKAGE
//
// Connects like `dk` (DK_DAEMON, else DK_HOME's socket; DK_TOKEN and DK_CA_FILE for a shared
// dkd) and keeps following across dkd restarts. Ctrl-C to stop. In an extension, import
// from "@datakit/client" instead of "../src".

import { DataKitError, connect, watch, type PackageStatus } from "../src";

function describe(status: PackageStatus): string {
  const health = String(status.health).replace(/^HEALTH_/, "");
  return `${status.environment}: ${status.version || "-"} ${health}`;
}

async function main(): Promise<number> {
  const pkg = process.argv[2];
  if (!pkg) {
    console.error("usage: node dist/examples/follow-status.js PACKAGE");
    return 2;
  }
  try {
    const client = await connect();
    for await (const event of watch(client, { package: pkg, reconnectForMs: Infinity })) {
      if (event.event === "snapshot") {
        for (const status of event.snapshot?.packages ?? []) console.log(describe(status));
      } else if (event.event === "status" && event.status) {
        console.log(describe(event.status));
      } else if (event.event === "promotion" && event.promotion) {
        const { environment, version, state } = event.promotion;
        console.log(`${environment}: ${version} ${String(state).replace(/^PROMOTION_STATE_/, "")}`);
      }
    }
    return 0;
  } catch (error) {
    if (!(error instanceof DataKitError)) throw error;
    console.error(`error: ${error.message}`);
    return error.exitCode;
  }
}

main().then((code) => process.exit(code));
