import { createHash } from "crypto";
import { buildSync, version as esbuildVersion, type BuildOptions } from "esbuild";
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
 * (CommonJS, minified, with a source map) and `dist/functions/<name>.zip`, once
 * per process, and only when an input changed since the last build (a stamp
 * beside the zip records the content hash of every file esbuild read).
 *
 * The output is deterministic (no timestamps, relative source paths, source
 * contents left out, fixed zip entry times), so the zip, and with it Lambda's
 * `source_code_hash`, only changes when the code does.
 */
export function bundleFunction(name: string): Bundle {
  const cached = built.get(name) ?? upToDateBundle(name) ?? buildBundle(name);
  built.set(name, cached);
  return cached;
}

function buildOptions(name: string, outdir: string): BuildOptions {
  return {
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [path.join("functions", name, "handler.ts")],
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
    metafile: true,
    // The Lambda Node.js 22 runtime ships SDK v3, but we bundle our pinned copy so
    // the tested code is the deployed code.
    mainFields: ["module", "main"],
  };
}

interface Stamp {
  readonly options: string;
  readonly inputs: Record<string, string>;
  readonly zipSha256: string;
}

const sha256 = (data: Uint8Array | string, encoding: "hex" | "base64" = "hex") =>
  createHash("sha256").update(data).digest(encoding);
const optionsKey = (o: BuildOptions) => sha256(`${esbuildVersion}\n${JSON.stringify(o)}`);
const stampPath = (outdir: string) => `${outdir}.stamp.json`;

/** The bundle already on disk, when none of its inputs or build options changed. */
export function upToDateBundle(name: string, outRoot?: string): Bundle | undefined {
  const outdir = bundleDir(name, outRoot);
  const zipPath = `${outdir}.zip`;
  try {
    const stamp = JSON.parse(fs.readFileSync(stampPath(outdir), "utf8")) as Stamp;
    if (stamp.options !== optionsKey(buildOptions(name, outdir))) return undefined;
    for (const [file, hash] of Object.entries(stamp.inputs)) {
      if (sha256(fs.readFileSync(path.join(PROJECT_ROOT, file))) !== hash) return undefined;
    }
    const zipSha256 = sha256(fs.readFileSync(zipPath), "base64");
    return zipSha256 === stamp.zipSha256 ? { dir: outdir, zipPath, zipSha256 } : undefined;
  } catch {
    return undefined; // no stamp, a missing input or zip: build
  }
}

/** Builds one function's bundle and zip under `outRoot` (default `dist/functions`), always. */
export function buildBundle(name: string, outRoot?: string): Bundle {
  const entry = path.join(PROJECT_ROOT, "functions", name, "handler.ts");
  if (!fs.existsSync(entry)) {
    throw new Error(`function "${name}": entry point ${path.relative(PROJECT_ROOT, entry)} does not exist`);
  }
  const outdir = bundleDir(name, outRoot);
  const options = buildOptions(name, outdir);
  const result = buildSync({ ...options, write: false });
  if (result.errors.length > 0) {
    throw new Error(`function "${name}": esbuild failed: ${result.errors.map((e) => e.text).join("; ")}`);
  }
  const files: Record<string, [Uint8Array, { mtime: Date }]> = {};
  fs.mkdirSync(outdir, { recursive: true });
  for (const out of result.outputFiles) {
    writeAtomically(out.path, out.contents);
    files[path.basename(out.path)] = [out.contents, { mtime: ZIP_MTIME }];
  }
  const zip = zipSync(files, { level: 9 });
  const zipPath = `${outdir}.zip`;
  writeAtomically(zipPath, zip);
  const zipSha256 = sha256(zip, "base64");
  const inputs: Record<string, string> = {};
  for (const file of Object.keys(result.metafile?.inputs ?? {})) {
    inputs[file] = sha256(fs.readFileSync(path.join(PROJECT_ROOT, file)));
  }
  const stamp: Stamp = { options: optionsKey(options), inputs, zipSha256 };
  writeAtomically(stampPath(outdir), JSON.stringify(stamp));
  return { dir: outdir, zipPath, zipSha256 };
}

/**
 * Writes through a temporary file and a rename, so a process loading the bundle
 * (a test or benchmark child) never sees a half-written file while another rebuilds it.
 */
function writeAtomically(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** Bundles every function; used by `npm run build` and the test setup. */
export function bundleAll(): Record<FunctionName, Bundle> {
  const out = {} as Record<FunctionName, Bundle>;
  for (const name of FUNCTION_NAMES) out[name] = bundleFunction(name);
  return out;
}
