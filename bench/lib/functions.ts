/**
 * The bundled functions, run as they deploy: bundle size, cold init (fresh
 * `node` processes requiring the bundle, which builds its clients at module
 * scope), first invocation against the loopback servers, and the handler path
 * (processor on a 100,000-line object; fanout with 20 concurrent batches of 10
 * messages) under `ulimit -n 1024` with the parent sampling the child's fds.
 *
 * The fetcher and processor consume work queues: each is sent an SQS event
 * holding one task message (`{ taskToken, input }`) and answers the token at a
 * loopback Step Functions endpoint in this process (its AWS_ENDPOINT_URL_SFN),
 * which registered the token and records the answer.
 *
 * The environment of each function is the one the stack deploys (read from a
 * synth), with only the values a loopback run must change replaced: bucket
 * name, state machine ARN, endpoints, dummy credentials, and for the fetcher
 * `ALLOW_HTTP` plus the test-only private-origin exemption for 127.0.0.1.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { startLambdaChild, type LambdaChild } from "../../scripts/lib/lambda-child";
import { startSfnEndpoint, type SfnEndpoint } from "../../scripts/lib/sfn-endpoint";
import { startFdSampler } from "../../scripts/lib/fd-sampler";
import type { ServersProcess } from "../../scripts/lib/servers";
import { median, round } from "./stats";
import { loopbackAwsEnv } from "../../scripts/lib/loopback-env";
import { loopbackS3Client } from "../../scripts/lib/loopback-s3";

export const FUNCTIONS = ["fanout", "fetcher", "processor"] as const;
export type FunctionRole = (typeof FUNCTIONS)[number];

export const WORK_BUCKET = "bench-work";
const STATE_MACHINE_ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:bench";

/** The environment a bundle runs with here: the deployed variables plus loopback endpoints. */
export function localFunctionEnv(
  role: FunctionRole,
  deployed: Readonly<Record<string, string>>,
  endpoints: { s3: string; sfn: string; origin: string },
): Record<string, string> {
  const env: Record<string, string> = {
    ...deployed,
    ...loopbackAwsEnv({ s3: endpoints.s3, sfn: endpoints.sfn }),
    WORK_BUCKET,
  };
  if (role === "fanout") env.STATE_MACHINE_ARN = STATE_MACHINE_ARN;
  if (role === "fetcher") {
    env.ALLOW_HTTP = "true";
    env.FETCH_ALLOW_PRIVATE = new URL(endpoints.origin).host;
  }
  return env;
}

export interface ColdInit {
  /** Median time to `require` the bundle (module scope: config, clients) in a fresh process, ms. */
  readonly requireMs: number;
  /** Median wall time of the whole fresh process (Node start + require + exit), ms. */
  readonly processMs: number;
  /** Open fds right after init (median). */
  readonly fds: number;
  readonly runs: number;
}

const COLD_INIT_SCRIPT = `
"use strict";
const { performance } = require("perf_hooks");
const t0 = performance.now();
require(process.argv[1]);
const t1 = performance.now();
let fds = -1;
try { fds = require("fs").readdirSync("/proc/self/fd").length - 1; } catch {}
process.stdout.write(JSON.stringify({ requireMs: t1 - t0, fds }), () => process.exit(0));
`;

export async function coldInit(bundle: string, env: Record<string, string>, runs: number): Promise<ColdInit> {
  const requires: number[] = [];
  const walls: number[] = [];
  const fds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const child = spawn(process.execPath, ["-e", COLD_INIT_SCRIPT, bundle], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env, POWERTOOLS_LOG_LEVEL: "ERROR" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    walls.push(performance.now() - start);
    if (code !== 0) throw new Error(`cold init of ${bundle} failed (exit ${code}): ${err.slice(-1000)}`);
    const parsed = JSON.parse(out) as { requireMs: number; fds: number };
    requires.push(parsed.requireMs);
    fds.push(parsed.fds);
  }
  return {
    requireMs: round(median(requires), 1),
    processMs: round(median(walls), 1),
    fds: median(fds),
    runs,
  };
}

export function bundleBytes(bundle: string): number {
  return fs.statSync(bundle).size;
}

export function textOfLines(lines: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < lines; i++) parts.push(`line ${i} of the benchmark input\n`);
  return Buffer.from(parts.join(""));
}

interface SqsRecordShape {
  messageId: string;
  body: string;
  attributes: { ApproximateReceiveCount: string };
}

/** An SQS batch of `size` valid messages (distinct job ids), as Lambda passes it to the fanout. */
export function sqsBatch(batch: number, size: number): { Records: SqsRecordShape[] } {
  const Records: SqsRecordShape[] = [];
  for (let i = 0; i < size; i++) {
    Records.push({
      messageId: `msg-${batch}-${i}`,
      body: JSON.stringify({ jobId: `bench-${batch}-${i}`, items: [{ url: `https://example.com/${batch}/${i}` }] }),
      attributes: { ApproximateReceiveCount: "1" },
    });
  }
  return { Records };
}

/** How a worker answered its task token. */
export type TaskAnswer = { readonly ok: true; readonly output: unknown } | { readonly ok: false; readonly error: string; readonly cause: string };

/** A loopback Step Functions endpoint that hands out task messages and records how their tokens are answered. */
export interface TaskEndpoint {
  readonly endpoint: string;
  /** A work-queue event holding one task message for `input`; `answer()` is the token's answer once the worker sent it. */
  task(input: unknown): { event: { Records: SqsRecordShape[] }; answer(): TaskAnswer | undefined; heartbeats(): number };
  close(): Promise<void>;
}

export async function startTaskEndpoint(): Promise<TaskEndpoint> {
  const sfn: SfnEndpoint = await startSfnEndpoint();
  let next = 0;
  return {
    endpoint: sfn.endpoint,
    task(input) {
      const token = `bench-token-${++next}`;
      let answer: TaskAnswer | undefined;
      let heartbeats = 0;
      sfn.registerTask(token, {
        success: (output) => void (answer = { ok: true, output: JSON.parse(output) }),
        failure: (error, cause) => void (answer = { ok: false, error, cause }),
        heartbeat: () => void heartbeats++,
      });
      const record = { messageId: `task-${next}`, body: JSON.stringify({ taskToken: token, input }), attributes: { ApproximateReceiveCount: "1" } };
      return { event: { Records: [record] }, answer: () => answer, heartbeats: () => heartbeats };
    },
    close: () => sfn.close(),
  };
}

/** Runs `fn` with a task endpoint and the worker's environment pointed at it. */
async function withTaskEndpoint<T>(env: Record<string, string>, fn: (tasks: TaskEndpoint, env: Record<string, string>) => Promise<T>): Promise<T> {
  const tasks = await startTaskEndpoint();
  try {
    return await fn(tasks, { ...env, AWS_ENDPOINT_URL_SFN: tasks.endpoint });
  } finally {
    await tasks.close();
  }
}

/** The worker's partial batch response must be empty and its token answered with success. */
function taskOutcome<T>(
  result: { ok: true; result: unknown } | { ok: false; error: { name: string; message: string } },
  answer: TaskAnswer | undefined,
): { ok: true; output: T } | { ok: false; error: string } {
  if (!result.ok) return { ok: false, error: `${result.error.name}: ${result.error.message}` };
  const failures = (result.result as { batchItemFailures?: unknown[] } | undefined)?.batchItemFailures ?? [];
  if (failures.length > 0) return { ok: false, error: `handed back to the queue: ${JSON.stringify(failures)}` };
  if (!answer) return { ok: false, error: "the task token was not answered" };
  if (!answer.ok) return { ok: false, error: `${answer.error}: ${answer.cause}` };
  return { ok: true, output: answer.output as T };
}

export interface FirstInvocation {
  /** Child start until the bundle was loaded (includes Node start), ms. */
  readonly initMs: number;
  /** The first invocation, ms. */
  readonly invokeMs: number;
  readonly ok: boolean;
  readonly error?: string;
}

async function withChild<T>(bundle: string, role: FunctionRole, env: Record<string, string>, fn: (child: LambdaChild, initMs: number) => Promise<T>): Promise<T> {
  const start = performance.now();
  const child = await startLambdaChild({ bundle, functionName: `bench-${role}`, env, maxOpenFiles: 1024 });
  const initMs = performance.now() - start;
  try {
    if (child.initError) throw new Error(`${role} init failed: ${child.initError.name}: ${child.initError.message}`);
    return await fn(child, initMs);
  } finally {
    await child.close();
  }
}

/** Loads the bundle in a fresh child and times its first invocation on a small, valid event. */
export async function firstInvocation(
  role: FunctionRole,
  bundle: string,
  env: Record<string, string>,
  servers: ServersProcess,
): Promise<FirstInvocation> {
  let input: unknown;
  if (role === "fetcher") input = { jobId: "bench-first", index: 0, url: `${servers.originUrl}/text?lines=1000` };
  if (role === "processor") {
    const s3 = loopbackS3Client(servers.s3Endpoint());
    await s3.send(new PutObjectCommand({ Bucket: WORK_BUCKET, Key: "jobs/bench-first/raw/1", Body: textOfLines(1000), ContentType: "text/plain" }));
    s3.destroy();
    input = { jobId: "bench-first", index: 1 };
  }
  if (role === "fanout") {
    return withChild(bundle, role, env, async (child, initMs) => {
      const start = performance.now();
      const result = await child.invoke<{ batchItemFailures: unknown[] }>(sqsBatch(9000, 1));
      const invokeMs = performance.now() - start;
      const retried = result.ok ? result.result.batchItemFailures.length : 0;
      return {
        initMs: round(initMs, 1),
        invokeMs: round(invokeMs, 1),
        ok: result.ok && retried === 0,
        error: result.ok ? (retried ? `${retried} record(s) handed back` : undefined) : `${result.error.name}: ${result.error.message}`,
      };
    });
  }
  return withTaskEndpoint(env, (tasks, workerEnv) =>
    withChild(bundle, role, workerEnv, async (child, initMs) => {
      const task = tasks.task(input);
      const start = performance.now();
      const result = await child.invoke(task.event);
      const invokeMs = performance.now() - start;
      const outcome = taskOutcome(result, task.answer());
      return { initMs: round(initMs, 1), invokeMs: round(invokeMs, 1), ok: outcome.ok, error: outcome.ok ? undefined : outcome.error };
    }),
  );
}

export interface HandlerPath {
  readonly peakFds: number;
  readonly connections: number;
  readonly wallMs: number;
  readonly ok: boolean;
  readonly detail: Record<string, unknown>;
}

/** What the processor path splits: a text object of `lines` lines, or a binary object of `bytes` bytes. */
export type ProcessorInput = { readonly kind: "text"; readonly lines: number } | { readonly kind: "binary"; readonly bytes: number };

/** Peak resident memory of a live process (VmHWM: what Lambda reports as Max Memory Used), MB. */
export function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return round(kb / 1024, 1);
}

/** The bundled processor splitting one object (fresh child; first invocation). */
export async function processorPath(bundle: string, env: Record<string, string>, servers: ServersProcess, input: ProcessorInput): Promise<HandlerPath> {
  const s3 = loopbackS3Client(servers.s3Endpoint());
  const body = input.kind === "text" ? textOfLines(input.lines) : Buffer.alloc(input.bytes, 0);
  const contentType = input.kind === "text" ? "text/plain" : "application/octet-stream";
  await s3.send(new PutObjectCommand({ Bucket: WORK_BUCKET, Key: "jobs/bench-proc/raw/0", Body: body, ContentType: contentType }));
  s3.destroy();
  const lines = input.kind === "text" ? input.lines : 0;
  return withTaskEndpoint(env, (tasks, workerEnv) =>
    withChild(bundle, "processor", workerEnv, async (child) => {
      const sampler = startFdSampler(child.pid);
      await sampler.started();
      await servers.reset();
      await sampler.reset();
      const task = tasks.task({ jobId: "bench-proc", index: 0 });
      const start = performance.now();
      const result = await child.invoke(task.event);
      const wallMs = performance.now() - start;
      const rss = peakRssMb(child.pid);
      const fds = await sampler.stop();
      const counts = await servers.counts();
      const outcome = taskOutcome<{ chunks: number; lines: number; bytes: number }>(result, task.answer());
      const ok = outcome.ok && outcome.output.lines === lines && outcome.output.bytes === body.length;
      return {
        peakFds: fds.peak,
        connections: counts.s3,
        wallMs: round(wallMs),
        ok,
        detail: {
          lines,
          bytes: body.length,
          chunks: outcome.ok ? outcome.output.chunks : undefined,
          error: outcome.ok ? undefined : outcome.error,
          heartbeats: task.heartbeats(),
          sampler: fds,
          maxSockets: Number(env.MAX_SOCKETS),
          taskConcurrency: Number(env.TASK_CONCURRENCY),
          chunkLines: Number(env.CHUNK_LINES),
          chunkBytes: Number(env.CHUNK_BYTES),
          peakRssMb: rss,
        },
      };
    }),
  );
}

/** The bundled fanout handling `batches` concurrent SQS batches of `size` messages in one execution environment. */
export async function fanoutPath(bundle: string, env: Record<string, string>, servers: ServersProcess, batches: number, size: number): Promise<HandlerPath> {
  return withChild(bundle, "fanout", env, async (child) => {
    const sampler = startFdSampler(child.pid);
    await sampler.started();
    const before = await servers.executions();
    await servers.reset();
    await sampler.reset();
    const start = performance.now();
    const results = await Promise.all(
      Array.from({ length: batches }, (_, b) => child.invoke<{ batchItemFailures: unknown[] }>(sqsBatch(b, size))),
    );
    const wallMs = performance.now() - start;
    const fds = await sampler.stop();
    const counts = await servers.counts();
    const after = await servers.executions();
    const failedInvocations = results.filter((r) => !r.ok).length;
    const retried = results.reduce((sum, r) => sum + (r.ok ? r.result.batchItemFailures.length : 0), 0);
    const started = after.executions - before.executions;
    return {
      peakFds: fds.peak,
      connections: counts.s3 + counts.sfn,
      wallMs: round(wallMs),
      ok: failedInvocations === 0 && retried === 0 && started === batches * size,
      detail: {
        batches,
        messages: batches * size,
        executionsStarted: started,
        failedInvocations,
        recordsRetried: retried,
        s3Connections: counts.s3,
        sfnConnections: counts.sfn,
        sampler: fds,
        maxSockets: Number(env.MAX_SOCKETS),
        taskConcurrency: Number(env.TASK_CONCURRENCY),
      },
    };
  });
}
