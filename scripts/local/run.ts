/**
 * `npm run local`: the whole pipeline on this machine.
 *
 *   producer ─▶ LocalQueue ──EventSourceMapping──▶ fanout pool ─▶ S3 (s3rver behind a fault proxy)
 *                 │ maxReceiveCount                    │ StartExecution (loopback SFN endpoint, name-idempotent)
 *                 ▼                                    ▼
 *                DLQ                     synthesized definition on aws-local-stepfunctions
 *                                          Fetch → fetcher pool ─▶ origin (behind a fault proxy) + S3
 *                                          Process / Finalize → processor pool ─▶ S3
 *
 * Everything listens on 127.0.0.1. When the queue has settled and no execution
 * is running, the ledger reads the bucket and accounts for every message.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { bundleDir } from "../../modules/bundle";
import { ENV } from "../../functions/shared/contract";
import { startOriginServer } from "../lib/origin-server";
import { startSfnEndpoint } from "../lib/sfn-endpoint";
import { formatFaults, startOriginFaultProxy, startSfnFaultProxy, seededRandom, type FaultRates } from "./faults";
import { LambdaPool, type FunctionInitError } from "./lambda-pool";
import { buildLedger, type BucketReader, type LedgerResult } from "./ledger";
import { planMessages, type PlannedMessage } from "./producer";
import type { ProgressSnapshot } from "./progress";
import { startS3Stack } from "./s3-stack";
import { EventSourceMapping, LocalQueue } from "./sqs";
import { buildSummary, type Summary } from "./summary";
import { readPipeline, stackFile, synthesize, type LocalFunction, type PipelineModel } from "./synth";
import { LocalStateMachine } from "./workflow";
import { loopbackAwsEnv } from "../lib/loopback-env";

export interface LocalRunOptions {
  readonly messages: number;
  readonly itemsPerMessage: number;
  readonly badRatio: number;
  /** Probability that an item's URL answers 404 (a failed item). */
  readonly badItemRatio: number;
  readonly faults: FaultRates;
  readonly seed: number;
  /** Environment name: the stack is `pipeline-<env>`. */
  readonly env: string;
  /** Read this synth output (e.g. cdktf.out) instead of synthesizing. */
  readonly synthDir?: string;
  /** Local seconds per AWS second for the queue's visibility timeout. */
  readonly timeScale: number;
  /** Multiplies the definition's retry waits. */
  readonly retryScale: number;
  /** Most execution environments (child processes) per function. */
  readonly maxEnvironments: number;
  /** FETCH_TIMEOUT_MS used locally at most (an `origin-timeout` fault waits for it). */
  readonly fetchTimeoutMs: number;
  /** Give up waiting for the pipeline to settle after this long. */
  readonly timeoutSeconds: number;
  /** Where the function bundles are (`<dir>/<name>/index.js`). @default dist/functions */
  readonly bundlesDir?: string;
  /** Run s3rver and its fault proxy in a worker thread when the runner is compiled. @default true */
  readonly s3Worker?: boolean;
  /** Write every environment's output (logs) here. */
  readonly logsDir?: string;
  /** Informational lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
  /** Called every so often while running, for progress display. */
  readonly onProgress?: (snapshot: ProgressSnapshot) => void;
  readonly progressEveryMs?: number;
  /** Stops waiting (Ctrl-C): the run ends with an error after cleaning up. */
  readonly signal?: AbortSignal;
  /** Runs before the servers close (tests inspect the bucket here). */
  readonly beforeClose?: (context: RunContext) => Promise<void>;
}

export interface RunContext {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly model: PipelineModel;
  readonly planned: readonly PlannedMessage[];
  readonly ledger: LedgerResult;
  readonly summary: Summary;
  readonly stateMachine: LocalStateMachine;
}

export const DEFAULTS = {
  messages: 50,
  itemsPerMessage: 4,
  badRatio: 0.1,
  badItemRatio: 0.02,
  env: "dev",
  timeScale: 0.05,
  retryScale: 1,
  maxEnvironments: 8,
  fetchTimeoutMs: 5000,
  timeoutSeconds: 600,
} as const;

/** A private copy of a bundle, so a rebuild elsewhere (tests, a second run) cannot change it mid-run. */
function copyBundle(source: string, into: string): string {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (!fs.existsSync(source)) break;
    const code = fs.readFileSync(source, "utf8");
    if (code.includes("//# sourceMappingURL=")) {
      fs.mkdirSync(into, { recursive: true });
      fs.writeFileSync(path.join(into, "index.js"), code);
      if (fs.existsSync(`${source}.map`)) fs.copyFileSync(`${source}.map`, path.join(into, "index.js.map"));
      return path.join(into, "index.js");
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100); // being written: wait
  }
  throw new Error(`no complete bundle at ${source}: run \`npm run build\` first`);
}

function bucketReader(s3: S3Client, bucket: string): BucketReader {
  return {
    async getJson(key) {
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return JSON.parse(await (out.Body as { transformToString(): Promise<string> }).transformToString()) as Record<string, unknown>;
      } catch (error) {
        if ((error as Error).name === "NoSuchKey") return undefined;
        throw error;
      }
    },
    async listKeys(prefix) {
      // ListObjects v1 with markers: s3rver's v2 continuation tokens fail on OpenSSL 3 past 1,000 keys.
      const keys: string[] = [];
      let marker: string | undefined;
      do {
        const page = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, Marker: marker }));
        for (const o of page.Contents ?? []) keys.push(o.Key as string);
        marker = page.IsTruncated ? keys[keys.length - 1] : undefined;
      } while (marker);
      return keys;
    },
  };
}

/** The Map state of the definition (first one), for MaxConcurrency. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function mapMaxConcurrency(definition: any): number | null {
  for (const state of Object.values((definition?.States ?? {}) as Record<string, { Type?: string; MaxConcurrency?: number }>)) {
    if (state.Type === "Map") return state.MaxConcurrency ?? null;
  }
  return null;
}

export async function runLocal(options: LocalRunOptions): Promise<Summary> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const random = seededRandom(options.seed);
  // One generator per fault source, so one source's timing cannot shift another's draws.
  const duplicateRandom = seededRandom(options.seed ^ 0x0d0b);
  const originRandom = seededRandom(options.seed ^ 0x0a1a);
  const cleanup: (() => Promise<void> | void)[] = [];
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-local-"));
  cleanup.push(() => fs.rmSync(runDir, { recursive: true, force: true }));

  try {
    // 1. The pipeline as synthesized.
    let outdir = options.synthDir;
    if (!outdir) {
      const t = Date.now();
      outdir = synthesize();
      const synthDir = outdir;
      cleanup.push(() => fs.rmSync(synthDir, { recursive: true, force: true }));
      log(`[local] synthesized the project in ${Date.now() - t} ms`);
    }
    const model = readPipeline(stackFile(outdir, options.env));
    const shown = path.relative(process.cwd(), model.source);
    log(`[local] ${model.stackName}: state machine "${model.stateMachineName}" from ${shown.startsWith("..") ? model.source : shown}`);

    // 2. Loopback stand-ins, each behind its fault proxy.
    const s3 = await startS3Stack({ bucket: model.bucketName, slowDownRate: options.faults["s3-503"], seed: options.seed ^ 0x53, worker: options.s3Worker });
    cleanup.push(() => s3.close());
    const origin = await startOriginServer();
    cleanup.push(() => origin.close());
    const originProxy = await startOriginFaultProxy(
      origin.url,
      { timeout: options.faults["origin-timeout"], reset: options.faults["origin-reset"] },
      originRandom,
    );
    cleanup.push(() => originProxy.close());

    // 3. The messages (the poisoned names are needed by the SFN proxy).
    const planned = planMessages({
      messages: options.messages,
      itemsPerMessage: options.itemsPerMessage,
      badRatio: options.badRatio,
      badItemRatio: options.badItemRatio,
      poisonRatio: options.faults.poison,
      origin: originProxy.endpoint,
      maxItemsPerJob: Number(Object.values(model.functions).find((f) => f.environment[ENV.maxItemsPerJob])?.environment[ENV.maxItemsPerJob] ?? 100),
      random,
    });
    const poisoned = new Set(planned.filter((p) => p.kind === "poison").map((p) => p.jobId as string));

    // 4. Functions: one pool per aws_lambda_function, environment from the synthesized JSON.
    const allowOrigin = `127.0.0.1:${originProxy.port}`;
    const overrides: Record<string, string> = {};
    let stateMachine: LocalStateMachine | undefined;
    const sfn = await startSfnEndpoint({
      onStart: (name, input) => {
        (stateMachine as LocalStateMachine).start(name, input);
      },
    });
    cleanup.push(() => sfn.close());
    const sfnProxy = await startSfnFaultProxy(sfn.endpoint, (name) => poisoned.has(name));
    cleanup.push(() => sfnProxy.close());

    const bundlesDir = options.bundlesDir ?? path.dirname(bundleDir("fanout"));
    const pools = new Map<string, LambdaPool>();
    let initFailure: FunctionInitError | undefined;
    for (const fn of Object.values(model.functions)) {
      const bundle = copyBundle(path.join(bundlesDir, fn.bundle, "index.js"), path.join(runDir, "bundles", fn.bundle));
      const env = functionEnv(fn, { s3: s3.proxyEndpoint, sfn: sfnProxy.endpoint, region: model.region, allowOrigin, fetchTimeoutMs: options.fetchTimeoutMs }, overrides);
      const pool = new LambdaPool({
        name: fn.bundle,
        functionName: fn.functionName,
        bundle,
        env,
        reservedConcurrency: fn.reservedConcurrency,
        maxEnvironments: options.maxEnvironments,
        timeoutMs: fn.timeoutSeconds * 1000,
      });
      pool.onInitError = (e) => (initFailure ??= e);
      pools.set(fn.arn, pool);
      cleanup.push(() => pool.close());
    }
    log(`[local] FETCH_ALLOW_PRIVATE=${allowOrigin}: the fetcher's private-address guard exempts this one loopback origin (local runs only)`);
    // One warm environment each: a configuration error stops the run here, with its message.
    await Promise.all([...pools.values()].map((p) => p.warm()));
    if (initFailure) throw initFailure;

    // The bucket itself (not through the fault proxy): what Step Functions writes with
    // its own S3 integration, and what the ledger reads.
    const direct = new S3Client({
      region: model.region,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    cleanup.push(() => direct.destroy());
    stateMachine = new LocalStateMachine({
      definition: model.definition,
      stateMachineArn: model.stateMachineArn,
      pools,
      retryScale: options.retryScale,
      random,
      putObject: async (Bucket, Key, Body, ContentType) => {
        await direct.send(new PutObjectCommand({ Bucket, Key, Body, ContentType }));
      },
      finalizeFailRate: options.faults["finalize-fail"],
    });

    // 5. The queue and its event source mapping.
    const fanoutFn = model.functions[model.mapping.functionResourceId];
    const fanoutPool = pools.get(fanoutFn.arn) as LambdaPool;
    const visibilityMs = Math.max(50, Math.round(model.queue.visibilityTimeoutSeconds * 1000 * options.timeScale));
    const queue = new LocalQueue({
      name: model.queue.name,
      visibilityTimeoutMs: visibilityMs,
      maxReceiveCount: model.queue.maxReceiveCount,
      duplicateRate: options.faults.duplicate,
      random: duplicateRandom,
    });
    const mapping = new EventSourceMapping(
      queue,
      {
        batchSize: model.mapping.batchSize,
        maximumConcurrency: model.mapping.maximumConcurrency,
        reportBatchItemFailures: model.mapping.reportBatchItemFailures,
        queueArn: `arn:aws:sqs:${model.region}:000000000000:${model.queue.name}`,
        region: model.region,
      },
      async (event) => {
        const outcome = await fanoutPool.invoke(event);
        if (outcome.ok) return { ok: true, result: outcome.result };
        return { ok: false, reason: outcome.throttled ? "Lambda.TooManyRequestsException" : outcome.error.name };
      },
    );
    if (model.mapping.maximumBatchingWindowSeconds > 0) {
      log(`[local] maximum_batching_window_in_seconds=${model.mapping.maximumBatchingWindowSeconds} is not modelled: batches are taken as soon as messages are visible`);
    }

    // 6. Send, and wait for the pipeline to settle.
    const sm = stateMachine;
    const snapshot = (): ProgressSnapshot => {
      const c = queue.counts();
      let tasksDone = 0;
      for (const t of Object.values(sm.tasks)) tasksDone += t.succeeded;
      let throttles = 0;
      for (const t of Object.values(sm.tasks)) throttles += t.errors["Lambda.TooManyRequestsException"] ?? 0;
      return {
        sent: c.sent,
        settled: c.deleted + c.dlq,
        executionsRunning: sm.runningCount(),
        executionsDone: sm.executions.size - sm.runningCount(),
        tasksDone,
        throttles,
        elapsedMs: Date.now() - started,
      };
    };
    const ticker = options.onProgress ? setInterval(() => options.onProgress?.(snapshot()), options.progressEveryMs ?? 250) : undefined;
    cleanup.push(() => clearInterval(ticker));
    log(
      `[local] sending ${planned.length} messages (${options.itemsPerMessage} items each, bad ratio ${options.badRatio}, faults ${formatFaults(options.faults)}); ` +
        `visibility timeout ${model.queue.visibilityTimeoutSeconds}s → ${visibilityMs} ms locally`,
    );
    const runStarted = Date.now();
    for (const p of planned) queue.send(p.body, p.messageId);
    mapping.start();
    const deadline = runStarted + options.timeoutSeconds * 1000;
    let settled = false;
    while (Date.now() < deadline) {
      if (initFailure) throw initFailure;
      if (options.signal?.aborted) throw new Error("interrupted");
      if (queue.settled() && mapping.busy() === 0 && sm.runningCount() === 0) {
        settled = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    mapping.stop();
    const wallTimeMs = Date.now() - runStarted;
    options.onProgress?.(snapshot());
    clearInterval(ticker);

    // 7. The ledger, from the bucket itself (not through the fault proxy).
    const ledgerStarted = Date.now();
    const ledger = await buildLedger({ planned, queue: queue.messages, executions: sm.executions, bucket: bucketReader(direct, model.bucketName) });

    log(`[local] pipeline settled in ${(wallTimeMs / 1000).toFixed(1)}s; ledger read the bucket in ${Date.now() - ledgerStarted} ms`);
    const poolStats = await Promise.all([...pools.values()].map((p) => p.stats()));
    const perExecutionPeak: Record<string, number> = {};
    for (const e of sm.executions.values()) {
      for (const [fn, n] of Object.entries(e.peakCalls)) perExecutionPeak[fn] = Math.max(perExecutionPeak[fn] ?? 0, n);
    }
    const notFinished = [...sm.executions.values()].filter((e) => e.status !== "SUCCEEDED").length;
    const extraProblems: string[] = [];
    if (!settled) extraProblems.push(`the pipeline did not settle within ${options.timeoutSeconds}s (${JSON.stringify(queue.counts())}, ${sm.runningCount()} executions running)`);
    const itemTasks = itemTaskFunctions(model);
    const succeededBy = (bundle: string) =>
      Object.entries(sm.tasks)
        .filter(([name]) => itemTasks.get(name) === bundle)
        .reduce((n, [, t]) => n + t.succeeded, 0);
    const injected: Record<string, number> = {
      "s3-503": await s3.injected(),
      "origin-timeout": originProxy.counts.injected.hang ?? 0,
      "origin-reset": originProxy.counts.injected.reset ?? 0,
      duplicate: queue.counts().duplicatesInjected,
      poison: sfnProxy.counts.injected["500"] ?? 0,
      "finalize-fail": sm.tasks.Finalize?.errors.InjectedFinalizeFailure ?? 0,
    };
    const summary = buildSummary({
      ledger,
      pools: poolStats,
      perExecutionPeak,
      tasks: sm.tasks,
      mapMaxConcurrency: mapMaxConcurrency(model.definition),
      executions: { started: sm.executions.size, notFinished },
      taskSucceeded: { fetched: succeededBy("fetcher"), processed: succeededBy("processor") },
      messages: {
        sent: planned.length,
        good: planned.filter((p) => p.kind === "good").length,
        malformed: planned.filter((p) => p.kind === "malformed").length,
        poisoned: poisoned.size,
        itemsPerMessage: options.itemsPerMessage,
      },
      duplicates: { injected: queue.counts().duplicatesInjected, suppressed: sfn.calls() - sfn.executions.size },
      queue: {
        batchSize: model.mapping.batchSize,
        maximumConcurrency: model.mapping.maximumConcurrency,
        visibilityTimeoutSeconds: model.queue.visibilityTimeoutSeconds,
        localVisibilityTimeoutMs: visibilityMs,
        maxReceiveCount: model.queue.maxReceiveCount ?? null,
        mapping: mapping.stats,
      },
      faults: { spec: formatFaults(options.faults), injected },
      config: {
        stack: model.stackName,
        source: options.synthDir ? model.source : "synthesized for this run",
        seed: options.seed,
        timeScale: options.timeScale,
        retryScale: options.retryScale,
        maxEnvironments: options.maxEnvironments,
        definitionSha256: createHash("sha256").update(model.definitionText).digest("hex"),
        overrides,
      },
      settled,
      extraProblems,
      wallTimeMs,
      totalMs: Date.now() - started,
    });

    if (options.logsDir) {
      fs.mkdirSync(options.logsDir, { recursive: true });
      for (const pool of pools.values()) {
        pool.logs().forEach((text, i) => fs.writeFileSync(path.join(options.logsDir as string, `${pool.options.name}-${i + 1}.log`), text));
      }
      log(`[local] environment logs written to ${options.logsDir}`);
    }
    await options.beforeClose?.({ s3: direct, bucket: model.bucketName, model, planned, ledger, summary, stateMachine: sm });
    return summary;
  } finally {
    for (const step of cleanup.reverse()) {
      try {
        await step();
      } catch {
        // keep closing the rest
      }
    }
  }
}

/** The Task states inside Map states (the per-item work), with the bundle each one calls. */
function itemTaskFunctions(model: PipelineModel): Map<string, string> {
  const out = new Map<string, string>();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const walk = (machine: any, inMap: boolean) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    for (const [name, state] of Object.entries((machine?.States ?? {}) as Record<string, any>)) {
      if (state.Type === "Task" && inMap) {
        const target = state.Parameters?.FunctionName ?? state.Resource;
        const fn = Object.values(model.functions).find((f) => f.arn === target || f.functionName === target);
        if (fn) out.set(name, fn.bundle);
      }
      if (state.Type === "Map") walk(state.ItemProcessor ?? state.Iterator, true);
    }
  };
  walk(model.definition, false);
  return out;
}

/**
 * A function's environment: the synthesized variables, loopback endpoints and
 * dummy credentials, plus the few local overrides (recorded in `overrides`).
 */
function functionEnv(
  fn: LocalFunction,
  local: { s3: string; sfn: string; region: string; allowOrigin: string; fetchTimeoutMs: number },
  overrides: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {
    ...fn.environment,
    ...loopbackAwsEnv({ s3: local.s3, sfn: local.sfn, region: local.region }),
    AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1024",
    POWERTOOLS_LOG_LEVEL: "WARN",
    POWERTOOLS_METRICS_DISABLED: "true",
  };
  if (env[ENV.allowHttp] !== undefined && env[ENV.allowHttp] !== "true") {
    env[ENV.allowHttp] = "true";
    overrides[ENV.allowHttp] = "true: the local origin speaks http on 127.0.0.1";
  }
  if (fn.bundle === "fetcher") {
    env[ENV.fetchAllowPrivate] = local.allowOrigin;
    overrides[ENV.fetchAllowPrivate] = `${local.allowOrigin}: the one loopback origin, exempt from the private-address guard`;
    const synthesized = Number(env[ENV.fetchTimeoutMs] ?? Infinity);
    if (synthesized > local.fetchTimeoutMs) {
      env[ENV.fetchTimeoutMs] = String(local.fetchTimeoutMs);
      overrides[ENV.fetchTimeoutMs] = `${local.fetchTimeoutMs} instead of ${synthesized}: an origin-timeout fault waits this long`;
    }
  }
  return env;
}
