/**
 * The loopback Step Functions endpoint answers as AWS does, through the real
 * SDK client: StartExecution idempotent by name and input while running,
 * ExecutionAlreadyExists otherwise; task tokens answered once, closed tokens
 * TaskTimedOut, unknown ones InvalidToken, bad outputs InvalidOutput.
 */
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { startSfnEndpoint, type SfnEndpoint, type TaskHandlers } from "../scripts/lib/sfn-endpoint";

const ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:test";

let sfn: SfnEndpoint;
let client: SFNClient;

beforeEach(async () => {
  sfn = await startSfnEndpoint();
  client = new SFNClient({
    region: "us-east-1",
    endpoint: sfn.endpoint,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
    maxAttempts: 1,
  });
});
afterEach(async () => {
  client.destroy();
  await sfn.close();
});

const start = (name: string, input: unknown) => client.send(new StartExecutionCommand({ stateMachineArn: ARN, name, input: JSON.stringify(input) }));

/** Records what a registered token's handlers were called with. */
function recorder(): { handlers: TaskHandlers; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    handlers: {
      success: (output) => void seen.push(`success ${output}`),
      failure: (error, cause) => void seen.push(`failure ${error}: ${cause}`),
      heartbeat: () => void seen.push("heartbeat"),
    },
  };
}

describe("StartExecution", () => {
  test("starts a new execution and answers its ARN", async () => {
    const out = await start("job-1", { jobId: "job-1" });

    expect(out.executionArn).toBe("arn:aws:states:us-east-1:000000000000:execution:test:job-1");
    expect(sfn.executions.get("job-1")?.input).toEqual({ jobId: "job-1" });
  });

  test("the same name and input while running answers 200 with the same ARN, and counts a duplicate start", async () => {
    const first = await start("job-1", { a: 1 });
    const second = await start("job-1", { a: 1 });

    expect(second.executionArn).toBe(first.executionArn);
    expect(sfn.executions.size).toBe(1);
    expect(sfn.duplicateStarts()).toBe(1);
    expect(sfn.calls()).toBe(2);
  });

  test("the same name with a different input answers ExecutionAlreadyExists", async () => {
    await start("job-1", { a: 1 });

    await expect(start("job-1", { a: 2 })).rejects.toMatchObject({ name: "ExecutionAlreadyExists", $metadata: { httpStatusCode: 400 } });
    expect(sfn.duplicateStarts()).toBe(0);
  });

  test("the same name and input after the execution closed answers ExecutionAlreadyExists", async () => {
    await start("job-1", { a: 1 });
    sfn.closeExecution("job-1");

    await expect(start("job-1", { a: 1 })).rejects.toMatchObject({ name: "ExecutionAlreadyExists" });
  });

  test("an isRunning option decides instead of closeExecution", async () => {
    const running = new Set(["live"]);
    const own = await startSfnEndpoint({ isRunning: (name) => running.has(name) });
    const c = new SFNClient({ region: "us-east-1", endpoint: own.endpoint, credentials: { accessKeyId: "x", secretAccessKey: "x" }, maxAttempts: 1 });
    try {
      const send = (name: string) => c.send(new StartExecutionCommand({ stateMachineArn: ARN, name, input: "{}" }));
      await send("live");
      await send("done");

      await expect(send("live")).resolves.toMatchObject({ executionArn: expect.stringMatching(/:live$/) });
      await expect(send("done")).rejects.toMatchObject({ name: "ExecutionAlreadyExists" });
    } finally {
      c.destroy();
      await own.close();
    }
  });

  test("calls onStart for new executions only", async () => {
    const started: string[] = [];
    const own = await startSfnEndpoint({ onStart: (name) => void started.push(name) });
    const c = new SFNClient({ region: "us-east-1", endpoint: own.endpoint, credentials: { accessKeyId: "x", secretAccessKey: "x" }, maxAttempts: 1 });
    try {
      await c.send(new StartExecutionCommand({ stateMachineArn: ARN, name: "n", input: "{}" }));
      await c.send(new StartExecutionCommand({ stateMachineArn: ARN, name: "n", input: "{}" }));
      expect(started).toEqual(["n"]);
    } finally {
      c.destroy();
      await own.close();
    }
  });

  test("refuses an input over 256 KiB and an input that is not JSON with InvalidExecutionInput", async () => {
    await expect(start("big", { data: "x".repeat(256 * 1024) })).rejects.toMatchObject({ name: "InvalidExecutionInput" });
    await expect(client.send(new StartExecutionCommand({ stateMachineArn: ARN, name: "bad", input: "{nope" }))).rejects.toMatchObject({
      name: "InvalidExecutionInput",
    });
    expect(sfn.executions.size).toBe(0);
  });

  test("failNext injects errors into the next StartExecution calls", async () => {
    sfn.failNext(1, { status: 400, type: "ThrottlingException" });

    await expect(start("t", {})).rejects.toMatchObject({ name: "ThrottlingException" });
    await expect(start("t", {})).resolves.toBeDefined();
  });
});

describe("task tokens", () => {
  test("an open token: heartbeats and a success call the handlers; the success closes the token", async () => {
    const { handlers, seen } = recorder();
    sfn.registerTask("tok", handlers);

    await client.send(new SendTaskHeartbeatCommand({ taskToken: "tok" }));
    await client.send(new SendTaskSuccessCommand({ taskToken: "tok", output: '{"key":"k"}' }));

    expect(seen).toEqual(["heartbeat", 'success {"key":"k"}']);
    await expect(client.send(new SendTaskHeartbeatCommand({ taskToken: "tok" }))).rejects.toMatchObject({
      name: "TaskTimedOut",
      message: "Task Timed Out: 'Provided task does not exist anymore'",
      $metadata: { httpStatusCode: 400 },
    });
    await expect(client.send(new SendTaskSuccessCommand({ taskToken: "tok", output: "{}" }))).rejects.toMatchObject({ name: "TaskTimedOut" });
    expect(seen).toHaveLength(2);
    expect(sfn.taskCalls()).toEqual({ success: 2, failure: 0, heartbeat: 2, closed: 2, invalid: 0 });
  });

  test("a failure calls the handler with the error and cause and closes the token", async () => {
    const { handlers, seen } = recorder();
    sfn.registerTask("tok", handlers);

    await client.send(new SendTaskFailureCommand({ taskToken: "tok", error: "FetchRefusedError", cause: "private" }));

    expect(seen).toEqual(["failure FetchRefusedError: private"]);
    await expect(client.send(new SendTaskFailureCommand({ taskToken: "tok", error: "E", cause: "c" }))).rejects.toMatchObject({ name: "TaskTimedOut" });
  });

  test("closeTask closes a token as a timeout would", async () => {
    const { handlers, seen } = recorder();
    sfn.registerTask("tok", handlers);
    sfn.closeTask("tok");

    await expect(client.send(new SendTaskHeartbeatCommand({ taskToken: "tok" }))).rejects.toMatchObject({ name: "TaskTimedOut" });
    expect(seen).toEqual([]);
  });

  test("an unknown token answers InvalidToken", async () => {
    await expect(client.send(new SendTaskSuccessCommand({ taskToken: "never-registered", output: "{}" }))).rejects.toMatchObject({
      name: "InvalidToken",
      $metadata: { httpStatusCode: 400 },
    });
    expect(sfn.taskCalls()).toMatchObject({ success: 1, invalid: 1 });
  });

  test("an output that is not JSON answers InvalidOutput and leaves the token open", async () => {
    const { handlers, seen } = recorder();
    sfn.registerTask("tok", handlers);

    await expect(client.send(new SendTaskSuccessCommand({ taskToken: "tok", output: "not json" }))).rejects.toMatchObject({ name: "InvalidOutput" });
    await client.send(new SendTaskSuccessCommand({ taskToken: "tok", output: "[]" }));

    expect(seen).toEqual(["success []"]);
  });

  test("an error name over 256 characters or a cause over 32,768 answers ValidationException", async () => {
    sfn.registerTask("tok", {});

    await expect(client.send(new SendTaskFailureCommand({ taskToken: "tok", error: "e".repeat(257), cause: "" }))).rejects.toMatchObject({
      name: "ValidationException",
    });
    await expect(client.send(new SendTaskFailureCommand({ taskToken: "tok", error: "E", cause: "c".repeat(32_769) }))).rejects.toMatchObject({
      name: "ValidationException",
    });
    await expect(client.send(new SendTaskFailureCommand({ taskToken: "tok", error: "e".repeat(256), cause: "c".repeat(32_768) }))).resolves.toBeDefined();
  });

  test("failNext can target a task operation", async () => {
    sfn.registerTask("tok", {});
    sfn.failNext(1, { status: 500, type: "InternalFailure" }, "SendTaskSuccess");

    await expect(client.send(new SendTaskSuccessCommand({ taskToken: "tok", output: "{}" }))).rejects.toMatchObject({ name: "InternalFailure" });
    await expect(client.send(new SendTaskSuccessCommand({ taskToken: "tok", output: "{}" }))).resolves.toBeDefined();
  });
});
