/**
 * processor: the splitter (pure), the split action with a mocked S3 client
 * (bounded, backpressured chunk PUTs; missing raw object; transient errors) and
 * the finalize action.
 */
import { FUNCTION_TEST_ENV } from "./helpers/function-env";
import { createHash } from "crypto";
import { Readable } from "stream";
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { loadProcessorConfig, type ProcessorConfig } from "../functions/processor/config";
import { processEvent } from "../functions/processor/dispatch";
import { buildStatus, OUTCOME_MISSING_CAUSE, type JobStatus } from "../functions/processor/finalize";
import type { ProcessorDeps } from "../functions/processor/process";
import { detectMode, Splitter } from "../functions/processor/split";
import { s3Client, sfnClient } from "../functions/shared/clients";
import { OUTCOME_MISSING_ERROR, TASK_CAUSE_MAX_CHARS } from "../contract";
import { lambdaContext, quietObservability, sqsEvent, taskRecord } from "./helpers/lambda-events";

const s3Mock = mockClient(S3Client);
const sfnMock = mockClient(SFNClient);

function deps(overrides: Partial<ProcessorConfig> = {}): ProcessorDeps {
  return { s3: s3Client(), sfn: sfnClient(), config: { ...loadProcessorConfig(FUNCTION_TEST_ENV), ...overrides }, ...quietObservability() };
}

/** Feeds `input` to a splitter in pieces of `piece` bytes; returns the chunks and the splitter. */
function split(input: Buffer, mode: "text" | "binary", lines: number, bytes: number, piece = input.length || 1) {
  const splitter = new Splitter(mode, lines, bytes);
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += piece) chunks.push(...splitter.push(input.subarray(i, i + piece)));
  chunks.push(...splitter.end());
  return { chunks, splitter };
}

const textOf = (n: number) => Array.from({ length: n }, (_, i) => `line ${i}\n`).join("");
const putsTo = (prefix: string) => s3Mock.commandCalls(PutObjectCommand).filter((c) => c.args[0].input.Key?.startsWith(prefix));

beforeEach(() => {
  s3Mock.reset();
  s3Mock.on(PutObjectCommand).resolves({});
  sfnMock.reset();
  sfnMock.on(SendTaskHeartbeatCommand).resolves({});
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
});

describe("splitter", () => {
  test.each([1, 3, 7, 64, 100_000])("cuts text into CHUNK_LINES lines whatever the read size (%s-byte reads)", (piece) => {
    const input = Buffer.from(textOf(25));

    const { chunks, splitter } = split(input, "text", 10, 1 << 20, piece);

    expect(chunks.map((c) => c.toString().split("\n").length - 1)).toEqual([10, 10, 5]);
    expect(Buffer.concat(chunks).equals(input)).toBe(true);
    expect(splitter.lines).toBe(25);
  });

  test("counts a last line without a newline", () => {
    const { chunks, splitter } = split(Buffer.from("a\nb\nc"), "text", 2, 100);

    expect(chunks.map(String)).toEqual(["a\nb\n", "c"]);
    expect(splitter.lines).toBe(3);
  });

  test("cuts a very long line at CHUNK_BYTES so memory stays bounded", () => {
    const input = Buffer.from(`${"x".repeat(250)}\nshort\n`);

    const { chunks } = split(input, "text", 10, 100, 33);

    expect(chunks.map((c) => c.length)).toEqual([100, 100, 57]);
    expect(Buffer.concat(chunks).equals(input)).toBe(true);
  });

  test("cuts binary input into CHUNK_BYTES chunks and reports no lines", () => {
    const { chunks, splitter } = split(Buffer.alloc(10_000, 0), "binary", 10, 4096, 999);

    expect(chunks.map((c) => c.length)).toEqual([4096, 4096, 1808]);
    expect(splitter.lines).toBe(0);
  });

  test("an empty input makes no chunks", () => {
    expect(split(Buffer.alloc(0), "text", 10, 100).chunks).toEqual([]);
  });

  test.each([
    [Buffer.from("hello\0world"), "text/plain", "binary"],
    [Buffer.from("hello"), "image/png", "binary"],
    [Buffer.from("hello"), "application/gzip", "binary"],
    [Buffer.from("hello"), "text/plain; charset=utf-8", "text"],
    [Buffer.from("hello"), "application/octet-stream", "text"],
    [Buffer.from("hello"), undefined, "text"],
    [Buffer.concat([Buffer.alloc(1024, 97), Buffer.from([0])]), undefined, "text"], // NUL after the first KB
  ])("detectMode(%s, %s) is %s", (head, type, mode) => {
    expect(detectMode(head, type)).toBe(mode);
  });
});

describe("split action", () => {
  test("writes each chunk to chunks/{index}/{n}, then results/{index}.json, and returns the totals", async () => {
    const text = textOf(25);
    s3Mock.on(GetObjectCommand).resolves({ Body: Readable.from([Buffer.from(text)]) as never, ContentType: "text/plain" });

    const out = await processEvent({ jobId: "job", index: 2 }, deps());

    const sha256 = createHash("sha256").update(text).digest("hex");
    expect(out).toEqual({ resultKey: "jobs/job/results/2.json", chunks: 3, bytes: text.length, lines: 25, sha256 });
    expect(s3Mock.commandCalls(GetObjectCommand)[0].args[0].input).toEqual({ Bucket: "work-bucket", Key: "jobs/job/raw/2" });
    expect(putsTo("jobs/job/chunks/2/").map((c) => c.args[0].input.Key).sort()).toEqual([
      "jobs/job/chunks/2/0",
      "jobs/job/chunks/2/1",
      "jobs/job/chunks/2/2",
    ]);
    const result = JSON.parse(putsTo("jobs/job/results/")[0].args[0].input.Body as string);
    expect(result).toEqual({ jobId: "job", index: 2, chunks: 3, bytes: text.length, lines: 25, sha256, mode: "text" });
  });

  test("keeps at most TASK_CONCURRENCY PUTs in flight and stops reading while the queue is full", async () => {
    // GIVEN a 10,000-line body read one line at a time and slow chunk PUTs
    let linesRead = 0;
    let active = 0;
    let peak = 0;
    let written = 0;
    let maxAhead = 0;
    async function* body() {
      for (let i = 0; i < 10_000; i++) {
        linesRead++;
        // Chunks read but not yet written, once past the first KB (held to tell text from binary).
        if (written > 0) maxAhead = Math.max(maxAhead, Math.floor(linesRead / 10) - written);
        yield Buffer.from(`line ${i}\n`);
      }
    }
    s3Mock.on(GetObjectCommand).resolves({ Body: Readable.from(body()) as never });
    s3Mock.on(PutObjectCommand).callsFake(async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setImmediate(r));
      active--;
      written++;
      return {};
    });

    // WHEN it is split into chunks of 10 lines with 4 PUTs at a time
    const out = await processEvent({ jobId: "bp", index: 0 }, deps({ chunkLines: 10, taskConcurrency: 4 }));

    // THEN 1,000 chunks were written, never more than 4 at once, and reading stayed a few chunks
    // ahead of the writes (4 in flight, 1 waiting for a slot, the stream's 16-line read-ahead)
    expect(out).toMatchObject({ chunks: 1000, lines: 10_000 });
    expect(peak).toBe(4);
    expect(maxAhead).toBeLessThanOrEqual(4 + 1 + 2);
  });

  test("answers RawObjectMissingError when raw/{index} does not exist", async () => {
    s3Mock.on(GetObjectCommand).rejects(Object.assign(new Error("gone"), { name: "NoSuchKey", $metadata: { httpStatusCode: 404 } }));

    await expect(processEvent({ jobId: "job", index: 9 }, deps())).rejects.toMatchObject({ name: "RawObjectMissingError" });
  });

  test("a failing chunk PUT stops the split with StorageUnavailableError and destroys the body", async () => {
    const body = Readable.from((function* () {
      for (let i = 0; i < 1000; i++) yield Buffer.from(`line ${i}\n`);
    })());
    s3Mock.on(GetObjectCommand).resolves({ Body: body as never });
    s3Mock.on(PutObjectCommand).rejects(Object.assign(new Error("slow down"), { name: "SlowDown", $metadata: { httpStatusCode: 503 } }));

    await expect(processEvent({ jobId: "job", index: 0 }, deps({ chunkLines: 10, taskConcurrency: 2 }))).rejects.toMatchObject({
      name: "StorageUnavailableError",
    });
    expect(body.destroyed).toBe(true);
    expect(putsTo("jobs/job/chunks/0/").length).toBeLessThan(10);
    expect(putsTo("jobs/job/results/")).toHaveLength(0);
  });

  test("a transient GetObject failure is StorageUnavailableError", async () => {
    s3Mock.on(GetObjectCommand).rejects(Object.assign(new Error("internal"), { name: "InternalError", $metadata: { httpStatusCode: 500 } }));

    await expect(processEvent({ jobId: "job", index: 0 }, deps())).rejects.toMatchObject({ name: "StorageUnavailableError" });
  });

  test.each([[{ jobId: "job" }], [{ jobId: "job", index: "1" }], [{ action: "split", jobId: "job", index: 1 }], [{ action: "finalize", jobId: "job" }], [{ action: "finalize", jobId: "job", itemCount: -1 }], [{ action: "finalize", jobId: "job", items: [] }], [undefined]])(
    "refuses %j with InvalidInputError",
    async (event) => {
      await expect(processEvent(event, deps())).rejects.toMatchObject({ name: "InvalidInputError" });
    },
  );
});

describe("finalize action", () => {
  /** A bucket held in the mocks: GetObject by key (each body a fresh stream), ListObjects (v1) by prefix in pages of `page`. */
  function bucket(objects: Record<string, { body: unknown; modified?: number }>, page = 1000) {
    const bodies: Readable[] = [];
    s3Mock.on(GetObjectCommand).callsFake(async ({ Key }: { Key: string }) => {
      const object = objects[Key];
      if (!object) throw Object.assign(new Error("no such key"), { name: "NoSuchKey", $metadata: { httpStatusCode: 404 } });
      const body = Readable.from([Buffer.from(typeof object.body === "string" ? object.body : JSON.stringify(object.body))]);
      bodies.push(body);
      return { Body: body };
    });
    s3Mock.on(ListObjectsCommand).callsFake(async ({ Prefix, Marker }: { Prefix: string; Marker?: string }) => {
      const keys = Object.keys(objects)
        .filter((k) => k.startsWith(Prefix) && (!Marker || k > Marker))
        .sort();
      const contents = keys.slice(0, page).map((Key) => ({ Key, LastModified: new Date(objects[Key].modified ?? 0) }));
      return { Contents: contents, IsTruncated: keys.length > page };
    });
    return { bodies };
  }
  const manifest = (jobId: string, n: number) => ({
    [`jobs/${jobId}/manifest.json`]: { body: Array.from({ length: n }, (_, index) => ({ index, url: `https://example.com/${index}` })) },
  });
  const result = (jobId: string, index: number, extra: object = {}, modified = 0) => ({
    [`jobs/${jobId}/results/${index}.json`]: { body: { jobId, index, chunks: index + 1, ...extra }, modified },
  });
  const failure = (jobId: string, index: number, error: string, cause?: string, modified = 0) => ({
    [`jobs/${jobId}/failures/${index}.json`]: {
      body: { index, url: `https://example.com/${index}`, error: { Error: error, ...(cause === undefined ? {} : { Cause: cause }) } },
      modified,
    },
  });
  const writtenStatus = (jobId: string): JobStatus => JSON.parse(putsTo(`jobs/${jobId}/status.json`)[0].args[0].input.Body as string);

  test("builds status.json from the manifest and the outcomes in S3, sorted by index, with a missing outcome failed", async () => {
    // GIVEN 4 items: two results, one failure recorded by the state machine, one with nothing in S3
    const { bodies } = bucket({
      ...manifest("job", 4),
      ...result("job", 2),
      ...result("job", 0),
      ...failure("job", 1, "FetchRefusedError", "address 10.0.0.1 is private"),
      "jobs/job/results/notes.txt": { body: "ignored: not an outcome key" },
    });

    // WHEN the job is finalized
    const out = await processEvent({ action: "finalize", jobId: "job", itemCount: 4 }, deps());

    // THEN the counts come back, and status.json holds every item from S3
    expect(out).toEqual({ statusKey: "jobs/job/status.json", succeeded: 2, failed: 2 });
    const status = writtenStatus("job");
    expect(status).toEqual({
      jobId: "job",
      itemCount: 4,
      succeeded: 2,
      failed: 2,
      finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      items: [
        { index: 0, url: "https://example.com/0", status: "succeeded", result: { jobId: "job", index: 0, chunks: 1 } },
        { index: 1, url: "https://example.com/1", status: "failed", error: "FetchRefusedError", cause: "address 10.0.0.1 is private" },
        { index: 2, url: "https://example.com/2", status: "succeeded", result: { jobId: "job", index: 2, chunks: 3 } },
        { index: 3, url: "https://example.com/3", status: "failed", error: OUTCOME_MISSING_ERROR, cause: OUTCOME_MISSING_CAUSE },
      ],
    });
    expect(putsTo("jobs/job/status.json")[0].args[0].input).toMatchObject({ Bucket: "work-bucket", ContentType: "application/json" });
    // AND every body it opened was read to its end
    expect(bodies.length).toBe(4); // the manifest and three outcomes
    expect(bodies.every((b) => b.readableEnded || b.destroyed)).toBe(true);
  });

  test("pages through the listings with ListObjects markers", async () => {
    bucket({ ...manifest("paged", 5), ...result("paged", 0), ...result("paged", 1), ...result("paged", 2), ...result("paged", 3), ...result("paged", 4) }, 2);

    const out = await processEvent({ action: "finalize", jobId: "paged", itemCount: 5 }, deps());

    expect(out).toMatchObject({ succeeded: 5, failed: 0 });
    const listCalls = s3Mock.commandCalls(ListObjectsCommand).map((c) => c.args[0].input).filter((i) => i.Prefix === "jobs/paged/results/");
    expect(listCalls.map((i) => i.Marker)).toEqual([undefined, "jobs/paged/results/1.json", "jobs/paged/results/3.json"]);
  });

  test("when an item has both outcomes, the newer one wins (a failure on a tie)", async () => {
    bucket({
      ...manifest("both", 3),
      ...result("both", 0, {}, 1000),
      ...failure("both", 0, "States.HeartbeatTimeout", "answer lost", 2000),
      ...failure("both", 1, "OriginHttpError", "404", 1000),
      ...result("both", 1, { redriven: true }, 2000),
      ...result("both", 2, {}, 1000),
      ...failure("both", 2, "States.Timeout", "tie", 1000),
    });

    await processEvent({ action: "finalize", jobId: "both", itemCount: 3 }, deps());

    expect(writtenStatus("both").items.map((i) => `${i.index} ${i.status}`)).toEqual(["0 failed", "1 succeeded", "2 failed"]);
  });

  test("cuts long causes to TASK_CAUSE_MAX_CHARS and names a failure without an Error", async () => {
    bucket({ ...manifest("cut", 2), ...failure("cut", 0, "OriginHttpError", "x".repeat(TASK_CAUSE_MAX_CHARS * 4)), ...failure("cut", 1, "") });

    await processEvent({ action: "finalize", jobId: "cut", itemCount: 2 }, deps());

    const [long, unnamed] = writtenStatus("cut").items as unknown as Array<{ error: string; cause: string }>;
    expect(long.cause.length).toBeLessThanOrEqual(TASK_CAUSE_MAX_CHARS);
    expect(long.cause.length).toBeGreaterThan(TASK_CAUSE_MAX_CHARS - 2);
    expect(unnamed).toMatchObject({ error: "UnknownError", cause: "" });
  });

  test("an outcome that is not JSON counts as missing, with the reason", async () => {
    bucket({ ...manifest("junk", 1), "jobs/junk/results/0.json": { body: "{truncated" } });

    await processEvent({ action: "finalize", jobId: "junk", itemCount: 1 }, deps());

    expect(writtenStatus("junk").items[0]).toMatchObject({ status: "failed", error: OUTCOME_MISSING_ERROR, cause: expect.stringMatching(/results\/0\.json is not valid JSON/) });
  });

  test("trusts the manifest when itemCount disagrees with it, and logs a warning", async () => {
    bucket({ ...manifest("count", 2), ...result("count", 0), ...result("count", 1) });
    const d = deps();
    const warn = jest.spyOn(d.logger, "warn");

    const out = await processEvent({ action: "finalize", jobId: "count", itemCount: 5 }, d);

    expect(out).toMatchObject({ succeeded: 2, failed: 0 });
    expect(writtenStatus("count").itemCount).toBe(2);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/itemCount disagrees with the manifest/), { itemCount: 5, manifestItems: 2 });
  });

  test("reads the outcomes with at most TASK_CONCURRENCY GETs in flight", async () => {
    const objects = { ...manifest("wide", 30) };
    for (let i = 0; i < 30; i++) Object.assign(objects, result("wide", i));
    bucket(objects);
    // Timing around the bucket's fake: count GETs in flight.
    let active = 0;
    let peak = 0;
    const original = s3Client().send.bind(s3Client());
    const spy = jest.spyOn(s3Client(), "send").mockImplementation((async (command: { constructor: { name: string } }) => {
      const isGet = command.constructor.name === "GetObjectCommand";
      if (isGet) peak = Math.max(peak, ++active);
      try {
        if (isGet) await new Promise((r) => setTimeout(r, 3));
        return await original(command as never);
      } finally {
        if (isGet) active--;
      }
    }) as never);
    try {
      const out = await processEvent({ action: "finalize", jobId: "wide", itemCount: 30 }, deps({ taskConcurrency: 3 }));
      expect(out).toMatchObject({ succeeded: 30 });
    } finally {
      spy.mockRestore();
    }
    expect(peak).toBe(3);
  });

  test("refuses a job without a manifest with InvalidInputError, and a transient listing failure is StorageUnavailableError", async () => {
    bucket({});
    await expect(processEvent({ action: "finalize", jobId: "none", itemCount: 1 }, deps())).rejects.toMatchObject({ name: "InvalidInputError", message: expect.stringMatching(/manifest\.json does not exist/) });

    bucket(manifest("flaky", 1));
    s3Mock.on(ListObjectsCommand).rejects(Object.assign(new Error("slow down"), { name: "SlowDown", $metadata: { httpStatusCode: 503 } }));
    await expect(processEvent({ action: "finalize", jobId: "flaky", itemCount: 1 }, deps())).rejects.toMatchObject({ name: "StorageUnavailableError" });
    expect(putsTo("jobs/flaky/status.json")).toHaveLength(0);
  });

  test("an empty job finalizes with zero counts", async () => {
    bucket({ "jobs/none/manifest.json": { body: [] } });

    await expect(processEvent({ action: "finalize", jobId: "none", itemCount: 0 }, deps())).resolves.toEqual({ statusKey: "jobs/none/status.json", succeeded: 0, failed: 0 });
  });

  test("buildStatus is pure: every manifest item once, in index order", () => {
    const status = buildStatus(
      "p",
      [
        { index: 1, url: "u1" },
        { index: 0, url: "u0" },
      ],
      new Map([[1, { status: "succeeded" as const, result: { ok: true } }]]),
      new Date(0),
    );

    expect(status).toEqual({
      jobId: "p",
      itemCount: 2,
      succeeded: 1,
      failed: 1,
      finishedAt: "1970-01-01T00:00:00.000Z",
      items: [
        { index: 0, url: "u0", status: "failed", error: OUTCOME_MISSING_ERROR, cause: OUTCOME_MISSING_CAUSE },
        { index: 1, url: "u1", status: "succeeded", result: { ok: true } },
      ],
    });
  });
});

describe("processor handler", () => {
  test("consumes a work-queue message and answers its task token with the split's result", async () => {
    const { handler } = await import("../functions/processor/handler");
    s3Mock.on(GetObjectCommand).resolves({ Body: Readable.from([Buffer.from(textOf(3))]) as never, ContentType: "text/plain" });
    const record = taskRecord({ jobId: "h", index: 0 });

    const out = await handler(sqsEvent(record), lambdaContext("processor"));

    expect(out).toEqual({ batchItemFailures: [] });
    const [success] = sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input);
    expect(success.taskToken).toBe(record.token);
    expect(JSON.parse(success.output as string)).toMatchObject({ resultKey: "jobs/h/results/0.json", chunks: 1, lines: 3 });
  });
});
