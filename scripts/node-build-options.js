// esbuild's options for the project's Node scripts (the app, scripts/, bench/):
// one bundle per entry, packages left external (deep imports load lazily), CommonJS
// for Node 20, with source maps. scripts/build.js and the tests' harness build use them.
"use strict";

module.exports = {
  NODE_SCRIPT_OPTIONS: {
    bundle: true,
    packages: "external",
    platform: "node",
    target: "node20",
    format: "cjs",
    sourcemap: true,
    logLevel: "warning",
  },
};
