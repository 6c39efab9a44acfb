/**
 * Where things are, and private copies of what the benchmark runs: other
 * engineers' builds may rewrite dist/ while a benchmark runs, so the child
 * scripts and function bundles are copied to a temporary folder first (the
 * copies resolve their external packages through NODE_PATH).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface PrivateCopies {
  /** Folder with the copied scripts (servers.js, fd-worker.js, rss-preload.js). */
  readonly scriptDir: string;
  /** Bundle path (index.js) per function name. */
  readonly bundles: Record<string, string>;
  /** Environment a copied script needs (NODE_PATH). */
  readonly env: Record<string, string>;
  remove(): void;
}

/** `scripts` are compiled files under dist/ without `.js` (`scripts/servers`, `bench/fd-worker`); each is copied as `<name>.js`. */
export function privateCopies(root: string, scripts: readonly string[], functions: readonly string[]): PrivateCopies {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-"));
  const scriptDir = path.join(dir, "bench");
  fs.mkdirSync(scriptDir);
  // Builds write every file through a rename (scripts/build.js, modules/bundle.ts): a copy is whole.
  for (const script of scripts) fs.copyFileSync(path.join(root, "dist", `${script}.js`), path.join(scriptDir, `${path.basename(script)}.js`));
  const bundles: Record<string, string> = {};
  for (const name of functions) {
    const target = path.join(dir, "functions", name);
    fs.mkdirSync(target, { recursive: true });
    fs.copyFileSync(path.join(root, "dist", "functions", name, "index.js"), path.join(target, "index.js"));
    const map = path.join(root, "dist", "functions", name, "index.js.map");
    if (fs.existsSync(map)) fs.copyFileSync(map, path.join(target, "index.js.map"));
    bundles[name] = path.join(target, "index.js");
  }
  return {
    scriptDir,
    bundles,
    env: { NODE_PATH: path.join(root, "node_modules") },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
