/**
 * `terraform init`, `plan -out` and `show -json` of synthesized stacks, several
 * at once. Each stack has its own folder, so plans run in parallel; `init` runs
 * one at a time because a shared provider plugin cache is not safe for
 * concurrent installs (and with a mirror it takes about a second).
 */
import * as fs from "fs";
import * as path from "path";
import { OFFLINE_OVERRIDE_FILE, prepareOffline, terraformAsync } from "./terraform";

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
    const r = await terraformAsync(dir, ["init", "-input=false", "-no-color", "-reconfigure"], opts.env);
    if (r.code === 0 && !queue.lockFile && fs.existsSync(lock)) queue.lockFile = lock;
    log(`${stack}: init ${secs(t)} s`);
    return r;
  });
  if (init.code !== 0) return done("init", false, init.stdout + init.stderr);

  let t = Date.now();
  const planArgs = ["plan", "-input=false", "-no-color", "-lock=false", `-out=${PLAN_FILE}`];
  // Offline there is no AWS to refresh against; a crafted local state is taken as is.
  if (opts.offline) planArgs.push("-refresh=false");
  const plan = await terraformAsync(dir, planArgs, opts.env);
  log(`${stack}: plan ${secs(t)} s`);
  const text = plan.stdout + plan.stderr;
  if (plan.code !== 0) return done("plan", false, text);

  t = Date.now();
  const show = await terraformAsync(dir, ["show", "-json", PLAN_FILE], opts.env);
  log(`${stack}: show -json ${secs(t)} s`);
  if (show.code !== 0) return done("show", false, `${text}\n${show.stdout}${show.stderr}`);
  return done("done", true, plan.stdout, show.stdout);
}
