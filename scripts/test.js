#!/usr/bin/env node
// `npm test`: the type check and jest side by side (the type check needs no test result;
// run one after the other, it would only add its seconds to the wall).
// Jest's output streams as it runs; tsc's is printed when it ends. Arguments go to jest.
// Exit status: jest's, or tsc's when the types are wrong (jest still runs to the end).
"use strict";
const { spawn } = require("child_process");
const path = require("path");

const root = path.resolve(__dirname, "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);

function run(command, args, stdio) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio });
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    child.on("error", (e) => resolve({ code: 127, output: `${command}: ${e.message}\n` }));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}

const seconds = (from) => ((Date.now() - from) / 1000).toFixed(1);

(async () => {
  const started = Date.now();
  const typecheck = run(bin("tsc"), ["--noEmit", "-p", "tsconfig.json"], ["ignore", "pipe", "pipe"]).then((r) => {
    process.stderr.write(r.code === 0 ? `[typecheck] tsc --noEmit: no errors (${seconds(started)} s)\n` : `[typecheck] tsc --noEmit failed:\n${r.output}`);
    return r;
  });
  const jest = run(bin("jest"), process.argv.slice(2), "inherit");
  const [t, j] = await Promise.all([typecheck, jest]);
  if (t.code !== 0) process.stderr.write("[typecheck] the type check failed (above); see `npm run typecheck`\n");
  process.stderr.write(`[test] type check and jest done in ${seconds(started)} s\n`);
  process.exitCode = j.code !== 0 ? j.code : t.code;
})();
