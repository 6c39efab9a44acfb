#!/usr/bin/env node
// Compiles the TypeScript entry points (app, scripts, benchmarks) into dist/ with
// esbuild (dependencies stay external, so deep imports load lazily), then bundles
// the Lambda functions into dist/functions/<name>/index.js.
// Type checking is separate: `npm run typecheck` (part of `npm test`).
"use strict";
const { buildSync } = require("esbuild");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const entries = ["main.ts", "modules/bundle.ts"];
for (const dir of ["scripts", "bench"]) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) continue;
  for (const f of fs.readdirSync(abs)) {
    if (f.endsWith(".ts") && !f.endsWith(".d.ts")) entries.push(path.join(dir, f));
  }
}

buildSync({
  absWorkingDir: root,
  entryPoints: entries,
  outdir: path.join(root, "dist"),
  outbase: root,
  bundle: true,
  packages: "external",
  platform: "node",
  target: "node20",
  format: "cjs",
  sourcemap: true,
  logLevel: "warning",
});

require(path.join(root, "dist", "modules", "bundle.js")).bundleAll();
