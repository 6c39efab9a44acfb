/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Type checking is `npm run typecheck` (part of `npm test`); jest only transpiles,
    // with swc: a cold transform cache (every fresh clone) costs seconds, not tens of them.
    "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2022", parser: { syntax: "typescript" } }, module: { type: "commonjs" } }],
  },
  // Suites marked @slow start first (a fresh clone has no timings to order by).
  testSequencer: "<rootDir>/__tests__/helpers/sequencer.js",
  // cdktf's token stack traces skip source mapping (the file says why).
  setupFilesAfterEnv: ["<rootDir>/__tests__/helpers/token-stack-traces.js"],
  globalSetup: "<rootDir>/__tests__/helpers/global-setup.ts",
  globalTeardown: "<rootDir>/__tests__/helpers/global-teardown.ts",
  testTimeout: 60000,
  maxWorkers: 2,
};
