/**
 * The bundled fetcher in a child process under `ulimit -n 1024`, consuming
 * work-queue messages (`{ taskToken, input }`), fetching from a local origin
 * over real HTTP, storing into a loopback S3 server and answering each task
 * token at a loopback Step Functions endpoint. Only 127.0.0.1 is ever connected
 * to: every other address in here must be refused before a connection is attempted.
 */
import { createHash } from "crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { startLambdaChild, type LambdaChild } from "../scripts/lib/lambda-child";
import { startOriginServer, type OriginServer } from "../scripts/lib/origin-server";
import { startS3Server, type S3Server } from "../scripts/lib/s3-server";
import { startSfnEndpoint, type SfnEndpoint } from "../scripts/lib/sfn-endpoint";
import {
  BUCKET,
  FD_LIMIT,
  MAX_RECEIVES,
  WORKER_ENV,
  asOutcome,
  bundlePath,
  childEnv,
  getBytes,
  runTask,
  testS3,
} from "./helpers/function-integration";
import { sqsEvent, sqsRecord } from "./helpers/lambda-events";

const MAX_BYTES = 10 * 1024 * 1024;
/** Roomy, so a 9 MiB upload on a busy machine never hits it; the timeout test uses its own child. */
const TIMEOUT_MS = 15_000;
const SHORT_TIMEOUT_MS = 1000;

let s3server: S3Server;
let origin: OriginServer;
let sfn: SfnEndpoint;
let s3: S3Client;
let child: LambdaChild;
let index = 0;

beforeAll(async () => {
  [s3server, origin, sfn] = await Promise.all([startS3Server({ buckets: [BUCKET] }), startOriginServer(), startSfnEndpoint()]);
  s3 = testS3(s3server.endpoint);
  child = await startFetcher(TIMEOUT_MS);
});

function startFetcher(timeoutMs: number): Promise<LambdaChild> {
  return startLambdaChild({
    bundle: bundlePath("fetcher"),
    functionName: "fetcher",
    env: childEnv(
      { s3: s3server.endpoint, sfn: sfn.endpoint },
      {
        ...WORKER_ENV,
        ALLOW_HTTP: "true", // the local origin speaks plain HTTP
        FETCH_ALLOW_PRIVATE: `127.0.0.1:${origin.port}`, // only the origin, not S3's port nor localhost
        FETCH_MAX_BYTES: String(MAX_BYTES),
        FETCH_TIMEOUT_MS: String(timeoutMs),
        FETCH_MAX_REDIRECTS: "3",
      },
    ),
  });
}

afterAll(async () => {
  await child?.close();
  s3?.destroy();
  await Promise.all([s3server?.close(), origin?.close(), sfn?.close()]);
});

/**
 * Fetches `url` as a new item of job "fetch" through a task message on its last
 * receive (so a transient error is answered too); `out` is the token's answer.
 */
async function fetchUrl(url: string, receiveCount = MAX_RECEIVES) {
  const item = index++;
  const run = await runTask(child, sfn, { jobId: "fetch", index: item, url }, { receiveCount });
  expect(run.response).toEqual({ ok: true, result: { batchItemFailures: [] } });
  return { out: asOutcome(run), key: `jobs/fetch/raw/${item}`, run };
}

describe("fetcher bundle over loopback HTTP under ulimit -n 1024", () => {
  test("logs the FETCH_ALLOW_PRIVATE exemption at init", () => {
    expect(child.initError).toBeUndefined();
    expect(child.output()).toMatch(/FETCH_ALLOW_PRIVATE exempts origins/);
  });

  test("streams a text body into raw/{index} and returns its size, sha256 and content type", async () => {
    const { out, key } = await fetchUrl(`${origin.url}/text?lines=500`);

    const stored = await getBytes(s3, key);
    expect(stored).toBeDefined();
    expect(out).toEqual({
      ok: true,
      result: {
        key,
        bytes: stored?.length,
        sha256: createHash("sha256").update(stored as Buffer).digest("hex"),
        contentType: "text/plain; charset=utf-8",
      },
    });
    expect(stored?.toString().split("\n")[499]).toBe("line 499");
  });

  test("stores a 9 MiB chunked body through a multipart upload", async () => {
    const { out, key } = await fetchUrl(`${origin.url}/bytes?size=${9 * 1024 * 1024}&chunked=1`);

    expect(out).toMatchObject({ ok: true, result: { bytes: 9 * 1024 * 1024 } });
    expect((await getBytes(s3, key))?.length).toBe(9 * 1024 * 1024);
  });

  test.each([
    ["a declared Content-Length over the cap", `/bytes?size=${MAX_BYTES + 1}`],
    ["a chunked body that grows over the cap", `/bytes?size=${MAX_BYTES + 100_000}&chunked=1`],
  ])("answers FetchTooLargeError for %s and stores nothing", async (_name, path) => {
    const { out, key } = await fetchUrl(`${origin.url}${path}`);

    expect(out).toMatchObject({ ok: false, error: { name: "FetchTooLargeError" } });
    expect(await getBytes(s3, key)).toBeUndefined();
  });

  test("answers FetchTimeoutError for an origin that never answers", async () => {
    const short = await startFetcher(SHORT_TIMEOUT_MS);
    try {
      const started = Date.now();
      const run = await runTask(short, sfn, { jobId: "fetch", index: 9999, url: `${origin.url}/hang` }, { receiveCount: MAX_RECEIVES });

      expect(asOutcome(run)).toMatchObject({ ok: false, error: { name: "FetchTimeoutError", message: expect.stringMatching(/\(transient, last of 3 receives\)$/) } });
      expect(Date.now() - started).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS - 50);
      expect(Date.now() - started).toBeLessThan(SHORT_TIMEOUT_MS + 3000);
      expect(short.exited()).toBeUndefined();
    } finally {
      await short.close();
    }
  });

  test.each([
    ["a 500", "/status?code=500", "OriginUnavailableError"],
    ["a 503", "/status?code=503", "OriginUnavailableError"],
    ["a reset connection", "/reset", "OriginUnavailableError"],
    ["a 404", "/status?code=404", "OriginHttpError"],
    ["a 403", "/status?code=403", "OriginHttpError"],
  ])("answers %s with %s", async (_name, path, errorName) => {
    const { out } = await fetchUrl(`${origin.url}${path}`);

    expect(out).toMatchObject({ ok: false, error: { name: errorName } });
  });

  test.each([
    ["a file: URL", () => "file:///etc/passwd"],
    ["an ftp: URL", () => "ftp://127.0.0.1/file"],
    ["a gopher: URL", () => "gopher://127.0.0.1:70/1"],
    ["the instance metadata address", () => "http://169.254.169.254/latest/meta-data/"],
    ["127.0.0.1 on a port not in the allow list", () => `http://127.0.0.1:${s3server.port}/`],
    ["IPv6 loopback", () => `http://[::1]:${origin.port}/text`],
    ["a private 10/8 address", () => "http://10.0.0.1/"],
    ["IPv4-mapped IPv6 loopback", () => `http://[::ffff:127.0.0.1]:${origin.port}/text`],
    ["a host name that resolves to loopback", () => `http://localhost:${origin.port}/text`],
    ["a redirect to a private address", () => `${origin.url}/redirect?to=${encodeURIComponent("http://10.0.0.1/")}`],
    ["a redirect to the metadata address", () => `${origin.url}/redirect?to=${encodeURIComponent("http://169.254.169.254/")}`],
    ["a redirect to a loopback port not in the allow list", () => `${origin.url}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${s3server.port}/`)}`],
  ])("refuses %s with FetchRefusedError before connecting", async (_name, url) => {
    const target = url();
    const served = origin.requests.length;
    const started = Date.now();
    const { out, key } = await fetchUrl(target);

    expect(out).toMatchObject({ ok: false, error: { name: "FetchRefusedError" } });
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS); // refused, not timed out trying to connect
    // The origin served the redirect hop, if any, and nothing else.
    expect(origin.requests.length - served).toBe(target.startsWith(`${origin.url}/redirect`) ? 1 : 0);
    expect(await getBytes(s3, key)).toBeUndefined();
  });

  test("follows a redirect within the allowed origin and counts the hops", async () => {
    const target = `${origin.url}/text?lines=3`;
    const ok = await fetchUrl(`${origin.url}/redirect?to=${encodeURIComponent(target)}`);
    const chain = (n: number): string => (n === 0 ? target : `${origin.url}/redirect?to=${encodeURIComponent(chain(n - 1))}`);
    const tooMany = await fetchUrl(chain(4));

    expect(ok.out).toMatchObject({ ok: true, result: { bytes: Buffer.byteLength("line 0\nline 1\nline 2\n") } });
    expect(tooMany.out).toMatchObject({ ok: false, error: { name: "OriginHttpError", message: expect.stringMatching(/more than 3 redirects/) } });
  });

  test.each([
    ["a bad jobId", { jobId: "a/b", index: 0, url: "https://example.com/" }],
    ["a missing url", { jobId: "ok", index: 0 }],
    ["a string index", { jobId: "ok", index: "0", url: "https://example.com/" }],
    ["a URL that does not parse", { jobId: "ok", index: 0, url: "not a url" }],
  ])("answers InvalidInputError for %s", async (_name, input) => {
    const run = await runTask(child, sfn, input);

    expect(asOutcome(run)).toMatchObject({ ok: false, error: { name: "InvalidInputError" } });
  });

  test("hands a transient failure back to the queue before the last receive, and answers it on the last", async () => {
    // GIVEN an origin that answers 503, on the first of 3 receives
    const input = { jobId: "fetch", index: index++, url: `${origin.url}/status?code=503` };
    const first = await runTask(child, sfn, input, { receiveCount: 1 });

    // THEN the message goes back to the queue and the token is left open
    expect(first.response).toEqual({ ok: true, result: { batchItemFailures: [{ itemIdentifier: first.messageId }] } });
    expect(first.answer).toBeUndefined();
    expect(first.heartbeats).toBe(1);

    // AND on the last receive the failure is reported with its name
    const last = await runTask(child, sfn, input, { receiveCount: MAX_RECEIVES, token: first.token });
    expect(last.response).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(last.answer).toEqual({ kind: "failure", error: "OriginUnavailableError", cause: expect.stringMatching(/answered 503 \(transient, last of 3 receives\)$/) });
  });

  test("skips a delivery whose token is already closed: nothing is fetched, the message is acknowledged", async () => {
    const closedBefore = sfn.taskCalls().closed;
    const served = origin.requests.length;
    const item = index++;

    const run = await runTask(child, sfn, { jobId: "fetch", index: item, url: `${origin.url}/text?lines=5` }, { open: false });

    expect(run.response).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(run.answer).toBeUndefined();
    expect(origin.requests.length).toBe(served);
    expect(sfn.taskCalls().closed - closedBefore).toBe(1); // the first heartbeat, and nothing after it
    expect(await getBytes(s3, `jobs/fetch/raw/${item}`)).toBeUndefined();
  });

  test("lists a message without a task token in batchItemFailures (it cannot be answered)", async () => {
    const record = sqsRecord({ input: { jobId: "fetch", index: 0, url: `${origin.url}/text` } });
    const served = origin.requests.length;

    const out = await child.invoke(sqsEvent(record));

    expect(out).toEqual({ ok: true, result: { batchItemFailures: [{ itemIdentifier: record.messageId }] } });
    expect(origin.requests.length).toBe(served);
    expect(child.output()).toMatch(/cannot be answered/);
  });

  test("kept its open file descriptors within MAX_SOCKETS + 40 and never crashed", async () => {
    const fds = await child.fds();
    console.log(`[fetcher] open fds peak ${fds.peak} (limit ${FD_LIMIT}), ${fds.samples} samples`);
    expect(fds.peak).toBeLessThanOrEqual(FD_LIMIT);
    expect(child.exited()).toBeUndefined();
  });
});
