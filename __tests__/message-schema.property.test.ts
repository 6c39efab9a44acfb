/**
 * The fanout's message schema, property-based (fast-check, fixed seeds, 10,000
 * inputs per property): whatever arrives — any JSON value, any string, any
 * JavaScript value, message-shaped bodies with hostile URLs — validation never
 * throws. It accepts, and then every item is one the fetcher could fetch, or
 * it rejects with a reason.
 */
import * as fc from "fast-check";
import { JOB_ID_PATTERN, fetchPorts } from "../contract";
import { messageSchema, parseRecord, type MessageSchemaOptions, type ParseResult } from "../functions/fanout/message";

const RUNS = 10_000;
const seeded = (seed: number) => ({ seed, numRuns: RUNS });

/** The schemas of a few configurations: deployed-like, ALLOW_HTTP, a short URL limit, an exempt local origin. */
const CONFIGS: readonly MessageSchemaOptions[] = [
  { maxItems: 5, allowHttp: false, maxUrlLength: 2048 },
  { maxItems: 5, allowHttp: true, maxUrlLength: 2048 },
  { maxItems: 3, allowHttp: false, maxUrlLength: 40 },
  { maxItems: 5, allowHttp: true, maxUrlLength: 2048, exemptOrigins: new Set(["127.0.0.1:8080"]) },
];
const SCHEMAS = CONFIGS.map((options) => ({ options, schema: messageSchema(options) }));
/** Drawn by index, so a counterexample names the configuration (CONFIGS[i]) instead of printing a schema. */
const schemaArb = fc.nat({ max: SCHEMAS.length - 1 });

/** URL-ish strings: well-formed web URLs, hostile hand-built ones, and arbitrary text. */
const hostileUrl = fc
  .record({
    scheme: fc.constantFrom("https://", "http://", "HTTPS://", "ftp://", "file://", "javascript:", "gopher://", "", "https:", "//"),
    userinfo: fc.constantFrom("", "user:pass@", "@", ":@", "%00@"),
    host: fc.oneof(
      fc.domain(),
      fc.ipV4(),
      fc.ipV4Extended(),
      fc.ipV6().map((ip) => `[${ip}]`),
      fc.constantFrom("127.0.0.1", "[::1]", "localhost", "xn--nxasmq6b", "exa mple.com", "", "%", "[", "[::1"),
      fc.string({ maxLength: 20 }),
    ),
    port: fc.option(fc.oneof(fc.integer({ min: -1, max: 70_000 }).map(String), fc.constantFrom("443", "80", "8443", "0443", "", "x")), { nil: undefined }),
    path: fc.oneof(fc.webPath(), fc.string({ unit: "binary", maxLength: 60 }), fc.constantFrom("/é".repeat(500), "/%zz", "/\u0000", "/\ud800")),
    query: fc.option(fc.webQueryParameters(), { nil: undefined }),
  })
  .map(({ scheme, userinfo, host, port, path, query }) => `${scheme}${userinfo}${host}${port === undefined ? "" : `:${port}`}${path}${query === undefined ? "" : `?${query}`}`);

const urlValue = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true, validSchemes: ["https", "http", "ftp"] }),
  hostileUrl,
  fc.string({ unit: "binary", maxLength: 100 }),
  // Around MAX_URL_LENGTH, as sent and once percent-encoded (a long random string costs 100x more to generate).
  fc
    .tuple(fc.constantFrom("a", "é", "%", " ", "\u{1F600}"), fc.integer({ min: 300, max: 2100 }))
    .map(([unit, count]) => `https://example.com/${unit.repeat(count)}`),
  fc.anything({ maxDepth: 1, maxKeys: 3 }),
);

const jobId = fc.option(
  fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), fc.string({ maxLength: 70 }), fc.integer(), fc.constant(null)),
  { nil: undefined },
);

/** Bodies shaped like messages, close enough to reach the URL checks, far enough to probe every branch. */
const messageLike = fc.record(
  {
    jobId,
    items: fc.oneof(
      fc.array(fc.oneof(fc.record({ url: urlValue }), fc.record({ url: urlValue, extra: fc.jsonValue() }), fc.anything({ maxDepth: 1 })), { maxLength: 7 }),
      fc.anything({ maxDepth: 2 }),
    ),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

const anyBody = fc.oneof(
  messageLike.map((m) => JSON.stringify(m) ?? "null"),
  fc.json({ maxDepth: 3 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  messageLike.map((m) => (JSON.stringify(m) ?? "").slice(0, -1)), // truncated JSON
);

/** What an accepted job must satisfy: every item is one the fetcher's scheme, port and length rules let through. */
function acceptedJobIsFetchable(result: Extract<ParseResult, { ok: true }>, options: MessageSchemaOptions): boolean {
  const { job } = result;
  const schemes = options.allowHttp ? ["https:", "http:"] : ["https:"];
  const ports = fetchPorts(options.allowHttp);
  return (
    JOB_ID_PATTERN.test(job.jobId) &&
    job.urls.length >= 1 &&
    job.urls.length <= options.maxItems &&
    job.input.itemCount === job.urls.length &&
    job.urls.every((raw) => {
      const url = new URL(raw);
      const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
      const origin = `${url.hostname}:${port}`;
      return (
        url.href === raw &&
        raw.length <= options.maxUrlLength &&
        schemes.includes(url.protocol) &&
        (ports.includes(port) || (options.exemptOrigins?.has(origin) ?? false))
      );
    })
  );
}

function settlesWithAReason(result: ParseResult, options: MessageSchemaOptions): boolean {
  return result.ok ? acceptedJobIsFetchable(result, options) : typeof result.error === "string" && result.error.length > 0;
}

describe("fanout message schema properties (fast-check, 10,000 inputs each, fixed seeds)", () => {
  test("parseRecord never throws on any body: it accepts a fetchable job or rejects with a reason", () => {
    fc.assert(
      fc.property(anyBody, schemaArb, fc.uuid(), (body, config, messageId) =>
        settlesWithAReason(parseRecord({ messageId, body }, SCHEMAS[config].schema, "work-bucket"), CONFIGS[config]),
      ),
      seeded(0x5eed_1001),
    );
  });

  test("the schema never throws on any JavaScript value (prototypes, getters of odd types, symbols, bigints, typed arrays)", () => {
    const value = fc.anything({
      maxDepth: 2,
      maxKeys: 5,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      withUnicodeString: true,
    });
    fc.assert(
      fc.property(fc.oneof(value, messageLike), schemaArb, (input, config) => {
        const result = SCHEMAS[config].schema.safeParse(input);
        return result.success || result.error.issues.every((issue) => typeof issue.message === "string" && issue.message.length > 0);
      }),
      seeded(0x5eed_1002),
    );
  });

  test("a message-shaped body with hostile URLs is never accepted unless every URL is fetchable", () => {
    const body = fc.record({ jobId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), items: fc.array(fc.record({ url: fc.oneof(hostileUrl, urlValue) }), { minLength: 1, maxLength: 3 }) });
    fc.assert(
      fc.property(body, schemaArb, fc.uuid(), (message, config, messageId) =>
        settlesWithAReason(parseRecord({ messageId, body: JSON.stringify(message) }, SCHEMAS[config].schema, "work-bucket"), CONFIGS[config]),
      ),
      seeded(0x5eed_1003),
    );
  });
});
