#!/usr/bin/env node
// `npm test`: the type check and jest side by side (the type check needs no test result;
// run one after the other, it would only add its seconds to the wall).
// Jest's output streams as it runs; tsc's is printed when it ends. Arguments go to jest.
// tsc runs at a lower priority: it only needs to end with the run, while suites with
// timers and child processes (the local pipeline) slow down more than their CPU share
// when starved, and then redo work (redeliveries, retries).
// Exit status: jest's, or tsc's when the types are wrong (jest still runs to the end).
"use strict";
const { spawn } = require("child_process");
const os = require("os");
const path = require("path");

const root = path.resolve(__dirname, "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);

/** Nice value for the type check (a lower priority than jest's). */
const TYPECHECK_NICE = 10;

function run(command, args, stdio, nice = 0) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio });
    if (nice && child.pid) {
      try {
        os.setPriority(child.pid, nice);
      } catch {
        // not allowed here: the type check keeps the normal priority
      }
    }
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
  const typecheck = run(bin("tsc"), ["--noEmit", "-p", "tsconfig.json"], ["ignore", "pipe", "pipe"], TYPECHECK_NICE).then((r) => {
    process.stderr.write(r.code === 0 ? `[typecheck] tsc --noEmit: no errors (${seconds(started)} s)\n` : `[typecheck] tsc --noEmit failed:\n${r.output}`);
    return r;
  });
  const jest = run(bin("jest"), process.argv.slice(2), "inherit");
  const [t, j] = await Promise.all([typecheck, jest]);
  if (t.code !== 0) process.stderr.write("[typecheck] the type check failed (above); see `npm run typecheck`\n");
  process.stderr.write(`[test] type check and jest done in ${seconds(started)} s\n`);
  process.exitCode = j.code !== 0 ? j.code : t.code;
})();
