/**
 * The fetcher's logic: GET one URL through the guard, following at most
 * FETCH_MAX_REDIRECTS redirects (each hop re-checked), and stream the body into
 * `jobs/{jobId}/raw/{index}` with a bounded multipart upload while counting bytes
 * and hashing. Never buffers the whole body; fails with named errors that the
 * state machine retries (transient) or catches (permanent).
 *
 * Every fetch settles by its deadline (FETCH_TIMEOUT_MS: connect, redirects,
 * headers, body and upload), whatever the origin sends: when it fires, the
 * deadline destroys the request or response in flight and aborts the upload,
 * and the fetch fails with FetchTimeoutError at once instead of waiting for
 * any of them. Each request also settles on its own on every way it can end: a
 * response, an error, a protocol upgrade (`101 Switching Protocols`, which Node
 * hands to an `upgrade` listener and never to the response callback) or a
 * connection closed before any answer.
 */
import { createHash } from "crypto";
import * as http from "http";
import * as https from "https";
import { pipeline, Transform, type Duplex } from "stream";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { Upload } from "@aws-sdk/lib-storage";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { destroyBody } from "../shared/body";
import { JOB_ID_PATTERN, KEYS } from "../../contract";
import {
  describeError,
  FetchRefusedError,
  FetchTimeoutError,
  FetchTooLargeError,
  InvalidInputError,
  OriginHttpError,
  OriginUnavailableError,
  StorageUnavailableError,
} from "../shared/errors";
import { redactUrl } from "../shared/redact";
import { isTransientError, NETWORK_ERROR_CODES } from "../shared/transient";
import * as z from "zod/mini";
import { describeIssues } from "../shared/validation";
import type { FetcherConfig } from "./config";
import { checkUrl, guardedLookup } from "./guard";

/**
 * Multipart part size. TASK_CONCURRENCY parts are uploaded at once, so the
 * upload buffers at most TASK_CONCURRENCY × 8 MiB and holds as many S3 sockets.
 */
export const UPLOAD_PART_SIZE = 8 * 1024 * 1024;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = "fanout-pipeline-fetcher";

/** Stored and returned when the origin's Content-Type is missing, too long or not a media type. */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";
/** Longest Content-Type stored (S3 metadata and the task's output stay small). */
export const MAX_CONTENT_TYPE_CHARS = 256;
/** Longest redirect Location followed: the fetch input's own URL limit. */
export const MAX_LOCATION_CHARS = 8192;

/** RFC 9110 §8.3.1 media type: `type "/" subtype *( OWS ";" OWS [ parameter ] )`, ASCII only. */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED_STRING = '"(?:[\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\t\\x20-\\x7e])*"';
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[\\t ]*;[\\t ]*(?:${TOKEN}=(?:${TOKEN}|${QUOTED_STRING}))?)*$`);

/** The origin's Content-Type when it is a valid media type of at most 256 characters, else application/octet-stream. */
export function safeContentType(header: string | string[] | undefined): string {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value || value.length > MAX_CONTENT_TYPE_CHARS || !MEDIA_TYPE.test(value)) return DEFAULT_CONTENT_TYPE;
  return value;
}

export const fetchInputSchema = z.object({
  jobId: z.string().check(z.regex(JOB_ID_PATTERN)),
  index: z.int().check(z.minimum(0)),
  url: z.string().check(z.minLength(1), z.maxLength(MAX_LOCATION_CHARS)),
});
export type FetchInput = z.infer<typeof fetchInputSchema>;

export interface FetchResult {
  readonly key: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly contentType: string;
}

export interface FetchAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

/** Also the task worker's deps (SFN client, worker config, logger, metrics). */
export interface FetcherDeps {
  readonly s3: S3Client;
  /** Answers the task token (shared/task-worker). */
  readonly sfn: SFNClient;
  readonly config: FetcherConfig;
  readonly agents: FetchAgents;
  readonly lookup: ReturnType<typeof guardedLookup>;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * The one outbound agent pair of an execution environment (created at module
 * scope), each capped at FETCH_MAX_SOCKETS (the budget's fetcher.fetchMaxSockets:
 * two of the fetcher's pools in SOCKET_POOLS).
 */
export function createFetchAgents(config: Pick<FetcherConfig, "fetchMaxSockets">): FetchAgents {
  const sockets = config.fetchMaxSockets;
  const options = { keepAlive: true, maxSockets: sockets, maxTotalSockets: sockets, maxFreeSockets: 1 };
  return { http: new http.Agent(options), https: new https.Agent(options) };
}

export function parseFetchInput(event: unknown): FetchInput {
  const result = fetchInputSchema.safeParse(event);
  if (!result.success) {
    throw new InvalidInputError(`fetcher input is invalid: ${describeIssues(result.error.issues)}`);
  }
  return result.data;
}

export async function fetchToS3(event: unknown, deps: FetcherDeps): Promise<FetchResult> {
  const input = parseFetchInput(event);
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw new InvalidInputError(`url is not a valid URL`);
  }
  deps.logger.appendKeys({ jobId: input.jobId, index: input.index });
  const { fetchTimeoutMs } = deps.config;
  const deadline = new Deadline(fetchTimeoutMs, () => new FetchTimeoutError(`fetch of ${redactUrl(url)} did not finish within ${fetchTimeoutMs} ms`));
  const held: { response?: http.IncomingMessage } = {};
  const work = (async () => {
    const response = await openFollowingRedirects(url, deps, deadline);
    held.response = response;
    deadline.hold(response);
    return store(response, KEYS.raw(input.jobId, input.index), deps, deadline);
  })();
  try {
    // Whatever is still running when the deadline fires has been destroyed by it; the fetch does not wait for it.
    const result = await Promise.race([work, deadline.expired]);
    deps.logger.info("fetched", { url: redactUrl(url), bytes: result.bytes, contentType: result.contentType });
    return result;
  } catch (error) {
    // The deadline wins: whatever broke after it fired broke because of it.
    if (deadline.error) throw deadline.error;
    throw error;
  } finally {
    deadline.clear();
    work.catch(() => undefined); // after the deadline, nobody waits for it
    if (held.response && !held.response.complete) destroyBody(held.response); // an early exit must not keep the socket
  }
}

/** Anything the deadline ends: a request, a response, an upload. */
interface Destroyable {
  destroy(error?: Error): unknown;
}

/**
 * The one deadline of a fetch. When it fires it rejects `expired` with a
 * FetchTimeoutError and destroys, with that error, everything it holds.
 */
export class Deadline {
  /** Set when the deadline has fired. */
  error: FetchTimeoutError | undefined;
  /** Rejects when the deadline fires (never resolves): race the work against it. */
  readonly expired: Promise<never>;
  private readonly timer: NodeJS.Timeout;
  private readonly held = new Set<Destroyable>();

  constructor(ms: number, timeoutError: () => FetchTimeoutError) {
    let expire!: (error: FetchTimeoutError) => void;
    this.expired = new Promise<never>((_resolve, reject) => (expire = reject));
    this.expired.catch(() => undefined); // observed by the race, not required to be
    this.timer = setTimeout(() => {
      const error = timeoutError();
      this.error = error;
      expire(error);
      for (const resource of this.held) resource.destroy(error);
      this.held.clear();
    }, ms);
  }

  /** Destroys `resource` when the deadline fires (at once if it has). */
  hold(resource: Destroyable): void {
    if (this.error) resource.destroy(this.error);
    else this.held.add(resource);
  }

  clear(): void {
    clearTimeout(this.timer);
    this.held.clear();
  }
}

/** GETs `start`, following redirects; returns a 2xx response whose declared size fits the cap. */
async function openFollowingRedirects(start: URL, deps: FetcherDeps, deadline: Deadline): Promise<http.IncomingMessage> {
  const { fetchMaxRedirects, fetchMaxBytes } = deps.config;
  let url = start;
  for (let hop = 0; ; hop++) {
    const { guarded } = checkUrl(url, deps.config);
    const response = await get(url, guarded, deps, deadline);
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) {
      const declared = Number(response.headers["content-length"]);
      if (Number.isFinite(declared) && declared > fetchMaxBytes) {
        destroyBody(response);
        throw new FetchTooLargeError(`${redactUrl(url)} declares ${declared} bytes, over the cap of ${fetchMaxBytes}`);
      }
      return response;
    }
    destroyBody(response); // not read: a non-2xx body can be anything, of any size
    if (!REDIRECT_STATUSES.has(status)) throw statusError(status, url);
    const location = response.headers.location;
    if (!location) throw new OriginHttpError(`${redactUrl(url)} answered ${status} without a Location`);
    if (location.length > MAX_LOCATION_CHARS) {
      throw new OriginHttpError(`${redactUrl(url)} answered ${status} with a Location over ${MAX_LOCATION_CHARS} characters`);
    }
    if (hop >= fetchMaxRedirects) {
      throw new OriginHttpError(`more than ${fetchMaxRedirects} redirects, last from ${redactUrl(url)}`);
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new OriginHttpError(`redirect from ${redactUrl(url)} to an invalid location`);
    }
    deps.logger.debug("following a redirect", { from: redactUrl(url), to: redactUrl(next), status, hop: hop + 1 });
    url = next;
  }
}

/**
 * The error for a final status that is neither 2xx nor a followed redirect:
 * 5xx, 408 and 429 are transient; everything else is permanent — a status
 * outside HTTP's 100–599 (Node's parser passes any three digits through) above
 * all, which is not an HTTP answer at all and must never be retried as a 5xx.
 */
export function statusError(status: number, url: URL): Error {
  if (status < 100 || status > 599) {
    return new OriginHttpError(`${redactUrl(url)} answered status ${status}, outside HTTP's 100-599`);
  }
  if (status >= 500 || status === 429 || status === 408) return new OriginUnavailableError(`${redactUrl(url)} answered ${status}`);
  return new OriginHttpError(`${redactUrl(url)} answered ${status}`);
}

/**
 * One GET; resolves with the response head. Settles on every way a request can
 * end, and when the deadline fires (which also destroys the request).
 */
function get(url: URL, guarded: boolean, deps: FetcherDeps, deadline: Deadline): Promise<http.IncomingMessage> {
  const secure = url.protocol === "https:";
  const options: http.RequestOptions = {
    agent: secure ? deps.agents.https : deps.agents.http,
    // The guarded lookup is what the socket connects with: the address checked
    // is the address used. Exempt origins resolve normally.
    ...(guarded ? { lookup: deps.lookup } : {}),
    headers: { "user-agent": USER_AGENT, accept: "*/*", "accept-encoding": "identity" },
  };
  const where = redactUrl(url);
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(url, options);
    deadline.hold(request); // destroying the request also ends its response
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
    };
    deadline.expired.catch((error: Error) => settle(() => reject(error)));
    request.once("response", (response: http.IncomingMessage) => {
      // Errors after this point surface through the body's consumer (store); this listener keeps them from crashing the process.
      response.on("error", () => undefined);
      settle(() => resolve(response));
    });
    // 101 Switching Protocols with an Upgrade header: Node emits `upgrade` (or, with no listener, destroys the socket and emits nothing else).
    request.once("upgrade", (_response: http.IncomingMessage, socket: Duplex) => {
      socket.destroy();
      settle(() => reject(new OriginHttpError(`${where} answered 101 Switching Protocols (a protocol upgrade), not a response`)));
    });
    // Kept for the request's whole life: a late error must not become an uncaught exception.
    request.on("error", (error: NodeJS.ErrnoException) => settle(() => reject(requestError(error, where))));
    request.once("close", () =>
      settle(() => reject(new OriginUnavailableError(`${where}: the connection closed before a response`))),
    );
    request.end();
  });
}

function requestError(error: NodeJS.ErrnoException, where: string): Error {
  if (error instanceof FetchRefusedError || error instanceof FetchTimeoutError) return error;
  if (error.code && NETWORK_ERROR_CODES.has(error.code)) {
    return new OriginUnavailableError(`${where}: ${describeError(error)}`, { cause: error });
  }
  // HPE_* (not HTTP: a status line of four digits, another protocol), TLS and the like: permanent.
  return new OriginHttpError(`${where}: request failed: ${describeError(error)}`, { cause: error });
}

/** Streams the body to S3 (multipart above one part), counting and hashing on the way. */
async function store(response: http.IncomingMessage, key: string, deps: FetcherDeps, deadline: Deadline): Promise<FetchResult> {
  const { fetchMaxBytes, workBucket } = deps.config;
  const hash = createHash("sha256");
  let bytes = 0;
  let failure: Error | undefined;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > fetchMaxBytes) {
        failure ??= new FetchTooLargeError(`response exceeds the cap of ${fetchMaxBytes} bytes`);
        return done(failure);
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  response.on("error", (error) => {
    failure ??= new OriginUnavailableError(`connection to the origin lost mid-body: ${error.message}`, { cause: error });
  });
  pipeline(response, counted, () => undefined); // errors surface through `failure` and the upload
  const contentType = safeContentType(response.headers["content-type"]);
  // Its own controller (not the deadline's): the upload may abort itself without that meaning the deadline fired.
  const abortController = new AbortController();
  deadline.hold({ destroy: () => abortController.abort() });
  const upload = new Upload({
    client: deps.s3,
    params: { Bucket: workBucket, Key: key, Body: counted, ContentType: contentType },
    partSize: UPLOAD_PART_SIZE,
    queueSize: deps.config.taskConcurrency,
    leavePartsOnError: false, // a failed multipart upload is aborted, not left behind
    abortController,
  });
  try {
    await upload.done();
  } catch (error) {
    if (failure) throw failure;
    if (isTransientError(error)) {
      throw new StorageUnavailableError(`storing ${key} failed: ${describeError(error)}`, { cause: error });
    }
    throw error;
  }
  if (failure) throw failure;
  return { key, bytes, sha256: hash.digest("hex"), contentType };
}
