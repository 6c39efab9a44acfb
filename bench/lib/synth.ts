/**
 * Synth timing: the compiled app (`node dist/main.js`) and the cdktf CLI
 * (`cdktf synth`, which runs the app command of cdktf.json: build + app).
 * Each run writes into its own temporary folder. Peak RSS and CPU time come
 * from bench/rss-preload.js, preloaded into every Node process of the run.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface ProcessUsage {
  readonly pid: number;
  readonly argv: string[];
  readonly maxRssKb: number;
  readonly userMs: number;
  readonly systemMs: number;
}

export interface SynthRun {
  readonly wallMs: number;
  /** Largest peak RSS of any one Node process of the run, in MB. */
  readonly peakRssMb: number;
  /** CPU time (user + system) summed over the run's Node processes, in ms. */
  readonly cpuMs: number;
  readonly processes: number;
  /** Stacks written (folders under stacks/). */
  readonly stacks: string[];
  /** Per stack, per function role: the literal Lambda environment variables it deploys. */
  readonly functionEnv: Record<string, Record<string, Record<string, string>>>;
}

export interface SynthOptions {
  readonly root: string;
  /** Path of the compiled rss-preload.js. */
  readonly preload: string;
  readonly timeoutMs?: number;
}

async function timed(command: string, args: string[], options: SynthOptions, env: Record<string, string>): Promise<{ wallMs: number; code: number | null; output: string }> {
  const start = performance.now();
  const child = spawn(command, args, { cwd: options.root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 180_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(timer);
  return { wallMs: performance.now() - start, code, output };
}

async function measured(kind: "app" | "cli", options: SynthOptions): Promise<SynthRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-synth-${kind}-`));
  const outdir = path.join(dir, "out");
  const rssDir = path.join(dir, "rss");
  fs.mkdirSync(rssDir);
  const env = {
    BENCH_RSS_DIR: rssDir,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${options.preload}`.trim(),
    CHECKPOINT_DISABLE: "1",
    CDKTF_OUTDIR: outdir,
  };
  try {
    const run =
      kind === "app"
        ? await timed(process.execPath, [path.join(options.root, "dist", "main.js")], options, env)
        : await timed(path.join(options.root, "node_modules", ".bin", "cdktf"), ["synth", "--output", outdir], options, env);
    if (run.code !== 0) throw new Error(`${kind} synth failed (exit ${run.code}): ${run.output.slice(-2000)}`);
    const usages = fs.readdirSync(rssDir).map((f) => JSON.parse(fs.readFileSync(path.join(rssDir, f), "utf8")) as ProcessUsage);
    const stacksDir = path.join(outdir, "stacks");
    const stacks = fs.existsSync(stacksDir) ? fs.readdirSync(stacksDir).sort() : [];
    if (stacks.length === 0) throw new Error(`${kind} synth wrote no stacks in ${outdir}: ${run.output.slice(-2000)}`);
    const functionEnv: SynthRun["functionEnv"] = {};
    for (const stack of stacks) functionEnv[stack] = readFunctionEnv(path.join(stacksDir, stack, "cdk.tf.json"));
    return {
      functionEnv,
      wallMs: run.wallMs,
      peakRssMb: Math.max(0, ...usages.map((u) => u.maxRssKb)) / 1024,
      cpuMs: usages.reduce((sum, u) => sum + u.userMs + u.systemMs, 0),
      processes: usages.length,
      stacks,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `node dist/main.js`: every stack, into a temporary folder. */
export function synthApp(options: SynthOptions): Promise<SynthRun> {
  return measured("app", options);
}

/** `cdktf synth` through the CLI (runs cdktf.json's app command: build + app). */
export function synthCli(options: SynthOptions): Promise<SynthRun> {
  return measured("cli", options);
}

/** Function role (fanout, fetcher, processor: the name's last part) → literal environment variables. */
export function readFunctionEnv(file: string): Record<string, Record<string, string>> {
  const json = JSON.parse(fs.readFileSync(file, "utf8")) as {
    resource?: { aws_lambda_function?: Record<string, { function_name: string; environment?: { variables?: Record<string, string> } }> };
  };
  const out: Record<string, Record<string, string>> = {};
  for (const fn of Object.values(json.resource?.aws_lambda_function ?? {})) {
    const role = fn.function_name.split("-").pop() as string;
    const vars: Record<string, string> = {};
    for (const [k, v] of Object.entries(fn.environment?.variables ?? {})) if (!v.includes("${")) vars[k] = v;
    out[role] = vars;
  }
  return out;
}
