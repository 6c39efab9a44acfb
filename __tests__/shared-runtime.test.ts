/**
 * The shared function runtime: configuration that fails naming the variable,
 * one pooled client per service, the bounded helper, error names, body helpers
 * and the fd metric.
 */
import { FUNCTION_TEST_ENV } from "./helpers/function-env";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { Readable } from "stream";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { BoundedQueue, mapBounded } from "../functions/shared/bounded";
import { readBody } from "../functions/shared/body";
import { createRequestHandler, s3Client, sfnClient } from "../functions/shared/clients";
import { loadRuntimeConfig } from "../functions/shared/config";
import { loadWorkerConfig } from "../functions/shared/worker-config";
import { ENV, ENV_RANGES, ERRORS, METRICS } from "../contract";
import * as z from "zod/mini";
import { flag, integer, parseEnv, requiredString, type Env } from "../functions/shared/env";
import * as errors from "../functions/shared/errors";
import { countOpenFds, instrument } from "../functions/shared/observability";
import { isTransientError } from "../functions/shared/transient";
import { FANOUT_ENV, loadFanoutConfig } from "../functions/fanout/config";
import { FETCHER_ENV, loadFetcherConfig } from "../functions/fetcher/config";
import { PROCESSOR_ENV, loadProcessorConfig } from "../functions/processor/config";
import { quietObservability } from "./helpers/lambda-events";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const envWithout = (name: string) => {
  const env: Record<string, string> = { ...FUNCTION_TEST_ENV };
  delete env[name];
  return env;
};

describe("configuration from environment variables", () => {
  /** One variable's reader as a one-field environment schema, parsed the way a function's init parses its own. */
  const one = <T>(name: string, reader: (name: string) => z.ZodMiniType<T>) => (env: Env) => parseEnv(z.object({ [name]: reader(name) }), env)[name];

  test("a missing required variable fails with a message naming it", () => {
    const bucket = one("WORK_BUCKET", requiredString);
    expect(() => bucket({})).toThrow(/^WORK_BUCKET environment variable is not set$/);
    expect(() => bucket({ WORK_BUCKET: "  " })).toThrow(/^WORK_BUCKET environment variable is not set$/);
    expect(bucket({ WORK_BUCKET: " work " })).toBe("work");
  });

  test.each(["abc", "1.5", "-1", "0", "501", "1e2", "12abc", "0x10"])("MAX_SOCKETS=%s is refused with the variable, the range and the value", (value) => {
    expect(() => one("MAX_SOCKETS", (n) => integer(n, { min: 1, max: 500 }))({ MAX_SOCKETS: value })).toThrow(
      new Error(`MAX_SOCKETS environment variable must be an integer between 1 and 500 (got "${value}")`),
    );
  });

  test("an integer has no fallback: unset is refused, a set one is parsed (trimmed)", () => {
    const timeout = one("FETCH_TIMEOUT_MS", (n) => integer(n, { min: 1, max: 10 }));
    expect(() => timeout({})).toThrow(/^FETCH_TIMEOUT_MS environment variable is not set$/);
    expect(timeout({ FETCH_TIMEOUT_MS: " 9 " })).toBe(9);
  });

  test("booleans accept only true or false, and are undefined when unset (the config module states the default)", () => {
    const allowHttp = one("ALLOW_HTTP", flag);
    expect(allowHttp({ ALLOW_HTTP: "TRUE" })).toBe(true);
    expect(allowHttp({ ALLOW_HTTP: "false" })).toBe(false);
    expect(allowHttp({})).toBeUndefined();
    expect(() => allowHttp({ ALLOW_HTTP: "yes" })).toThrow(new Error('ALLOW_HTTP environment variable must be "true" or "false" (got "yes")'));
  });

  test("a value that is not a string (not from process.env) is refused naming the variable", () => {
    expect(() => parseEnv(z.object({ MAX_SOCKETS: integer("MAX_SOCKETS", { min: 1, max: 2 }) }), { MAX_SOCKETS: 1 } as unknown as Env)).toThrow(
      /^MAX_SOCKETS environment variable must be a string$/,
    );
  });

  test("one error names every refused variable, in the schema's order", () => {
    const env = { ...FUNCTION_TEST_ENV, FETCH_MAX_REDIRECTS: "21", ALLOW_HTTP: "maybe" } as Record<string, string | undefined>;
    delete env.WORK_BUCKET;
    expect(() => loadFetcherConfig(env)).toThrow(
      new Error(
        'WORK_BUCKET environment variable is not set; ALLOW_HTTP environment variable must be "true" or "false" (got "maybe"); FETCH_MAX_REDIRECTS environment variable must be an integer between 0 and 20 (got "21")',
      ),
    );
  });

  test("each function's schema holds its integers to the contract's ENV_RANGES, both ends included", () => {
    const schemas: Record<string, z.ZodMiniObject<z.core.$ZodShape>> = { fanout: FANOUT_ENV, fetcher: FETCHER_ENV, processor: PROCESSOR_ENV };
    const base = FUNCTION_TEST_ENV;
    let checked = 0;
    for (const [field, range] of Object.entries(ENV_RANGES)) {
      const name = ENV[field as keyof typeof ENV_RANGES];
      for (const [fn, schema] of Object.entries(schemas)) {
        if (!(name in schema.shape)) continue;
        checked++;
        for (const ok of [range.min, range.max]) expect([fn, name, parseEnv(schema, { ...base, [name]: String(ok) })[name]]).toEqual([fn, name, ok]);
        for (const bad of [range.min - 1, range.max + 1].filter((v) => v >= 0)) {
          expect(() => parseEnv(schema, { ...base, [name]: String(bad) })).toThrow(`${name} environment variable must be an integer between ${range.min} and ${range.max} (got "${bad}")`);
        }
      }
    }
    // Every range is some function's variable.
    expect(Object.keys(ENV_RANGES).every((f) => Object.values(schemas).some((s) => ENV[f as keyof typeof ENV_RANGES] in s.shape))).toBe(true);
    expect(checked).toBeGreaterThanOrEqual(Object.keys(ENV_RANGES).length);
  });

  test.each([
    ["WORK_BUCKET", loadRuntimeConfig],
    ["MAX_SOCKETS", loadRuntimeConfig],
    ["TASK_CONCURRENCY", loadRuntimeConfig],
    ["STATE_MACHINE_ARN", loadFanoutConfig],
    ["MAX_URL_LENGTH", loadFanoutConfig],
    ["TASK_HEARTBEAT_SECONDS", loadWorkerConfig],
    ["WORK_QUEUE_MAX_RECEIVE_COUNT", loadWorkerConfig],
    ["TASK_HEARTBEAT_SECONDS", loadFetcherConfig],
    ["WORK_QUEUE_MAX_RECEIVE_COUNT", loadFetcherConfig],
    ["TASK_HEARTBEAT_SECONDS", loadProcessorConfig],
    ["WORK_QUEUE_MAX_RECEIVE_COUNT", loadProcessorConfig],
  ])("each function refuses to start without %s", (name, load) => {
    expect(() => load(envWithout(name))).toThrow(`${name} environment variable is not set`);
  });

  test.each([
    ["SDK_CONNECT_TIMEOUT_MS", "0", loadRuntimeConfig],
    ["SDK_REQUEST_TIMEOUT_MS", "fast", loadRuntimeConfig],
    ["MAX_ITEMS_PER_JOB", "0", loadFanoutConfig],
    ["ALLOW_HTTP", "maybe", loadFanoutConfig],
    ["FETCH_TIMEOUT_MS", "10s", loadFetcherConfig],
    ["FETCH_MAX_BYTES", "0", loadFetcherConfig],
    ["FETCH_MAX_REDIRECTS", "21", loadFetcherConfig],
    ["FETCH_MAX_SOCKETS", "0", loadFetcherConfig],
    ["FETCH_MAX_SOCKETS", "257", loadFetcherConfig],
    ["MAX_SOCKETS", "257", loadRuntimeConfig],
    ["FETCH_ALLOW_PRIVATE", "127.0.0.1", loadFetcherConfig],
    ["FETCH_ALLOW_PRIVATE", "127.0.0.1:99999", loadFetcherConfig],
    ["CHUNK_LINES", "0", loadProcessorConfig],
    ["CHUNK_BYTES", "lots", loadProcessorConfig],
    ["S3_FORCE_PATH_STYLE", "1", loadRuntimeConfig],
    ["MAX_URL_LENGTH", "0", loadFanoutConfig],
    ["MAX_URL_LENGTH", "8193", loadFanoutConfig],
    ["TASK_HEARTBEAT_SECONDS", "0", loadWorkerConfig],
    ["TASK_HEARTBEAT_SECONDS", "100000000", loadWorkerConfig],
    ["TASK_HEARTBEAT_SECONDS", "1.5", loadFetcherConfig],
    ["WORK_QUEUE_MAX_RECEIVE_COUNT", "0", loadWorkerConfig],
    ["WORK_QUEUE_MAX_RECEIVE_COUNT", "1001", loadProcessorConfig],
  ])("an invalid %s=%s fails naming the variable", (name, value, load) => {
    expect(() => load({ ...FUNCTION_TEST_ENV, [name]: value })).toThrow(new RegExp(`^${name} environment variable must be`));
  });

  test("defaults: SDK timeouts, path-style only with a custom S3 endpoint unless told", () => {
    const config = loadRuntimeConfig(FUNCTION_TEST_ENV);
    expect(config).toMatchObject({ sdkConnectTimeoutMs: 3000, sdkRequestTimeoutMs: 30000, s3ForcePathStyle: false, maxSockets: 16 });
    expect(loadRuntimeConfig({ ...FUNCTION_TEST_ENV, AWS_ENDPOINT_URL_S3: "http://127.0.0.1:1" }).s3ForcePathStyle).toBe(true);
    expect(loadRuntimeConfig({ ...FUNCTION_TEST_ENV, AWS_ENDPOINT_URL_S3: "http://127.0.0.1:1", S3_FORCE_PATH_STYLE: "false" }).s3ForcePathStyle).toBe(false);
  });

  test("the worker and fanout limits accept their whole documented range", () => {
    expect(loadWorkerConfig({ TASK_HEARTBEAT_SECONDS: "1", WORK_QUEUE_MAX_RECEIVE_COUNT: "1000" })).toEqual({ taskHeartbeatSeconds: 1, workQueueMaxReceiveCount: 1000 });
    expect(loadWorkerConfig({ TASK_HEARTBEAT_SECONDS: "99999999", WORK_QUEUE_MAX_RECEIVE_COUNT: "1" })).toEqual({ taskHeartbeatSeconds: 99_999_999, workQueueMaxReceiveCount: 1 });
    expect(loadFanoutConfig({ ...FUNCTION_TEST_ENV, MAX_URL_LENGTH: "8192" }).maxUrlLength).toBe(8192);
    expect(loadFetcherConfig(FUNCTION_TEST_ENV)).toMatchObject({ taskHeartbeatSeconds: 30, workQueueMaxReceiveCount: 3 });
  });

  test("FETCH_ALLOW_PRIVATE is parsed into normalised host:port origins", () => {
    const config = loadFetcherConfig({ ...FUNCTION_TEST_ENV, FETCH_ALLOW_PRIVATE: "127.0.0.1:8080, LocalHost:80,[0:0::1]:9000" });
    expect([...config.allowPrivate]).toEqual(["127.0.0.1:8080", "localhost:80", "[::1]:9000"]);
  });

  test.each([
    ["fanout", "MAX_SOCKETS"],
    ["fetcher", "MAX_SOCKETS"],
    ["processor", "MAX_SOCKETS"],
    ["fanout", "MAX_URL_LENGTH"],
    ["fetcher", "TASK_HEARTBEAT_SECONDS"],
    ["processor", "WORK_QUEUE_MAX_RECEIVE_COUNT"],
  ])("loading the %s handler with %s unset fails the init naming it", (name, variable) => {
    const saved = process.env[variable];
    delete process.env[variable];
    try {
      jest.isolateModules(() => {
        expect(() => require(`../functions/${name}/handler`)).toThrow(`${variable} environment variable is not set`);
      });
    } finally {
      process.env[variable] = saved;
    }
  });
});

describe("SDK clients", () => {
  test("the S3 and SFN clients are created once and reused on every call", () => {
    expect(s3Client()).toBe(s3Client());
    expect(sfnClient()).toBe(sfnClient());
  });

  test.each([
    ["S3", () => s3Client()],
    ["SFN", () => sfnClient()],
  ])("the %s client's handler holds http.Agent and https.Agent instances with keepAlive and maxSockets = MAX_SOCKETS", async (_name, client) => {
    const handler = client().config.requestHandler;
    expect(handler).toBeInstanceOf(NodeHttpHandler);
    // The resolved handler config (private in the SDK's types).
    const config = await (handler as unknown as { configProvider: Promise<Record<string, unknown>> }).configProvider;
    const httpAgent = await (config.httpAgentProvider as () => Promise<http.Agent>)();
    const httpsAgent = config.httpsAgent as https.Agent;
    expect(httpAgent).toBeInstanceOf(http.Agent);
    expect(httpsAgent).toBeInstanceOf(https.Agent);
    for (const agent of [httpAgent, httpsAgent]) {
      expect(agent.maxSockets).toBe(Number(FUNCTION_TEST_ENV.MAX_SOCKETS));
      expect((agent as unknown as { keepAlive: boolean }).keepAlive).toBe(true);
    }
    expect(config).toMatchObject({ connectionTimeout: 3000, socketTimeout: 30000 });
    // An external agent is what stops the handler from building a fresh one for `Expect: 100-continue`.
    expect((handler as unknown as { externalAgent: boolean }).externalAgent).toBe(true);
  });

  test("each request handler gets its own agent pair", async () => {
    const a = await (createRequestHandler({ maxSockets: 3, sdkConnectTimeoutMs: 1, sdkRequestTimeoutMs: 1 }) as unknown as { configProvider: Promise<{ httpsAgent: https.Agent }> }).configProvider;
    const b = await (createRequestHandler({ maxSockets: 3, sdkConnectTimeoutMs: 1, sdkRequestTimeoutMs: 1 }) as unknown as { configProvider: Promise<{ httpsAgent: https.Agent }> }).configProvider;
    expect(a.httpsAgent).not.toBe(b.httpsAgent);
    expect(a.httpsAgent.maxSockets).toBe(3);
  });
});

describe("bounded concurrency helper", () => {
  test("mapBounded never runs more than its limit at once and keeps the input order", async () => {
    let active = 0;
    let peak = 0;
    const items = Array.from({ length: 200 }, (_, i) => i);

    const results = await mapBounded(items, 7, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await sleep(n % 3);
      active--;
      return n * 2;
    });

    expect(peak).toBe(7);
    expect(results).toEqual(items.map((n) => n * 2));
  });

  test("after a failure nothing new starts, work in flight settles, and the first error is thrown", async () => {
    const started: number[] = [];
    let active = 0;

    const run = mapBounded(Array.from({ length: 100 }, (_, i) => i), 4, async (n) => {
      started.push(n);
      active++;
      await sleep(5);
      active--;
      if (n === 5) throw new Error("item 5 failed");
      return n;
    });

    await expect(run).rejects.toThrow("item 5 failed");
    expect(active).toBe(0);
    expect(started.length).toBeLessThan(15);
  });

  test("BoundedQueue.submit waits for a free slot (the producer is paused while the queue is full)", async () => {
    const queue = new BoundedQueue(2);
    const release: Array<() => void> = [];
    const task = () => new Promise<void>((resolve) => release.push(resolve));
    await queue.submit(task);
    await queue.submit(task);
    let third = false;
    const submitting = queue.submit(task).then(() => (third = true));
    await sleep(10);
    expect(third).toBe(false);
    expect(queue.active).toBe(2);

    release.shift()?.();
    await submitting;
    expect(third).toBe(true);
    release.splice(0).forEach((r) => r());
    await sleep(0);
    release.splice(0).forEach((r) => r());
    await queue.drain();
    expect(queue.active).toBe(0);
  });

  test.each([0, -1, 1.5, NaN])("refuses a concurrency of %s", (n) => {
    expect(() => new BoundedQueue(n)).toThrow(/concurrency must be an integer >= 1/);
  });
});

describe("named errors", () => {
  test.each([...ERRORS.transient, ...ERRORS.permanent])("%s is a class that sets this.name", (name) => {
    const ErrorClass = (errors as unknown as Record<string, new (m: string) => Error>)[name];
    expect(ErrorClass).toBeDefined();
    const error = new ErrorClass("boom");
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(name);
  });

  test.each([
    [{ name: "ThrottlingException" }, true],
    [{ name: "SlowDown", $metadata: { httpStatusCode: 503 } }, true],
    [{ name: "Whatever", $metadata: { httpStatusCode: 500 } }, true],
    [{ name: "TooMany", $metadata: { httpStatusCode: 429 } }, true],
    [{ name: "TimeoutError" }, true],
    [Object.assign(new Error("reset"), { code: "ECONNRESET" }), true],
    [{ name: "AccessDenied", $metadata: { httpStatusCode: 403 } }, false],
    [{ name: "ValidationException", $metadata: { httpStatusCode: 400 } }, false],
    [new TypeError("bug"), false],
    ["text", false],
  ])("isTransientError(%o) is %s", (error, expected) => {
    expect(isTransientError(error)).toBe(expected);
  });
});

describe("response bodies", () => {
  test("readBody returns the bytes and destroys a body over its cap", async () => {
    expect((await readBody(Readable.from([Buffer.from("abc")]), 10)).toString()).toBe("abc");
    const big = Readable.from([Buffer.alloc(8), Buffer.alloc(8)]);
    await expect(readBody(big, 10)).rejects.toThrow(/exceeds 10 bytes/);
    expect(big.destroyed).toBe(true);
  });
});

describe("observability", () => {
  test("countOpenFds reads /proc/self/fd and sees a newly opened file", () => {
    const before = countOpenFds() as number;
    const fd = fs.openSync(path.join(os.tmpdir(), `fd-test-${process.pid}`), "w");
    try {
      expect(countOpenFds()).toBe(before + 1);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(path.join(os.tmpdir(), `fd-test-${process.pid}`));
    }
  });

  test("every invocation ends by publishing the OpenFileDescriptors metric, even when it fails", async () => {
    const obs = quietObservability();
    const add = jest.spyOn(obs.metrics, "addMetric");
    const publish = jest.spyOn(obs.metrics, "publishStoredMetrics");
    const ok = instrument(obs, async (n: number) => n + 1);
    const failing = instrument(obs, async () => {
      throw new errors.FetchRefusedError("no");
    });

    await expect(ok(1)).resolves.toBe(2);
    await expect(failing(0)).rejects.toThrow("no");

    expect(add).toHaveBeenCalledTimes(2);
    expect(add).toHaveBeenCalledWith(METRICS.openFileDescriptors, MetricUnit.Count, expect.any(Number));
    expect(publish).toHaveBeenCalledTimes(2);
  });
});
