/**
 * The fetcher's logic: GET one URL through the guard, following at most
 * FETCH_MAX_REDIRECTS redirects (each hop re-checked), and stream the body into
 * `jobs/{jobId}/raw/{index}` with a bounded multipart upload while counting bytes
 * and hashing. Never buffers the whole body; fails with named errors that the
 * state machine retries (transient) or catches (permanent).
 */
import { createHash } from "crypto";
import * as http from "http";
import * as https from "https";
import { pipeline, Transform } from "stream";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { Upload } from "@aws-sdk/lib-storage";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { destroyBody } from "../shared/body";
import { JOB_ID_PATTERN, KEYS } from "../shared/contract";
import {
  FetchRefusedError,
  FetchTimeoutError,
  FetchTooLargeError,
  InvalidInputError,
  OriginHttpError,
  OriginUnavailableError,
  StorageUnavailableError,
} from "../shared/errors";
import { describeError, isTransientError, NETWORK_ERROR_CODES } from "../shared/transient";
import * as z from "zod/mini";
import { describeIssues } from "../shared/validation";
import type { FetcherConfig } from "./config";
import { checkUrl, guardedLookup, redact } from "./guard";

/**
 * Multipart part size. TASK_CONCURRENCY parts are uploaded at once, so the
 * upload buffers at most TASK_CONCURRENCY × 8 MiB and holds as many S3 sockets.
 */
export const UPLOAD_PART_SIZE = 8 * 1024 * 1024;
/** Sockets of the outbound agents (one fetch per invocation needs one; redirects may add a host). */
export const FETCH_AGENT_MAX_SOCKETS = 4;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = "fanout-pipeline-fetcher";

export const fetchInputSchema = z.object({
  jobId: z.string().check(z.regex(JOB_ID_PATTERN)),
  index: z.int().check(z.minimum(0)),
  url: z.string().check(z.minLength(1), z.maxLength(8192)),
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

/** The one outbound agent pair of an execution environment (created at module scope). */
export function createFetchAgents(config: Pick<FetcherConfig, "maxSockets">): FetchAgents {
  const sockets = Math.min(config.maxSockets, FETCH_AGENT_MAX_SOCKETS);
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
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new FetchTimeoutError(`fetch of ${redact(url)} did not finish within ${fetchTimeoutMs} ms`)),
    fetchTimeoutMs,
  );
  let response: http.IncomingMessage | undefined;
  try {
    response = await openFollowingRedirects(url, deps, controller.signal);
    const result = await store(response, KEYS.raw(input.jobId, input.index), deps, controller);
    deps.logger.info("fetched", { url: redact(url), bytes: result.bytes, contentType: result.contentType });
    return result;
  } catch (error) {
    // The deadline wins: whatever broke after it fired broke because of it.
    if (controller.signal.aborted) throw controller.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    if (response && !response.complete) destroyBody(response); // an early exit must not keep the socket
  }
}

/** GETs `start`, following redirects; returns a 2xx response whose declared size fits the cap. */
async function openFollowingRedirects(start: URL, deps: FetcherDeps, signal: AbortSignal): Promise<http.IncomingMessage> {
  const { fetchMaxRedirects, fetchMaxBytes } = deps.config;
  let url = start;
  for (let hop = 0; ; hop++) {
    const { guarded } = checkUrl(url, deps.config);
    const response = await get(url, guarded, deps, signal);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECT_STATUSES.has(status) && location) {
      destroyBody(response); // not read: a redirect body can be anything, of any size
      if (hop >= fetchMaxRedirects) {
        throw new OriginHttpError(`more than ${fetchMaxRedirects} redirects, last from ${redact(url)}`);
      }
      try {
        url = new URL(location, url);
      } catch {
        throw new OriginHttpError(`redirect from ${redact(url)} to an invalid location`);
      }
      continue;
    }
    if (status >= 200 && status < 300) {
      const declared = Number(response.headers["content-length"]);
      if (Number.isFinite(declared) && declared > fetchMaxBytes) {
        destroyBody(response);
        throw new FetchTooLargeError(`${redact(url)} declares ${declared} bytes, over the cap of ${fetchMaxBytes}`);
      }
      return response;
    }
    destroyBody(response);
    if (status >= 500 || status === 429 || status === 408) {
      throw new OriginUnavailableError(`${redact(url)} answered ${status}`);
    }
    throw new OriginHttpError(`${redact(url)} answered ${status}`);
  }
}

/** One GET; resolves with the response head. Errors before the head are named here. */
function get(url: URL, guarded: boolean, deps: FetcherDeps, signal: AbortSignal): Promise<http.IncomingMessage> {
  const secure = url.protocol === "https:";
  const options: http.RequestOptions = {
    agent: secure ? deps.agents.https : deps.agents.http,
    // The guarded lookup is what the socket connects with: the address checked
    // is the address used. Exempt origins resolve normally.
    ...(guarded ? { lookup: deps.lookup } : {}),
    signal,
    headers: { "user-agent": USER_AGENT, accept: "*/*", "accept-encoding": "identity" },
  };
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(url, options, resolve);
    request.on("error", (error: NodeJS.ErrnoException) => {
      if (error instanceof FetchRefusedError || signal.aborted) return reject(error);
      if (error.code && NETWORK_ERROR_CODES.has(error.code)) {
        return reject(new OriginUnavailableError(`${redact(url)}: ${describeError(error)}`, { cause: error }));
      }
      reject(new OriginHttpError(`${redact(url)}: request failed: ${describeError(error)}`, { cause: error }));
    });
    request.end();
  });
}

/** Streams the body to S3 (multipart above one part), counting and hashing on the way. */
async function store(
  response: http.IncomingMessage,
  key: string,
  deps: FetcherDeps,
  controller: AbortController,
): Promise<FetchResult> {
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
  response.once("error", (error) => {
    failure ??= new OriginUnavailableError(`connection to the origin lost mid-body: ${error.message}`, { cause: error });
  });
  pipeline(response, counted, () => undefined); // errors surface through `failure` and the upload
  const contentType = response.headers["content-type"] || "application/octet-stream";
  const upload = new Upload({
    client: deps.s3,
    params: { Bucket: workBucket, Key: key, Body: counted, ContentType: contentType },
    partSize: UPLOAD_PART_SIZE,
    queueSize: deps.config.taskConcurrency,
    leavePartsOnError: false, // a failed multipart upload is aborted, not left behind
    abortController: controller,
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
