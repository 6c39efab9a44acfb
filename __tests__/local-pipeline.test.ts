/**
 * `npm run local` end to end, in process: the synthesized stack (three queues
 * and their mappings, the Distributed Map definition), the bundled functions in
 * child processes invoked only through their mappings, s3rver, the origin and
 * the Step Functions endpoint on 127.0.0.1, with faults on. Asserts the ledger
 * balances, every status.json matches its manifest, a duplicate delivery makes
 * one execution, nothing is throttled, and no execution comes near AWS's limits.
 *
 * @slow 30 s alone here (starts first, longest first: __tests__/helpers/sequencer.js)
 */
import * as path from "path";
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { ERRORS, KEYS, OUTCOME_MISSING_ERROR, SFN_MAX_HISTORY_EVENTS, SFN_MAX_PAYLOAD_BYTES } from "../contract";
import { parseFaults } from "../scripts/local/faults";
import type { LedgerResult } from "../scripts/local/ledger";
import type { PlannedMessage } from "../scripts/local/producer";
import { runLocal, type LocalRunOptions, type RunContext } from "../scripts/local/run";
import { EventSourceMapping, LocalQueue } from "../scripts/local/sqs";
import type { Summary } from "../scripts/local/summary";
import { readPipeline, stackFile } from "../scripts/local/synth";
import { projectConfig } from "../modules/config/environments";
import type { StateMachineDefinition } from "../modules/workflow/asl";
import { childMachines, maxHistoryEvents } from "../modules/workflow/history";
import { harnessScriptDir } from "./helpers/harness-scripts";
import { devWith, synthProject, type SynthResult } from "./helpers/synth";

jest.setTimeout(120_000);

/** Errors a servable item may end with when its retries run out. */
const TRANSIENT = new RegExp(
  `^(${["States.Timeout", "States.HeartbeatTimeout", OUTCOME_MISSING_ERROR, ...ERRORS.transient].map((e) => e.replace(".", "\\.")).join("|")})$`,
);

async function readJson(s3: S3Client, bucket: string, key: string): Promise<Record<string, unknown> | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse(await (out.Body as { transformToString(): Promise<string> }).transformToString());
  } catch (error) {
    if ((error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

/** Small, fast runs: scaled clocks, few environments, short retry waits. */
const small = (o: Partial<LocalRunOptions>): LocalRunOptions => ({
  messages: 3,
  itemsPerMessage: 2,
  badRatio: 0,
  badItemRatio: 0,
  faults: parseFaults(""),
  seed: 1,
  env: "dev",
  timeScale: 0.003,
  retryScale: 0.05,
  maxEnvironments: 2,
  fetchTimeoutMs: 1500,
  timeoutSeconds: 90,
  serversScript: path.join(harnessScriptDir(), "servers.js"),
  ...o,
});

/** One synth for every run of this file (the config edits below synthesize their own). */
let shared: SynthResult;
beforeAll(() => {
  shared = synthProject();
});
afterAll(() => shared?.cleanup());

describe("npm run local: the whole pipeline on loopback", () => {
  let summary: Summary;
  let ledger: LedgerResult;
  let planned: readonly PlannedMessage[];
  let context: RunContext;
  const checks: { statuses: Map<string, Record<string, unknown> | undefined>; manifests: Map<string, unknown>; messageIds: Map<string, string | undefined>; resultKeysMissing: string[] } = {
    statuses: new Map(),
    manifests: new Map(),
    messageIds: new Map(),
    resultKeysMissing: [],
  };

  beforeAll(async () => {
    summary = await runLocal(
      small({
        messages: 30,
        itemsPerMessage: 2,
        badRatio: 0.1,
        badItemRatio: 0.1,
        faults: parseFaults("s3-503:0.05,origin-timeout:0.02,origin-reset:0.02,duplicate:0.1,poison:0.03"),
        seed: 7,
        synthDir: shared.outdir,
        retryScale: 0.1,
        maxEnvironments: 3,
        beforeClose: async (ctx) => {
          context = ctx;
          for (const p of ctx.planned) {
            if (p.kind !== "good" || !p.jobId) continue;
            const status = await readJson(ctx.s3, ctx.bucket, KEYS.status(p.jobId));
            checks.statuses.set(p.jobId, status);
            const manifest = await ctx.s3.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: KEYS.manifest(p.jobId) }));
            checks.manifests.set(p.jobId, JSON.parse(await (manifest.Body as { transformToString(): Promise<string> }).transformToString()));
            checks.messageIds.set(p.jobId, manifest.Metadata?.["message-id"]);
            for (const item of (status?.items ?? []) as { index: number; status: string }[]) {
              if (item.status !== "succeeded") continue;
              const key = KEYS.result(p.jobId, item.index);
              await ctx.s3.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: key })).catch(() => checks.resultKeysMissing.push(key));
            }
          }
        },
      }),
    );
    ledger = context.ledger;
    planned = context.planned;
  });

  it("accounts for every message exactly once and exits cleanly", () => {
    expect(summary.problems).toEqual([]);
    expect(summary.settled).toBe(true);
    expect(summary.lost).toBe(0);
    expect(summary.countedTwice).toBe(0);
    const l = summary.ledger;
    expect(l.sent).toBe(30);
    expect(l.succeeded + l.failed + l.rejected + l.dlq).toBe(l.sent);
    expect(l.balanced).toBe(true);
    expect(summary.ok).toBe(true);
  });

  it("rejects the malformed messages into rejected/ and sends the poisoned one to the DLQ", () => {
    const malformed = planned.filter((p) => p.kind === "malformed");
    expect(malformed).toHaveLength(3);
    expect(summary.rejected.count).toBe(3);
    for (const p of malformed) expect(ledger.entries.find((e) => e.messageId === p.messageId)?.outcomes).toEqual(["rejected"]);
    const poisoned = planned.filter((p) => p.kind === "poison");
    expect(poisoned.length).toBeGreaterThanOrEqual(1);
    expect(summary.dlq).toBe(poisoned.length);
    for (const p of poisoned) {
      const entry = ledger.entries.find((e) => e.messageId === p.messageId);
      expect(entry?.outcomes).toEqual(["dlq"]);
      // maxReceiveCount receives, then the redrive policy moved it.
      expect(entry?.deliveries).toBeGreaterThanOrEqual(context.model.ingest.queue.maxReceiveCount as number);
    }
  });

  it("runs each job as a pointer execution over its manifest and writes a status.json that matches the manifest", () => {
    const good = planned.filter((p) => p.kind === "good");
    expect(good.length).toBeGreaterThan(20);
    for (const p of good) {
      const execution = context.stateMachine.executions.get(p.jobId as string);
      expect(execution?.input).toEqual({ jobId: p.jobId, bucket: context.bucket, manifestKey: KEYS.manifest(p.jobId as string), itemCount: 2 });
      expect(checks.manifests.get(p.jobId as string)).toEqual(p.items?.map((item, index) => ({ index, url: item.url })));
      expect(checks.messageIds.get(p.jobId as string)).toBe(p.messageId);
      const status = checks.statuses.get(p.jobId as string);
      expect(status).toMatchObject({ jobId: p.jobId, itemCount: 2 });
      const items = (status?.items ?? []) as { index: number; url: string; status: string; error?: string }[];
      expect(items.map((i) => [i.index, i.url])).toEqual(p.items?.map((item, i) => [i, item.url]));
      p.items?.forEach((planItem, i) => {
        if (planItem.servable) {
          // Faults are transient and retried: a servable URL ends fetched and processed, unless
          // its retries ran out (then status.json must say so with a transient error's name).
          if (items[i].status !== "succeeded") {
            expect({ jobId: p.jobId, index: i, error: items[i].error }).toEqual({ jobId: p.jobId, index: i, error: expect.stringMatching(TRANSIENT) });
          }
        } else {
          expect(items[i]).toMatchObject({ status: "failed", error: "OriginHttpError" });
        }
      });
      expect(status?.failed).toBe(items.filter((i) => i.status === "failed").length);
      expect(status?.succeeded).toBe(items.filter((i) => i.status === "succeeded").length);
    }
    expect(checks.resultKeysMissing).toEqual([]);
    const servable = good.flatMap((p) => p.items ?? []).filter((i) => i.servable).length;
    expect(summary.items.processed).toBeGreaterThanOrEqual(Math.floor(servable * 0.95));
    // The 404 items make those executions "failed" in the ledger.
    expect(summary.ledger.failed).toBeGreaterThanOrEqual(good.filter((p) => p.items?.some((i) => !i.servable)).length);
    expect(summary.ledger.failed).toBeGreaterThan(0);
  });

  it("turns a duplicate delivery into one execution", () => {
    expect(summary.duplicates.injected).toBeGreaterThan(0);
    expect(summary.duplicates.suppressed).toBeGreaterThan(0);
    expect(summary.duplicates.withMoreExecutions).toBe(0);
    const duplicatedGood = ledger.entries.filter((e) => e.kind === "good" && e.deliveries > 1);
    expect(duplicatedGood.length).toBeGreaterThan(0);
    for (const entry of duplicatedGood) expect(entry.executions).toHaveLength(1);
  });

  it("admits every task through its work queue: no throttle, no function above its mapping's maximum concurrency", () => {
    expect(summary.faults.injected["s3-503"]).toBeGreaterThan(0);
    expect(summary.faults.injected.poison).toBeGreaterThan(0);
    for (const [name, f] of Object.entries(summary.functions)) {
      expect({ name, throttles: f.throttles }).toEqual({ name, throttles: 0 });
      expect(f.mapping).toBeDefined();
      expect(f.peakConcurrent).toBeLessThanOrEqual(f.mapping?.maximumConcurrency as number);
      expect(f.withinMappingMaximum).toBe(true);
      // Under the fd budget of a Lambda environment.
      expect(f.peakOpenFds).toBeLessThan(1024 / 2);
    }
    const queues = Object.values(summary.queues);
    expect(queues.map((q) => [q.role, q.function]).sort()).toEqual([["ingest", "fanout"], ["work", "fetcher"], ["work", "processor"]]);
    for (const q of queues) {
      expect(q.wait.firstReceive.count).toBe(q.messages.sent);
      expect(q.wait.firstReceive.p50Ms).toBeLessThanOrEqual(q.wait.firstReceive.p99Ms);
      expect(q.wait.firstReceive.p99Ms).toBeLessThanOrEqual(q.wait.firstReceive.maxMs);
    }
    // One fetch task per item of a started job (retries resend), at least.
    expect(summary.queues[summary.functions.fetcher.mapping?.queue as string].messages.sent).toBeGreaterThanOrEqual(summary.stateMachine.mapRuns.items);
  });

  it("keeps every execution, parent and child, far under AWS's payload and history limits", () => {
    const limits = summary.stateMachine.limits;
    expect(limits.failures).toEqual({ parent: {}, child: {} });
    for (const kind of ["parent", "child"] as const) {
      expect(limits.largestPayload[kind].bytes).toBeGreaterThan(0);
      expect(limits.largestPayload[kind].bytes).toBeLessThan(SFN_MAX_PAYLOAD_BYTES / 16);
      expect(limits.mostHistoryEvents[kind].events).toBeGreaterThan(5);
      expect(limits.mostHistoryEvents[kind].events).toBeLessThan(SFN_MAX_HISTORY_EVENTS / 100);
    }
    expect(summary.stateMachine.mapRuns.peakInFlight).toBeLessThanOrEqual(summary.stateMachine.mapMaxConcurrency as number);
  });

  it("never counts more history events than budget rule 11 bounds at synth, for the parent and for a child", () => {
    const definition = context.model.definition as StateMachineDefinition;
    const [child] = childMachines(definition);
    const limits = summary.stateMachine.limits;
    expect(limits.mostHistoryEvents.parent.events).toBeLessThanOrEqual(maxHistoryEvents(definition));
    expect(limits.mostHistoryEvents.child.events).toBeLessThanOrEqual(maxHistoryEvents(child.machine));
  });
});

describe("npm run local follows the synthesized configuration", () => {
  it("reads every queue and every mapping of the stack", () => {
    const model = readPipeline(stackFile(shared.outdir, "dev"));
    expect(Object.values(model.queues).map((q) => q.name).sort()).toEqual(
      ["ingest", "ingest-dlq", "fetch", "fetch-dlq", "process", "process-dlq"].map((n) => `fanout-pipeline-dev-${n}`).sort(),
    );
    expect(model.mappings).toHaveLength(3);
    for (const m of model.mappings) {
      const q = model.queues[m.queueResourceId];
      expect(q.maxReceiveCount).toBeGreaterThanOrEqual(2);
      expect(model.queues[q.deadLetterQueueResourceId as string].name).toBe(`${q.name}-dlq`);
      expect(m.reportBatchItemFailures).toBe(true);
      expect(m.maximumConcurrency).toBeLessThanOrEqual(model.functions[m.functionResourceId].reservedConcurrency);
    }
    expect(model.ingest.queue.name).toBe("fanout-pipeline-dev-ingest");
    // The definition's QueueUrls resolve to the local work queues.
    expect(JSON.stringify(model.definition)).toContain(model.queues[model.mappings.find((m) => m !== model.ingest.mapping)?.queueResourceId as string].url);
  });

  it("balances with stale task-token deliveries and killed workers: every item still succeeds, the stale copies are skipped", async () => {
    const summary = await runLocal(
      small({
        messages: 4,
        itemsPerMessage: 3,
        faults: parseFaults("stale-token:0.3,worker-kill:0.25"),
        seed: 5,
        // A killed task's message comes back after the work queue's visibility timeout: 720 s / 1800 s → 1.1 s / 2.7 s.
        timeScale: 0.0015,
        synthDir: shared.outdir,
        maxEnvironments: 3,
      }),
    );
    expect(summary.problems).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summary.lost).toBe(0);
    expect(summary.ledger).toMatchObject({ sent: 4, succeeded: 4, failed: 0, balanced: true });
    expect(summary.items).toMatchObject({ total: 12, failed: 0 });
    expect(summary.faults.injected["stale-token"]).toBeGreaterThan(0);
    expect(summary.faults.injected["worker-kill"]).toBeGreaterThan(0);
    // Every stale copy came back to a closed token and was acknowledged without a second answer.
    expect(summary.staleDeliveries.acknowledged).toBe(summary.staleDeliveries.injected);
    const killed = summary.functions.fetcher.killed + summary.functions.processor.killed;
    expect(killed).toBe(summary.faults.injected["worker-kill"]);
    expect((summary.functions.fetcher.errorsByName["Runtime.ExitError"] ?? 0) + (summary.functions.processor.errorsByName["Runtime.ExitError"] ?? 0)).toBe(killed);
    // A killed invocation's message came back after the visibility timeout and was received again.
    const redelivered = Object.values(summary.queues).reduce((n, q) => n + (q.role === "work" ? q.messages.redelivered : 0), 0);
    expect(redelivered).toBeGreaterThanOrEqual(killed);
  });

  it("completes two jobs of maxItemsPerJob items with URLs of MAX_URL_LENGTH characters, one all succeeded, one all 404, under AWS's limits", async () => {
    const model = readPipeline(stackFile(shared.outdir, "dev"));
    const fanout = model.functions[model.ingest.mapping.functionResourceId].environment;
    const maxItems = Number(fanout.MAX_ITEMS_PER_JOB);
    const maxUrl = Number(fanout.MAX_URL_LENGTH);
    const statuses = new Map<string, Record<string, unknown> | undefined>();
    const summary = await runLocal(
      small({
        messages: 2,
        itemsPerMessage: maxItems,
        badJobRatio: 0.5,
        urlLength: maxUrl,
        seed: 9,
        synthDir: shared.outdir,
        maxEnvironments: 3,
        beforeClose: async (ctx) => {
          for (const p of ctx.planned) statuses.set(p.jobId as string, await readJson(ctx.s3, ctx.bucket, KEYS.status(p.jobId as string)));
        },
      }),
    );
    expect(summary.problems).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summary.ledger).toMatchObject({ sent: 2, succeeded: 1, failed: 1, balanced: true });
    const counts = [...statuses.values()].map((s) => [s?.succeeded, s?.failed]).sort();
    expect(counts).toEqual([[0, maxItems], [maxItems, 0]].sort());
    for (const s of statuses.values()) {
      expect((s?.items as { url: string }[]).every((i) => i.url.length === maxUrl)).toBe(true);
    }
    expect(summary.items.failedByError).toEqual({ OriginHttpError: maxItems });
    const limits = summary.stateMachine.limits;
    expect(limits.failures).toEqual({ parent: {}, child: {} });
    // Nothing in any state grows with the job: the largest payload is about one URL, the histories a few events.
    expect(limits.largestPayload.child.bytes).toBeGreaterThan(maxUrl);
    expect(limits.largestPayload.child.bytes).toBeLessThan(4 * maxUrl);
    expect(limits.largestPayload.parent.bytes).toBeLessThan(2048);
    expect(limits.mostHistoryEvents.parent.events).toBeLessThan(40);
    expect(limits.mostHistoryEvents.child.events).toBeLessThan(40);
  });
});

describe("npm run local on a synth whose map.maxConcurrency is 2, with every Finalize failing (one run, two checks)", () => {
  let summary: Summary;
  const statuses: (Record<string, unknown> | undefined)[] = [];
  beforeAll(async () => {
    // Only the state and dev stacks: the run reads pipeline-dev.
    const dev = devWith((d) => ({ ...d, budget: { ...d.budget, map: { maxConcurrency: 2 } } }));
    const synth = synthProject({ ...projectConfig, environments: [dev] });
    try {
      summary = await runLocal(
        small({
          messages: 2,
          itemsPerMessage: 6,
          faults: parseFaults("finalize-fail:1"),
          seed: 3,
          synthDir: synth.outdir,
          beforeClose: async (ctx) => {
            for (const p of ctx.planned) if (p.jobId) statuses.push(await readJson(ctx.s3, ctx.bucket, KEYS.status(p.jobId)));
          },
        }),
      );
    } finally {
      synth.cleanup();
    }
  });

  it("runs at most MaxConcurrency child executions of one map run at once", () => {
    expect(summary.problems).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summary.stateMachine.mapMaxConcurrency).toBe(2);
    expect(summary.stateMachine.mapRuns).toEqual({ count: 2, items: 12, peakInFlight: 2 });
    expect(summary.items).toMatchObject({ total: 12, fetched: 12, processed: 12, failed: 0 });
  });

  it("records a job whose finalize task fails: the definition's fallback writes status.json, the execution fails, nothing is lost", () => {
    expect(summary.lost).toBe(0);
    expect(summary.ledger).toMatchObject({ sent: 2, failed: 2, succeeded: 0, balanced: true });
    expect(summary.executions.failed).toBe(2);
    expect(summary.faults.injected["finalize-fail"]).toBe(2);
    expect(statuses).toHaveLength(2);
    for (const status of statuses) {
      expect(status).toMatchObject({
        status: "finalize-failed",
        itemCount: 6,
        error: { Error: "InjectedFinalizeFailure", Cause: expect.stringContaining("finalize-fail") },
        results: expect.stringMatching(/^jobs\/.+\/results\/$/),
        failures: expect.stringMatching(/^jobs\/.+\/failures\/$/),
      });
      expect(status).not.toHaveProperty("items");
    }
    // The items themselves succeeded: their outcomes are in S3, which the ledger checked.
    expect(summary.items).toMatchObject({ total: 12, failed: 0 });
  });
});

describe("the SQS model", () => {
  const queue = (o: Partial<ConstructorParameters<typeof LocalQueue>[0]> = {}) =>
    new LocalQueue({ name: "q", visibilityTimeoutMs: 200, maxReceiveCount: 2, duplicateRate: 0, random: () => 0.5, ...o });

  it("hides a received message for the visibility timeout and moves it to the DLQ after maxReceiveCount receives", () => {
    const q = queue();
    q.send("a", "m1");
    expect(q.receive(10, 0).map((d) => d.receiveCount)).toEqual([1]);
    expect(q.receive(10, 100)).toEqual([]);
    const [second] = q.receive(10, 200);
    expect(second.receiveCount).toBe(2);
    q.abandon(second.receiptHandle);
    expect(q.receive(10, 400)).toEqual([]);
    expect(q.counts()).toMatchObject({ dlq: 1, queued: 0 });
    expect(q.settled()).toBe(false); // the first delivery is still in flight
  });

  it("delivers a duplicate copy even after the message was deleted, and a stale delete changes nothing", () => {
    const q = queue({ duplicateRate: 1 });
    q.send("a", "m1");
    const [first] = q.receive(10, 0);
    q.delete(first.receiptHandle);
    const [copy] = q.receive(10, 0);
    expect(copy).toMatchObject({ duplicate: true, receiveCount: 2 });
    q.delete(copy.receiptHandle);
    expect(q.settled()).toBe(true);
    expect(q.counts()).toMatchObject({ deleted: 1, duplicatesInjected: 1 });
  });

  it("deletes what a partial batch response does not list, and keeps the whole batch when the response is invalid", async () => {
    const q = queue({ maxReceiveCount: 5 });
    for (const id of ["m1", "m2", "m3"]) q.send(id, id);
    const responses = [{ batchItemFailures: [{ itemIdentifier: "m2" }] }, { batchItemFailures: [{ itemIdentifier: "" }] }];
    const mapping = new EventSourceMapping(
      q,
      { batchSize: 10, maximumConcurrency: 1, reportBatchItemFailures: true, queueArn: "arn", region: "us-east-1" },
      async () => ({ ok: true, result: responses.shift() }),
    );
    mapping.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(mapping.stats).toMatchObject({ invocations: 1, recordsAcknowledged: 2, recordsRetried: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    mapping.stop();
    // m2 came back, and the invalid response left it in the queue.
    expect(mapping.stats).toMatchObject({ invocations: 2, failedInvocations: 1, recordsRetried: 2 });
    expect([...q.messages.values()].map((m) => m.state)).toEqual(["deleted", "queued", "deleted"]);
  });
});
