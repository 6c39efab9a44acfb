/**
 * fetcher: the address guard for every address class, the scheme rules, the
 * DNS-rebinding-safe lookup, and the fetch logic against a local origin on
 * 127.0.0.1 with S3 mocked. No test connects anywhere but 127.0.0.1.
 */
import { FUNCTION_TEST_ENV } from "./helpers/function-env";
import { createHash } from "crypto";
import * as http from "http";
import type { LookupAddress } from "dns";
import { CreateMultipartUploadCommand, PutObjectCommand, S3Client, UploadPartCommand } from "@aws-sdk/client-s3";
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { loadFetcherConfig, type FetcherConfig } from "../functions/fetcher/config";
import { createFetchAgents, fetchToS3, type FetcherDeps } from "../functions/fetcher/fetch";
import { blockedReason, checkUrl, guardedLookup, originOf } from "../functions/fetcher/guard";
import { s3Client, sfnClient } from "../functions/shared/clients";
import { FetchRefusedError } from "../functions/shared/errors";
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

describe("address guard", () => {
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
    ["100.64.0.1", "carrier-grade NAT"],
    ["100.127.255.255", "carrier-grade NAT"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "reserved or broadcast"],
    ["240.0.0.1", "reserved or broadcast"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:169.254.169.254", "link-local"],
    ["::ffff:7f00:1", "loopback"],
    ["::127.0.0.1", "special-purpose"],
    ["64:ff9b::a00:1", "private (embedded IPv4 10.0.0.1)"],
    ["64:ff9b::a9fe:a9fe", "link-local (embedded IPv4 169.254.169.254)"],
    ["2002:7f00:1::", "loopback (embedded IPv4 127.0.0.1)"],
    ["not-an-ip", "not an IP address"],
  ])("refuses %s (%s)", (address, reason) => {
    expect(blockedReason(address)).toBe(reason);
  });

  test.each(["8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1", "192.169.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])(
    "lets the public address %s through",
    (address) => {
      expect(blockedReason(address)).toBeUndefined();
    },
  );
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

  test("FETCH_ALLOW_PRIVATE exempts exactly the listed host:port origins", () => {
    const p = policy(true, ["127.0.0.1:8080", "internal.test:443"]);
    expect(checkUrl(new URL("http://127.0.0.1:8080/x"), p)).toEqual({ guarded: false });
    expect(() => checkUrl(new URL("http://127.0.0.1:8081/x"), p)).toThrow(FetchRefusedError);
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

  test("the connection uses the guarded lookup: a name resolving to 127.0.0.1 never reaches the origin", async () => {
    const resolver = fakeResolver(["127.0.0.1"]);
    const served = origin.requests.length;

    const run = fetchToS3({ jobId: "j", index: 0, url: `http://rebind.test:${origin.port}/text` }, deps({}, guardedLookup(resolver)));

    await expect(run).rejects.toMatchObject({ name: "FetchRefusedError", message: expect.stringMatching(/resolves to 127\.0\.0\.1, which is loopback/) });
    expect(resolver).toHaveBeenCalled();
    expect(origin.requests.length).toBe(served);
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

  test("refuses http://10.0.0.1/ without asking the agent for a connection", async () => {
    const d = deps();
    // Every request goes through the module-scope agents: addRequest is where a socket would be taken.
    const addRequest = jest.spyOn(d.agents.http as http.Agent & { addRequest: () => void }, "addRequest");

    await expect(fetchToS3({ jobId: "j", index: 0, url: "http://10.0.0.1/" }, d)).rejects.toMatchObject({ name: "FetchRefusedError" });
    await expect(fetchToS3({ jobId: "j", index: 0, url: `${origin.url}/text` }, d)).resolves.toMatchObject({ bytes: 70 });

    expect(addRequest).toHaveBeenCalledTimes(1); // only the allowed origin
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

  test("the outbound agents keep connections alive with a small socket bound", () => {
    const { agents } = deps();
    expect(agents.http.maxSockets).toBeLessThanOrEqual(4);
    expect((agents.http as unknown as { keepAlive: boolean }).keepAlive).toBe(true);
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
