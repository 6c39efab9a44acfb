/**
 * Runs a bundled function (dist/functions/<name>/index.js) in a child Node
 * process under `ulimit -n` (1024, as in Lambda), like a warm execution
 * environment: the bundle is loaded once (init), then invoked as many times as
 * asked, over an IPC channel. A worker thread samples the child's open file
 * descriptors from /proc/<pid>/fd every few milliseconds (./fd-sampler.ts: one
 * thread for every child), so a busy parent (an in-process S3 server) does not
 * delay the samples.
 */
import { spawn, type ChildProcess } from "child_process";
import { startFdSampler, type FdSample } from "./fd-sampler";

/** The child's side: load the bundle, answer invokes, report init errors and crashes. */
const CHILD_RUNTIME = `
"use strict";
const bundle = process.argv[1];
const functionName = process.argv[2];
const serialize = (e) => ({ name: (e && e.name) || "Error", message: (e && e.message) || String(e) });
let handler, initError;
try { handler = require(bundle).handler; } catch (e) { initError = serialize(e); }
process.on("uncaughtException", (e) => { process.send({ type: "crash", error: serialize(e) }, () => process.exit(70)); });
process.on("unhandledRejection", (e) => { process.send({ type: "crash", error: serialize(e) }, () => process.exit(70)); });
process.on("message", async (msg) => {
  if (msg.type === "exit") return process.exit(0);
  if (msg.type !== "invoke") return;
  if (initError) return process.send({ type: "result", id: msg.id, ok: false, error: initError });
  const context = {
    awsRequestId: "local-" + msg.id, functionName, functionVersion: "$LATEST", memoryLimitInMB: "1024",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:" + functionName,
    getRemainingTimeInMillis: () => 60000,
  };
  try {
    const result = await handler(msg.event, context);
    process.send({ type: "result", id: msg.id, ok: true, result });
  } catch (e) {
    process.send({ type: "result", id: msg.id, ok: false, error: serialize(e) });
  }
});
process.send({ type: "ready", initError });
`;

export type InvokeResult<T> =
  | { readonly ok: true; readonly result: T }
  | { readonly ok: false; readonly error: { readonly name: string; readonly message: string } };

export interface LambdaChildOptions {
  /** Path of the bundle (`index.js`). */
  readonly bundle: string;
  /** Function name shown in the context (and logs). */
  readonly functionName: string;
  /**
   * The child's whole environment (nothing is inherited but PATH). Node's flags
   * come from its NODE_OPTIONS, as on Lambda (the synthesized functions set
   * `--enable-source-maps`).
   */
  readonly env: Readonly<Record<string, string>>;
  /** `ulimit -n` for the child. @default 1024 */
  readonly maxOpenFiles?: number;
  /** fd sampling period. @default 5 */
  readonly sampleEveryMs?: number;
}

export interface LambdaChild {
  readonly pid: number;
  /** The init error (bad configuration, …), if the bundle failed to load. */
  readonly initError?: { name: string; message: string };
  invoke<T = unknown>(event: unknown): Promise<InvokeResult<T>>;
  fds(): Promise<FdSample>;
  /** Starts a new peak measurement. */
  resetFds(): Promise<FdSample>;
  /** Everything the child wrote to stdout and stderr (logs, EMF metrics). */
  output(): string;
  /** Exit code/signal once the child has exited (undefined while it runs). */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  close(): Promise<void>;
}

export async function startLambdaChild(options: LambdaChildOptions): Promise<LambdaChild> {
  const ulimit = options.maxOpenFiles ?? 1024;
  const child: ChildProcess = spawn(
    "bash",
    ["-c", `ulimit -n ${ulimit} && exec "$0" -e "$1" "$2" "$3"`, process.execPath, CHILD_RUNTIME, options.bundle, options.functionName],
    { stdio: ["ignore", "pipe", "pipe", "ipc"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env } },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const pending = new Map<number, { resolve: (r: InvokeResult<unknown>) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const ready = new Promise<{ initError?: { name: string; message: string } }>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`child exited before it was ready (code ${code}): ${output}`)));
    child.on("message", (msg: { type: string; id?: number; initError?: { name: string; message: string } }) => {
      if (msg.type === "ready") resolve({ initError: msg.initError ?? undefined });
    });
  });
  child.on("message", (msg: { type: string; id: number; ok: boolean; result?: unknown; error?: { name: string; message: string } }) => {
    if (msg.type === "result") {
      const waiter = pending.get(msg.id);
      pending.delete(msg.id);
      waiter?.resolve(msg.ok ? { ok: true, result: msg.result } : { ok: false, error: msg.error ?? { name: "Error", message: "" } });
    } else if (msg.type === "crash") {
      output += `\n[crash] ${msg.error?.name}: ${msg.error?.message}\n`;
    }
  });
  child.on("exit", (code, signal) => {
    exit = { code, signal };
    for (const waiter of pending.values()) waiter.reject(new Error(`child exited (code ${code}, signal ${signal}): ${output.slice(-2000)}`));
    pending.clear();
  });

  const { initError } = await ready;
  const pid = child.pid as number;
  const sampler = startFdSampler(pid, options.sampleEveryMs ?? 5);
  // A child that dies without close() (killed, crashed) lets go of the sampling thread too.
  if (exit) void sampler.stop();
  else child.once("exit", () => void sampler.stop());

  return {
    pid,
    initError,
    invoke<T>(event: unknown) {
      if (exit) return Promise.reject(new Error(`child has exited (code ${exit.code})`));
      const id = nextId++;
      return new Promise<InvokeResult<T>>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (r: InvokeResult<unknown>) => void, reject });
        child.send({ type: "invoke", id, event });
      });
    },
    fds: async () => sampler.read(),
    async resetFds() {
      await sampler.reset();
      return sampler.read();
    },
    output: () => output,
    exited: () => exit,
    async close() {
      await sampler.stop();
      if (exit) return;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.send({ type: "exit" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
      await gone;
      clearTimeout(timer);
    },
  };
}
