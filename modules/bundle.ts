import { createHash } from "crypto";
import { buildSync } from "esbuild";
import { zipSync } from "fflate";
import * as fs from "fs";
import * as path from "path";

/** The functions this project ships; each is `functions/<name>/handler.ts`. */
export const FUNCTION_NAMES = ["fanout", "fetcher", "processor"] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** Repository root (this file lives in `modules/`, or in `dist/` once compiled). */
export const PROJECT_ROOT = findProjectRoot(__dirname);

function findProjectRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${start}`);
    dir = parent;
  }
  return dir;
}

/** Where the bundle of one function is written: `dist/functions/<name>/`. */
export function bundleDir(name: string, outRoot = path.join(PROJECT_ROOT, "dist", "functions")): string {
  return path.join(outRoot, name);
}

/** One bundled function: its folder, its deployment zip and the zip's base64 SHA-256. */
export interface Bundle {
  readonly dir: string;
  readonly zipPath: string;
  /** base64 SHA-256 of the zip, as Lambda's `source_code_hash` expects. */
  readonly zipSha256: string;
}

/** Fixed timestamp for zip entries, so the same code always gives the same zip bytes. */
const ZIP_MTIME = new Date("1980-01-01T00:00:00Z");

const built = new Map<string, Bundle>();

/**
 * Bundles `functions/<name>/handler.ts` into `dist/functions/<name>/index.js`
 * (CommonJS, minified, with a source map), once per process.
 *
 * The output is deterministic (no timestamps, relative source paths, source
 * contents left out), so the Terraform asset hash only changes when the code does.
 * Also writes `dist/functions/<name>.zip`, byte-for-byte reproducible (fixed
 * entry timestamps), which is what the Lambda function deploys.
 */
export function bundleFunction(name: string): Bundle {
  const cached = built.get(name);
  if (cached) return cached;
  const bundle = buildBundle(name);
  built.set(name, bundle);
  return bundle;
}

/** Builds one function's bundle and zip under `outRoot` (no caching). */
export function buildBundle(name: string, outRoot?: string): Bundle {
  const entry = path.join(PROJECT_ROOT, "functions", name, "handler.ts");
  if (!fs.existsSync(entry)) {
    throw new Error(`function "${name}": entry point ${path.relative(PROJECT_ROOT, entry)} does not exist`);
  }
  const outdir = bundleDir(name, outRoot);
  const result = buildSync({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [entry],
    outfile: path.join(outdir, "index.js"),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    legalComments: "none",
    logLevel: "silent",
    // The Lambda Node.js 22 runtime ships SDK v3, but we bundle our pinned copy so
    // the tested code is the deployed code.
    mainFields: ["module", "main"],
  });
  if (result.errors.length > 0) {
    throw new Error(`function "${name}": esbuild failed: ${result.errors.map((e) => e.text).join("; ")}`);
  }
  const files: Record<string, [Uint8Array, { mtime: Date }]> = {};
  for (const f of ["index.js", "index.js.map"]) {
    files[f] = [fs.readFileSync(path.join(outdir, f)), { mtime: ZIP_MTIME }];
  }
  const zip = zipSync(files, { level: 9 });
  const zipPath = `${outdir}.zip`;
  fs.writeFileSync(zipPath, zip);
  return { dir: outdir, zipPath, zipSha256: createHash("sha256").update(zip).digest("base64") };
}

/** Bundles every function; used by `npm run build` and the test setup. */
export function bundleAll(): Record<FunctionName, Bundle> {
  const out = {} as Record<FunctionName, Bundle>;
  for (const name of FUNCTION_NAMES) out[name] = bundleFunction(name);
  return out;
}
