/**
 * Runs one cell of the file-descriptor benchmark: a fresh S3 server (HTTPS with
 * the run's certificate, or plain HTTP for the control), the client variant in a
 * child under `ulimit -n 1024`, its descriptors sampled from the parent, the
 * server's accepted connections and TLS handshakes counted, errors counted by code.
 */
import { spawn } from "child_process";
import * as path from "path";
import { startFdSampler, type FdSample } from "../../scripts/lib/fd-sampler";
import type { ServersProcess } from "../../scripts/lib/servers";
import type { Variant, WorkerResult } from "../fd-worker";
import { loopbackAwsEnv } from "../../scripts/lib/loopback-env";
import { round } from "./stats";

export const VARIANTS: readonly Variant[] = ["naive", "sdk-default", "ours"];

export type Transport = "tls" | "http";

/**
 * A client variant as the benchmark names it: one of the worker's three, and
 * for `ours` on the TASK_CONCURRENCY axis, the task count it runs with
 * (`ours` is the deployed budget; `ours-tasks-100` the same sockets with 100 tasks).
 */
export interface VariantSpec {
  readonly id: string;
  readonly worker: Variant;
  readonly taskConcurrency?: number;
}

/** One run of one cell: a variant putting and getting N objects of `bytes` over one transport. */
export interface FdRow {
  readonly variant: string;
  readonly n: number;
  readonly bytes: number;
  readonly transport: Transport;
  /** Failed operations: total and by error code (EMFILE, …). */
  readonly errors: { readonly total: number; readonly byCode: Record<string, number> };
  readonly peakFds: number;
  readonly connections: number;
  /** TLS handshakes the server completed (0 over HTTP), and how many resumed a session. */
  readonly handshakes: number;
  readonly resumedHandshakes: number;
  readonly wallMs: number;
  /** Successful operations (a put or a get) per second of wall time. */
  readonly opsPerSec: number;
}

/** Diagnostics kept beside the row (the log and `run.cells` in latest.json). */
export interface FdCellDetail {
  readonly row: FdRow;
  readonly okOps: number;
  readonly okItems: number;
  /** The fd sampler's own statistics (samples, gaps). */
  readonly sampler: FdSample;
  readonly serverPeakOpen: number;
  /** CPU time of the client child during the workload, ms. */
  readonly clientCpuMs: number;
  /** CPU time of the servers process (s3rver) during the cell, ms. */
  readonly serverCpuMs: number;
  /** The client's event-loop utilisation over the workload (0..1). */
  readonly elu: number;
  readonly messages: readonly string[];
  readonly budget?: { maxSockets: number; taskConcurrency: number };
}

export interface FdCellOptions {
  readonly scriptDir: string;
  readonly servers: ServersProcess;
  readonly variant: VariantSpec;
  readonly n: number;
  readonly bytes: number;
  /** "tls": the servers process's HTTPS S3, trusted through `caFile`. @default "http" */
  readonly transport?: Transport;
  /** The run's certificate (NODE_EXTRA_CA_CERTS of the child), needed for "tls". */
  readonly caFile?: string;
  readonly bucket: string;
  /** MAX_SOCKETS / TASK_CONCURRENCY (and timeouts) for `ours`; the other variants get them too and ignore them. */
  readonly budgetEnv: Readonly<Record<string, string>>;
  /** `ulimit -n` of the child. @default 1024 */
  readonly maxOpenFiles?: number;
  /** Kill the child after this long (counted as a TIMEOUT error). @default 600000 */
  readonly timeoutMs?: number;
  readonly sampleEveryMs?: number;
  readonly env?: Readonly<Record<string, string>>;
}

export async function runFdCell(options: FdCellOptions): Promise<FdCellDetail> {
  const transport = options.transport ?? "http";
  if (transport === "tls" && !options.caFile) throw new Error("runFdCell: a TLS cell needs caFile (the run's certificate)");
  const endpoint = await options.servers.freshS3(undefined, { plain: transport === "http" });
  if (!endpoint.startsWith(transport === "tls" ? "https:" : "http:")) {
    throw new Error(`runFdCell: asked for a ${transport} cell, the servers process serves ${endpoint}`);
  }
  const ulimit = options.maxOpenFiles ?? 1024;
  const variant = options.variant;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...options.env,
    ...loopbackAwsEnv({ s3: endpoint }),
    WORK_BUCKET: options.bucket,
    ...options.budgetEnv,
    ...(variant.taskConcurrency !== undefined ? { TASK_CONCURRENCY: String(variant.taskConcurrency) } : {}),
    ...(transport === "tls" ? { NODE_EXTRA_CA_CERTS: options.caFile as string } : {}),
    BENCH_CELL: JSON.stringify({ variant: variant.worker, n: options.n, bytes: options.bytes, bucket: options.bucket }),
  };
  const child = spawn(
    "bash",
    ["-c", `ulimit -n ${ulimit} && exec "$0" "$1"`, process.execPath, path.join(options.scriptDir, "fd-worker.js")],
    { stdio: ["pipe", "pipe", "pipe"], env },
  );
  const pid = child.pid as number;
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exited = false;
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let buffer = "";
  child.stdout?.on("data", (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        stderr += `\n[stdout] ${line}`;
      }
      waiters.splice(0).forEach((w) => w());
    }
  });
  // "close", not "exit": the last stdout line may still be in flight when the process exits.
  const exit = new Promise<number | null>((resolve) =>
    child.once("close", (code) => {
      exited = true;
      waiters.splice(0).forEach((w) => w());
      resolve(code);
    }),
  );
  const waitFor = async (key: string): Promise<Record<string, unknown> | undefined> => {
    for (;;) {
      const hit = lines.find((l) => key in l || "crash" in l);
      if (hit) return hit;
      if (exited) return undefined;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };

  const sampler = startFdSampler(pid, options.sampleEveryMs ?? 2);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 600_000);
  let result: WorkerResult | undefined;
  let crash: string | undefined;
  try {
    const ready = await waitFor("ready");
    if (ready && "ready" in ready) {
      await sampler.started();
      await options.servers.reset();
      await sampler.reset();
      child.stdin?.write("go\n");
      const done = await waitFor("result");
      if (done && "result" in done) result = done.result as WorkerResult;
      else crash = (done?.crash as string | undefined) ?? `exited without a result: ${stderr.slice(-500)}`;
    } else {
      crash = (ready?.crash as string | undefined) ?? `exited before ready: ${stderr.slice(-500)}`;
    }
  } finally {
    clearTimeout(timer);
  }
  const code = await exit;
  const fds = await sampler.stop();
  const counts = await options.servers.counts();

  const byCode: Record<string, number> = { ...(result?.errors ?? {}) };
  if (!result) {
    const name = code === null ? "TIMEOUT" : crash?.split(":")[0] || "CRASH";
    byCode[`CRASH:${name}`] = (byCode[`CRASH:${name}`] ?? 0) + 1;
  }
  const total = Object.values(byCode).reduce((a, b) => a + b, 0);
  const wallMs = result?.wallMs ?? 0;
  const row: FdRow = {
    variant: variant.id,
    n: options.n,
    bytes: options.bytes,
    transport,
    errors: { total, byCode },
    peakFds: fds.peak,
    connections: counts.s3,
    handshakes: counts.s3Handshakes,
    resumedHandshakes: counts.s3Resumed,
    wallMs: Math.round(wallMs),
    opsPerSec: result && wallMs > 0 ? round((result.okOps / wallMs) * 1000, 1) : 0,
  };
  return {
    row,
    okOps: result?.okOps ?? 0,
    okItems: result?.okItems ?? 0,
    sampler: fds,
    serverPeakOpen: counts.s3PeakOpen,
    clientCpuMs: Math.round(result?.cpuMs ?? 0),
    serverCpuMs: counts.cpuMs,
    elu: result?.elu ?? 0,
    messages: [...(result?.samples ?? []), ...(crash ? [crash] : [])],
    budget: result?.budget,
  };
}
