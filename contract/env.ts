/**
 * The environment variables the functions read (each validated once, at init,
 * and at synth through the same schema), the one set of ranges their integers
 * are held to, and the SDK connection timeout every function is given.
 */
import { POOL_SOCKETS_RANGE } from "./socket-pools";

/** Environment variables read by the functions (validated once, at init). */
export const ENV = {
  /** Work bucket name (all functions). */
  workBucket: "WORK_BUCKET",
  /** Max sockets per SDK client's agent (all functions). */
  maxSockets: "MAX_SOCKETS",
  /** Bound of the in-handler fan-out (all functions). */
  taskConcurrency: "TASK_CONCURRENCY",
  /** SDK request (socket idle) timeout in ms (all functions). */
  sdkRequestTimeoutMs: "SDK_REQUEST_TIMEOUT_MS",
  /** SDK connection timeout in ms (all functions). */
  sdkConnectTimeoutMs: "SDK_CONNECT_TIMEOUT_MS",
  /** State machine ARN (fanout). */
  stateMachineArn: "STATE_MACHINE_ARN",
  /** Max items in one message (fanout). */
  maxItemsPerJob: "MAX_ITEMS_PER_JOB",
  /** Longest item URL accepted, in characters (fanout). */
  maxUrlLength: "MAX_URL_LENGTH",
  /**
   * The task state's HeartbeatSeconds (fetcher, processor): the worker sends
   * SendTaskHeartbeat well within it while it works.
   */
  taskHeartbeatSeconds: "TASK_HEARTBEAT_SECONDS",
  /**
   * maxReceiveCount of the worker's work queue (fetcher, processor): on the last
   * receive a transient failure is reported with SendTaskFailure instead of
   * going back to a queue that would move it to the DLQ.
   */
  workQueueMaxReceiveCount: "WORK_QUEUE_MAX_RECEIVE_COUNT",
  /** "true" lets `http:` URLs through (fanout validation, fetcher). */
  allowHttp: "ALLOW_HTTP",
  /** Whole-fetch timeout in ms (fetcher). */
  fetchTimeoutMs: "FETCH_TIMEOUT_MS",
  /** Max response bytes (fetcher). */
  fetchMaxBytes: "FETCH_MAX_BYTES",
  /** Max redirects followed, each re-checked (fetcher). */
  fetchMaxRedirects: "FETCH_MAX_REDIRECTS",
  /** Max sockets of each of the fetcher's outbound agents (http, https) (fetcher). */
  fetchMaxSockets: "FETCH_MAX_SOCKETS",
  /**
   * Comma-separated `host:port` origins exempt from the private-address guard.
   * Tests and local runs only: the stacks never set it (a policy test proves it).
   */
  fetchAllowPrivate: "FETCH_ALLOW_PRIVATE",
  /** Lines per chunk for text input (processor). */
  chunkLines: "CHUNK_LINES",
  /** Bytes per chunk for binary input (processor). */
  chunkBytes: "CHUNK_BYTES",
  /**
   * "true" makes the S3 client use path-style URLs (S3-compatible servers on
   * loopback). Defaults to true when `AWS_ENDPOINT_URL_S3` is set, else false.
   */
  s3ForcePathStyle: "S3_FORCE_PATH_STYLE",
} as const;

/** SDK connection timeout given to every function (SDK_CONNECT_TIMEOUT_MS); well under any request timeout. */
export const SDK_CONNECT_TIMEOUT_MS = 3000;

/** An integer variable's accepted range (both ends included). */
export interface IntRange {
  readonly min: number;
  readonly max: number;
}

/**
 * The range of every integer variable: the functions' environment schemas
 * (functions/shared/env.ts) hold each variable to it at init and at synth, and
 * the budget checks the fields it turns into these variables against the same
 * entries, so no value passes one and fails the other.
 */
export const ENV_RANGES = {
  maxSockets: POOL_SOCKETS_RANGE,
  taskConcurrency: { min: 1, max: 256 },
  sdkConnectTimeoutMs: { min: 100, max: 60_000 },
  sdkRequestTimeoutMs: { min: 100, max: 900_000 },
  maxItemsPerJob: { min: 1, max: 10_000 },
  maxUrlLength: { min: 1, max: 8192 },
  /** Step Functions' HeartbeatSeconds range. */
  taskHeartbeatSeconds: { min: 1, max: 99_999_999 },
  /** SQS's maxReceiveCount range. */
  workQueueMaxReceiveCount: { min: 1, max: 1000 },
  fetchTimeoutMs: { min: 100, max: 900_000 },
  fetchMaxBytes: { min: 1, max: 5 * 1024 ** 3 },
  fetchMaxRedirects: { min: 0, max: 20 },
  fetchMaxSockets: POOL_SOCKETS_RANGE,
  chunkLines: { min: 1, max: 1_000_000 },
  chunkBytes: { min: 1, max: 64 * 1024 ** 2 },
} as const satisfies Partial<Record<keyof typeof ENV, IntRange>>;
