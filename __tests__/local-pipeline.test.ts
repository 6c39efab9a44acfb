/**
 * `npm run local` end to end, in process: the synthesized stack, the bundled
 * functions in child processes, s3rver, the origin and the Step Functions
 * endpoint on 127.0.0.1, with faults on. Asserts the ledger balances, every
 * status.json matches its message's items, and duplicate deliveries produced
 * one execution each.
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { ERRORS, KEYS } from "../functions/shared/contract";
import { parseFaults } from "../scripts/local/faults";
import type { LedgerResult } from "../scripts/local/ledger";
import type { PlannedMessage } from "../scripts/local/producer";
import { runLocal, type RunContext } from "../scripts/local/run";
import { EventSourceMapping, LocalQueue } from "../scripts/local/sqs";
import type { Summary } from "../scripts/local/summary";
import { projectConfig } from "../modules/config/environments";
import { devWith, synthProject } from "./helpers/synth";

jest.setTimeout(120_000);

/** Errors a servable item may end with when its retries run out. */
const TRANSIENT = new RegExp(`^(${["Lambda.TooManyRequestsException", "States.Timeout", ...ERRORS.transient].map((e) => e.replace(".", "\\.")).join("|")})$`);

async function readJson(s3: S3Client, bucket: string, key: string): Promise<Record<string, unknown> | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse(await (out.Body as { transformToString(): Promise<string> }).transformToString());
  } catch (error) {
    if ((error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

describe("npm run local: the whole pipeline on loopback", () => {
  let summary: Summary;
  let ledger: LedgerResult;
  let planned: readonly PlannedMessage[];
  let context: RunContext;
  const checks: { statuses: Map<string, Record<string, unknown> | undefined>; resultKeysMissing: string[] } = {
    statuses: new Map(),
    resultKeysMissing: [],
  };

  beforeAll(async () => {
    summary = await runLocal({
      messages: 50,
      itemsPerMessage: 2,
      badRatio: 0.1,
      badItemRatio: 0.05,
      faults: parseFaults("s3-503:0.05,origin-timeout:0.02,origin-reset:0.02,duplicate:0.1,poison:0.03"),
      seed: 7,
      env: "dev",
      // A 1.08 s visibility timeout: the poisoned message reaches the DLQ after 5 receives in ~7 s.
      timeScale: 0.003,
      retryScale: 0.5,
      maxEnvironments: 3,
      fetchTimeoutMs: 1500,
      timeoutSeconds: 90,
      beforeClose: async (ctx) => {
        context = ctx;
        for (const p of ctx.planned) {
          if (p.kind !== "good" || !p.jobId) continue;
          const status = await readJson(ctx.s3, ctx.bucket, KEYS.status(p.jobId));
          checks.statuses.set(p.jobId, status);
          for (const item of (status?.items ?? []) as { index: number; status: string }[]) {
            if (item.status !== "succeeded") continue;
            const key = KEYS.result(p.jobId, item.index);
            await ctx.s3.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: key })).catch(() => checks.resultKeysMissing.push(key));
          }
        }
      },
    });
    ledger = context.ledger;
    planned = context.planned;
  });

  it("accounts for every message exactly once and exits cleanly", () => {
    expect(summary.problems).toEqual([]);
    expect(summary.settled).toBe(true);
    expect(summary.lost).toBe(0);
    expect(summary.countedTwice).toBe(0);
    const l = summary.ledger;
    expect(l.sent).toBe(50);
    expect(l.succeeded + l.failed + l.rejected + l.dlq).toBe(l.sent);
    expect(l.balanced).toBe(true);
    expect(summary.ok).toBe(true);
  });

  it("rejects the malformed messages into rejected/ and sends the poisoned one to the DLQ", () => {
    const malformed = planned.filter((p) => p.kind === "malformed");
    expect(malformed).toHaveLength(5);
    expect(summary.rejected.count).toBe(5);
    for (const p of malformed) {
      expect(ledger.entries.find((e) => e.messageId === p.messageId)?.outcomes).toEqual(["rejected"]);
    }
    const poisoned = planned.filter((p) => p.kind === "poison");
    expect(poisoned.length).toBeGreaterThanOrEqual(1);
    expect(summary.dlq).toBe(poisoned.length);
    for (const p of poisoned) {
      const entry = ledger.entries.find((e) => e.messageId === p.messageId);
      expect(entry?.outcomes).toEqual(["dlq"]);
      // maxReceiveCount receives, then the redrive policy moved it.
      expect(entry?.deliveries).toBeGreaterThanOrEqual(context.model.queue.maxReceiveCount as number);
    }
  });

  it("writes a status.json that matches each good message's items", () => {
    const good = planned.filter((p) => p.kind === "good");
    expect(good.length).toBeGreaterThan(30);
    expect(checks.statuses.size).toBe(good.length);
    for (const p of good) {
      const status = checks.statuses.get(p.jobId as string);
      expect(status).toBeDefined();
      const items = (status?.items ?? []) as { index: number; status: string; error?: string }[];
      expect(items.map((i) => i.index)).toEqual(p.items?.map((_, i) => i));
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
    for (const entry of duplicatedGood) {
      expect(entry.executions).toHaveLength(1);
      expect([...context.stateMachine.executions.keys()].filter((name) => name === entry.executions[0])).toHaveLength(1);
    }
  });

  it("exercises the faults and the definition's throttling retries", () => {
    expect(summary.faults.injected["s3-503"]).toBeGreaterThan(0);
    expect(summary.faults.injected.poison).toBeGreaterThan(0);
    expect(summary.functions.fetcher.peakConcurrent).toBeLessThanOrEqual(summary.functions.fetcher.reservedConcurrency);
    expect(summary.functions.processor.peakConcurrent).toBeLessThanOrEqual(summary.functions.processor.reservedConcurrency);
    expect(summary.functions.fetcher.peakConcurrentPerExecution).toBeLessThanOrEqual(summary.stateMachine.mapMaxConcurrency as number);
    // Under the fd budget of a Lambda environment.
    for (const f of Object.values(summary.functions)) expect(f.peakOpenFds).toBeLessThan(1024 / 2);
  });
});

describe("npm run local follows the synthesized configuration", () => {
  it("reports a Map MaxConcurrency change as the peak concurrent fetcher calls of an execution", async () => {
    const synth = synthProject({
      ...projectConfig,
      environments: projectConfig.environments.map((e) => (e.name === "dev" ? devWith((d) => ({ ...d, budget: { ...d.budget, map: { maxConcurrency: 2 } } })) : e)),
    });
    try {
      const summary = await runLocal({
        messages: 3,
        itemsPerMessage: 6,
        badRatio: 0,
        badItemRatio: 0,
        faults: parseFaults(""),
        seed: 1,
        env: "dev",
        synthDir: synth.outdir,
        timeScale: 0.01,
        retryScale: 0.1,
        maxEnvironments: 2,
        fetchTimeoutMs: 3000,
        timeoutSeconds: 60,
      });
      expect(summary.ok).toBe(true);
      expect(summary.stateMachine.mapMaxConcurrency).toBe(2);
      expect(summary.functions.fetcher.peakConcurrentPerExecution).toBe(2);
      expect(summary.functions.processor.peakConcurrentPerExecution).toBeLessThanOrEqual(2);
      expect(summary.items).toMatchObject({ total: 18, fetched: 18, processed: 18, failed: 0 });
    } finally {
      synth.cleanup();
    }
  });

  it("records a job whose Finalize fails: the definition's fallback writes status.json, the execution fails, nothing is lost", async () => {
    const statuses: (Record<string, unknown> | undefined)[] = [];
    const summary = await runLocal({
      messages: 3,
      itemsPerMessage: 2,
      badRatio: 0,
      badItemRatio: 0,
      faults: parseFaults("finalize-fail:1"),
      seed: 3,
      env: "dev",
      timeScale: 0.01,
      retryScale: 0.1,
      maxEnvironments: 2,
      fetchTimeoutMs: 3000,
      timeoutSeconds: 60,
      beforeClose: async (ctx) => {
        for (const p of ctx.planned) if (p.jobId) statuses.push(await readJson(ctx.s3, ctx.bucket, KEYS.status(p.jobId)));
      },
    });
    expect(summary.problems).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summary.lost).toBe(0);
    expect(summary.ledger).toMatchObject({ sent: 3, failed: 3, succeeded: 0, balanced: true });
    expect(summary.executions.failed).toBe(3);
    expect(statuses).toHaveLength(3);
    for (const status of statuses) {
      expect(status).toMatchObject({ status: "finalize-failed", error: "InjectedFinalizeFailure" });
      expect(status?.items).toEqual([
        expect.objectContaining({ index: 0, status: "succeeded" }),
        expect.objectContaining({ index: 1, status: "succeeded" }),
      ]);
    }
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
