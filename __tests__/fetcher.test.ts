/**
 * fetcher: the address guard for every address class, the scheme rules, the
 * DNS-rebinding-safe lookup, and the fetch logic against a local origin on
 * 127.0.0.1 with S3 mocked. No test connects anywhere but 127.0.0.1.
 */
import { capturedObservability } from "./helpers/captured-output";
import { FUNCTION_TEST_ENV } from "./helpers/function-env";
import { createHash } from "crypto";
import type { LookupAddress } from "dns";
import { CreateMultipartUploadCommand, PutObjectCommand, S3Client, UploadPartCommand } from "@aws-sdk/client-s3";
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { loadFetcherConfig, type FetcherConfig } from "../functions/fetcher/config";
import { Deadline, createFetchAgents, fetchToS3, safeContentType, statusError, type FetcherDeps } from "../functions/fetcher/fetch";
import { blockedReason, checkUrl, guardedLookup, originOf } from "../functions/fetcher/guard";
import { s3Client, sfnClient } from "../functions/shared/clients";
import { FetchRefusedError, FetchTimeoutError } from "../functions/shared/errors";
import { redactText, redactUrl } from "../functions/shared/redact";
import { startOriginServer, type OriginServer } from "../scripts/lib/origin-server";
import { lambdaContext, quietObservability, sqsEvent, taskRecord } from "./helpers/lambda-events";

const s3Mock = mockClient(S3Client);
const sfnMock = mockClient(SFNClient);
let origin: OriginServer;

beforeAll(async () => {
  origin = await startOriginServer();
});
afterAll(() => origin.close());
beforeEach(() => {
  s3Mock.reset();
  s3Mock.on(PutObjectCommand).resolves({ ETag: '"e"' });
  sfnMock.reset();
  sfnMock.on(SendTaskHeartbeatCommand).resolves({});
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
});

const policy = (allowHttp = false, allowPrivate: string[] = []) => ({ allowHttp, allowPrivate: new Set(allowPrivate) });

function deps(overrides: Partial<FetcherConfig> = {}, lookup = guardedLookup()): FetcherDeps {
  const config: FetcherConfig = {
    ...loadFetcherConfig(FUNCTION_TEST_ENV),
    allowHttp: true,
    allowPrivate: new Set([`127.0.0.1:${origin.port}`]),
    ...overrides,
  };
  return { s3: s3Client(), sfn: sfnClient(), config, agents: createFetchAgents(config), lookup, ...quietObservability() };
}


/** A resolver that answers `addresses` for any name and counts calls. */
function fakeResolver(...answers: string[][]) {
  let call = 0;
  const resolve = jest.fn((_host: string, _options: unknown, callback: (e: NodeJS.ErrnoException | null, a: LookupAddress[]) => void) => {
    const addresses = answers[Math.min(call++, answers.length - 1)];
    callback(null, addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })));
  });
  return resolve;
}

function lookupOnce(lookup: ReturnType<typeof guardedLookup>, host: string, all: boolean) {
  return new Promise<{ error: Error | null; address: unknown; family?: number }>((resolve) =>
    lookup(host, { all }, (error, address, family) => resolve({ error, address, family })),
  );
}

describe("address guard (allow-list: only global unicast, per ipaddr.js)", () => {
  test.each([
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["127.0.0.1", "loopback"],
    ["127.255.10.1", "loopback"],
    ["::1", "loopback"],
    ["10.0.0.1", "private"],
    ["10.255.255.255", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "link-local"],
    ["169.254.0.1", "link-local"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["febf::1", "link-local"],
    ["fc00::1", "unique-local"],
    ["fd12:3456::1", "unique-local"],
    ["fec0::1", "site-local (deprecated)"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["100.127.255.255", "carrier-grade NAT"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["192.0.2.1", "reserved"],
    ["198.18.0.1", "reserved"],
    ["2001:db8::1", "reserved"],
    ["100::1", "discard-only"],
    ["::ffff:10.0.0.1", "private (embedded IPv4 10.0.0.1)"],
    ["::ffff:127.0.0.1", "loopback (embedded IPv4 127.0.0.1)"],
    ["::ffff:169.254.169.254", "link-local (embedded IPv4 169.254.169.254)"],
    ["::ffff:7f00:1", "loopback (embedded IPv4 127.0.0.1)"],
    ["::ffff:0:10.0.0.1", "private (embedded IPv4 10.0.0.1)"],
    ["::ffff:0:a9fe:a9fe", "link-local (embedded IPv4 169.254.169.254)"],
    ["64:ff9b::a00:1", "private (embedded IPv4 10.0.0.1)"],
    ["64:ff9b::a9fe:a9fe", "link-local (embedded IPv4 169.254.169.254)"],
    ["64:ff9b:1::808:808", "local-use NAT64 (64:ff9b:1::/48)"],
    ["::127.0.0.1", "IPv4-compatible (deprecated, embedded IPv4 127.0.0.1)"],
    ["::8.8.8.8", "IPv4-compatible (deprecated, embedded IPv4 8.8.8.8)"],
    ["2002:7f00:1::", "6to4 (embedded IPv4 127.0.0.1)"],
    ["2002:808:808::1", "6to4 (embedded IPv4 8.8.8.8)"],
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo (server IPv4 65.54.227.120)"],
    ["4000::1", "outside global unicast (2000::/3)"],
    ["2606:4700:4700::1111%eth0", "scoped (zone id %eth0)"],
    ["127.1", "not an IP address"],
    ["2130706433", "not an IP address"],
    ["not-an-ip", "not an IP address"],
  ])("refuses %s (%s)", (address, reason) => {
    expect(blockedReason(address)).toBe(reason);
  });

  test.each([
    "8.8.8.8",
    "1.1.1.1",
    "172.15.255.255",
    "172.32.0.1",
    "100.63.255.255",
    "100.128.0.1",
    "192.169.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81c::200e",
    "::ffff:8.8.8.8",
    "::ffff:0:8.8.8.8",
    "64:ff9b::808:808",
  ])("lets the global unicast address %s through", (address) => {
    expect(blockedReason(address)).toBeUndefined();
  });
});

describe("URL checks before connecting", () => {
  test.each(["file:///etc/passwd", "ftp://example.com/", "gopher://example.com/", "data:text/plain,hi", "javascript:alert(1)", "ws://example.com/"])(
    "refuses the scheme of %s",
    (url) => {
      expect(() => checkUrl(new URL(url), policy(true))).toThrow(FetchRefusedError);
    },
  );

  test("refuses http: unless ALLOW_HTTP is true; always allows https:", () => {
    expect(() => checkUrl(new URL("http://example.com/"), policy(false))).toThrow(/scheme "http:" is not allowed \(only https:\)/);
    expect(checkUrl(new URL("http://example.com/"), policy(true))).toEqual({ guarded: true });
    expect(checkUrl(new URL("https://example.com/"), policy(false))).toEqual({ guarded: true });
  });

  test.each([
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://0x7f.1/", // the URL parser turns this into 127.0.0.1
    "http://2130706433/", // and this too
    "http://0/",
    "https://100.64.1.1/",
  ])("refuses the literal IP host of %s", (url) => {
    expect(() => checkUrl(new URL(url), policy(true))).toThrow(FetchRefusedError);
  });

  test.each([
    ["https://example.com:8443/", false, /^port 8443 is not allowed \(allowed: 443\): https:\/\/example\.com:8443\/$/],
    ["https://example.com:80/", false, /^port 80 is not allowed \(allowed: 443\)/],
    ["http://example.com:8080/", true, /^port 8080 is not allowed \(allowed: 443, 80\)/],
    ["https://8.8.8.8:22/", true, /^port 22 is not allowed \(allowed: 443, 80\)/],
  ])("refuses %s (ALLOW_HTTP %s) for its port, naming the allowed ones", (url, allowHttp, message) => {
    expect(() => checkUrl(new URL(url), policy(allowHttp))).toThrow(FetchRefusedError);
    expect(() => checkUrl(new URL(url), policy(allowHttp))).toThrow(message);
  });

  test("accepts the fetchable ports: 443, and 80 with ALLOW_HTTP (explicit or the scheme's default)", () => {
    for (const url of ["https://example.com/", "https://example.com:443/", "http://example.com/", "http://example.com:80/", "https://example.com:80/"]) {
      expect(checkUrl(new URL(url), policy(true))).toEqual({ guarded: true });
    }
  });

  test("FETCH_ALLOW_PRIVATE exempts exactly the listed host:port origins, from the address and port rules", () => {
    const p = policy(true, ["127.0.0.1:8080", "internal.test:443"]);
    expect(checkUrl(new URL("http://127.0.0.1:8080/x"), p)).toEqual({ guarded: false });
    expect(() => checkUrl(new URL("http://127.0.0.1:8081/x"), p)).toThrow(/port 8081 is not allowed/);
    expect(() => checkUrl(new URL("http://127.0.0.1/x"), p)).toThrow(/address 127\.0\.0\.1 is loopback/);
    expect(checkUrl(new URL("https://internal.test/"), p)).toEqual({ guarded: false });
    expect(checkUrl(new URL("http://internal.test/"), p)).toEqual({ guarded: true }); // port 80 is not listed
    expect(() => checkUrl(new URL("ftp://127.0.0.1:8080/"), p)).toThrow(/scheme "ftp:"/); // the scheme rule still applies
  });

  test("originOf fills in the default port and keeps IPv6 brackets", () => {
    expect(originOf(new URL("https://Example.com/a"))).toBe("example.com:443");
    expect(originOf(new URL("http://[::1]:9/"))).toBe("[::1]:9");
  });
});

describe("guarded DNS lookup", () => {
  test("passes public answers through in both the single and the all form", async () => {
    const lookup = guardedLookup(fakeResolver(["93.184.216.34", "2606:2800:220:1::1"]));

    expect(await lookupOnce(lookup, "example.com", false)).toEqual({ error: null, address: "93.184.216.34", family: 4 });
    expect((await lookupOnce(lookup, "example.com", true)).address).toHaveLength(2);
  });

  test("refuses a name when any of its addresses is blocked", async () => {
    const lookup = guardedLookup(fakeResolver(["93.184.216.34", "10.1.2.3"]));

    const { error } = await lookupOnce(lookup, "mixed.example", true);

    expect(error).toBeInstanceOf(FetchRefusedError);
    expect(error?.message).toMatch(/mixed\.example resolves to 10\.1\.2\.3, which is private/);
  });

  test("checks every resolution: a rebinding answer on the second lookup is refused", async () => {
    const lookup = guardedLookup(fakeResolver(["93.184.216.34"], ["169.254.169.254"]));

    expect((await lookupOnce(lookup, "rebind.example", false)).error).toBeNull();
    expect((await lookupOnce(lookup, "rebind.example", false)).error).toBeInstanceOf(FetchRefusedError);
  });

  test("the connection uses the guarded lookup: a name resolving to 127.0.0.1 is refused before a socket connects", async () => {
    // Port 80 (a fetchable port, where nothing listens here): were the lookup not the guarded one, this would connect and fail with ECONNREFUSED.
    const resolver = fakeResolver(["127.0.0.1"]);

    const run = fetchToS3({ jobId: "j", index: 0, url: "http://rebind.test/text" }, deps({}, guardedLookup(resolver)));

    await expect(run).rejects.toMatchObject({ name: "FetchRefusedError", message: expect.stringMatching(/resolves to 127\.0\.0\.1, which is loopback/) });
    expect(resolver).toHaveBeenCalledWith("rebind.test", expect.objectContaining({ all: true }), expect.any(Function));
  });
});

describe("fetchToS3", () => {
  test("streams the body to raw/{index} and returns key, bytes, sha256 and content type", async () => {
    const out = await fetchToS3({ jobId: "job", index: 4, url: `${origin.url}/text?lines=2` }, deps());

    expect(out).toEqual({
      key: "jobs/job/raw/4",
      bytes: 14,
      sha256: createHash("sha256").update("line 0\nline 1\n").digest("hex"),
      contentType: "text/plain; charset=utf-8",
    });
    const put = s3Mock.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(put).toMatchObject({ Bucket: "work-bucket", Key: "jobs/job/raw/4", ContentType: "text/plain; charset=utf-8" });
  });

  test.each([
    [{ jobId: "j", index: 0 }],
    [{ jobId: "j j", index: 0, url: "https://example.com/" }],
    [{ jobId: "j", index: 1.5, url: "https://example.com/" }],
    [null],
  ])("refuses invalid input %j with InvalidInputError", async (event) => {
    await expect(fetchToS3(event, deps())).rejects.toMatchObject({ name: "InvalidInputError" });
  });

  test("refuses http://10.0.0.1/ and https://10.0.0.1/ without asking either agent for a connection", async () => {
    const d = deps();
    // Every request goes through the module-scope agents: addRequest is where a socket would be taken.
    type Pooled = { addRequest: () => void };
    const httpRequests = jest.spyOn(d.agents.http as unknown as Pooled, "addRequest");
    const httpsRequests = jest.spyOn(d.agents.https as unknown as Pooled, "addRequest");

    for (const url of ["http://10.0.0.1/", "https://10.0.0.1/"]) {
      await expect(fetchToS3({ jobId: "j", index: 0, url }, d)).rejects.toMatchObject({ name: "FetchRefusedError" });
    }
    expect(httpsRequests).not.toHaveBeenCalled();
    expect(httpRequests).not.toHaveBeenCalled();
    // The spy does see a request the guard lets through.
    await expect(fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/text` }, d)).resolves.toMatchObject({ bytes: 70 });
    expect(httpRequests).toHaveBeenCalledTimes(1);
  });

  test("refuses http: when ALLOW_HTTP is false", async () => {
    await expect(fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/text` }, deps({ allowHttp: false }))).rejects.toMatchObject({
      name: "FetchRefusedError",
    });
  });

  test("times out a never-answering origin with FetchTimeoutError", async () => {
    await expect(fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/hang` }, deps({ fetchTimeoutMs: 200 }))).rejects.toMatchObject({
      name: "FetchTimeoutError",
    });
  });

  test("caps the counted bytes of a body without Content-Length with FetchTooLargeError", async () => {
    await expect(fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/bytes?size=5000&chunked=1` }, deps({ fetchMaxBytes: 4096 }))).rejects.toMatchObject({
      name: "FetchTooLargeError",
    });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  test("turns a transient S3 failure into StorageUnavailableError and keeps a permanent one's name", async () => {
    s3Mock.on(PutObjectCommand).rejects(Object.assign(new Error("slow down"), { name: "SlowDown", $metadata: { httpStatusCode: 503 } }));
    await expect(fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/text` }, deps())).rejects.toMatchObject({ name: "StorageUnavailableError" });

    s3Mock.on(PutObjectCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } }));
    await expect(fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/text` }, deps())).rejects.toMatchObject({ name: "AccessDenied" });
  });

  test("uses a multipart upload for a body larger than one part, with TASK_CONCURRENCY parts in flight", async () => {
    let active = 0;
    let peak = 0;
    s3Mock.onAnyCommand().resolves({ ETag: '"e"', UploadId: "u" });
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: "u" });
    s3Mock.on(UploadPartCommand).callsFake(async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return { ETag: '"p"' };
    });
    const size = 25 * 1024 * 1024; // 4 parts of at most 8 MiB
    // Not a timeout test: 25 MiB through a loaded 2-core machine can take longer than the test env's 2 s.

    const out = await fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/bytes?size=${size}` }, deps({ fetchMaxBytes: 32 * 1024 * 1024, taskConcurrency: 2, fetchTimeoutMs: 30_000 }));

    expect(out.bytes).toBe(size);
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)).toHaveLength(1);
    expect(s3Mock.commandCalls(UploadPartCommand)).toHaveLength(4);
    expect(peak).toBeLessThanOrEqual(2);
  });

  test("the outbound agents keep connections alive, each bounded by FETCH_MAX_SOCKETS (not MAX_SOCKETS)", () => {
    const { agents } = deps({ maxSockets: 16, fetchMaxSockets: 3 });
    for (const agent of [agents.http, agents.https]) {
      expect(agent.maxSockets).toBe(3);
      expect(agent.maxTotalSockets).toBe(3);
      expect((agent as unknown as { keepAlive: boolean }).keepAlive).toBe(true);
    }
  });
});

describe("every fetch settles by its deadline", () => {
  test("a 101 upgrade answer fails with OriginHttpError at once instead of holding the invocation", async () => {
    const started = Date.now();

    const run = fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/raw-status?code=101&upgrade=1` }, deps({ fetchTimeoutMs: 5_000 }));

    await expect(run).rejects.toMatchObject({ name: "OriginHttpError", message: expect.stringMatching(/101 Switching Protocols/) });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  test.each([
    ["headers that never come", "/hang"],
    ["a body that stalls", "/stall-body?size=1000"],
    ["a body that drips forever", "/drip?everyMs=20"],
    ["a 100 Continue and nothing after it", "/informational?code=100"],
  ])("%s ends with FetchTimeoutError within the deadline", async (_name, path) => {
    const started = Date.now();

    await expect(fetchToS3({ jobId: "j", index: 0, url: `${origin.url}${path}` }, deps({ fetchTimeoutMs: 300 }))).rejects.toMatchObject({
      name: "FetchTimeoutError",
      message: expect.stringMatching(/did not finish within 300 ms/),
    });
    expect(Date.now() - started).toBeLessThan(300 + 1_000);
  });

  test("the deadline destroys what it holds with its error and rejects `expired`, at its time", async () => {
    const deadline = new Deadline(50, () => new FetchTimeoutError("late"));
    const held = { destroy: jest.fn() };
    deadline.hold(held);
    const started = Date.now();

    await expect(deadline.expired).rejects.toThrow("late");

    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(held.destroy).toHaveBeenCalledWith(expect.objectContaining({ name: "FetchTimeoutError" }));
    const late = { destroy: jest.fn() };
    deadline.hold(late); // held after it fired: destroyed at once
    expect(late.destroy).toHaveBeenCalledTimes(1);
  });

  test("a cleared deadline neither fires nor destroys", async () => {
    const deadline = new Deadline(20, () => new FetchTimeoutError("late"));
    const held = { destroy: jest.fn() };
    deadline.hold(held);
    deadline.clear();

    await new Promise((r) => setTimeout(r, 60));

    expect(held.destroy).not.toHaveBeenCalled();
    expect(deadline.error).toBeUndefined();
  });
});

describe("origin answers and metadata", () => {
  const url = new URL("https://origin.example/file?token=secret");

  test.each([
    [0, "OriginHttpError"],
    [99, "OriginHttpError"],
    [101, "OriginHttpError"],
    [304, "OriginHttpError"],
    [404, "OriginHttpError"],
    [408, "OriginUnavailableError"],
    [429, "OriginUnavailableError"],
    [500, "OriginUnavailableError"],
    [599, "OriginUnavailableError"],
    [600, "OriginHttpError"],
    [999, "OriginHttpError"],
  ])("classifies a final status %d as %s", (status, name) => {
    const error = statusError(status, url);
    expect(error.name).toBe(name);
    expect(error.message).not.toMatch(/token|secret/);
  });

  test("names a status outside 100-599 as not HTTP", () => {
    expect(statusError(600, url).message).toBe("https://origin.example/file?[redacted] answered status 600, outside HTTP's 100-599");
  });

  test.each([
    ["a type with a parameter", "text/plain; charset=utf-8", "text/plain; charset=utf-8"],
    ["a quoted parameter", 'multipart/form-data; boundary="a b;c"', 'multipart/form-data; boundary="a b;c"'],
    ["a structured suffix", "application/vnd.api+json", "application/vnd.api+json"],
    ["surrounding whitespace (trimmed)", "  text/html  ", "text/html"],
    ["an empty parameter (RFC 9110 allows it)", "text/plain;", "text/plain;"],
    ["exactly 256 characters", `text/plain; a=${"b".repeat(242)}`, `text/plain; a=${"b".repeat(242)}`],
    ["the first of two headers", ["image/png", "text/html"], "image/png"],
    ["no header", undefined, "application/octet-stream"],
    ["an empty value", "", "application/octet-stream"],
    ["a type without a subtype", "text", "application/octet-stream"],
    ["an empty subtype", "text/", "application/octet-stream"],
    ["markup", "text/html<script>", "application/octet-stream"],
    ["a non-ASCII parameter", "text/plain; charset=ütf-8", "application/octet-stream"],
    ["an unterminated quoted string", 'text/plain; charset="unterminated', "application/octet-stream"],
    ["257 characters", `text/plain; a=${"b".repeat(243)}`, "application/octet-stream"],
  ])("content type: %s", (_name, header, expected) => {
    expect(safeContentType(header)).toBe(expected);
  });

  test("stores a long or invalid Content-Type as application/octet-stream", async () => {
    const out = await fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/content-type?value=${encodeURIComponent("x".repeat(300) + "/y")}` }, deps());

    expect(out.contentType).toBe("application/octet-stream");
    expect(s3Mock.commandCalls(PutObjectCommand)[0].args[0].input.ContentType).toBe("application/octet-stream");
  });
});

describe("log redaction (shared/redact.ts)", () => {
  test.each([
    ["a URL with userinfo, query and fragment", "fetch of https://user:pass@ex.com:444/a/b?token=abc#frag failed", "fetch of https://[redacted]@ex.com:444/a/b?[redacted] failed"],
    ["a URL without secrets (unchanged)", "http://127.0.0.1:8080/status answered 500", "http://127.0.0.1:8080/status answered 500"],
    ["a truncated URL in a JSON excerpt", 'Unexpected token, "https://user:pass@ex"... is not valid JSON', 'Unexpected token, "https://[redacted]@ex"... is not valid JSON'],
    ["an excerpt that lost the scheme, with a query", 'Unexpected token, "e.com/x?token=secret" is not valid', 'Unexpected token, "e.com/x?[redacted]" is not valid'],
    ["an excerpt that lost the scheme, with userinfo", '"user:pass@"... is not valid JSON', '"[redacted]@"... is not valid JSON'],
    ["several URLs", "from http://a/?t=1 to ftp://u@b/c", "from http://a/?[redacted] to ftp://[redacted]@b/c"],
    ["text without URLs (unchanged)", "Error: something @ 3 ms; 50% done?", "Error: something @ 3 ms; 50% done?"],
  ])("redactText: %s", (_name, text, expected) => {
    expect(redactText(text)).toBe(expected);
  });

  test("redactUrl keeps scheme, host, port and path, and marks what it removed", () => {
    expect(redactUrl(new URL("https://u:p@h.example:8443/p/q?x=1#f"))).toBe("https://[redacted]@h.example:8443/p/q?[redacted]#[redacted]");
    expect(redactUrl("http://h.example/p")).toBe("http://h.example/p");
    expect(redactUrl("not a url ?token=1")).toBe("not a url ?[redacted]");
  });
});

describe("fetcher logs are redacted", () => {
  test("the redirect, fetched and failure lines carry no userinfo and no query string", async () => {
    const logs = capturedObservability("fetcher");
    try {
      const d = { ...deps(), logger: logs.logger, metrics: logs.metrics };
      const target = `http://user:pass@127.0.0.1:${origin.port}/text?lines=1&token=SECRET`;

      await fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/redirect?token=SECRET&to=${encodeURIComponent(target)}` }, d);
      await expect(fetchToS3({ jobId: "j", index: 1, url: `http://user:pass@127.0.0.1:${origin.port}/status?code=500&token=SECRET` }, d)).rejects.toMatchObject({
        message: expect.not.stringMatching(/user:pass|SECRET/),
      });
      logs.logger.warn("task failed", { error: `a library message quoting http://user:pass@host/?token=SECRET` });
    } finally {
      logs.restore();
    }

    expect(logs.lines.some((l) => /following a redirect/.test(l))).toBe(true);
    expect(logs.lines.some((l) => /"fetched"/.test(l))).toBe(true);
    expect(logs.lines.some((l) => /"task failed"/.test(l))).toBe(true);
    expect(logs.lines.filter((l) => /user:pass@|token=|SECRET/.test(l))).toEqual([]);
    expect(logs.lines.join("\n")).toContain("?[redacted]");
  });
});

describe("fetcher handler", () => {
  test("consumes a work-queue message and answers its task token with the fetch's outcome", async () => {
    // GIVEN the handler as deployed: its configuration from the environment, where ALLOW_HTTP is unset
    const { handler } = await import("../functions/fetcher/handler");
    const refused = taskRecord({ jobId: "h", index: 0, url: `http://127.0.0.1:${origin.port}/text` });
    const served = origin.requests.length;

    // WHEN it gets a task for an http: URL
    const out = await handler(sqsEvent(refused), lambdaContext("fetcher"));

    // THEN the message is acknowledged and the token answered with the named error; nothing was fetched
    expect(out).toEqual({ batchItemFailures: [] });
    expect(sfnMock.commandCalls(SendTaskFailureCommand).map((c) => c.args[0].input)).toEqual([
      { taskToken: refused.token, error: "FetchRefusedError", cause: expect.stringMatching(/scheme "http:" is not allowed/) },
    ]);
    expect(sfnMock.commandCalls(SendTaskHeartbeatCommand)).toHaveLength(1);
    expect(origin.requests.length).toBe(served);
  });
});
