// Builds the dashboard dkd serves: types and service descriptors generated from the
// repository's proto/ (buf + protoc-gen-es, into gen/), a type check (tsc), then one
// minified bundle (esbuild) plus the page and its style sheet in dist/, which is committed
// and built into dkd. `node build.mjs --outdir DIR` writes the bundle elsewhere (the
// check that dist/ matches the sources uses it). The same sources and lock file give the
// same bytes.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outFlag = process.argv.indexOf("--outdir");
const outdir = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : join(here, "dist");
const bin = (name) => join(here, "node_modules", ".bin", name);

rmSync(join(here, "gen"), { recursive: true, force: true });
execFileSync(bin("buf"), ["generate", join(here, "..", "..", "proto"), "--template", join(here, "buf.gen.yaml")], {
  cwd: here,
  stdio: "inherit",
});
execFileSync(bin("tsc"), ["--noEmit", "-p", here], { cwd: here, stdio: "inherit" });

mkdirSync(outdir, { recursive: true });
await esbuild.build({
  entryPoints: [join(here, "src", "main.ts")],
  outfile: join(outdir, "app.js"),
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome109", "firefox115", "safari16"],
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});
copyFileSync(join(here, "src", "index.html"), join(outdir, "index.html"));
copyFileSync(join(here, "src", "app.css"), join(outdir, "app.css"));
