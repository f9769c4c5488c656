// Scenarios of the built `@datakit/client` package against a real dkd, driven by
// tests/client_packages.rs; the same as tests/clients/python_scenario.py (see there).
//
//   node typescript_scenario.js PACKAGE_DIR resume PACKAGE V1 V2 | out-of-range | errors ADDRESS CA TOKEN
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const [packageDir, mode, ...args] = process.argv.slice(2);
const datakit = require(path.resolve(packageDir));

class Failure extends Error {}

const say = (line) => process.stdout.write(`${line}\n`);

async function readUntilHealthy(events, version, previous, seen) {
  for (;;) {
    const { value: event, done } = await events.next();
    if (done) throw new Failure("watch() ended");
    if (event.event === "snapshot") throw new Failure(`a snapshot arrived mid-stream after #${previous}`);
    if (seen.has(event.sequence) || event.sequence !== previous + 1) {
      throw new Failure(`expected event #${previous + 1}, got #${event.sequence} (${event.event})`);
    }
    previous = event.sequence;
    seen.add(previous);
    if (event.event === "promotion" && event.promotion.version === version) {
      const state = event.promotion.state;
      if (state === "PROMOTION_STATE_HEALTHY") return previous;
      if (state === "PROMOTION_STATE_FAILED" || state === "PROMOTION_STATE_REJECTED") {
        throw new Failure(`${version} ended ${state}`);
      }
    }
  }
}

async function resume(pkg, first, second) {
  const client = await datakit.connect(); // DK_HOME's socket, as dk finds it
  const events = datakit.watch(client, { reconnectForMs: 60_000 });
  const { value: snapshot } = await events.next();
  if (snapshot.event !== "snapshot") throw new Failure(`the first event is not a snapshot: ${snapshot.event}`);
  const seen = new Set();
  await client.call("Promote", { package: pkg, version: first, environment: "dev" });
  const before = await readUntilHealthy(events, first, snapshot.snapshotSequence, seen);
  say(`waiting for a restart after #${before}`);
  const last = await readUntilHealthy(events, second, before, seen);
  await events.return();
  client.close();
  return `ok: resumed after #${before} through a dkd restart to #${last}: no gap, no duplicate`;
}

async function outOfRange() {
  const client = await datakit.connect();
  const events = datakit.watch(client, { resumeAfter: 1e12 });
  const { value: first } = await events.next();
  await events.return();
  client.close();
  if (first.event !== "snapshot") throw new Failure(`a stale resume point did not give a fresh snapshot: ${first.event}`);
  return `ok: OUT_OF_RANGE gave a fresh snapshot at #${first.snapshotSequence}`;
}

async function expect(ErrorClass, exitCode, action) {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ErrorClass) || error.constructor !== ErrorClass || error.exitCode !== exitCode) {
      throw new Failure(`expected ${ErrorClass.name}, got ${error.name}: ${error.message}`);
    }
    return `${ErrorClass.name} (${exitCode}): ${error.message}`;
  }
  throw new Failure(`expected ${ErrorClass.name}, nothing was thrown`);
}

async function errors(address, caFile, token) {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "dk-empty-"));
  say(await expect(datakit.Unavailable, 5, () => datakit.connect({ address: `unix://${empty}/dkd.sock` })));
  fs.rmSync(empty, { recursive: true });
  const local = await datakit.connect();
  say(await expect(datakit.NotFound, 3, () => local.call("GetPromotion", { id: "p-999999" })));
  const request = { package: "x", version: "not a version", environment: "dev" };
  say(await expect(datakit.InvalidInput, 2, () => local.call("Promote", request)));
  local.close();
  const wrong = await datakit.connect({ address, token: "dkt_wrong", caFile });
  say(await expect(datakit.Refused, 4, () => wrong.call("WhoAmI", {})));
  wrong.close();
  const right = await datakit.connect({ address, token, caFile });
  const whoami = await right.call("WhoAmI", {});
  right.close();
  return `ok: typed errors; over https as ${whoami.name} (${whoami.authenticatedBy})`;
}

const scenarios = { resume, "out-of-range": outOfRange, errors };
setTimeout(() => {
  console.error("FAILED: still running after 150 s");
  process.exit(1);
}, 150_000).unref();
scenarios[mode](...args).then(
  (summary) => {
    say(summary);
    process.exit(0);
  },
  (error) => {
    console.error(`FAILED: ${error.name}: ${error.message}`);
    process.exit(1);
  },
);
