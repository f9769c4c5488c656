#!/usr/bin/env node
// Generates the TypeScript types from the repository's proto/ (run by `npm run build`):
// copies proto/ into this package (the client loads it at run time, so it ships with the
// package), then writes src/generated/ with @grpc/proto-loader's type generator, using
// the same loader options as src/connect.ts.
"use strict";

const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const here = path.join(__dirname, "..");
const source = path.join(here, "..", "..", "proto");
const shipped = path.join(here, "proto");
const generated = path.join(here, "src", "generated");

if (fs.existsSync(source)) {
  fs.rmSync(shipped, { recursive: true, force: true });
  fs.cpSync(source, shipped, { recursive: true });
} else if (!fs.existsSync(shipped)) {
  console.error(`generate: neither ${source} nor ${shipped} holds the protos`);
  process.exit(1);
}
const protos = fs
  .readdirSync(path.join(shipped, "datakit", "v1"))
  .filter((name) => name.endsWith(".proto"))
  .map((name) => path.join("datakit", "v1", name));
fs.rmSync(generated, { recursive: true, force: true });
const generator = path.join(here, "node_modules", ".bin", "proto-loader-gen-types");
execFileSync(
  generator,
  [
    "--grpcLib=@grpc/grpc-js",
    "--longs=Number",
    "--enums=String",
    "--defaults",
    "--oneofs",
    `--includeDirs=${shipped}`,
    `--outDir=${generated}`,
    ...protos,
  ],
  { stdio: ["ignore", "ignore", "inherit"] },
);
console.log(`generate: ${protos.length} protos → src/generated`);
