/**
 * processor: the splitter (pure), the split action with a mocked S3 client
 * (bounded, backpressured chunk PUTs; missing raw object; transient errors) and
 * the finalize action.
 */
import { FUNCTION_TEST_ENV } from "./helpers/function-env";
import { createHash } from "crypto";
import { Readable } from "stream";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { loadProcessorConfig, type ProcessorConfig } from "../functions/processor/config";
import { processEvent } from "../functions/processor/dispatch";
import { buildStatus, MAX_CAUSE_LENGTH } from "../functions/processor/finalize";
import type { ProcessorDeps } from "../functions/processor/process";
import { detectMode, Splitter } from "../functions/processor/split";
import { s3Client } from "../functions/shared/clients";
import { quietObservability } from "./helpers/lambda-events";

const s3Mock = mockClient(S3Client);

function deps(overrides: Partial<ProcessorConfig> = {}): ProcessorDeps {
  return { s3: s3Client(), config: { ...loadProcessorConfig(FUNCTION_TEST_ENV), ...overrides }, logger: quietObservability().logger };
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

  test.each([[{ jobId: "job" }], [{ jobId: "job", index: "1" }], [{ action: "split", jobId: "job", index: 1 }], [{ action: "finalize", jobId: "job", items: [{ index: 0, status: "maybe" }] }], [undefined]])(
    "refuses %j with InvalidInputError",
    async (event) => {
      await expect(processEvent(event, deps())).rejects.toMatchObject({ name: "InvalidInputError" });
    },
  );
});

describe("finalize action", () => {
  const items = [
    { index: 2, status: "failed" as const, error: "FetchTooLargeError", cause: "x".repeat(MAX_CAUSE_LENGTH + 10) },
    { index: 0, status: "succeeded" as const, result: { resultKey: "jobs/job/results/0.json", chunks: 3 } },
    { index: 1, url: "http://10.0.0.1/", status: "failed" as const, error: "FetchRefusedError", cause: "address 10.0.0.1 is private" },
  ];

  test("writes status.json with counts and every item's outcome, ordered by index", async () => {
    const out = await processEvent({ action: "finalize", jobId: "job", items }, deps());

    expect(out).toEqual({ statusKey: "jobs/job/status.json", succeeded: 1, failed: 2 });
    const put = putsTo("jobs/job/status.json")[0].args[0].input;
    const status = JSON.parse(put.Body as string);
    expect(status).toMatchObject({ jobId: "job", succeeded: 1, failed: 2, finishedAt: expect.any(String) });
    expect(status.items.map((i: { index: number }) => i.index)).toEqual([0, 1, 2]);
    expect(status.items[1]).toEqual({ index: 1, url: "http://10.0.0.1/", status: "failed", error: "FetchRefusedError", cause: "address 10.0.0.1 is private" });
  });

  test("shortens very long causes", () => {
    const status = buildStatus({ action: "finalize", jobId: "job", items }, new Date(0));

    expect((status.items[2] as { cause: string }).cause).toHaveLength(MAX_CAUSE_LENGTH + 1);
    expect(status.finishedAt).toBe("1970-01-01T00:00:00.000Z");
  });

  test("an empty job finalizes with zero counts", async () => {
    await expect(processEvent({ action: "finalize", jobId: "none", items: [] }, deps())).resolves.toEqual({
      statusKey: "jobs/none/status.json",
      succeeded: 0,
      failed: 0,
    });
  });
});
