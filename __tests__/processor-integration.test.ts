/**
 * The bundled processor in a child process under `ulimit -n 1024`, against a
 * real S3-compatible server on 127.0.0.1: thousands of chunk PUTs in one
 * invocation while the parent samples the child's open file descriptors.
 */
import { createHash } from "crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { startLambdaChild, type LambdaChild } from "../scripts/lib/lambda-child";
import { startS3Server, type S3Server } from "../scripts/lib/s3-server";
import {
  BUCKET,
  FD_LIMIT,
  childEnv,
  getBytes,
  getJson,
  listKeys,
  bundlePath,
  putText,
  testS3,
} from "./helpers/function-integration";

const LINES = 20_000;
const CHUNK_LINES = 10;

let s3server: S3Server;
let s3: S3Client;
let child: LambdaChild;

beforeAll(async () => {
  s3server = await startS3Server({ buckets: [BUCKET] });
  s3 = testS3(s3server.endpoint);
  child = await startLambdaChild({
    bundle: bundlePath("processor"),
    functionName: "processor",
    env: childEnv({ s3: s3server.endpoint }, { CHUNK_LINES: String(CHUNK_LINES), CHUNK_BYTES: "4096" }),
  });
});

afterAll(async () => {
  await child?.close();
  s3?.destroy();
  await s3server?.close();
});

describe("processor bundle over loopback S3 under ulimit -n 1024", () => {
  test("splits 20,000 lines into 2,000 chunk PUTs with peak open fds within MAX_SOCKETS + 40", async () => {
    // GIVEN a raw object of 20,000 lines
    let text = "";
    for (let i = 0; i < LINES; i++) text += `line ${String(i).padStart(5, "0")} of the big input\n`;
    await putText(s3, "jobs/big/raw/0", text);
    await child.resetFds();

    // WHEN the processor splits it
    const started = Date.now();
    const out = await child.invoke<{ resultKey: string; chunks: number; bytes: number; lines: number; sha256: string }>({
      jobId: "big",
      index: 0,
    });
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
    expect((await getBytes(s3, "jobs/big/chunks/0/1999"))?.toString()).toMatch(/^line 19990 .*\nline 19999 of the big input\n$/s);
    expect(await getJson(s3, "jobs/big/results/0.json")).toMatchObject({ jobId: "big", index: 0, chunks: 2000, lines: LINES, mode: "text" });

    console.log(
      `[processor] ${LINES / CHUNK_LINES + 2} S3 operations in ${elapsed} ms; open fds peak ${fds.peak} (limit ${FD_LIMIT}), ` +
        `${fds.samples} samples (${fds.lateSamples} over 10 ms apart, longest gap ${fds.maxGapMs.toFixed(1)} ms)`,
    );
    expect(fds.peak).toBeLessThanOrEqual(FD_LIMIT);
    expect(fds.samples).toBeGreaterThan(elapsed / 20);
    expect(child.exited()).toBeUndefined();
  });

  test("splits a binary object (NUL bytes) into CHUNK_BYTES chunks", async () => {
    const data = Buffer.alloc(10_000, 1);
    data[5] = 0;
    await putText(s3, "jobs/bin/raw/3", data, "application/octet-stream");

    const out = await child.invoke({ jobId: "bin", index: 3 });

    expect(out).toMatchObject({ ok: true, result: { chunks: 3, bytes: 10_000, lines: 0 } });
    expect((await listKeys(s3, "jobs/bin/chunks/3/")).map((c) => c.size)).toEqual([4096, 4096, 1808]);
  });

  test("answers RawObjectMissingError when raw/{index} does not exist", async () => {
    const out = await child.invoke({ jobId: "nothing", index: 7 });

    expect(out).toMatchObject({ ok: false, error: { name: "RawObjectMissingError" } });
    expect(await listKeys(s3, "jobs/nothing/")).toEqual([]);
  });

  test.each([
    ["a missing index", { jobId: "x" }],
    ["a bad jobId", { jobId: "../x", index: 0 }],
    ["a negative index", { jobId: "x", index: -1 }],
    ["a finalize without items", { action: "finalize", jobId: "x" }],
    ["not an object", "split please"],
  ])("answers InvalidInputError for %s", async (_name, event) => {
    const out = await child.invoke(event);

    expect(out).toMatchObject({ ok: false, error: { name: "InvalidInputError" } });
  });

  test("a bundle started without MAX_SOCKETS fails its init with a message naming the variable", async () => {
    const env = childEnv({ s3: s3server.endpoint });
    delete env.MAX_SOCKETS;
    const broken = await startLambdaChild({ bundle: bundlePath("processor"), functionName: "processor", env });
    try {
      expect(broken.initError).toEqual({ name: "ConfigurationError", message: "MAX_SOCKETS environment variable is not set" });
      expect(await broken.invoke({ jobId: "x", index: 0 })).toMatchObject({ ok: false, error: { name: "ConfigurationError" } });
    } finally {
      await broken.close();
    }
  });

  test("finalize writes status.json with succeeded and failed items and their reasons", async () => {
    const out = await child.invoke({
      action: "finalize",
      jobId: "fin",
      items: [
        { index: 1, status: "failed", error: "FetchRefusedError", cause: "address 10.0.0.1 is private" },
        { index: 0, status: "succeeded", result: { resultKey: "jobs/fin/results/0.json", chunks: 2 } },
      ],
    });

    expect(out).toEqual({ ok: true, result: { statusKey: "jobs/fin/status.json", succeeded: 1, failed: 1 } });
    const status = await getJson<{ items: unknown[]; succeeded: number; failed: number; finishedAt: string }>(s3, "jobs/fin/status.json");
    expect(status).toMatchObject({ jobId: "fin", succeeded: 1, failed: 1 });
    expect(status?.items).toEqual([
      { index: 0, status: "succeeded", result: { resultKey: "jobs/fin/results/0.json", chunks: 2 } },
      { index: 1, status: "failed", error: "FetchRefusedError", cause: "address 10.0.0.1 is private" },
    ]);
    expect(child.exited()).toBeUndefined();
  });
});
