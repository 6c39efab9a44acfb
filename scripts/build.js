#!/usr/bin/env node
// Compiles the TypeScript entry points (app, scripts, benchmarks) into dist/ with
// esbuild (dependencies stay external, so deep imports load lazily), then bundles
// the Lambda functions into dist/functions/<name>/index.js.
// Every file is written through a temporary file and a rename (the bundles too:
// modules/bundle.ts), so a benchmark or a local run copying them while another build
// rewrites them reads a whole file, old or new, never half of one.
// Type checking is separate: `npm run typecheck` (part of `npm test`).
"use strict";
const { buildSync } = require("esbuild");
const fs = require("fs");
const path = require("path");
const { NODE_SCRIPT_OPTIONS } = require("./node-build-options");

const root = path.resolve(__dirname, "..");
const entries = ["main.ts", "modules/bundle.ts"];
for (const dir of ["scripts", "bench"]) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) continue;
  for (const f of fs.readdirSync(abs)) {
    if (f.endsWith(".ts") && !f.endsWith(".d.ts")) entries.push(path.join(dir, f));
  }
}

const result = buildSync({
  ...NODE_SCRIPT_OPTIONS,
  write: false,
  absWorkingDir: root,
  entryPoints: entries,
  outdir: path.join(root, "dist"),
  outbase: root,
});
for (const out of result.outputFiles) {
  fs.mkdirSync(path.dirname(out.path), { recursive: true });
  const tmp = `${out.path}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, out.contents);
  fs.renameSync(tmp, out.path);
}

require(path.join(root, "dist", "modules", "bundle.js")).bundleAll();
