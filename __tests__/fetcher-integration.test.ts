/**
 * The bundled fetcher in a child process under `ulimit -n 1024`, consuming
 * work-queue messages (`{ taskToken, input }`), fetching from a local origin
 * over real HTTP, storing into a loopback S3 server and answering each task
 * token at a loopback Step Functions endpoint. Only 127.0.0.1 is ever connected
 * to: every other address in here must be refused before a connection is attempted.
 *
 * @slow 10 s alone here (starts first, longest first: __tests__/helpers/sequencer.js)
 */
import { createHash } from "crypto";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { startLambdaChild, type LambdaChild } from "../scripts/lib/lambda-child";
import { startOriginServer, type OriginServer } from "../scripts/lib/origin-server";
import { startS3Server, type S3Server } from "../scripts/lib/s3-server";
import { startSfnEndpoint, type SfnEndpoint } from "../scripts/lib/sfn-endpoint";
import {
  BUCKET,
  fdLimit,
  MAX_RECEIVES,
  WORKER_ENV,
  asOutcome,
  bundlePath,
  childEnv,
  getBytes,
  runTask,
} from "./helpers/function-integration";
import { loopbackS3Client } from "../scripts/lib/loopback-s3";
import { sqsEvent, sqsRecord } from "./helpers/lambda-events";

/** Peak open fds allowed: the fetcher's deployed MAX_SOCKETS + 40. */
const FD_LIMIT = fdLimit("fetcher");

const MAX_BYTES = 10 * 1024 * 1024;
/** Roomy, so a 9 MiB upload on a busy machine never hits it; the timeout test uses its own child. */
const TIMEOUT_MS = 15_000;
const SHORT_TIMEOUT_MS = 1000;
/** The bound every hostile answer must end within: FETCH_TIMEOUT_MS + 1 s. */
const SETTLE_BOUND_MS = SHORT_TIMEOUT_MS + 1000;

let s3server: S3Server;
let origin: OriginServer;
let sfn: SfnEndpoint;
let s3: S3Client;
let child: LambdaChild;
let index = 0;

beforeAll(async () => {
  [s3server, origin, sfn] = await Promise.all([startS3Server({ buckets: [BUCKET] }), startOriginServer(), startSfnEndpoint()]);
  s3 = loopbackS3Client(s3server.endpoint);
  child = await startFetcher(TIMEOUT_MS);
});

function startFetcher(timeoutMs: number): Promise<LambdaChild> {
  return startLambdaChild({
    bundle: bundlePath("fetcher"),
    functionName: "fetcher",
    env: childEnv(
      "fetcher",
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
    ["IPv6 loopback", () => "http://[::1]/text"],
    ["a private 10/8 address", () => "http://10.0.0.1/"],
    ["IPv4-mapped IPv6 loopback", () => "http://[::ffff:127.0.0.1]/text"],
    ["IPv4-translated IPv6 loopback", () => "http://[::ffff:0:127.0.0.1]/text"],
    ["NAT64 of the metadata address", () => "http://[64:ff9b::169.254.169.254]/"],
    ["a 6to4 address", () => "http://[2002:7f00:1::1]/"],
    ["a Teredo address", () => "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"],
    ["a deprecated site-local address", () => "http://[fec0::1]/"],
    ["an octal short form of loopback", () => "http://0177.1/"],
    ["a host name that resolves to loopback", () => "http://localhost/text"],
    ["an https: URL on port 8443", () => "https://example.com:8443/"],
    ["loopback on the origin's port through another spelling (not the listed origin)", () => `http://[::ffff:7f00:1]:${origin.port}/text`],
    ["a redirect to a private address", () => `${origin.url}/redirect?to=${encodeURIComponent("http://10.0.0.1/")}`],
    ["a redirect to the metadata address", () => `${origin.url}/redirect?to=${encodeURIComponent("http://169.254.169.254/")}`],
    ["a redirect to a loopback port not in the allow list", () => `${origin.url}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${s3server.port}/`)}`],
    ["a redirect to a public host on a port that is not fetchable", () => `${origin.url}/redirect?to=${encodeURIComponent("https://example.com:8443/")}`],
    ["a redirect to IPv4-mapped loopback", () => `${origin.url}/redirect?to=${encodeURIComponent("http://[::ffff:127.0.0.1]/")}`],
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

/**
 * Hostile origins: every status class and every phase an origin can stall in.
 * One fetcher with a short deadline; each fetch must end by FETCH_TIMEOUT_MS + 1 s
 * with a named error (or succeed), and the child must never crash or hang.
 */
describe("fetcher bundle against hostile origins: every fetch settles by its deadline", () => {
  let short: LambdaChild;
  beforeAll(async () => {
    short = await startFetcher(SHORT_TIMEOUT_MS);
  });
  afterAll(() => short?.close());

  async function timedFetch(path: string) {
    const item = index++;
    const started = Date.now();
    const run = await runTask(short, sfn, { jobId: "hostile", index: item, url: `${origin.url}${path}` }, { receiveCount: MAX_RECEIVES });
    return { out: asOutcome(run), elapsed: Date.now() - started, key: `jobs/hostile/raw/${item}`, run };
  }

  test.each([
    ["101 Switching Protocols with Upgrade (Node hands it to an `upgrade` listener, never to the response)", "/raw-status?code=101&upgrade=1", "OriginHttpError", /101 Switching Protocols \(a protocol upgrade\)/],
    ["a bare 101 without Upgrade", "/raw-status?code=101", "OriginHttpError", /answered 101/],
    ["100 Continue, then nothing", "/informational?code=100", "FetchTimeoutError", /did not finish within 1000 ms/],
    ["103 Early Hints, then nothing", "/informational?code=103", "FetchTimeoutError", /did not finish within 1000 ms/],
    ["an accepted connection that never sends headers", "/hang", "FetchTimeoutError", /did not finish within 1000 ms/],
    ["headers, then a body that stalls half-way", "/stall-body?size=4096", "FetchTimeoutError", /did not finish within 1000 ms/],
    ["headers, then a body that drips one byte every 50 ms forever", "/drip?everyMs=50", "FetchTimeoutError", /did not finish within 1000 ms/],
    ["a connection closed mid-body", "/close-mid-body?size=4096", "OriginUnavailableError", /lost mid-body/],
    ["a 302 without Location", "/raw-status?code=302", "OriginHttpError", /answered 302 without a Location/],
    ["a 304", "/raw-status?code=304", "OriginHttpError", /answered 304/],
    ["a 404", "/raw-status?code=404", "OriginHttpError", /answered 404/],
    ["a 429 (transient)", "/raw-status?code=429", "OriginUnavailableError", /answered 429/],
    ["a 500", "/raw-status?code=500", "OriginUnavailableError", /answered 500/],
    ["a 599", "/raw-status?code=599", "OriginUnavailableError", /answered 599/],
    ["status 600 (outside 100-599: permanent, never retried as a 5xx)", "/raw-status?code=600", "OriginHttpError", /status 600, outside HTTP's 100-599/],
    ["status 999", "/raw-status?code=999", "OriginHttpError", /status 999, outside HTTP's 100-599/],
    ["status 099", "/raw-status?code=099", "OriginHttpError", /status 99, outside HTTP's 100-599/],
    ["status 000", "/raw-status?code=000", "OriginHttpError", /status 0, outside HTTP's 100-599/],
    ["a four-digit status 1000 (a parse error)", "/raw-status?code=1000", "OriginHttpError", /request failed: .*Parse Error/],
    ["an answer that is not HTTP at all", "/not-http", "OriginHttpError", /request failed: .*Parse Error/],
  ])("answers %s with %s by the deadline", async (_name, path, errorName, message) => {
    const { out, elapsed, key } = await timedFetch(path);

    expect(out).toMatchObject({ ok: false, error: { name: errorName, message: expect.stringMatching(message) } });
    expect(elapsed).toBeLessThanOrEqual(SETTLE_BOUND_MS);
    expect(await getBytes(s3, key)).toBeUndefined();
    expect(short.exited()).toBeUndefined();
  });

  test.each([
    ["103 Early Hints, then a 200 (the interim answer is skipped)", "/informational?code=103&then=200", 2],
    ["a 204 No Content", "/raw-status?code=204", 0],
    ["a 200 with an empty body", "/raw-status?code=200", 0],
  ])("stores %s by the deadline", async (_name, path, bytes) => {
    const { out, elapsed } = await timedFetch(path);

    expect(out).toMatchObject({ ok: true, result: { bytes } });
    expect(elapsed).toBeLessThanOrEqual(SETTLE_BOUND_MS);
  });

  test("a permanent answer is failed at once, even on the first receive; a transient one goes back to the queue", async () => {
    const first = (path: string) => runTask(short, sfn, { jobId: "hostile", index: index++, url: `${origin.url}${path}` }, { receiveCount: 1 });

    const outOfRange = await first("/raw-status?code=999");
    const serverError = await first("/raw-status?code=503");

    expect(outOfRange.answer).toMatchObject({ kind: "failure", error: "OriginHttpError" });
    expect(outOfRange.response).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(serverError.answer).toBeUndefined();
    expect(serverError.response).toEqual({ ok: true, result: { batchItemFailures: [{ itemIdentifier: serverError.messageId }] } });
  });

  test.each([
    ["a valid media type with a quoted parameter", 'text/csv; charset="utf-8"', 'text/csv; charset="utf-8"'],
    ["a value over 256 characters", `text/plain; x=${"a".repeat(250)}`, "application/octet-stream"],
    ["a value that is not a media type", "<script>alert(1)</script>", "application/octet-stream"],
    ["a type without a subtype", "text", "application/octet-stream"],
    ["an empty value", "", "application/octet-stream"],
  ])("stores and returns the content type of %s bounded and validated", async (_name, sent, expected) => {
    const { out, key } = await timedFetch(`/content-type?value=${encodeURIComponent(sent)}`);

    expect(out).toMatchObject({ ok: true, result: { contentType: expected } });
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentType).toBe(expected);
  });

  test("never crashed, and kept its open file descriptors within MAX_SOCKETS + 40 after every hostile answer", async () => {
    expect(short.exited()).toBeUndefined();
    expect((await short.fds()).peak).toBeLessThanOrEqual(FD_LIMIT);
  });

  test("no log line carries a URL's userinfo or query string: failed, refused, redirected and timed-out fetches of secret-bearing URLs", async () => {
    // GIVEN URLs whose userinfo and query strings are secrets, on every failing path that logs
    const secret = (path: string) => `http://user:pass@127.0.0.1:${origin.port}${path}${path.includes("?") ? "&" : "?"}token=SECRET-TOKEN`;
    const logged = short.output().length;
    const outcomes = [];
    for (const url of [
      secret("/status?code=503"), // transient, last receive: answered and logged
      secret("/status?code=404"),
      secret("/reset"),
      secret("/hang"), // FetchTimeoutError
      `${origin.url}/redirect?token=SECRET-TOKEN&to=${encodeURIComponent("http://user:pass@10.0.0.1/?token=SECRET-TOKEN")}`,
      "https://user:pass@example.com:8443/?token=SECRET-TOKEN",
      "ftp://user:pass@example.com/?token=SECRET-TOKEN",
    ]) {
      outcomes.push(asOutcome(await runTask(short, sfn, { jobId: "hostile", index: index++, url }, { receiveCount: MAX_RECEIVES })));
    }
    const early = await runTask(short, sfn, { jobId: "fetch", index: index++, url: secret("/status?code=500") }, { receiveCount: 1 });

    // THEN every fetch failed and was logged (the warnings are there)…
    expect(outcomes.map((o) => ("ok" in o && !o.ok ? o.error.name : o))).toEqual([
      "OriginUnavailableError",
      "OriginHttpError",
      "OriginUnavailableError",
      "FetchTimeoutError",
      "FetchRefusedError",
      "FetchRefusedError",
      "FetchRefusedError",
    ]);
    expect(early.response).toMatchObject({ ok: true, result: { batchItemFailures: [{ itemIdentifier: early.messageId }] } });
    const lines = short.output().slice(logged).split("\n").filter(Boolean);
    expect(lines.filter((l) => /task failed|transient failure/.test(l)).length).toBeGreaterThanOrEqual(8);
    expect(lines.join("\n")).toContain("[redacted]");
    // …and no line carries the credentials or the token
    expect(lines.filter((l) => /user:pass@|token=|SECRET-TOKEN/.test(l))).toEqual([]);
    // nor does any task failure's cause (kept in failures/ and status.json)
    expect(outcomes.filter((o) => JSON.stringify(o).match(/user:pass@|SECRET-TOKEN/))).toEqual([]);
  });
});
