/**
 * The local runner's model of what aws-local-stepfunctions lacks: AWS's
 * per-execution limits (256 KiB per state, 25,000 history events, neither
 * catchable), task tokens with HeartbeatSeconds / TimeoutSeconds, and the
 * Distributed Map (ItemReader, ItemSelector, MaxConcurrency, tolerated failures,
 * ResultWriter) — on small hand-written definitions with stub workers, no
 * processes or servers.
 */
import { SFN_MAX_HISTORY_EVENTS, SFN_MAX_PAYLOAD_BYTES } from "../contract";
import { LOCAL_MAP_RUN, rewriteDistributedMaps } from "../scripts/local/distributed-map";
import { AWS_LIMITS, DATA_LIMIT_ERROR, HISTORY_EVENTS, HISTORY_LIMIT_ERROR, HistoryCounter, payloadBytes, type ExecutionLimits } from "../scripts/local/history";
import { LocalQueue } from "../scripts/local/sqs";
import { LocalStateMachine, S3_PUT_OBJECT, SQS_SEND_WAIT_FOR_TOKEN, type ExecutionRecord, type TaskTokenEndpoint } from "../scripts/local/workflow";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:local-test";
const QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/work";

/** A worker's answer to one task message. */
type Answer = { success: Json } | { failure: { error: string; cause: string } } | "never";

/** Task tokens as the loopback endpoint keeps them: answers after close are refused (TaskTimedOut). */
class StubTokens implements TaskTokenEndpoint {
  readonly open = new Map<string, { success(o: unknown): void; failure(e: string, c: string): void; heartbeat(): void }>();
  readonly closed = new Set<string>();
  registerTask(token: string, handlers: { success(o: unknown): void; failure(e: string, c: string): void; heartbeat(): void }): void {
    this.open.set(token, handlers);
  }
  closeTask(token: string): void {
    this.open.delete(token);
    this.closed.add(token);
  }
  /** What a late SendTaskSuccess gets. */
  answer(token: string, output: Json): "ok" | "TaskTimedOut" | "InvalidToken" {
    const handlers = this.open.get(token);
    if (!handlers) return this.closed.has(token) ? "TaskTimedOut" : "InvalidToken";
    this.closeTask(token);
    handlers.success(JSON.stringify(output));
    return "ok";
  }
}

/** A work queue whose "worker" answers each message on the next turn. */
function stubQueue(tokens: StubTokens, answer: (input: Json) => Answer) {
  const sent: Json[] = [];
  return {
    sent,
    queue: {
      name: "work",
      send(body: string) {
        const message = JSON.parse(body);
        sent.push(message);
        const a = answer(message.input);
        setImmediate(() => {
          if (a === "never") return;
          const handlers = tokens.open.get(message.taskToken);
          if (!handlers) return;
          tokens.closeTask(message.taskToken);
          if ("success" in a) handlers.success(JSON.stringify(a.success));
          else handlers.failure(a.failure.error, a.failure.cause);
        });
        return `m-${sent.length}`;
      },
    },
  };
}

/** An in-memory bucket for the state machine's own S3 access. */
function stubS3(objects: Map<string, string> = new Map(), failGets = 0) {
  let failures = failGets;
  return {
    objects,
    puts: [] as string[],
    async getObject(bucket: string, key: string) {
      if (failures-- > 0) throw Object.assign(new Error("SlowDown"), { name: "SlowDown" });
      const body = objects.get(`${bucket}/${key}`);
      if (body === undefined) throw Object.assign(new Error(`NoSuchKey ${key}`), { name: "NoSuchKey" });
      return body;
    },
    async putObject(bucket: string, key: string, body: string) {
      this.puts.push(key);
      objects.set(`${bucket}/${key}`, body);
    },
  };
}

function machine(
  definition: Json,
  o: { answer?: (input: Json) => Answer; s3?: ReturnType<typeof stubS3>; limits?: ExecutionLimits; timeScale?: number; retryScale?: number } = {},
) {
  const tokens = new StubTokens();
  const work = stubQueue(tokens, o.answer ?? (() => ({ success: {} })));
  const s3 = o.s3 ?? stubS3();
  const sm = new LocalStateMachine({
    definition,
    stateMachineArn: ARN,
    retryScale: o.retryScale ?? 0,
    timeScale: o.timeScale ?? 0.001,
    tokens,
    queueByUrl: (url) => (url === QUEUE_URL ? work.queue : undefined),
    s3,
    limits: o.limits,
  });
  const run = (input: Json, name = `e-${Math.random().toString(36).slice(2, 8)}`): Promise<ExecutionRecord> =>
    new Promise((resolve) => {
      sm.onExecutionEnd = resolve;
      sm.start(name, input);
    });
  return { sm, tokens, work, s3, run };
}

const workerTask = (extra: Json = {}) => ({
  Type: "Task",
  Resource: SQS_SEND_WAIT_FOR_TOKEN,
  Parameters: { QueueUrl: QUEUE_URL, MessageBody: { "taskToken.$": "$$.Task.Token", "input.$": "$" } },
  ...extra,
});

const putTask = (key: string, extra: Json = {}) => ({
  Type: "Task",
  Resource: S3_PUT_OBJECT,
  Parameters: { Bucket: "b", Key: key, Body: { done: true } },
  ResultPath: null,
  ...extra,
});

describe("the history table and counter", () => {
  it("counts what AWS counts", () => {
    expect(HISTORY_EVENTS).toMatchObject({ execution: 2, state: 2, failState: 1, callbackTaskAttempt: 4, requestResponseTaskAttempt: 3, mapRun: 2 });
    expect(AWS_LIMITS).toEqual({ maxPayloadBytes: SFN_MAX_PAYLOAD_BYTES, maxHistoryEvents: SFN_MAX_HISTORY_EVENTS });
  });

  it("writes the ExecutionFailed event as event number 25,000, never more", () => {
    const h = new HistoryCounter();
    expect(h.add(24_998)).toBeUndefined();
    expect(h.events).toBe(24_998);
    const error = h.add(4);
    expect(error).toMatchObject({ name: HISTORY_LIMIT_ERROR, message: "The execution reached the maximum number of history events (25000)." });
    h.end();
    expect(h.events).toBe(25_000);
  });

  it("measures payloads as UTF-8 bytes of their JSON and keeps the largest", () => {
    expect(payloadBytes({ a: "é" })).toBe(Buffer.byteLength('{"a":"é"}'));
    const h = new HistoryCounter();
    expect(h.payload({ s: "x".repeat(100) }, "A", "input")).toBeUndefined();
    expect(h.payload({ s: "x".repeat(SFN_MAX_PAYLOAD_BYTES) }, "B", "output")).toMatchObject({ name: DATA_LIMIT_ERROR });
    expect(h.largest).toMatchObject({ state: "B", what: "output" });
    expect(h.largest.bytes).toBeGreaterThan(SFN_MAX_PAYLOAD_BYTES);
  });
});

describe("retries are the interpreter's own, with their waits scaled", () => {
  /** Fails `failures` times with Transient, then succeeds. */
  const flaky = (failures: number) => {
    let calls = 0;
    return (): Answer => (calls++ < failures ? { failure: { error: "Transient", cause: `attempt ${calls}` } } : { success: { ok: true } });
  };
  const retrying = (retrier: Json) => ({
    StartAt: "Work",
    States: {
      Work: workerTask({ Retry: [{ ErrorEquals: ["Transient"], ...retrier }], Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "Recover" }], Next: "Done" }),
      Recover: putTask("recovered.json", { End: true }),
      Done: { Type: "Succeed" },
    },
  });

  it("retries an hour-long IntervalSeconds at once with retryScale 0, and counts the retries from its event log", async () => {
    const { run, sm } = machine(retrying({ IntervalSeconds: 3600, MaxAttempts: 3 }), { answer: flaky(2) });
    const record = await run({ n: 1 });
    expect(record.status).toBe("SUCCEEDED");
    expect(sm.tasks.Work).toMatchObject({ calls: 3, succeeded: 1, retried: 2, mostRetries: 2, retriesExhausted: 0, caught: 0, errors: { Transient: 2 } });
  });

  it("counts a call that fails again after its last allowed retry as exhausted, then caught", async () => {
    const { run, sm, s3 } = machine(retrying({ IntervalSeconds: 1, MaxAttempts: 2 }), { answer: flaky(99) });
    const record = await run({ n: 1 });
    expect(record.status).toBe("SUCCEEDED");
    expect(s3.puts).toEqual(["recovered.json"]);
    expect(sm.tasks.Work).toMatchObject({ calls: 3, succeeded: 0, retried: 2, mostRetries: 2, retriesExhausted: 1, caught: 1 });
  });

  it("waits IntervalSeconds × BackoffRate^attempt, capped by MaxDelaySeconds, each times retryScale", async () => {
    // 10 s, 100 s capped to 20 s, 20 s: 50 s in AWS, 0.5 s at retryScale 0.01 (11.1 s if the cap were not scaled too).
    const { run, sm } = machine(retrying({ IntervalSeconds: 10, BackoffRate: 10, MaxDelaySeconds: 20, MaxAttempts: 3 }), { answer: flaky(3), retryScale: 0.01 });
    const started = Date.now();
    const record = await run({ n: 1 });
    const waited = Date.now() - started;
    expect(record.status).toBe("SUCCEEDED");
    expect(sm.tasks.Work).toMatchObject({ retried: 3, mostRetries: 3, retriesExhausted: 0 });
    expect(waited).toBeGreaterThanOrEqual(490);
    expect(waited).toBeLessThan(5000);
  });
});

describe("AWS's limits on the local interpreter", () => {
  it("fails an execution whose task result is over 256 KiB with States.DataLimitExceeded, past a Retry and a Catch on States.ALL", async () => {
    const { run, s3, sm } = machine(
      {
        StartAt: "Work",
        States: {
          Work: workerTask({
            Retry: [{ ErrorEquals: ["States.ALL"], MaxAttempts: 3 }],
            Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "Recover" }],
            Next: "Done",
          }),
          Recover: putTask("recovered.json", { End: true }),
          Done: { Type: "Succeed" },
        },
      },
      { answer: () => ({ success: { blob: "x".repeat(SFN_MAX_PAYLOAD_BYTES) } }) },
    );
    const record = await run({ n: 1 });
    expect(record).toMatchObject({ status: "FAILED", errorName: DATA_LIMIT_ERROR, limitExceeded: DATA_LIMIT_ERROR });
    expect(record.cause).toMatch(/'Work' task result has a size of \d+ bytes/);
    expect(s3.puts).toEqual([]); // the Catch's state never ran
    expect(sm.tasks.Work).toMatchObject({ calls: 1, retried: 0, caught: 0 });
  });

  it("fails an execution whose state output is over 256 KiB even inside an inline Map with a Catch on States.ALL", async () => {
    const { run, s3 } = machine({
      StartAt: "Each",
      States: {
        Each: {
          Type: "Map",
          ItemsPath: "$.blobs",
          ItemProcessor: { StartAt: "Grow", States: { Grow: { Type: "Pass", Parameters: { "a.$": "$.blob", "b.$": "$.blob" }, End: true } } },
          Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "Recover" }],
          ResultPath: null,
          Next: "After",
        },
        After: putTask("after.json", { End: true }),
        Recover: putTask("recovered.json", { End: true }),
      },
    });
    // 130 KiB in (under the limit), 260 KiB out of Grow.
    const record = await run({ blobs: [{ blob: "y".repeat(130 * 1024) }] });
    expect(record).toMatchObject({ status: "FAILED", errorName: DATA_LIMIT_ERROR });
    expect(record.cause).toMatch(/'Grow' output/);
    expect(record.history.largest.state).toBe("Grow");
    expect(s3.puts).toEqual([]);
  });

  it("fails a looping execution when its history reaches the limit (States.Runtime), counting events as AWS does", async () => {
    const loop = {
      StartAt: "Count",
      States: {
        Count: { Type: "Pass", Parameters: { "n.$": "States.MathAdd($.n, 1)" }, Next: "More" },
        More: { Type: "Choice", Choices: [{ Variable: "$.n", NumericLessThan: 1000, Next: "Count" }], Default: "Done" },
        Done: { Type: "Succeed" },
      },
    };
    const limited = machine(loop, { limits: { ...AWS_LIMITS, maxHistoryEvents: 100 } });
    const record = await limited.run({ n: 0 });
    expect(record).toMatchObject({ status: "FAILED", errorName: HISTORY_LIMIT_ERROR, limitExceeded: HISTORY_LIMIT_ERROR });
    expect(record.history.events).toBe(100);

    // Under the limit: ExecutionStarted + 10 × (Pass 2 + Choice 2) + Succeed 2 + ExecutionSucceeded.
    const unlimited = machine({ ...loop, States: { ...loop.States, More: { ...loop.States.More, Choices: [{ Variable: "$.n", NumericLessThan: 10, Next: "Count" }] } } });
    const ok = await unlimited.run({ n: 0 });
    expect(ok.status).toBe("SUCCEEDED");
    expect(ok.history.events).toBe(1 + 10 * 4 + 2 + 1);
  });

  it("counts a callback task attempt as 4 events, a request-response one as 3, and a Fail state as 1", async () => {
    let first = true;
    const { run } = machine(
      {
        StartAt: "Work",
        States: {
          Work: workerTask({ Retry: [{ ErrorEquals: ["Transient"], MaxAttempts: 1, IntervalSeconds: 1 }], Next: "Write" }),
          Write: putTask("w.json", { Next: "Stop" }),
          Stop: { Type: "Fail", Error: "Stopped" },
        },
      },
      {
        answer: () => {
          if (!first) return { success: {} };
          first = false;
          return { failure: { error: "Transient", cause: "once" } };
        },
      },
    );
    const record = await run({});
    expect(record).toMatchObject({ status: "FAILED", errorName: "Stopped" });
    // Started + Work (2 + 2 attempts × 4) + Write (2 + 3) + FailStateEntered + ExecutionFailed
    expect(record.history.events).toBe(1 + (2 + 2 * 4) + (2 + 3) + 1 + 1);
  });
});

describe("task tokens", () => {
  it("gives each attempt its own token, names a SendTaskFailure's error as reported, and lets the definition's Catch take it", async () => {
    const { run, work, s3 } = machine(
      {
        StartAt: "Work",
        States: {
          Work: workerTask({
            Retry: [{ ErrorEquals: ["OriginUnavailableError"], MaxAttempts: 2 }],
            Catch: [{ ErrorEquals: ["OriginHttpError"], ResultPath: "$.error", Next: "Record" }],
            End: true,
          }),
          Record: putTask("failed.json", { End: true }),
        },
      },
      {
        answer: () => (work.sent.length <= 2 ? { failure: { error: "OriginUnavailableError", cause: "503" } } : { failure: { error: "OriginHttpError", cause: "404" } }),
      },
    );
    const record = await run({ url: "u" });
    expect(record.status).toBe("SUCCEEDED");
    expect(record.output.error).toEqual({ Error: "OriginHttpError", Cause: "404" });
    expect(new Set(work.sent.map((m) => m.taskToken)).size).toBe(3);
    expect(work.sent.every((m) => m.input.url === "u" && !String(m.taskToken).includes("placeholder"))).toBe(true);
    expect(s3.puts).toEqual(["failed.json"]);
  });

  it("times out a task whose worker never heartbeats (States.HeartbeatTimeout, scaled), then refuses the late answer", async () => {
    const { run, work, tokens } = machine(
      {
        StartAt: "Work",
        States: { Work: workerTask({ HeartbeatSeconds: 50, TimeoutSeconds: 500, Catch: [{ ErrorEquals: ["States.HeartbeatTimeout"], Next: "Gave up" }], End: true }), "Gave up": { Type: "Succeed" } },
      },
      { answer: () => "never", timeScale: 0.001 },
    );
    const started = Date.now();
    const record = await run({});
    expect(record.status).toBe("SUCCEEDED");
    expect(Date.now() - started).toBeGreaterThanOrEqual(45); // 50 s × 0.001
    expect(Date.now() - started).toBeLessThan(2000);
    expect(tokens.answer(work.sent[0].taskToken, { late: true })).toBe("TaskTimedOut");
  });

  it("times out a task that heartbeats but never answers (States.Timeout)", async () => {
    const tokensRef: { t?: StubTokens } = {};
    const { run, tokens } = machine(
      { StartAt: "Work", States: { Work: workerTask({ HeartbeatSeconds: 40, TimeoutSeconds: 120, End: true }) } },
      {
        timeScale: 0.001,
        answer: () => {
          // Heartbeat every 10 ms (well within 40 ms), never answer.
          const timer = setInterval(() => {
            for (const h of tokensRef.t?.open.values() ?? []) h.heartbeat();
          }, 10);
          setTimeout(() => clearInterval(timer), 400);
          return "never";
        },
      },
    );
    tokensRef.t = tokens;
    const record = await run({});
    expect(record).toMatchObject({ status: "FAILED", errorName: "States.Timeout" });
  });
});

describe("Distributed Map", () => {
  const items = Array.from({ length: 9 }, (_, i) => ({ index: i, url: `https://origin/${i}` }));
  const definition = (extra: Json = {}) => ({
    StartAt: "Items",
    States: {
      Items: {
        Type: "Map",
        ItemReader: { Resource: "arn:aws:states:::s3:getObject", ReaderConfig: { InputType: "JSON" }, Parameters: { "Bucket.$": "$.bucket", "Key.$": "$.key" } },
        ItemSelector: { "job.$": "$.job", "index.$": "$$.Map.Item.Value.index", "url.$": "$$.Map.Item.Value.url", "position.$": "$$.Map.Item.Index" },
        MaxConcurrency: 2,
        ToleratedFailurePercentage: 100,
        Label: "item",
        ItemProcessor: {
          ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" },
          StartAt: "Fetch",
          States: { Fetch: workerTask({ ResultPath: "$.fetched", End: true }) },
        },
        ResultWriter: { Resource: "arn:aws:states:::s3:putObject", Parameters: { "Bucket.$": "$.bucket", "Prefix.$": "States.Format('jobs/{}/map', $.job)" } },
        ResultPath: "$.map",
        Retry: [{ ErrorEquals: ["States.ItemReaderFailed"], MaxAttempts: 2 }],
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.mapError", Next: "Caught" }],
        Next: "Done",
        ...extra,
      },
      Caught: { Type: "Pass", End: true },
      Done: { Type: "Succeed" },
    },
  });
  const bucket = () => stubS3(new Map([["b/jobs/j1/manifest.json", JSON.stringify(items)]]));

  it("is rewritten into a Task that keeps the Map's Retry, Catch and paths", () => {
    const { machine: rewritten, maps } = rewriteDistributedMaps(definition());
    expect(rewritten.States.Items).toEqual({
      Type: "Task",
      Resource: LOCAL_MAP_RUN,
      ResultPath: "$.map",
      Retry: definition().States.Items.Retry,
      Catch: definition().States.Items.Catch,
      Next: "Done",
    });
    expect(maps.get("Items")).toMatchObject({ label: "item", maxConcurrency: 2, toleratedFailurePercentage: 100 });
    expect(maps.get("Items")?.itemProcessor).not.toHaveProperty("ProcessorConfig");
  });

  it("reads the items from S3, runs each as a child execution (MaxConcurrency at once) and writes the results as AWS lays them out", async () => {
    const s3 = bucket();
    const { run, sm, work } = machine(definition(), { s3, answer: (input) => (input.index === 4 ? { failure: { error: "OriginHttpError", cause: "404" } } : { success: { key: `raw/${input.index}` } }) });
    const record = await run({ job: "j1", bucket: "b", key: "jobs/j1/manifest.json" });
    expect(record.status).toBe("SUCCEEDED");
    // The children's inputs came from ItemSelector, with $$.Map.Item.
    expect(work.sent.map((m) => m.input).sort((a, b) => a.index - b.index)).toEqual(items.map((i) => ({ job: "j1", index: i.index, url: i.url, position: i.index })));
    expect(sm.mapRuns).toHaveLength(1);
    expect(sm.mapRuns[0]).toMatchObject({ items: 9, succeeded: 8, failed: 1 });
    expect(sm.mapRuns[0].peakInFlight).toBe(2);
    expect(sm.children).toMatchObject({ started: 9, succeeded: 8, failed: 1, failedByError: { OriginHttpError: 1 } });

    const { MapRunArn, ResultWriterDetails } = record.output.map;
    const mapRunId = String(MapRunArn).split(":").pop();
    expect(MapRunArn).toBe(`arn:aws:states:us-east-1:000000000000:mapRun:local-test/item:${mapRunId}`);
    expect(ResultWriterDetails).toEqual({ Bucket: "b", Key: `jobs/j1/map/${mapRunId}/manifest.json` });
    const manifest = JSON.parse(s3.objects.get(`b/jobs/j1/map/${mapRunId}/manifest.json`) as string);
    expect(manifest).toMatchObject({ DestinationBucket: "b", MapRunArn, ResultFiles: { PENDING: [], SUCCEEDED: [{ Key: `jobs/j1/map/${mapRunId}/SUCCEEDED_0.json` }], FAILED: [{ Key: `jobs/j1/map/${mapRunId}/FAILED_0.json` }] } });
    const succeeded = JSON.parse(s3.objects.get(`b/jobs/j1/map/${mapRunId}/SUCCEEDED_0.json`) as string);
    const failed = JSON.parse(s3.objects.get(`b/jobs/j1/map/${mapRunId}/FAILED_0.json`) as string);
    expect(succeeded).toHaveLength(8);
    expect(succeeded[0]).toMatchObject({ Status: "SUCCEEDED", InputDetails: { Included: true }, OutputDetails: { Included: true } });
    expect(JSON.parse(succeeded[0].Output).fetched.key).toMatch(/^raw\/\d$/);
    expect(failed).toEqual([expect.objectContaining({ Status: "FAILED", Error: "OriginHttpError", Cause: "404" })]);
    // Parent: Started + Map (2 + map run 2) + Succeed 2 + Succeeded; each child: Started + Fetch (2 + 4) + Succeeded.
    expect(record.history.events).toBe(1 + 4 + 2 + 1);
    expect(sm.children.mostHistoryEvents.events).toBe(1 + 6 + 1);
  });

  it("fails the map run beyond ToleratedFailurePercentage (States.ExceedToleratedFailureThreshold), which the Map's Catch takes", async () => {
    const { run, sm } = machine(definition({ ToleratedFailurePercentage: 20, MaxConcurrency: 1 }), {
      s3: bucket(),
      answer: (input) => (input.index >= 1 ? { failure: { error: "OriginHttpError", cause: "404" } } : { success: {} }),
    });
    const record = await run({ job: "j1", bucket: "b", key: "jobs/j1/manifest.json" });
    expect(record.status).toBe("SUCCEEDED");
    expect(record.output.mapError.Error).toBe("States.ExceedToleratedFailureThreshold");
    // 1 of 9 (11%) is tolerated, 2 of 9 (22%) is not: no child starts after the second failure.
    expect(sm.children.started).toBe(3);
  });

  it("retries a map run whose ItemReader failed (the definition's Retry), one MapRunStarted/Failed pair per run", async () => {
    const s3 = stubS3(new Map([["b/jobs/j1/manifest.json", JSON.stringify(items.slice(0, 2))]]), 1);
    const { run, sm } = machine(definition(), { s3 });
    const record = await run({ job: "j1", bucket: "b", key: "jobs/j1/manifest.json" });
    expect(record.status).toBe("SUCCEEDED");
    expect(sm.tasks.Items).toMatchObject({ calls: 2, retried: 1, errors: { "States.ItemReaderFailed": 1 } });
    expect(record.history.events).toBe(1 + 2 + 2 * 2 + 2 + 1);
  });

  it("fails a child execution on a limit without failing its parent: the item is one failed child", async () => {
    const { run, sm } = machine(definition(), {
      s3: bucket(),
      answer: (input) => ({ success: input.index === 3 ? { blob: "z".repeat(SFN_MAX_PAYLOAD_BYTES) } : {} }),
    });
    const record = await run({ job: "j1", bucket: "b", key: "jobs/j1/manifest.json" });
    expect(record.status).toBe("SUCCEEDED");
    expect(sm.children).toMatchObject({ failed: 1, limitFailures: { [DATA_LIMIT_ERROR]: 1 } });
  });
});

describe("the SQS model's additions", () => {
  it("refuses a message over the queue's maximum size, delivers a deleted message again with stale-token, and records waits", () => {
    const q = new LocalQueue({ name: "q", visibilityTimeoutMs: 100, maxReceiveCount: 3, duplicateRate: 0, redeliverAfterDeleteRate: 1, maxMessageSizeBytes: 10, random: () => 0.5 });
    expect(() => q.send("x".repeat(11))).toThrow(/over the maximum message size/);
    q.send("small", "m1");
    const [first] = q.receive(1, Date.now() + 40);
    q.delete(first.receiptHandle);
    const [again] = q.receive(1);
    expect(again).toMatchObject({ afterDelete: true, receiveCount: 2 });
    q.delete(again.receiptHandle);
    expect(q.settled()).toBe(true);
    expect(q.counts()).toMatchObject({ deleted: 1, redeliveredAfterDelete: 1, redelivered: 0 });
    const waits = q.waits();
    expect(waits.firstReceive.count).toBe(1);
    expect(waits.firstReceive.p50Ms).toBeGreaterThanOrEqual(39);
    expect(waits.acknowledgedReceive.maxMs).toBe(waits.firstReceive.maxMs);
  });
});
