/**
 * fanout logic with mocked S3 and Step Functions clients: schema errors go to
 * rejected/, duplicates count as done, transient failures come back as partial
 * batch failures, and no record is ever dropped.
 */
import { capturedObservability } from "./helpers/captured-output";
import { FUNCTION_TEST_ENV } from "./helpers/function-env";
import { Readable } from "stream";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { loadFanoutConfig, type FanoutConfig } from "../functions/fanout/config";
import { createSchema, handleBatch, type FanoutDeps } from "../functions/fanout/fanout";
import { s3Client, sfnClient } from "../functions/shared/clients";
import { MANIFEST_METADATA, METRICS, QUEUE_MAX_MESSAGE_BYTES } from "../contract";
import { jobMessage, lambdaContext, quietObservability, sqsEvent, sqsRecord } from "./helpers/lambda-events";

const s3Mock = mockClient(S3Client);
const sfnMock = mockClient(SFNClient);


function deps(overrides: Partial<FanoutConfig> = {}): FanoutDeps {
  const config = { ...loadFanoutConfig(FUNCTION_TEST_ENV), ...overrides };
  return { s3: s3Client(), sfn: sfnClient(), config, schema: createSchema(config), ...quietObservability() };
}

/** A GetObject answer holding `body` as a stream, as the SDK returns it. */
const objectBody = (body: unknown) => ({ Body: Readable.from([Buffer.from(typeof body === "string" ? body : JSON.stringify(body))]) as never });
const awsError = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
const putKeys = () => s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key);
const rejectedBody = (messageId: string) => {
  const call = s3Mock.commandCalls(PutObjectCommand).find((c) => c.args[0].input.Key === `rejected/${messageId}.json`);
  return call && JSON.parse(call.args[0].input.Body as string);
};

beforeEach(() => {
  s3Mock.reset();
  sfnMock.reset();
  s3Mock.on(PutObjectCommand).resolves({});
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: "arn:exec", startDate: new Date() });
});

describe("fanout", () => {
  test("writes the manifest once, then starts an execution named after the jobId whose input points at it", async () => {
    const record = sqsRecord(jobMessage("job-1", 2));
    const order: string[] = [];
    s3Mock.on(PutObjectCommand).callsFake(() => order.push("manifest") && {});
    sfnMock.on(StartExecutionCommand).callsFake(() => order.push("start") && { executionArn: "arn", startDate: new Date() });

    const out = await handleBatch(sqsEvent(record), deps());

    expect(out).toEqual({ batchItemFailures: [] });
    expect(order).toEqual(["manifest", "start"]);
    expect(putKeys()).toEqual(["jobs/job-1/manifest.json"]);
    const put = s3Mock.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(put).toMatchObject({
      Bucket: "work-bucket",
      IfNoneMatch: "*",
      ContentType: "application/json",
      Metadata: { [MANIFEST_METADATA.messageId]: record.messageId },
    });
    // The manifest is what the Distributed Map reads: a JSON array of { index, url }.
    expect(JSON.parse(put.Body as string)).toEqual([
      { index: 0, url: "https://example.com/file-0.txt" },
      { index: 1, url: "https://example.com/file-1.txt" },
    ]);
    const start = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(start.name).toBe("job-1");
    expect(start.stateMachineArn).toBe(FUNCTION_TEST_ENV.STATE_MACHINE_ARN);
    expect(JSON.parse(start.input as string)).toEqual({ jobId: "job-1", bucket: "work-bucket", manifestKey: "jobs/job-1/manifest.json", itemCount: 2 });
  });

  test("names a job without jobId after its message id, so a redelivery maps to the same execution", async () => {
    const record = sqsRecord(jobMessage(undefined, 1), "4f0c1a2b-0000-4000-8000-000000000001");

    await handleBatch(sqsEvent(record), deps());

    expect(sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input.name).toBe("msg-4f0c1a2b-0000-4000-8000-000000000001");
  });

  test.each([
    ["malformed JSON", '{"items": [', /body is not valid JSON/],
    ["a JSON array", "[]", /expected object/],
    ["wrong types", { jobId: 7, items: [{ url: 5 }] }, /jobId: .*expected string.*items\.0\.url: .*expected string/],
    ["items not an array", { items: { url: "https://example.com" } }, /items: .*expected array/],
    ["empty items", { items: [] }, /items: Too small/],
    ["oversized items (6 > MAX_ITEMS_PER_JOB 5)", jobMessage("big", 6), /items: Too big/],
    ["a jobId with a slash", jobMessage("a/b", 1), /jobId: must match/],
    ["a jobId of 65 characters", jobMessage("x".repeat(65), 1), /jobId: must match/],
    ["a file: URL", { items: [{ url: "file:///etc/passwd" }] }, /scheme "file:" is not allowed/],
    ["an ftp: URL", { items: [{ url: "ftp://example.com/a" }] }, /scheme "ftp:" is not allowed/],
    ["a gopher: URL", { items: [{ url: "gopher://example.com/" }] }, /scheme "gopher:" is not allowed/],
    ["an http: URL while ALLOW_HTTP is false", { items: [{ url: "http://example.com/" }] }, /scheme "http:" is not allowed \(allowed: https:\)/],
    ["a URL that does not parse", { items: [{ url: "not a url" }] }, /items\.0\.url: is not a valid URL/],
    ["a URL over 2048 characters", { items: [{ url: `https://example.com/${"a".repeat(2048)}` }] }, /items\.0\.url: Too big/],
    [
      "a URL of 420 characters that percent-encoding makes 2,420",
      { items: [{ url: `https://example.com/${"é".repeat(400)}` }] },
      /items\.0\.url: is 2420 characters once normalised, over MAX_URL_LENGTH \(2048\)/,
    ],
    ["an https: URL on port 8443", { items: [{ url: "https://example.com:8443/a" }] }, /items\.0\.url: port 8443 is not allowed \(allowed: 443\)$/],
    ["an https: URL on port 80 while ALLOW_HTTP is false", { items: [{ url: "https://example.com:80/a" }] }, /port 80 is not allowed \(allowed: 443\)/],
    ["a second item on a loopback port", { items: [{ url: "https://example.com/" }, { url: "https://127.0.0.1:9000/" }] }, /items\.1\.url: port 9000 is not allowed/],
  ])("rejects %s: stores the raw body and the error in rejected/ and acknowledges", async (_name, body, reason) => {
    const record = sqsRecord(body);

    const out = await handleBatch(sqsEvent(record), deps());

    expect(out).toEqual({ batchItemFailures: [] });
    expect(putKeys()).toEqual([`rejected/${record.messageId}.json`]);
    expect(rejectedBody(record.messageId)).toEqual({
      messageId: record.messageId,
      body: record.body,
      error: expect.stringMatching(reason),
      receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test("accepts http: URLs when ALLOW_HTTP is true", async () => {
    const out = await handleBatch(sqsEvent(sqsRecord({ jobId: "h", items: [{ url: "http://example.com/" }] })), deps({ allowHttp: true }));

    expect(out).toEqual({ batchItemFailures: [] });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  test("accepts the fetchable ports only: 443, and 80 with ALLOW_HTTP, naming both when it rejects", async () => {
    const ok = sqsRecord({ jobId: "ports", items: [{ url: "https://example.com:443/" }, { url: "http://example.com:80/" }, { url: "http://example.com/" }] });
    const bad = sqsRecord({ jobId: "port-8080", items: [{ url: "http://example.com:8080/" }] });

    const out = await handleBatch(sqsEvent(ok, bad), deps({ allowHttp: true }));

    expect(out).toEqual({ batchItemFailures: [] });
    expect(sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual(["ports"]);
    expect(rejectedBody(bad.messageId).error).toMatch(/items\.0\.url: port 8080 is not allowed \(allowed: 443, 80\)/);
  });

  test("exempts from the port rule exactly the origins in FETCH_ALLOW_PRIVATE (tests and local runs), as the fetcher does", async () => {
    // GIVEN the fanout's configuration from an environment that lists the local origin
    const config = loadFanoutConfig({ ...FUNCTION_TEST_ENV, ALLOW_HTTP: "true", FETCH_ALLOW_PRIVATE: "127.0.0.1:8080" });
    const d = { ...deps(), config, schema: createSchema(config) };
    const listed = sqsRecord({ jobId: "listed", items: [{ url: "http://127.0.0.1:8080/text?lines=1" }] });
    const otherPort = sqsRecord({ jobId: "other-port", items: [{ url: "http://127.0.0.1:8081/text" }] });
    const otherSpelling = sqsRecord({ jobId: "other-host", items: [{ url: "http://localhost:8080/text" }] });

    // WHEN messages for that origin and for others arrive
    const out = await handleBatch(sqsEvent(listed, otherPort, otherSpelling), d);

    // THEN only the listed host:port is exempt
    expect(out).toEqual({ batchItemFailures: [] });
    expect(sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual(["listed"]);
    expect(rejectedBody(otherPort.messageId).error).toMatch(/port 8081 is not allowed/);
    expect(rejectedBody(otherSpelling.messageId).error).toMatch(/port 8080 is not allowed/);
  });

  test("refuses a malformed FETCH_ALLOW_PRIVATE at init, naming the variable", () => {
    expect(() => loadFanoutConfig({ ...FUNCTION_TEST_ENV, FETCH_ALLOW_PRIVATE: "127.0.0.1" })).toThrow(/FETCH_ALLOW_PRIVATE environment variable must be/);
  });

  test("stores the normalised URL in the manifest", async () => {
    await handleBatch(sqsEvent(sqsRecord({ jobId: "norm", items: [{ url: "HTTPS://Example.COM:443/a b/é" }] })), deps());

    const manifest = JSON.parse(s3Mock.commandCalls(PutObjectCommand)[0].args[0].input.Body as string);
    expect(manifest).toEqual([{ index: 0, url: "https://example.com/a%20b/%C3%A9" }]);
  });

  test("takes the URL length limit from MAX_URL_LENGTH", async () => {
    const long = sqsRecord({ jobId: "long", items: [{ url: `https://example.com/${"a".repeat(20)}` }] });
    const short = sqsRecord({ jobId: "short", items: [{ url: "https://example.com/a" }] });

    const out = await handleBatch(sqsEvent(long, short), deps({ maxUrlLength: 30 }));

    expect(out).toEqual({ batchItemFailures: [] });
    expect(rejectedBody(long.messageId).error).toMatch(/items\.0\.url: Too big: expected string to have <=30 characters/);
    expect(sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual(["short"]);
  });

  test("rejects a message over what the deployed queues hold (256 KiB), naming the limit", async () => {
    // Under SQS's own 1 MiB, over the 256 KiB our queues are deployed with.
    const record = sqsRecord({ jobId: "huge", items: [{ url: "https://example.com/" }], padding: "x".repeat(QUEUE_MAX_MESSAGE_BYTES) });

    const out = await handleBatch(sqsEvent(record), deps());

    expect(out).toEqual({ batchItemFailures: [] });
    expect(rejectedBody(record.messageId).error).toMatch(
      new RegExp(`^message is ${Buffer.byteLength(record.body)} bytes, over the queue message limit \\(QUEUE_MAX_MESSAGE_BYTES\\) of 262144$`),
    );
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test("accepts a message of exactly 256 KiB", async () => {
    const base = JSON.stringify({ jobId: "edge", items: [{ url: "https://example.com/" }], padding: "" });
    const record = sqsRecord(JSON.stringify({ jobId: "edge", items: [{ url: "https://example.com/" }], padding: "x".repeat(QUEUE_MAX_MESSAGE_BYTES - base.length) }));
    expect(Buffer.byteLength(record.body)).toBe(QUEUE_MAX_MESSAGE_BYTES);

    await handleBatch(sqsEvent(record), deps());

    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  test("starts a job whose items would never fit a 256 KiB execution input: the input is a pointer", async () => {
    // 200 URLs whose percent-encoding triples them (each "é" is 2 bytes in the message, "%C3%A9" in the manifest):
    // a message well within 256 KiB whose manifest is not.
    const items = Array.from({ length: 200 }, (_, i) => ({ url: `https://example.com/${i}/${"é".repeat(330)}` }));

    const out = await handleBatch(sqsEvent(sqsRecord({ jobId: "big", items })), deps({ maxItemsPerJob: 1000 }));

    expect(out).toEqual({ batchItemFailures: [] });
    const input = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input.input as string;
    expect(JSON.parse(input)).toEqual({ jobId: "big", bucket: "work-bucket", manifestKey: "jobs/big/manifest.json", itemCount: 200 });
    expect((s3Mock.commandCalls(PutObjectCommand)[0].args[0].input.Body as string).length).toBeGreaterThan(300_000);
  });

  test("counts ExecutionAlreadyExists as done and publishes DuplicateDelivery", async () => {
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: "exists", $metadata: {} }));
    const d = deps();
    const addMetric = jest.spyOn(d.metrics, "addMetric");

    const out = await handleBatch(sqsEvent(sqsRecord(jobMessage("again", 1))), d);

    expect(out).toEqual({ batchItemFailures: [] });
    expect(addMetric).toHaveBeenCalledWith(METRICS.duplicateDelivery, "Count", 1);
  });

  test("a redelivery with the same items keeps the first manifest (412) and still starts the execution", async () => {
    // GIVEN the manifest exists (IfNoneMatch answers 412) and holds the same URLs
    s3Mock.on(PutObjectCommand).rejects(awsError("PreconditionFailed", 412));
    s3Mock.on(GetObjectCommand).callsFake(() => objectBody([{ index: 0, url: "https://example.com/file-0.txt" }]));

    // WHEN the same job arrives again
    const out = await handleBatch(sqsEvent(sqsRecord(jobMessage("kept", 1))), deps());

    // THEN it reads the manifest back and starts (StartExecution's idempotency or ExecutionAlreadyExists decides)
    expect(out).toEqual({ batchItemFailures: [] });
    expect(s3Mock.commandCalls(GetObjectCommand)[0].args[0].input).toEqual({ Bucket: "work-bucket", Key: "jobs/kept/manifest.json" });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
    expect(putKeys()).toEqual(["jobs/kept/manifest.json"]);
  });

  test.each([
    ["other URLs", [{ index: 0, url: "https://example.com/other.txt" }]],
    ["more items", [{ index: 0, url: "https://example.com/file-0.txt" }, { index: 1, url: "https://example.com/file-1.txt" }]],
    ["something that is not a manifest", { jobId: "reused", items: [] }],
  ])("rejects a message that reuses a jobId whose manifest holds %s, naming the jobId", async (_name, existing) => {
    s3Mock.on(PutObjectCommand, { Key: "jobs/reused/manifest.json" }).rejects(awsError("PreconditionFailed", 412));
    s3Mock.on(GetObjectCommand).callsFake(() => objectBody(existing));
    const record = sqsRecord(jobMessage("reused", 1));

    const out = await handleBatch(sqsEvent(record), deps());

    expect(out).toEqual({ batchItemFailures: [] });
    expect(rejectedBody(record.messageId).error).toBe('jobId "reused" already names a job with different items (jobs/reused/manifest.json)');
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test("hands a record back when the existing manifest cannot be read after a 412", async () => {
    s3Mock.on(PutObjectCommand).rejects(awsError("PreconditionFailed", 412));
    s3Mock.on(GetObjectCommand).rejects(awsError("InternalError", 500));
    const record = sqsRecord(jobMessage("unreadable", 1));

    const out = await handleBatch(sqsEvent(record), deps());

    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test("hands back only the throttled record, not the whole batch", async () => {
    const ok = sqsRecord(jobMessage("ok", 1));
    const throttled = sqsRecord(jobMessage("throttled", 1));
    const bad = sqsRecord("nope");
    sfnMock
      .on(StartExecutionCommand, { name: "throttled" })
      .rejects(Object.assign(awsError("ThrottlingException", 400), { $retryable: { throttling: true } }));

    const out = await handleBatch(sqsEvent(ok, throttled, bad), deps());

    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: throttled.messageId }] });
  });

  test.each([
    ["S3 answers 503 SlowDown on the manifest", () => s3Mock.on(PutObjectCommand).rejects(awsError("SlowDown", 503))],
    ["Step Functions times out", () => sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error("socket hang up"), { name: "TimeoutError" }))],
    ["Step Functions denies access (unexpected, not transient)", () => sfnMock.on(StartExecutionCommand).rejects(awsError("AccessDeniedException", 400))],
    ["the client throws a plain bug", () => sfnMock.on(StartExecutionCommand).callsFake(() => { throw new TypeError("undefined is not a function"); })],
  ])("reports the record as a batch item failure when %s (never drops it)", async (_name, arrange) => {
    arrange();
    const record = sqsRecord(jobMessage("j", 1));

    const out = await handleBatch(sqsEvent(record), deps());

    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
  });

  test("reports a bad message as a failure when storing it in rejected/ fails, so SQS retries it", async () => {
    s3Mock.on(PutObjectCommand).rejects(awsError("InternalError", 500));
    const record = sqsRecord("{broken");

    const out = await handleBatch(sqsEvent(record), deps());

    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
  });

  test("processes a batch with at most TASK_CONCURRENCY records in flight", async () => {
    let active = 0;
    let peak = 0;
    sfnMock.on(StartExecutionCommand).callsFake(async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 2));
      active--;
      return { executionArn: "arn", startDate: new Date() };
    });
    const records = Array.from({ length: 60 }, (_, i) => sqsRecord(jobMessage(`n-${i}`, 1)));

    const out = await handleBatch(sqsEvent(...records), deps({ taskConcurrency: 4 }));

    expect(out).toEqual({ batchItemFailures: [] });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(60);
    expect(peak).toBe(4);
  });

  test("no log line carries a rejected message's URL userinfo or query string (rejected/ keeps the body as sent)", async () => {
    // GIVEN bodies whose parse errors quote them, and a URL that is rejected, all carrying secrets
    const bodies = [
      "user:pass@example.com/?token=SECRET-1",
      "?token=SECRET-2&x=1",
      '{"items": [{"url": "https://user:pass@example.com/?token=SECRET-3"}',
      JSON.stringify({ items: [{ url: "https://user:pass@example.com:8443/?token=SECRET-4" }] }),
    ];
    const records = bodies.map((body) => sqsRecord(body));
    const logs = capturedObservability("fanout");

    // WHEN the fanout rejects them
    try {
      await handleBatch(sqsEvent(...records), { ...deps(), logger: logs.logger, metrics: logs.metrics });
    } finally {
      logs.restore();
    }

    // THEN each rejection is logged, without userinfo or query string
    const rejections = logs.lines.filter((l) => /message rejected/.test(l));
    expect(rejections).toHaveLength(4);
    expect(logs.lines.filter((l) => /user:pass@|token=|SECRET/.test(l))).toEqual([]);
    expect(rejections.join("\n")).toContain("[redacted]");
    // AND the stored records keep the bodies as sent
    expect(records.map((r) => rejectedBody(r.messageId).body)).toEqual(bodies);
  });

  test("the handler answers a partial batch response and refuses an event without Records", async () => {
    const { handler } = await import("../functions/fanout/handler");

    await expect(handler(sqsEvent(sqsRecord(jobMessage("via-handler", 1))), lambdaContext("fanout"))).resolves.toEqual({ batchItemFailures: [] });
    await expect(handler({} as never)).rejects.toMatchObject({ name: "InvalidInputError" });
  });
});
