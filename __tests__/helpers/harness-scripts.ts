/**
 * The harness's child-process scripts (scripts/servers.ts, bench/fd-worker.ts),
 * compiled once per test run into the run's own folder with the options
 * `npm run build` compiles them into dist/ with (scripts/node-build-options.js): a suite that starts the servers process or an fd
 * cell needs a JavaScript file to start. The first suite to ask builds them
 * and publishes the folder through a rename; the others find it there.
 */
import { buildSync } from "esbuild";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NODE_SCRIPT_OPTIONS } from "../../scripts/node-build-options";
import { RUN_TMP_ENV } from "./run-dir";

const root = path.resolve(__dirname, "..", "..");
/** Output name → entry (each lands as `<name>.js` in one folder). */
const ENTRIES = { servers: "scripts/servers.ts", "fd-worker": "bench/fd-worker.ts" };

/** Folder holding servers.js and fd-worker.js; they resolve packages through NODE_PATH (`HARNESS_ENV`). */
export function harnessScriptDir(): string {
  const shared = process.env[RUN_TMP_ENV] ? path.join(process.env[RUN_TMP_ENV] as string, "harness-scripts") : undefined;
  if (shared && fs.existsSync(shared)) return shared;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "harness-scripts-"));
  buildSync({
    ...NODE_SCRIPT_OPTIONS,
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, file]) => [name, path.join(root, file)])),
    outdir: dir,
  });
  if (!shared) return dir;
  try {
    fs.renameSync(dir, shared);
  } catch {
    // another suite published first: theirs is the same build
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return shared;
}

/** The environment the compiled scripts need (their packages are external). */
export const HARNESS_ENV = { NODE_PATH: path.join(root, "node_modules") } as const;
