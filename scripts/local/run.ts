/**
 * `npm run local`: the whole pipeline on this machine.
 *
 *   producer ─▶ ingest queue ──mapping──▶ fanout pool ─▶ S3: jobs/{jobId}/manifest.json (metadata message-id)
 *                 │ maxReceiveCount               │ StartExecution (loopback SFN endpoint, idempotent by name + input)
 *                 ▼                               ▼
 *                DLQ            synthesized definition on aws-local-stepfunctions
 *                                 Distributed Map: manifest → one child execution per item (MaxConcurrency)
 *                                   Fetch   ─sqs:sendMessage.waitForTaskToken─▶ fetch queue ──mapping──▶ fetcher pool
 *                                   Process ─sqs:sendMessage.waitForTaskToken─▶ process queue ──mapping──▶ processor pool
 *                                 Finalize ─▶ process queue ──▶ processor pool ─▶ status.json
 *                                 workers answer SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat
 *
 * Every function is invoked only through its event source mapping. Everything
 * listens on 127.0.0.1. When every queue has settled and no execution is
 * running, the ledger reads the bucket and accounts for every message.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SendTaskFailureCommand, SFNClient } from "@aws-sdk/client-sfn";
import { bundleDir } from "../../modules/bundle";
import { ENV } from "../../contract";
import { startOriginServer } from "../lib/origin-server";
import { startSfnEndpoint } from "../lib/sfn-endpoint";
import { formatFaults, startOriginFaultProxy, startSfnFaultProxy, seededRandom, type FaultRates } from "./faults";
import { AWS_LIMITS, type ExecutionLimits } from "./history";
import { LambdaPool, type FunctionInitError } from "./lambda-pool";
import { buildLedger, type BucketReader, type LedgerResult } from "./ledger";
import { planMessages, type PlannedMessage } from "./producer";
import type { ProgressSnapshot } from "./progress";
import { startLocalS3 } from "./s3-stack";
import { EventSourceMapping, LocalQueue } from "./sqs";
import { buildSummary, type PayloadRecord, type QueueSummary, type Summary } from "./summary";
import { readPipeline, stackFile, synthesize, type LocalFunction, type PipelineModel } from "./synth";
import { LocalStateMachine } from "./workflow";
import { loopbackAwsEnv } from "../lib/loopback-env";
import { listAllKeys, loopbackS3Client } from "../lib/loopback-s3";

export interface LocalRunOptions {
  readonly messages: number;
  readonly itemsPerMessage: number;
  readonly badRatio: number;
  /** Probability that an item's URL answers 404 (a failed item). */
  readonly badItemRatio: number;
  /** Share of good messages whose every item answers 404. @default 0 */
  readonly badJobRatio?: number;
  /** Pad every item URL to exactly this many characters (at most the fanout's MAX_URL_LENGTH). */
  readonly urlLength?: number;
  readonly faults: FaultRates;
  readonly seed: number;
  /** Environment name: the stack is `pipeline-<env>`. */
  readonly env: string;
  /** Read this synth output (e.g. cdktf.out) instead of synthesizing. */
  readonly synthDir?: string;
  /** Local seconds per AWS second: visibility timeouts, HeartbeatSeconds, TimeoutSeconds. */
  readonly timeScale: number;
  /** Multiplies the definition's retry waits. */
  readonly retryScale: number;
  /** Most execution environments (child processes) per function. */
  readonly maxEnvironments: number;
  /** FETCH_TIMEOUT_MS used locally at most (an `origin-timeout` fault waits for it). */
  readonly fetchTimeoutMs: number;
  /** Give up waiting for the pipeline to settle after this long. */
  readonly timeoutSeconds: number;
  /** AWS's per-execution limits (tests lower them). @default AWS_LIMITS */
  readonly limits?: ExecutionLimits;
  /** Where the function bundles are (`<dir>/<name>/index.js`). @default dist/functions */
  readonly bundlesDir?: string;
  /**
   * The compiled servers process that runs s3rver and its fault proxy
   * (scripts/servers.ts). @default dist/scripts/servers.js (`npm run build` writes it)
   */
  readonly serversScript?: string;
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
  /** The local queues by name. */
  readonly queues: ReadonlyMap<string, LocalQueue>;
}

export const DEFAULTS = {
  messages: 50,
  itemsPerMessage: 4,
  badRatio: 0.1,
  badItemRatio: 0.02,
  env: "dev",
  timeScale: 0.05,
  retryScale: 1,
  maxEnvironments: 4,
  fetchTimeoutMs: 5000,
  timeoutSeconds: 600,
} as const;

/**
 * A private copy of a bundle for the run's functions, so that a rebuild during
 * the run cannot change the code of environments started later. Bundles are
 * written through a rename (modules/bundle.ts): a copy is whole.
 */
function copyBundle(source: string, into: string): string {
  if (!fs.existsSync(source)) throw new Error(`no bundle at ${source}: run \`npm run build\` first`);
  fs.mkdirSync(into, { recursive: true });
  fs.copyFileSync(source, path.join(into, "index.js"));
  if (fs.existsSync(`${source}.map`)) fs.copyFileSync(`${source}.map`, path.join(into, "index.js.map"));
  return path.join(into, "index.js");
}

const notFound = (error: unknown) => ["NoSuchKey", "NotFound"].includes((error as Error).name);

async function readText(s3: S3Client, bucket: string, key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (out.Body as { transformToString(): Promise<string> }).transformToString();
}

function bucketReader(s3: S3Client, bucket: string): BucketReader {
  return {
    async getJson(key) {
      try {
        return JSON.parse(await readText(s3, bucket, key));
      } catch (error) {
        if (notFound(error)) return undefined;
        throw error;
      }
    },
    async metadata(key) {
      try {
        return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).Metadata ?? {};
      } catch (error) {
        if (notFound(error)) return undefined;
        throw error;
      }
    },
    async listKeys(prefix) {
      return (await listAllKeys(s3, bucket, prefix)).map((o) => o.key);
    },
  };
}

/** The first Distributed Map's MaxConcurrency. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function mapMaxConcurrency(definition: any): number | null {
  for (const state of Object.values((definition?.States ?? {}) as Record<string, { Type?: string; MaxConcurrency?: number }>)) {
    if (state.Type === "Map") return state.MaxConcurrency ?? null;
  }
  return null;
}

/** Local milliseconds for AWS seconds. */
const scaled = (seconds: number, timeScale: number) => Math.max(50, Math.round(seconds * 1000 * timeScale));

export async function runLocal(options: LocalRunOptions): Promise<Summary> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const random = seededRandom(options.seed);
  // One generator per fault source, so one source's timing cannot shift another's draws.
  const duplicateRandom = seededRandom(options.seed ^ 0x0d0b);
  const originRandom = seededRandom(options.seed ^ 0x0a1a);
  const staleRandom = seededRandom(options.seed ^ 0x57a1);
  const killRandom = seededRandom(options.seed ^ 0x0c1d);
  const finalizeRandom = seededRandom(options.seed ^ 0xf1a1);
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
    const fanoutFn = model.functions[model.ingest.mapping.functionResourceId];
    const maxItemsPerJob = Number(fanoutFn.environment[ENV.maxItemsPerJob] ?? 100);
    const maxUrlLength = Number(fanoutFn.environment[ENV.maxUrlLength] ?? Infinity);
    if (options.itemsPerMessage > maxItemsPerJob) {
      throw new Error(`--items-per-message ${options.itemsPerMessage} is over the fanout's ${ENV.maxItemsPerJob} (${maxItemsPerJob}): every good message would be rejected`);
    }
    if (options.urlLength !== undefined && options.urlLength > maxUrlLength) {
      throw new Error(`--url-length ${options.urlLength} is over the fanout's ${ENV.maxUrlLength} (${maxUrlLength}): every message would be rejected`);
    }

    // 2. Loopback stand-ins, each behind its fault proxy.
    const s3 = await startLocalS3({ script: options.serversScript, bucket: model.bucketName, slowDownRate: options.faults["s3-503"], seed: options.seed ^ 0x53 });
    cleanup.push(() => s3.close());
    const origin = await startOriginServer();
    cleanup.push(() => origin.close());
    const originProxy = await startOriginFaultProxy(
      origin.url,
      { timeout: options.faults["origin-timeout"], reset: options.faults["origin-reset"] },
      originRandom,
    );
    cleanup.push(() => originProxy.close());

    // A fault proxy with nothing to inject is left out: one HTTP hop less per request on a 2-core machine.
    const originFaults = options.faults["origin-timeout"] + options.faults["origin-reset"] > 0;
    const originEndpoint = originFaults ? originProxy.endpoint : origin.url;
    const s3Endpoint = s3.s3ProxyEndpoint() ?? s3.s3Endpoint();

    // 3. The messages (the poisoned names are needed by the SFN proxy).
    const planned = planMessages({
      messages: options.messages,
      itemsPerMessage: options.itemsPerMessage,
      badRatio: options.badRatio,
      badItemRatio: options.badItemRatio,
      badJobRatio: options.badJobRatio,
      urlLength: options.urlLength,
      poisonRatio: options.faults.poison,
      origin: originEndpoint,
      maxItemsPerJob,
      random,
    });
    const poisoned = new Set(planned.filter((p) => p.kind === "poison").map((p) => p.jobId as string));

    // 4. Step Functions: the endpoint (StartExecution, task tokens) behind its fault proxy.
    let stateMachine: LocalStateMachine | undefined;
    const sfn = await startSfnEndpoint({
      onStart: (name, input) => {
        (stateMachine as LocalStateMachine).start(name, input);
      },
      isRunning: (name) => stateMachine?.isRunning(name) ?? false,
    });
    cleanup.push(() => sfn.close());
    const sfnProxy = await startSfnFaultProxy(sfn.endpoint, (name) => poisoned.has(name));
    cleanup.push(() => sfnProxy.close());
    const sfnEndpoint = poisoned.size > 0 ? sfnProxy.endpoint : sfn.endpoint;
    const bypassed = [!originFaults && "origin", options.faults["s3-503"] <= 0 && "S3", poisoned.size === 0 && "Step Functions"].filter(Boolean);
    if (bypassed.length > 0) log(`[local] no faults to inject for ${bypassed.join(", ")}: the functions talk to ${bypassed.length > 1 ? "them" : "it"} directly, not through a fault proxy`);

    // 5. Functions: one pool per aws_lambda_function, environment from the synthesized JSON.
    const allowOrigin = `127.0.0.1:${originFaults ? originProxy.port : origin.port}`;
    const overrides: Record<string, string> = {};
    const bundlesDir = options.bundlesDir ?? path.dirname(bundleDir("fanout"));
    const pools = new Map<string, LambdaPool>();
    let initFailure: FunctionInitError | undefined;
    for (const fn of Object.values(model.functions)) {
      const bundle = copyBundle(path.join(bundlesDir, fn.bundle, "index.js"), path.join(runDir, "bundles", fn.bundle));
      const env = functionEnv(fn, { s3: s3Endpoint, sfn: sfnEndpoint, region: model.region, allowOrigin, fetchTimeoutMs: options.fetchTimeoutMs }, overrides);
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
      pools.set(fn.resourceId, pool);
      cleanup.push(() => pool.close());
    }
    log(`[local] FETCH_ALLOW_PRIVATE=${allowOrigin}: the fetcher's private-address guard and port rule (and the fanout's) exempt this one loopback origin (local runs only)`);
    // One warm environment each: a configuration error stops the run here, with its message.
    await Promise.all([...pools.values()].map((p) => p.warm()));
    if (initFailure) throw initFailure;

    // 6. Every queue with a mapping, and the mapping: the only way a function is invoked.
    const queues = new Map<string, LocalQueue>();
    const queuesByUrl = new Map<string, LocalQueue>();
    const mappings: { mapping: EventSourceMapping; queue: LocalQueue; model: (typeof model.mappings)[number] }[] = [];
    for (const m of model.mappings) {
      const q = model.queues[m.queueResourceId];
      const ingest = m === model.ingest.mapping;
      const queue = new LocalQueue({
        name: q.name,
        visibilityTimeoutMs: scaled(q.visibilityTimeoutSeconds, options.timeScale),
        maxReceiveCount: q.maxReceiveCount,
        maxMessageSizeBytes: q.maxMessageSizeBytes,
        // duplicate: a second copy of an ingest delivery; stale-token: a work-queue message delivered again after its token closed.
        duplicateRate: ingest ? options.faults.duplicate : 0,
        redeliverAfterDeleteRate: ingest ? 0 : options.faults["stale-token"],
        random: ingest ? duplicateRandom : staleRandom,
      });
      queues.set(q.name, queue);
      queuesByUrl.set(q.url, queue);
      const pool = pools.get(m.functionResourceId) as LambdaPool;
      const killRate = ingest ? 0 : options.faults["worker-kill"];
      const mapping = new EventSourceMapping(
        queue,
        { batchSize: m.batchSize, maximumConcurrency: m.maximumConcurrency, reportBatchItemFailures: m.reportBatchItemFailures, queueArn: q.arn, region: model.region },
        async (event, started) => {
          // worker-kill: only a message's first receive, so its redelivery can succeed.
          const first = event.Records.every((r) => r.attributes.ApproximateReceiveCount === "1");
          const kill = killRate > 0 && first && killRandom() < killRate ? { killAfterMs: 5 + Math.floor(killRandom() * 25) } : {};
          const outcome = await pool.invoke(event, { ...kill, onStart: started });
          if (outcome.ok) return { ok: true, result: outcome.result };
          return { ok: false, reason: outcome.throttled ? "Lambda.TooManyRequestsException" : outcome.error.name };
        },
      );
      mappings.push({ mapping, queue, model: m });
      if (m.maximumBatchingWindowSeconds > 0) {
        log(`[local] ${q.name}: maximum_batching_window_in_seconds=${m.maximumBatchingWindowSeconds} is not modelled: batches are taken as soon as messages are visible`);
      }
    }
    const ingestQueue = queues.get(model.ingest.queue.name) as LocalQueue;

    // 7. The state machine: its own S3 access is the bucket itself (not through the fault proxy).
    const direct = loopbackS3Client(s3.s3Endpoint(), model.region);
    cleanup.push(() => direct.destroy());
    // finalize-fail: the runner answers the finalize task itself, over the SFN API, as a failed worker would.
    const sfnClient = new SFNClient({ region: model.region, endpoint: sfn.endpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } });
    cleanup.push(() => sfnClient.destroy());
    let finalizeFailures = 0;
    const answering: Promise<unknown>[] = [];
    stateMachine = new LocalStateMachine({
      definition: model.definition,
      stateMachineArn: model.stateMachineArn,
      retryScale: options.retryScale,
      timeScale: options.timeScale,
      tokens: sfn,
      queueByUrl: (url) => queuesByUrl.get(url),
      s3: {
        getObject: (bucket, key) => readText(direct, bucket, key),
        putObject: async (Bucket, Key, Body, ContentType) => {
          await direct.send(new PutObjectCommand({ Bucket, Key, Body, ContentType }));
        },
      },
      limits: options.limits ?? AWS_LIMITS,
      interceptTask: (task) => {
        const rate = options.faults["finalize-fail"];
        if (rate <= 0 || task.body?.input?.action !== "finalize" || finalizeRandom() >= rate) return false;
        finalizeFailures++;
        answering.push(
          sfnClient
            .send(new SendTaskFailureCommand({ taskToken: task.token, error: "InjectedFinalizeFailure", cause: "fault finalize-fail: the finalize task was answered with SendTaskFailure" }))
            .catch((error: unknown) => log(`[local] finalize-fail: SendTaskFailure failed: ${String(error)}`)),
        );
        return true;
      },
    });
    const sm = stateMachine;
    sm.onExecutionEnd = (record) => sfn.closeExecution(record.name);

    // 8. Send, and wait for the pipeline to settle.
    const poolList = [...pools.values()];
    const snapshot = (): ProgressSnapshot => {
      const c = ingestQueue.counts();
      let tasksDone = 0;
      for (const t of Object.values(sm.tasks)) tasksDone += t.succeeded;
      return {
        sent: c.sent,
        settled: c.deleted + c.dlq,
        executionsRunning: sm.runningCount(),
        executionsDone: sm.executions.size - sm.runningCount(),
        tasksDone,
        throttles: poolList.reduce((n, p) => n + p.throttleCount(), 0),
        elapsedMs: Date.now() - started,
      };
    };
    const ticker = options.onProgress ? setInterval(() => options.onProgress?.(snapshot()), options.progressEveryMs ?? 250) : undefined;
    cleanup.push(() => clearInterval(ticker));
    log(
      `[local] sending ${planned.length} messages (${options.itemsPerMessage} items each, bad ratio ${options.badRatio}, faults ${formatFaults(options.faults)}); ` +
        `visibility timeouts ${mappings.map((m) => `${m.queue.name} ${model.queues[m.model.queueResourceId].visibilityTimeoutSeconds}s → ${m.queue.options.visibilityTimeoutMs} ms`).join(", ")}`,
    );
    const runStarted = Date.now();
    const cpuStarted = process.cpuUsage();
    const mainStarted = performance.eventLoopUtilization();
    const s3Started = await s3.busySeconds();
    for (const p of planned) ingestQueue.send(p.body, p.messageId);
    for (const m of mappings) m.mapping.start();
    const deadline = runStarted + options.timeoutSeconds * 1000;
    let settled = false;
    while (Date.now() < deadline) {
      if (initFailure) throw initFailure;
      if (options.signal?.aborted) throw new Error("interrupted");
      if (sm.runningCount() === 0 && mappings.every((m) => m.queue.settled() && m.mapping.busy() === 0)) {
        settled = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const m of mappings) m.mapping.stop();
    await Promise.all(answering);
    const wallTimeMs = Date.now() - runStarted;
    const cpu = process.cpuUsage(cpuStarted);
    const mainBusy = performance.eventLoopUtilization(mainStarted).active / 1000;
    const s3Busy = await s3.busySeconds();
    options.onProgress?.(snapshot());
    clearInterval(ticker);

    // 9. The ledger, from the bucket itself (not through the fault proxy).
    const ledgerStarted = Date.now();
    const ledger = await buildLedger({ planned, queue: ingestQueue.messages, executions: sm.executions, bucket: bucketReader(direct, model.bucketName) });
    log(`[local] pipeline settled in ${(wallTimeMs / 1000).toFixed(1)}s; ledger read the bucket in ${Date.now() - ledgerStarted} ms`);

    const notFinished = [...sm.executions.values()].filter((e) => e.status !== "SUCCEEDED").length;
    const extraProblems: string[] = [];
    if (!settled) {
      const busy = mappings.map((m) => `${m.queue.name} ${JSON.stringify(m.queue.counts())}`).join("; ");
      extraProblems.push(`the pipeline did not settle within ${options.timeoutSeconds}s (${sm.runningCount()} executions running; ${busy})`);
    }
    const succeededBy = (bundle: string) => {
      const names = taskStatesOn(model, bundle);
      return Object.entries(sm.tasks)
        .filter(([name]) => names.has(name))
        .reduce((n, [, t]) => n + t.succeeded, 0);
    };
    const poolStats = await Promise.all(
      model.mappings.map(async (m) => {
        const pool = pools.get(m.functionResourceId) as LambdaPool;
        return { ...(await pool.stats()), mapping: { queue: model.queues[m.queueResourceId].name, maximumConcurrency: m.maximumConcurrency, batchSize: m.batchSize } };
      }),
    );
    const queueSummaries: Record<string, QueueSummary> = {};
    for (const { queue, mapping, model: m } of mappings) {
      const q = model.queues[m.queueResourceId];
      const c = queue.counts();
      queueSummaries[q.name] = {
        role: m === model.ingest.mapping ? "ingest" : "work",
        function: model.functions[m.functionResourceId].bundle,
        batchSize: m.batchSize,
        maximumConcurrency: m.maximumConcurrency,
        reportBatchItemFailures: m.reportBatchItemFailures,
        visibilityTimeoutSeconds: q.visibilityTimeoutSeconds,
        localVisibilityTimeoutMs: queue.options.visibilityTimeoutMs,
        maxReceiveCount: q.maxReceiveCount ?? null,
        deadLetterQueue: q.deadLetterQueueName ?? null,
        messages: {
          sent: c.sent,
          deleted: c.deleted,
          dlq: c.dlq,
          redelivered: c.redelivered,
          duplicatesInjected: c.duplicatesInjected,
          redeliveredAfterDelete: c.redeliveredAfterDelete,
        },
        mapping: mapping.stats,
        wait: queue.waits(),
      };
    }
    const workQueues = mappings.filter((m) => m.model !== model.ingest.mapping);
    const staleInjected = workQueues.reduce((n, m) => n + m.queue.counts().redeliveredAfterDelete, 0);
    const injected: Record<string, number> = {
      "s3-503": await s3.injected(),
      "origin-timeout": originProxy.counts.injected.hang ?? 0,
      "origin-reset": originProxy.counts.injected.reset ?? 0,
      duplicate: ingestQueue.counts().duplicatesInjected,
      poison: sfnProxy.counts.injected["500"] ?? 0,
      "finalize-fail": finalizeFailures,
      "stale-token": staleInjected,
      "worker-kill": poolStats.reduce((n, p) => n + p.killed, 0),
    };
    const parents = [...sm.executions.values()];
    const largestParent = parents.reduce<PayloadRecord>(
      (best, e) => (e.history.largest.bytes > best.bytes ? { ...e.history.largest, execution: e.name } : best),
      { bytes: 0, state: "", what: "", execution: "" },
    );
    const mostParent = parents.reduce((best, e) => (e.history.events > best.events ? { events: e.history.events, execution: e.name } : best), { events: 0, execution: "" });
    const parentLimitFailures: Record<string, number> = {};
    for (const e of parents) if (e.limitExceeded) parentLimitFailures[e.limitExceeded] = (parentLimitFailures[e.limitExceeded] ?? 0) + 1;
    const { largestPayload, mostHistoryEvents, ...children } = sm.children;
    const limits = options.limits ?? AWS_LIMITS;
    const summary = buildSummary({
      ledger,
      pools: poolStats,
      stateMachine: {
        mapMaxConcurrency: mapMaxConcurrency(model.definition),
        tasks: sm.tasks,
        mapRuns: {
          count: sm.mapRuns.length,
          items: sm.mapRuns.reduce((n, r) => n + r.items, 0),
          peakInFlight: sm.mapRuns.reduce((n, r) => Math.max(n, r.peakInFlight), 0),
        },
        children,
        limits: {
          maxPayloadBytes: limits.maxPayloadBytes,
          maxHistoryEvents: limits.maxHistoryEvents,
          largestPayload: { parent: largestParent, child: largestPayload },
          mostHistoryEvents: { parent: mostParent, child: mostHistoryEvents },
          failures: { parent: parentLimitFailures, child: { ...children.limitFailures } },
        },
      },
      executions: { started: sm.executions.size, notFinished },
      taskSucceeded: { fetched: succeededBy("fetcher"), processed: succeededBy("processor") },
      messages: {
        sent: planned.length,
        good: planned.filter((p) => p.kind === "good").length,
        malformed: planned.filter((p) => p.kind === "malformed").length,
        poisoned: poisoned.size,
        itemsPerMessage: options.itemsPerMessage,
      },
      // Repeated StartExecution calls: idempotent 200s (same name and input, still running) and ExecutionAlreadyExists.
      duplicates: { injected: ingestQueue.counts().duplicatesInjected, suppressed: sfn.calls() - sfn.executions.size },
      staleDeliveries: {
        injected: staleInjected,
        acknowledged: workQueues.reduce((n, m) => n + m.mapping.stats.staleRecordsAcknowledged, 0),
        closedTokenAnswers: sfn.taskCalls().closed,
      },
      queues: queueSummaries,
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
      runnerCpuSeconds: (cpu.user + cpu.system) / 1e6,
      runnerThreadsBusy: { main: mainBusy, s3: s3Busy - s3Started },
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
    await options.beforeClose?.({ s3: direct, bucket: model.bucketName, model, planned, ledger, summary, stateMachine: sm, queues });
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

/** The per-item Task states (inside a Map) whose work queue is consumed by `bundle`. */
function taskStatesOn(model: PipelineModel, bundle: string): Set<string> {
  const urls = new Set(
    model.mappings.filter((m) => model.functions[m.functionResourceId].bundle === bundle).map((m) => model.queues[m.queueResourceId].url),
  );
  const out = new Set<string>();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const walk = (machine: any, inMap: boolean) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    for (const [name, state] of Object.entries((machine?.States ?? {}) as Record<string, any>)) {
      if (inMap && state.Type === "Task" && urls.has(state.Parameters?.QueueUrl)) out.add(name);
      if (state.Type === "Map") walk(state.ItemProcessor ?? state.Iterator, true);
      if (state.Type === "Parallel") for (const b of state.Branches ?? []) walk(b, inMap);
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
  if (fn.bundle === "fetcher" || fn.bundle === "fanout") {
    // The fetcher's guard and the fanout's validation both exempt the one loopback origin (its port is not 80/443).
    env[ENV.fetchAllowPrivate] = local.allowOrigin;
    overrides[ENV.fetchAllowPrivate] = `${local.allowOrigin}: the one loopback origin, exempt from the private-address guard and the port rule (fetcher, fanout)`;
  }
  if (fn.bundle === "fetcher") {
    const synthesized = Number(env[ENV.fetchTimeoutMs] ?? Infinity);
    if (synthesized > local.fetchTimeoutMs) {
      env[ENV.fetchTimeoutMs] = String(local.fetchTimeoutMs);
      overrides[ENV.fetchTimeoutMs] = `${local.fetchTimeoutMs} instead of ${synthesized}: an origin-timeout fault waits this long`;
    }
  }
  return env;
}
