/**
 * The bundled processor in a child process under `ulimit -n 1024`, consuming
 * work-queue messages against a real S3-compatible server and a loopback Step
 * Functions endpoint on 127.0.0.1: thousands of chunk PUTs in one invocation
 * while the parent samples the child's open file descriptors, each task token
 * answered at the endpoint, and Finalize building status.json from S3.
 *
 * @slow 7 s alone here (starts first, longest first: __tests__/helpers/sequencer.js)
 */
import { OUTCOME_MISSING_ERROR } from "../contract";
import { createHash } from "crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { startLambdaChild, type LambdaChild } from "../scripts/lib/lambda-child";
import { startS3Server, type S3Server } from "../scripts/lib/s3-server";
import { startSfnEndpoint, type SfnEndpoint } from "../scripts/lib/sfn-endpoint";
import {
  BUCKET,
  fdLimit,
  WORKER_ENV,
  asOutcome,
  childEnv,
  getBytes,
  getJson,
  listKeys,
  bundlePath,
  putText,
  runTask,
} from "./helpers/function-integration";
import { loopbackS3Client } from "../scripts/lib/loopback-s3";
import { sqsEvent, taskRecord } from "./helpers/lambda-events";

/** Peak open fds allowed: the processor's deployed MAX_SOCKETS + 40. */
const FD_LIMIT = fdLimit("processor");

/** 1,000 chunk PUTs through one pool: a socket or fd kept per operation would pass the fd bound many times over. */
const LINES = 10_000;
const CHUNK_LINES = 10;

let s3server: S3Server;
let sfn: SfnEndpoint;
let s3: S3Client;
let child: LambdaChild;

const processorEnv = () =>
  childEnv("processor", { s3: s3server.endpoint, sfn: sfn.endpoint }, { ...WORKER_ENV, CHUNK_LINES: String(CHUNK_LINES), CHUNK_BYTES: "4096" });

beforeAll(async () => {
  [s3server, sfn] = await Promise.all([startS3Server({ buckets: [BUCKET] }), startSfnEndpoint()]);
  s3 = loopbackS3Client(s3server.endpoint);
  child = await startLambdaChild({ bundle: bundlePath("processor"), functionName: "processor", env: processorEnv() });
});

afterAll(async () => {
  await child?.close();
  s3?.destroy();
  await Promise.all([s3server?.close(), sfn?.close()]);
});

/** Runs one processor task and returns the token's answer as `{ ok, result }` / `{ ok: false, error }`. */
async function task(input: unknown) {
  const run = await runTask(child, sfn, input);
  expect(run.response).toEqual({ ok: true, result: { batchItemFailures: [] } });
  return asOutcome(run);
}

describe("processor bundle over loopback S3 under ulimit -n 1024", () => {
  test("splits 10,000 lines into 1,000 chunk PUTs with peak open fds within MAX_SOCKETS + 40", async () => {
    // GIVEN a raw object of 10,000 lines
    let text = "";
    for (let i = 0; i < LINES; i++) text += `line ${String(i).padStart(5, "0")} of the big input\n`;
    await putText(s3, "jobs/big/raw/0", text);
    await child.resetFds();

    // WHEN the processor splits it
    const started = Date.now();
    const run = await runTask(child, sfn, { jobId: "big", index: 0 });
    const out = asOutcome(run);
    const elapsed = Date.now() - started;
    const fds = await child.fds();

    // THEN every chunk is in S3, the result record matches, and the fds stayed bounded
    expect(out).toEqual({
      ok: true,
      result: {
        resultKey: "jobs/big/results/0.json",
        chunks: LINES / CHUNK_LINES,
        bytes: Buffer.byteLength(text),
        lines: LINES,
        sha256: createHash("sha256").update(text).digest("hex"),
      },
    });
    const chunks = await listKeys(s3, "jobs/big/chunks/0/");
    expect(chunks).toHaveLength(LINES / CHUNK_LINES);
    expect(chunks.reduce((sum, c) => sum + c.size, 0)).toBe(Buffer.byteLength(text));
    expect((await getBytes(s3, "jobs/big/chunks/0/0"))?.toString()).toBe(text.split("\n").slice(0, 10).join("\n") + "\n");
    expect((await getBytes(s3, "jobs/big/chunks/0/999"))?.toString()).toMatch(/^line 09990 .*\nline 09999 of the big input\n$/s);
    expect(await getJson(s3, "jobs/big/results/0.json")).toMatchObject({ jobId: "big", index: 0, chunks: 1000, lines: LINES, mode: "text" });

    console.log(
      `[processor] ${LINES / CHUNK_LINES + 2} S3 operations in ${elapsed} ms; open fds peak ${fds.peak} (limit ${FD_LIMIT}), ` +
        `${fds.samples} samples (${fds.gapsOver10Ms} 10 ms or more apart, longest gap ${fds.maxGapMs.toFixed(1)} ms)`,
    );
    expect(fds.peak).toBeLessThanOrEqual(FD_LIMIT);
    expect(fds.samples).toBeGreaterThan(elapsed / 20);
    // One heartbeat before the work, then one a second (TASK_HEARTBEAT_SECONDS 3) while it ran (at least half of them, on a busy machine)
    expect(run.heartbeats).toBeGreaterThanOrEqual(1 + Math.floor(elapsed / 2000));
    expect(child.exited()).toBeUndefined();
  });

  test("splits a binary object (NUL bytes) into CHUNK_BYTES chunks", async () => {
    const data = Buffer.alloc(10_000, 1);
    data[5] = 0;
    await putText(s3, "jobs/bin/raw/3", data, "application/octet-stream");

    const out = await task({ jobId: "bin", index: 3 });

    expect(out).toMatchObject({ ok: true, result: { chunks: 3, bytes: 10_000, lines: 0 } });
    expect((await listKeys(s3, "jobs/bin/chunks/3/")).map((c) => c.size)).toEqual([4096, 4096, 1808]);
  });

  test("answers RawObjectMissingError when raw/{index} does not exist", async () => {
    const out = await task({ jobId: "nothing", index: 7 });

    expect(out).toMatchObject({ ok: false, error: { name: "RawObjectMissingError" } });
    expect(await listKeys(s3, "jobs/nothing/")).toEqual([]);
  });

  test.each([
    ["a missing index", { jobId: "x" }],
    ["a bad jobId", { jobId: "../x", index: 0 }],
    ["a negative index", { jobId: "x", index: -1 }],
    ["a finalize without itemCount", { action: "finalize", jobId: "x" }],
    ["a finalize in the old shape (items)", { action: "finalize", jobId: "x", items: [] }],
    ["not an object", "split please"],
  ])("answers InvalidInputError for %s", async (_name, input) => {
    const out = await task(input);

    expect(out).toMatchObject({ ok: false, error: { name: "InvalidInputError" } });
  });

  test("a bundle started without MAX_SOCKETS fails its init with a message naming the variable", async () => {
    const env = processorEnv();
    delete env.MAX_SOCKETS;
    const broken = await startLambdaChild({ bundle: bundlePath("processor"), functionName: "processor", env });
    try {
      expect(broken.initError).toEqual({ name: "ConfigurationError", message: "MAX_SOCKETS environment variable is not set" });
      expect(await broken.invoke(sqsEvent(taskRecord({ jobId: "x", index: 0 })))).toMatchObject({ ok: false, error: { name: "ConfigurationError" } });
    } finally {
      await broken.close();
    }
  });

  test("a bundle started without TASK_HEARTBEAT_SECONDS fails its init naming the variable", async () => {
    const env = processorEnv();
    delete env.TASK_HEARTBEAT_SECONDS;
    const broken = await startLambdaChild({ bundle: bundlePath("processor"), functionName: "processor", env });
    try {
      expect(broken.initError).toEqual({ name: "ConfigurationError", message: "TASK_HEARTBEAT_SECONDS environment variable is not set" });
    } finally {
      await broken.close();
    }
  });

  test("finalize builds status.json from the outcomes in S3: a split result, a recorded failure and a missing outcome", async () => {
    // GIVEN a 3-item job: item 0 split by the processor, item 1 failed (written as Step Functions writes it), item 2 with nothing
    const manifest = [0, 1, 2].map((index) => ({ index, url: `https://example.com/${index}` }));
    await putText(s3, "jobs/fin/manifest.json", JSON.stringify(manifest), "application/json");
    await putText(s3, "jobs/fin/raw/0", "a\nb\nc\n");
    expect(await task({ jobId: "fin", index: 0 })).toMatchObject({ ok: true, result: { resultKey: "jobs/fin/results/0.json" } });
    const failure = { index: 1, url: manifest[1].url, error: { Error: "FetchRefusedError", Cause: "address 10.0.0.1 is private" } };
    await putText(s3, "jobs/fin/failures/1.json", JSON.stringify(failure), "application/json");
    const sha256 = createHash("sha256").update("a\nb\nc\n").digest("hex");

    // WHEN Finalize runs (the message as the definition builds it)
    const out = await task({ action: "finalize", jobId: "fin", itemCount: 3 });

    // THEN the token is answered with the counts and status.json holds every item
    expect(out).toEqual({ ok: true, result: { statusKey: "jobs/fin/status.json", succeeded: 1, failed: 2 } });
    const status = await getJson<{ items: unknown[]; itemCount: number }>(s3, "jobs/fin/status.json");
    expect(status).toMatchObject({ jobId: "fin", itemCount: 3, succeeded: 1, failed: 2, finishedAt: expect.any(String) });
    expect(status?.items).toEqual([
      { index: 0, url: manifest[0].url, status: "succeeded", result: { jobId: "fin", index: 0, chunks: 1, bytes: 6, lines: 3, sha256, mode: "text" } },
      { index: 1, url: manifest[1].url, status: "failed", error: "FetchRefusedError", cause: "address 10.0.0.1 is private" },
      { index: 2, url: manifest[2].url, status: "failed", error: OUTCOME_MISSING_ERROR, cause: "no result or failure recorded in S3 for this item" },
    ]);
    expect(child.exited()).toBeUndefined();
  });

  test("heartbeats its token before the work and acknowledges a delivery whose token is closed without working", async () => {
    await putText(s3, "jobs/dup/raw/0", "x\n");

    const closed = await runTask(child, sfn, { jobId: "dup", index: 0 }, { open: false });

    expect(closed.response).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(closed.answer).toBeUndefined();
    expect(await listKeys(s3, "jobs/dup/results/")).toEqual([]);
  });
});
