// Scenarios of the built `@datakit/client` package against a real dkd, driven by
// tests/client_packages.rs; the same as tests/clients/python_scenario.py (see there).
//
//   node typescript_scenario.js PACKAGE_DIR resume PACKAGE V1 V2 | out-of-range | errors ADDRESS CA TOKEN | parts
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

// The fake snapshot: 3 parts of 8,000 rows with 200-byte messages, over 4 MB together.
const PART_ROWS = 8000;
const SNAPSHOT_SEQUENCE = 41;

function snapshotPart(index, more) {
  const packages = [];
  for (let i = 0; i < PART_ROWS; i++) {
    const name = `pkg-${index}-${String(i).padStart(5, "0")}`;
    packages.push({ package: name, environment: "dev", version: "v1.0.0", message: "m".repeat(200) });
  }
  const first = index === 0;
  return {
    snapshotSequence: SNAPSHOT_SEQUENCE,
    snapshot: {
      packages,
      more,
      environments: first ? [{ name: "dev" }] : [],
      promotions: first ? [{ id: "p-1", package: "pkg-0-00000" }] : [],
    },
  };
}

/** A fake dkd on DK_HOME's socket (Watch only): the snapshot in three parts, its first
 * stream broken after the first part. */
async function partsDkd() {
  const from = { paths: [path.resolve(packageDir)] };
  const grpc = require(require.resolve("@grpc/grpc-js", from));
  const protoLoader = require(require.resolve("@grpc/proto-loader", from));
  const options = { longs: Number, enums: String, defaults: true, oneofs: true };
  const definition = protoLoader.loadSync(["datakit/v1/service.proto"], {
    ...options,
    includeDirs: [path.join(path.resolve(packageDir), "proto")],
  });
  const service = grpc.loadPackageDefinition(definition).datakit.v1.DataKitService.service;
  const fake = { requests: [], parts: [0, 1, 2].map((i) => snapshotPart(i, i < 2)) };
  const server = new grpc.Server();
  server.addService(service, {
    Watch(call) {
      fake.requests.push(call.request);
      if (fake.requests.length === 1) {
        call.write(fake.parts[0], () =>
          call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the connection broke mid-snapshot" }),
        );
        return;
      }
      for (const part of fake.parts) call.write(part);
      call.write({
        sequence: SNAPSHOT_SEQUENCE + 1,
        status: { package: "pkg-0-00000", environment: "dev", version: "v2.0.0" },
      });
    },
  });
  const socket = path.join(process.env.DK_HOME, "dkd.sock");
  await new Promise((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  fake.stop = () => server.forceShutdown();
  return fake;
}

async function parts() {
  const fake = await partsDkd();
  const client = await datakit.connect(); // grpc-js's defaults: 4 MB per message received
  const events = datakit.watch(client, { reconnectForMs: 30_000 });
  const { value: first } = await events.next();
  const { value: second } = await events.next();
  await events.return();
  client.close();
  fake.stop();
  if (first.event !== "snapshot" || first.snapshot.more) {
    throw new Failure(`the first event is not a whole snapshot: ${first.event}`);
  }
  const whole = first.snapshot;
  const expected = fake.parts.flatMap((part) => part.snapshot.packages.map((row) => row.package));
  const got = whole.packages.map((row) => row.package);
  if (got.length !== expected.length || got.some((name, i) => name !== expected[i])) {
    throw new Failure(`${got.length} rows, not the ${expected.length} of the parts in order`);
  }
  if (whole.environments.map((e) => e.name).join() !== "dev" || whole.promotions.map((p) => p.id).join() !== "p-1") {
    throw new Failure("environments or promotions lost");
  }
  const bytes = whole.packages.reduce((sum, row) => sum + row.message.length, 0);
  if (first.snapshotSequence !== SNAPSHOT_SEQUENCE || bytes <= 4 * 1024 * 1024) {
    throw new Failure(`snapshot #${first.snapshotSequence} with ${bytes} bytes of messages`);
  }
  if (second.event !== "status" || second.sequence !== SNAPSHOT_SEQUENCE + 1) {
    throw new Failure(`the event after the snapshot: ${second.event} #${second.sequence}`);
  }
  const resumed = fake.requests.filter((request) => request.resumeAfter !== undefined && request.resumeAfter !== null);
  if (fake.requests.length !== 2 || resumed.length > 0) {
    throw new Failure(`${fake.requests.length} Watch calls, ${resumed.length} resuming`);
  }
  return `ok: a snapshot of over ${bytes} bytes in 3 parts yielded once, whole, after a stream broken mid-snapshot, then the next event`;
}

const scenarios = { resume, "out-of-range": outOfRange, errors, parts };
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
