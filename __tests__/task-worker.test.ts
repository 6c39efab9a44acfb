/**
 * The work-queue consumer both workers use, with a mocked Step Functions
 * client: which answer each outcome gets (SendTaskSuccess, SendTaskFailure, a
 * batch item failure, or an acknowledged duplicate), heartbeats before and
 * during the work, and the limits of the failure fields.
 */
import { FUNCTION_TEST_ENV } from "./helpers/function-env";
import {
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskDoesNotExist,
  TaskTimedOut,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { sfnClient } from "../functions/shared/clients";
import { METRICS, SFN_MAX_ERROR_CHARS, TASK_CAUSE_MAX_CHARS } from "../contract";
import { FetchRefusedError, OriginUnavailableError, StorageUnavailableError } from "../functions/shared/errors";
import { cutText, handleTaskBatch, type TaskWorkerDeps } from "../functions/shared/task-worker";
import { heartbeatIntervalMs, loadWorkerConfig, type WorkerConfig } from "../functions/shared/worker-config";
import { quietObservability, sqsEvent, sqsRecord, taskRecord } from "./helpers/lambda-events";

const sfnMock = mockClient(SFNClient);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function deps(config: Partial<WorkerConfig> = {}): TaskWorkerDeps {
  return { sfn: sfnClient(), config: { ...loadWorkerConfig(FUNCTION_TEST_ENV), ...config }, ...quietObservability() };
}

const sdkError = <T extends Error>(ErrorClass: new (o: { message: string; $metadata: object }) => T) =>
  new ErrorClass({ message: "Task Timed Out: 'Provided task does not exist anymore'", $metadata: { httpStatusCode: 400 } });
const awsError = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

const successes = () => sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input);
const failures = () => sfnMock.commandCalls(SendTaskFailureCommand).map((c) => c.args[0].input);
const heartbeats = () => sfnMock.commandCalls(SendTaskHeartbeatCommand).length;

beforeEach(() => {
  sfnMock.reset();
  sfnMock.on(SendTaskHeartbeatCommand).resolves({});
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
});

describe("task worker", () => {
  test("answers a finished task with SendTaskSuccess carrying the JSON output, after a first heartbeat", async () => {
    // GIVEN a task message and work that records what happened before it
    const record = taskRecord({ jobId: "j", index: 1 });
    let heartbeatsBeforeWork = -1;
    const run = jest.fn(async (input: unknown) => {
      heartbeatsBeforeWork = heartbeats();
      return { echoed: input, bytes: 3 };
    });

    // WHEN the worker handles it
    const out = await handleTaskBatch(sqsEvent(record), deps(), run);

    // THEN the work got the input, the token was heartbeated first and answered with the output
    expect(out).toEqual({ batchItemFailures: [] });
    expect(run).toHaveBeenCalledWith({ jobId: "j", index: 1 });
    expect(heartbeatsBeforeWork).toBe(1);
    expect(sfnMock.commandCalls(SendTaskHeartbeatCommand)[0].args[0].input).toEqual({ taskToken: record.token });
    expect(successes()).toEqual([{ taskToken: record.token, output: JSON.stringify({ echoed: { jobId: "j", index: 1 }, bytes: 3 }) }]);
    expect(failures()).toEqual([]);
  });

  test("answers a work that returns nothing with an empty JSON object", async () => {
    const record = taskRecord({});

    await handleTaskBatch(sqsEvent(record), deps(), async () => undefined);

    expect(successes()).toEqual([{ taskToken: record.token, output: "{}" }]);
  });

  test("answers a permanent error with SendTaskFailure naming the error class and its message", async () => {
    const record = taskRecord({ url: "http://10.0.0.1/" });

    const out = await handleTaskBatch(sqsEvent(record), deps(), async () => {
      throw new FetchRefusedError("address 10.0.0.1 is private");
    });

    expect(out).toEqual({ batchItemFailures: [] });
    expect(failures()).toEqual([{ taskToken: record.token, error: "FetchRefusedError", cause: "address 10.0.0.1 is private" }]);
    expect(successes()).toEqual([]);
  });

  test.each([
    ["a named transient error (OriginUnavailableError)", () => new OriginUnavailableError("origin answered 503")],
    ["an SDK error the transient rules recognise (SlowDown 503)", () => awsError("SlowDown", 503)],
    ["a socket error (ECONNRESET)", () => Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
  ])("hands %s back to the queue before the last receive, without answering the token", async (_name, makeError) => {
    const record = taskRecord({}, { receiveCount: 2 }); // maxReceiveCount is 3

    const out = await handleTaskBatch(sqsEvent(record), deps(), async () => {
      throw makeError();
    });

    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(failures()).toEqual([]);
    expect(successes()).toEqual([]);
  });

  test("reports a transient error on the last receive with SendTaskFailure and says so in the cause", async () => {
    const record = taskRecord({}, { receiveCount: 3 });

    const out = await handleTaskBatch(sqsEvent(record), deps({ workQueueMaxReceiveCount: 3 }), async () => {
      throw new StorageUnavailableError("writing jobs/j/raw/0: SlowDown");
    });

    expect(out).toEqual({ batchItemFailures: [] });
    expect(failures()).toEqual([
      { taskToken: record.token, error: "StorageUnavailableError", cause: "writing jobs/j/raw/0: SlowDown (transient, last of 3 receives)" },
    ]);
  });

  test("treats a record without ApproximateReceiveCount as its last receive (reports rather than leaves it to the DLQ)", async () => {
    const { attributes: _dropped, ...record } = taskRecord({});

    const out = await handleTaskBatch({ Records: [record] }, deps(), async () => {
      throw new OriginUnavailableError("reset");
    });

    expect(out).toEqual({ batchItemFailures: [] });
    expect(failures()[0]).toMatchObject({ error: "OriginUnavailableError", cause: "reset (transient, receive count unknown)" });
  });

  test("cuts the error name to Step Functions' 256 characters and the cause to TASK_CAUSE_MAX_CHARS", async () => {
    const record = taskRecord({});
    const long = Object.assign(new Error("c".repeat(TASK_CAUSE_MAX_CHARS * 3)), { name: `E${"x".repeat(400)}` });

    await handleTaskBatch(sqsEvent(record), deps(), async () => {
      throw long;
    });

    const [failure] = failures();
    expect(failure.error).toHaveLength(SFN_MAX_ERROR_CHARS);
    expect(failure.cause?.length).toBeLessThanOrEqual(TASK_CAUSE_MAX_CHARS);
    expect(failure.cause).toMatch(/^c+…$/);
  });

  test.each([
    ["TaskTimedOut", () => sdkError(TaskTimedOut)],
    ["TaskDoesNotExist", () => sdkError(TaskDoesNotExist)],
    ["InvalidToken", () => sdkError(InvalidToken)],
  ])("skips the work of a message whose token is closed at the first heartbeat (%s), acknowledges it and counts it", async (_name, closed) => {
    // GIVEN Step Functions says the token is closed (a duplicate or stale delivery)
    sfnMock.on(SendTaskHeartbeatCommand).rejects(closed());
    const d = deps();
    const addMetric = jest.spyOn(d.metrics, "addMetric");
    const run = jest.fn(async () => ({}));

    // WHEN the worker handles it
    const out = await handleTaskBatch(sqsEvent(taskRecord({})), d, run);

    // THEN nothing ran, nothing was answered, the message is acknowledged and counted
    expect(out).toEqual({ batchItemFailures: [] });
    expect(run).not.toHaveBeenCalled();
    expect(successes()).toEqual([]);
    expect(failures()).toEqual([]);
    expect(addMetric).toHaveBeenCalledWith(METRICS.taskTokenClosed, "Count", 1);
  });

  test("hands the message back when the first heartbeat fails transiently, without doing the work", async () => {
    sfnMock.on(SendTaskHeartbeatCommand).rejects(awsError("ThrottlingException", 400));
    const record = taskRecord({});
    const run = jest.fn(async () => ({}));

    const out = await handleTaskBatch(sqsEvent(record), deps(), run);

    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(run).not.toHaveBeenCalled();
  });

  test("acknowledges a message whose token closed before SendTaskSuccess (a duplicate delivery) and counts it", async () => {
    sfnMock.on(SendTaskSuccessCommand).rejects(sdkError(TaskTimedOut));
    const d = deps();
    const addMetric = jest.spyOn(d.metrics, "addMetric");

    const out = await handleTaskBatch(sqsEvent(taskRecord({})), d, async () => ({ ok: true }));

    expect(out).toEqual({ batchItemFailures: [] });
    expect(successes()).toHaveLength(1);
    expect(addMetric).toHaveBeenCalledWith(METRICS.taskTokenClosed, "Count", 1);
  });

  test("acknowledges a message whose token closed before SendTaskFailure", async () => {
    sfnMock.on(SendTaskFailureCommand).rejects(sdkError(TaskDoesNotExist));

    const out = await handleTaskBatch(sqsEvent(taskRecord({})), deps(), async () => {
      throw new FetchRefusedError("no");
    });

    expect(out).toEqual({ batchItemFailures: [] });
    expect(failures()).toHaveLength(1);
  });

  test.each([
    ["SendTaskSuccess", async () => ({ ok: true })],
    ["SendTaskFailure", async () => Promise.reject(new FetchRefusedError("no"))],
  ])("hands the message back when %s fails transiently, so the idempotent work is redone", async (name, run) => {
    if (name === "SendTaskSuccess") sfnMock.on(SendTaskSuccessCommand).rejects(awsError("InternalFailure", 500));
    else sfnMock.on(SendTaskFailureCommand).rejects(awsError("InternalFailure", 500));
    const record = taskRecord({});

    const out = await handleTaskBatch(sqsEvent(record), deps(), run);

    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(name === "SendTaskSuccess" ? successes() : failures()).toHaveLength(1);
  });

  test.each([
    ["a body that is not JSON", "{not json"],
    ["a body without taskToken", { input: { jobId: "j", index: 0 } }],
    ["an empty taskToken", { taskToken: "", input: {} }],
    ["a taskToken that is not a string", { taskToken: 42, input: {} }],
    ["a taskToken over 2048 characters", { taskToken: "t".repeat(2049), input: {} }],
    ["a JSON array", [1, 2]],
  ])("lists a message with %s in batchItemFailures (it ends in the DLQ), logs an error and calls nothing", async (_name, body) => {
    const record = sqsRecord(body);
    const d = deps();
    const error = jest.spyOn(d.logger, "error");
    const run = jest.fn(async () => ({}));

    const out = await handleTaskBatch(sqsEvent(record), d, run);

    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(run).not.toHaveBeenCalled();
    expect(sfnMock.calls()).toHaveLength(0);
    expect(error).toHaveBeenCalledWith(expect.stringMatching(/cannot be answered/), expect.objectContaining({ messageId: record.messageId }));
  });

  test("an input the work refuses is still answered: the token was usable", async () => {
    const record = sqsRecord({ taskToken: "tok-1" });

    await handleTaskBatch(sqsEvent(record), deps(), async (input) => {
      if (input === undefined) throw Object.assign(new Error("input is invalid"), { name: "InvalidInputError" });
      return {};
    });

    expect(failures()).toEqual([{ taskToken: "tok-1", error: "InvalidInputError", cause: "input is invalid" }]);
  });

  test("heartbeats every TASK_HEARTBEAT_SECONDS / 3 while the work runs and stops when it ends", async () => {
    // GIVEN HeartbeatSeconds 1 (a heartbeat every 333 ms) and work that lasts until 3 heartbeats beyond the first
    const record = taskRecord({});
    const run = async () => {
      const deadline = Date.now() + 10_000;
      while (heartbeats() < 4 && Date.now() < deadline) await sleep(20);
      return { beats: heartbeats() };
    };

    // WHEN it runs
    const started = Date.now();
    await handleTaskBatch(sqsEvent(record), deps({ taskHeartbeatSeconds: 1 }), run);
    const elapsed = Date.now() - started;
    const atEnd = heartbeats();
    await sleep(800);

    // THEN the heartbeats came on the timer (not all at once), and none after the work ended
    expect(atEnd).toBe(4);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(heartbeats()).toBe(atEnd);
    expect(successes()).toEqual([{ taskToken: record.token, output: JSON.stringify({ beats: 4 }) }]);
  });

  test("a token that closes while the work runs stops the heartbeats, and the result is not sent", async () => {
    // GIVEN the first heartbeat succeeds and the next ones say the token timed out
    sfnMock.on(SendTaskHeartbeatCommand).resolvesOnce({}).rejects(sdkError(TaskTimedOut));
    const d = deps({ taskHeartbeatSeconds: 1 });
    const addMetric = jest.spyOn(d.metrics, "addMetric");

    // WHEN the work outlasts a few heartbeat periods
    const out = await handleTaskBatch(sqsEvent(taskRecord({})), d, async () => {
      await sleep(1200);
      return {};
    });

    // THEN one heartbeat after the first found it closed, and nothing else was sent
    expect(out).toEqual({ batchItemFailures: [] });
    expect(heartbeats()).toBe(2);
    expect(successes()).toEqual([]);
    expect(addMetric).toHaveBeenCalledWith(METRICS.taskTokenClosed, "Count", 1);
  });

  test("processes the records of a batch one after another and lists only the ones to retry", async () => {
    const ok = taskRecord({ n: 1 });
    const transient = taskRecord({ n: 2 }, { receiveCount: 1 });
    const broken = sqsRecord("nope");
    const permanent = taskRecord({ n: 3 });
    let active = 0;
    let peak = 0;

    const out = await handleTaskBatch(sqsEvent(ok, transient, broken, permanent), deps(), async (input) => {
      active++;
      peak = Math.max(peak, active);
      await sleep(5);
      active--;
      const n = (input as { n: number }).n;
      if (n === 2) throw new OriginUnavailableError("503");
      if (n === 3) throw new FetchRefusedError("private");
      return { n };
    });

    expect(peak).toBe(1);
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: transient.messageId }, { itemIdentifier: broken.messageId }] });
    expect(successes().map((s) => s.taskToken)).toEqual([ok.token]);
    expect(failures().map((f) => f.taskToken)).toEqual([permanent.token]);
  });

  test("refuses an event without Records", async () => {
    await expect(handleTaskBatch({} as never, deps(), async () => ({}))).rejects.toMatchObject({ name: "InvalidInputError" });
  });
});

describe("worker helpers", () => {
  test.each([
    [1, 333.3],
    [30, 10_000],
    [180, 60_000],
    [3600, 60_000],
  ])("heartbeat interval for HeartbeatSeconds %s is %s ms", (seconds, ms) => {
    expect(heartbeatIntervalMs({ taskHeartbeatSeconds: seconds })).toBeCloseTo(ms, 0);
  });

  test("cutText keeps short text, cuts long text to the limit with an ellipsis and keeps the suffix whole", () => {
    expect(cutText("short", 10)).toBe("short");
    expect(cutText("abcdefghijkl", 10)).toBe("abcdefghi…");
    expect(cutText("abcdefghijkl", 10, " (x)")).toBe("abcde… (x)");
    expect(cutText("abcdefghijkl", 10, " (x)")).toHaveLength(10);
  });
});
