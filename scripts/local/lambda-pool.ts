/**
 * One Lambda function on this machine: the bundled handler run in child
 * processes (scripts/lib/lambda-child.ts: `ulimit -n 1024` like Lambda, its own
 * environment variables, an fd sampler), each child one execution environment
 * that serves one invocation at a time, as Lambda does.
 *
 * Concurrency follows the function's reserved concurrency R: at most R
 * invocations are admitted at once, the next one fails at once with
 * `Lambda.TooManyRequestsException` (what a synchronous Invoke gets from a
 * throttled function). The admitted invocations run on at most E environments,
 * E = min(R, the machine cap); when E < R, admitted invocations wait for a free
 * environment (they count as concurrent, they are not throttled). Environments
 * start on demand (cold starts are counted). An event source mapping whose
 * maximum concurrency is at most R is never throttled; the count stays in the
 * statistics so a run can prove it.
 *
 * Fault `worker-kill`: an invocation may be given `killAfterMs`; if it is still
 * running then, its environment's process is killed (SIGKILL), and the
 * invocation fails with Runtime.ExitError, as when a Lambda runtime dies.
 */
import * as fs from "fs";
import { startLambdaChild, type LambdaChild } from "../lib/lambda-child";

/** CPU seconds (user + system) a process has used so far, from /proc (0 when it is gone). */
export function processCpuSeconds(pid: number): number {
  try {
    // Fields after the command name: state is 3rd, utime 14th, stime 15th (1-based, of the whole line).
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export interface LambdaPoolOptions {
  /** Short name for reports (the bundle: fanout, fetcher, processor). */
  readonly name: string;
  /** Deployed function name (the Lambda context's functionName). */
  readonly functionName: string;
  /** The bundle to run (`index.js`). */
  readonly bundle: string;
  /** The child's whole environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Reserved concurrency: invocations admitted at once. */
  readonly reservedConcurrency: number;
  /** Execution environments (child processes) at most. */
  readonly maxEnvironments: number;
  /** Function timeout: an invocation running longer fails with Sandbox.Timedout and its environment is replaced. */
  readonly timeoutMs: number;
  /** fd sampling period of each environment. @default 20 */
  readonly sampleEveryMs?: number;
}

export type InvokeOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly throttled: true }
  | { readonly ok: false; readonly throttled: false; readonly error: { readonly name: string; readonly message: string } };

export interface PoolStats {
  readonly name: string;
  readonly functionName: string;
  readonly reservedConcurrency: number;
  readonly environments: number;
  readonly invocations: number;
  readonly throttles: number;
  readonly errors: number;
  readonly errorsByName: Record<string, number>;
  readonly coldStarts: number;
  /** Invocations whose environment was killed mid-invocation (fault `worker-kill`). */
  readonly killed: number;
  /** Most admitted invocations at once (waiting for an environment or running). */
  readonly peakConcurrent: number;
  /** Most invocations running in environments at once. */
  readonly peakRunning: number;
  /** Highest open file descriptor count seen in any one environment. */
  readonly peakOpenFds: number;
  /** CPU seconds its environments used (user + system; a killed one's share is lost). */
  readonly cpuSeconds: number;
  /** Mean time an invocation ran in its environment, and mean time it waited for one (ms). */
  readonly meanDurationMs: number;
  readonly meanWaitMs: number;
}

interface Environment {
  readonly child: LambdaChild;
  busy: boolean;
  dead: boolean;
}

/** Thrown at pool level when a bundle cannot initialise: a configuration problem, not a task failure. */
export class FunctionInitError extends Error {
  constructor(functionName: string, cause: { name: string; message: string }) {
    super(`${functionName} failed to initialise: ${cause.name}: ${cause.message}`);
    this.name = "FunctionInitError";
  }
}

export class LambdaPool {
  private readonly environments: Environment[] = [];
  private readonly waiting: { resolve: (env: Environment) => void; reject: (error: Error) => void }[] = [];
  private starting = 0;
  private admitted = 0;
  private running = 0;
  private closed = false;
  private peakFdsOfClosed = 0;
  private cpuOfClosed = 0;
  private readonly outputs: string[] = [];
  private readonly counts = {
    invocations: 0,
    throttles: 0,
    errors: 0,
    coldStarts: 0,
    killed: 0,
    peakConcurrent: 0,
    peakRunning: 0,
  };
  private durationMs = 0;
  private waitMs = 0;
  private ran = 0;
  private readonly errorsByName: Record<string, number> = {};
  /** Set when an environment failed to initialise; the runner stops on it. */
  initError?: FunctionInitError;
  /** Called when `initError` is set. */
  onInitError?: (error: FunctionInitError) => void;

  constructor(readonly options: LambdaPoolOptions) {
    if (options.maxEnvironments < 1) throw new Error(`${options.name}: maxEnvironments must be >= 1`);
  }

  get environmentCap(): number {
    return Math.min(this.options.reservedConcurrency, this.options.maxEnvironments);
  }

  /** Invocations refused so far (Lambda.TooManyRequestsException). */
  throttleCount(): number {
    return this.counts.throttles;
  }

  /** Invocations admitted and not finished. */
  inFlight(): number {
    return this.admitted;
  }

  /** Starts one environment ahead of the first invocation (surfaces init errors early). */
  async warm(): Promise<void> {
    const env = await this.startEnvironment();
    this.release(env);
  }

  async invoke(event: unknown, control: { readonly killAfterMs?: number; readonly onStart?: () => void } = {}): Promise<InvokeOutcome> {
    if (this.closed) throw new Error(`${this.options.name}: pool is closed`);
    if (this.admitted >= this.options.reservedConcurrency) {
      this.counts.throttles++;
      return { ok: false, throttled: true };
    }
    this.admitted++;
    this.counts.invocations++;
    this.counts.peakConcurrent = Math.max(this.counts.peakConcurrent, this.admitted);
    const admittedAt = performance.now();
    try {
      const env = await this.acquire();
      control.onStart?.();
      const startedAt = performance.now();
      this.waitMs += startedAt - admittedAt;
      this.running++;
      this.counts.peakRunning = Math.max(this.counts.peakRunning, this.running);
      try {
        return await this.run(env, event, control.killAfterMs);
      } finally {
        this.running--;
        this.ran++;
        this.durationMs += performance.now() - startedAt;
        this.release(env);
      }
    } catch (error) {
      return this.fail({ name: (error as Error).name || "Error", message: (error as Error).message });
    } finally {
      this.admitted--;
    }
  }

  private fail(error: { name: string; message: string }): InvokeOutcome {
    this.counts.errors++;
    this.errorsByName[error.name] = (this.errorsByName[error.name] ?? 0) + 1;
    return { ok: false, throttled: false, error };
  }

  private async run(env: Environment, event: unknown, killAfterMs?: number): Promise<InvokeOutcome> {
    let timer: NodeJS.Timeout | undefined;
    let killer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.options.timeoutMs);
    });
    if (killAfterMs !== undefined) {
      killer = setTimeout(() => {
        if (env.child.exited()) return;
        this.counts.killed++;
        try {
          process.kill(env.child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }, killAfterMs);
    }
    try {
      const outcome = await Promise.race([env.child.invoke(event), timeout]);
      if (outcome === "timeout") {
        // Lambda stops the environment; the next invocation gets a fresh one.
        this.retire(env);
        return this.fail({ name: "Sandbox.Timedout", message: `Task timed out after ${this.options.timeoutMs / 1000} seconds` });
      }
      if (outcome.ok) return { ok: true, result: outcome.result };
      return this.fail(outcome.error);
    } catch (error) {
      // The child exited mid-invocation (crash): Lambda reports Runtime.ExitError and replaces it.
      this.retire(env);
      return this.fail({ name: "Runtime.ExitError", message: (error as Error).message.slice(0, 2000) });
    } finally {
      clearTimeout(timer);
      clearTimeout(killer);
    }
  }

  private acquire(): Promise<Environment> {
    const idle = this.environments.find((e) => !e.busy && !e.dead);
    if (idle) {
      idle.busy = true;
      return Promise.resolve(idle);
    }
    if (this.live() + this.starting < this.environmentCap) {
      return this.startEnvironment();
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(env: Environment): void {
    if (env.dead) {
      // Its waiter (if any) gets a new environment.
      const next = this.waiting.shift();
      if (next) this.startEnvironment().then(next.resolve, next.reject);
      return;
    }
    const next = this.waiting.shift();
    if (next) {
      env.busy = true;
      next.resolve(env);
    } else {
      env.busy = false;
    }
  }

  private live(): number {
    return this.environments.filter((e) => !e.dead).length;
  }

  private async startEnvironment(): Promise<Environment> {
    this.starting++;
    try {
      const child = await startLambdaChild({
        bundle: this.options.bundle,
        functionName: this.options.functionName,
        env: this.options.env,
        sampleEveryMs: this.options.sampleEveryMs ?? 20,
      });
      const env: Environment = { child, busy: true, dead: false };
      this.environments.push(env);
      this.counts.coldStarts++;
      if (child.initError && !this.initError) {
        this.initError = new FunctionInitError(this.options.functionName, child.initError);
        this.onInitError?.(this.initError);
      }
      return env;
    } finally {
      this.starting--;
    }
  }

  private retire(env: Environment): void {
    if (env.dead) return;
    env.dead = true;
    const child = env.child;
    this.cpuOfClosed += processCpuSeconds(child.pid);
    child
      .fds()
      .then((fds) => (this.peakFdsOfClosed = Math.max(this.peakFdsOfClosed, fds.peak)))
      .catch(() => undefined)
      .finally(() => {
        this.outputs.push(child.output());
        void child.close().catch(() => undefined);
      });
  }

  /** Highest fd count any environment reached so far. */
  async peakOpenFds(): Promise<number> {
    let peak = this.peakFdsOfClosed;
    for (const env of this.environments) {
      if (env.dead) continue;
      peak = Math.max(peak, (await env.child.fds()).peak);
    }
    return peak;
  }

  async stats(): Promise<PoolStats> {
    return {
      name: this.options.name,
      functionName: this.options.functionName,
      reservedConcurrency: this.options.reservedConcurrency,
      environments: this.environmentCap,
      ...this.counts,
      errorsByName: { ...this.errorsByName },
      peakOpenFds: await this.peakOpenFds(),
      cpuSeconds: Math.round((this.cpuOfClosed + this.environments.filter((e) => !e.dead).reduce((n, e) => n + processCpuSeconds(e.child.pid), 0)) * 10) / 10,
      meanDurationMs: this.ran ? Math.round(this.durationMs / this.ran) : 0,
      meanWaitMs: this.ran ? Math.round(this.waitMs / this.ran) : 0,
    };
  }

  /** What the environments wrote (logs), one string per environment. */
  logs(): string[] {
    return [...this.outputs, ...this.environments.filter((e) => !e.dead).map((e) => e.child.output())];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.environments.filter((e) => !e.dead).map((e) => e.child.close().catch(() => undefined)));
  }
}
