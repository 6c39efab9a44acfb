/**
 * `terraform init`, `plan -out` and `show -json` of synthesized stacks, several
 * at once. Each stack has its own folder, so plans run in parallel; `init` runs
 * one at a time because a shared provider plugin cache is not safe for
 * concurrent installs (and with a mirror it takes about a second). A folder
 * already initialized from the same inputs (`initFingerprint`) is not
 * initialized again: a re-run after a synth that changed only resources goes
 * straight to the plan.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { installedProvider, startProviderServer, type ProviderServer } from "./provider-server";
import { AWS_PROVIDER_VERSION, findTerraform, OFFLINE_OVERRIDE_FILE, prepareOffline, terraformAsync } from "./terraform";

/** Name of the binary plan written into each stack folder. */
export const PLAN_FILE = "tfplan";

export interface StackRunOptions {
  /** Mock credentials, local backend override, no refresh. */
  readonly offline: boolean;
  /** Terraform's environment (`terraformEnv`, plus a plugin cache when there is no mirror). */
  readonly env: NodeJS.ProcessEnv;
  /** Serializes `terraform init` across the stacks of one run. */
  readonly initQueue: InitQueue;
  /** Progress lines ("pipeline-dev: plan 5.2 s"). */
  readonly log?: (line: string) => void;
}

export interface StackOutcome {
  readonly stack: string;
  /** The step that failed, or "done". */
  readonly step: "init" | "plan" | "show" | "done";
  readonly ok: boolean;
  /** The human plan (plan's output), or the failing step's output. */
  readonly text: string;
  /** `terraform show -json` output (text) when ok. */
  readonly planJson?: string;
  readonly seconds: number;
}

/**
 * Runs the `terraform init`s of one run one at a time, and remembers the first
 * stack's lock file: handed to the next stacks, it lets Terraform take the
 * provider from a plugin cache instead of downloading it again.
 */
export class InitQueue {
  private tail: Promise<unknown> = Promise.resolve();
  lockFile?: string;
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Where a successful init leaves the fingerprint of its inputs (inside .terraform: gone with it). */
export const INIT_FINGERPRINT_FILE = path.join(".terraform", "fanout-init.sha256");

const readOrEmpty = (file: string | undefined): string => {
  try {
    return file ? fs.readFileSync(file, "utf8") : "";
  } catch {
    return "";
  }
};

/**
 * Everything `terraform init` builds a stack folder from: the configuration's
 * `terraform` block (backend, required providers) and module sources, the
 * offline override, the dependency lock file, where providers are installed
 * from (CLI config, plugin cache), the Terraform binary and the installed
 * provider binary. Resources are not inputs: a change to them needs no init.
 * The plan and show of a shared provider process (provider-server.ts) do not
 * hash the provider against the lock file, as Terraform's own start does; init
 * does, so a provider binary that changed in any way since (its path, size,
 * modification time or inode) makes the folder initialized again.
 */
export function initFingerprint(dir: string, env: NodeJS.ProcessEnv): string {
  const config = JSON.parse(fs.readFileSync(path.join(dir, "cdk.tf.json"), "utf8")) as { terraform?: unknown; module?: Record<string, { source?: unknown; version?: unknown }> };
  const modules = Object.entries(config.module ?? {}).map(([name, m]) => [name, m.source, m.version]);
  const hash = createHash("sha256");
  for (const part of [
    JSON.stringify({ terraform: config.terraform ?? null, modules }),
    readOrEmpty(path.join(dir, OFFLINE_OVERRIDE_FILE)),
    readOrEmpty(path.join(dir, ".terraform.lock.hcl")),
    readOrEmpty(env.TF_CLI_CONFIG_FILE),
    env.TF_PLUGIN_CACHE_DIR ?? "",
    fileIdentity(findTerraform()),
    fileIdentity(installedProvider(dir)),
  ]) {
    hash.update(part).update("\0");
  }
  return hash.digest("hex");
}

/** A file's real path, size, modification time and inode ("" when there is none). */
function fileIdentity(file: string | undefined): string {
  if (!file) return "";
  try {
    const real = fs.realpathSync(file);
    const stat = fs.statSync(real);
    return `${real} ${stat.size} ${stat.mtimeMs} ${stat.ino}`;
  } catch {
    return "";
  }
}

/** Whether `dir` was initialized, successfully, from the inputs it has now. */
export function initializedFromSameInputs(dir: string, env: NodeJS.ProcessEnv): boolean {
  const recorded = readOrEmpty(path.join(dir, INIT_FINGERPRINT_FILE)).trim();
  return recorded !== "" && fs.existsSync(path.join(dir, ".terraform", "providers")) && recorded === initFingerprint(dir, env);
}

/** init + plan + show of one stack folder. */
export async function planStack(stack: string, dir: string, opts: StackRunOptions): Promise<StackOutcome> {
  const started = Date.now();
  const secs = (from: number) => ((Date.now() - from) / 1000).toFixed(1);
  const log = opts.log ?? (() => undefined);
  const override = path.join(dir, OFFLINE_OVERRIDE_FILE);
  if (opts.offline) prepareOffline(dir);
  else fs.rmSync(override, { force: true }); // a previous offline run must not reach a real plan
  fs.rmSync(path.join(dir, PLAN_FILE), { force: true });
  const done = (step: StackOutcome["step"], ok: boolean, text: string, planJson?: string): StackOutcome => ({
    stack,
    step,
    ok,
    text,
    planJson,
    seconds: (Date.now() - started) / 1000,
  });

  const queue = opts.initQueue;
  const init = await queue.run(async () => {
    const t = Date.now();
    const lock = path.join(dir, ".terraform.lock.hcl");
    if (queue.lockFile && !fs.existsSync(lock)) fs.copyFileSync(queue.lockFile, lock);
    const fingerprint = path.join(dir, INIT_FINGERPRINT_FILE);
    if (initializedFromSameInputs(dir, opts.env)) {
      if (!queue.lockFile && fs.existsSync(lock)) queue.lockFile = lock;
      log(`${stack}: init skipped (initialized from the same backend, providers and lock file)`);
      return { code: 0, stdout: "", stderr: "" };
    }
    fs.rmSync(fingerprint, { force: true });
    const r = await terraformAsync(dir, ["init", "-input=false", "-no-color", "-reconfigure"], opts.env);
    if (r.code === 0) {
      if (!queue.lockFile && fs.existsSync(lock)) queue.lockFile = lock;
      fs.writeFileSync(fingerprint, `${initFingerprint(dir, opts.env)}\n`);
    }
    log(`${stack}: init ${secs(t)} s`);
    return r;
  });
  if (init.code !== 0) return done("init", false, init.stdout + init.stderr);

  // One provider process serves the plan and the show (scripts/lib/provider-server.ts).
  const server = await shareProvider(stack, dir, opts.env, log);
  const env = server ? { ...opts.env, TF_REATTACH_PROVIDERS: server.reattach } : opts.env;
  try {
    let t = Date.now();
    const planArgs = ["plan", "-input=false", "-no-color", "-lock=false", `-out=${PLAN_FILE}`];
    // Offline there is no AWS to refresh against; a crafted local state is taken as is.
    if (opts.offline) planArgs.push("-refresh=false");
    const plan = await terraformAsync(dir, planArgs, env);
    log(`${stack}: plan ${secs(t)} s`);
    const text = plan.stdout + plan.stderr;
    if (plan.code !== 0) return done("plan", false, text);

    t = Date.now();
    const show = await terraformAsync(dir, ["show", "-json", PLAN_FILE], env);
    log(`${stack}: show -json ${secs(t)} s`);
    if (show.code !== 0) return done("show", false, `${text}\n${show.stdout}${show.stderr}`);
    return done("done", true, plan.stdout, show.stdout);
  } finally {
    await server?.close();
  }
}

/** One provider process for the stack's plan and show, or undefined (with a line saying why) when Terraform is to start its own. */
async function shareProvider(stack: string, dir: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<ProviderServer | undefined> {
  const binary = installedProvider(dir);
  if (!binary) {
    log(`${stack}: no installed AWS provider ${AWS_PROVIDER_VERSION} in .terraform; Terraform starts its own`);
    return undefined;
  }
  try {
    return await startProviderServer(binary, env);
  } catch (error) {
    log(`${stack}: one shared provider process failed to start (${(error as Error).message.split("\n")[0]}); Terraform starts its own`);
    return undefined;
  }
}
