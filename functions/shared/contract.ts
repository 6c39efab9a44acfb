/**
 * The contract between the infrastructure (modules/) and the functions: the
 * environment variables each function reads, the error names the state machine
 * retries or catches, the metric the alarms watch and the S3 key layout.
 * Both sides import it, so a rename cannot leave one of them behind.
 */

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

/** CloudWatch namespace and metric names published by the functions (EMF). */
export const METRICS = {
  namespace: "FanoutPipeline",
  /** Open file descriptors at the end of an invocation (unit: Count); dimension `service` = function name. */
  openFileDescriptors: "OpenFileDescriptors",
  /** fanout: a redelivered message whose execution already existed (unit: Count). */
  duplicateDelivery: "DuplicateDelivery",
  /** fanout: a message that failed validation and was written to `rejected/` (unit: Count). */
  messageRejected: "MessageRejected",
  /** fanout: executions started (unit: Count). */
  executionStarted: "ExecutionStarted",
  /** fanout: records handed back to SQS for a retry (unit: Count). */
  recordRetried: "RecordRetried",
  /** processor (Finalize): items of a finished job that succeeded / failed (unit: Count). */
  itemsSucceeded: "ItemsSucceeded",
  itemsFailed: "ItemsFailed",
  /** fetcher, processor: a work-queue message whose task token was already closed (duplicate or stale delivery; unit: Count). */
  taskTokenClosed: "TaskTokenClosed",
} as const;

/**
 * Error names thrown by the functions (each error class sets `this.name`).
 * Transient ones are retried by the state machine; permanent ones are caught
 * and recorded as a failed item.
 */
export const ERRORS = {
  transient: ["OriginUnavailableError", "FetchTimeoutError", "StorageUnavailableError"],
  permanent: ["FetchRefusedError", "FetchTooLargeError", "OriginHttpError", "InvalidInputError", "RawObjectMissingError"],
} as const;

/**
 * S3 key layout in the work bucket. Everything that grows with a job lives
 * here, never in the execution's state: the manifest (the Map's item reader),
 * each item's outcome (results/ or failures/), the map run's result files and
 * the final status.
 */
export const KEYS = {
  /** The job's items: a JSON array of `{ index, url }` (the Distributed Map reads it). */
  manifest: (jobId: string) => `jobs/${jobId}/manifest.json`,
  raw: (jobId: string, index: number | string) => `jobs/${jobId}/raw/${index}`,
  chunk: (jobId: string, index: number | string, n: number | string) => `jobs/${jobId}/chunks/${index}/${n}`,
  /** A succeeded item's outcome (processor). */
  result: (jobId: string, index: number | string) => `jobs/${jobId}/results/${index}.json`,
  /** A failed item's outcome: `{ index, url, error, cause }` (written by the state machine itself). */
  failure: (jobId: string, index: number | string) => `jobs/${jobId}/failures/${index}.json`,
  resultsPrefix: (jobId: string) => `jobs/${jobId}/results/`,
  failuresPrefix: (jobId: string) => `jobs/${jobId}/failures/`,
  /** Where the Distributed Map's ResultWriter writes the map run's manifest and result files. */
  mapResults: (jobId: string) => `jobs/${jobId}/map`,
  status: (jobId: string) => `jobs/${jobId}/status.json`,
  rejected: (messageId: string) => `rejected/${messageId}.json`,
  /** Prefixes for IAM scoping. */
  prefixes: { jobs: "jobs/", rejected: "rejected/" },
} as const;

/**
 * The ports a fetch may use, by scheme: the only ones the fetcher's security
 * group opens (modules/network.ts) and the only ones the fanout accepts in a URL.
 * `http:` only where an environment allows it (ALLOW_HTTP).
 */
export const FETCH_PORTS = { "https:": 443, "http:": 80 } as const;

/** The ports open to a fetch: 443, and 80 when `http:` is allowed. */
export function fetchPorts(allowHttp: boolean): number[] {
  return allowHttp ? [FETCH_PORTS["https:"], FETCH_PORTS["http:"]] : [FETCH_PORTS["https:"]];
}

/**
 * Error recorded in status.json for an item with neither a result nor a failure
 * in S3 (its child execution ended without recording one).
 */
export const OUTCOME_MISSING_ERROR = "ItemOutcomeMissing";

/** Job id rule. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** S3 user metadata of the manifest: the SQS message that created the job. */
export const MANIFEST_METADATA = { messageId: "message-id" } as const;

/** Step Functions' limit on any state's input or output (and the execution's), in bytes. */
export const SFN_MAX_PAYLOAD_BYTES = 256 * 1024;
/** Step Functions' limit on one execution's history (STANDARD). */
export const SFN_MAX_HISTORY_EVENTS = 25_000;
/** SendTaskFailure's limits: error name and cause lengths, in characters. */
export const SFN_MAX_ERROR_CHARS = 256;
export const SFN_MAX_CAUSE_CHARS = 32_768;
/** The largest message SQS accepts (raised from 256 KiB to 1 MiB in August 2025). */
export const SQS_MAX_MESSAGE_BYTES = 1024 * 1024;
/**
 * The largest message our queues accept. AWS provider 5.100.0 (the one
 * @cdktf/provider-aws 20.1.0 is generated for) validates `max_message_size`
 * against the old 262,144 and sends that as its default, so a queue deployed
 * with it holds 256 KiB; providers from 6.8 accept SQS_MAX_MESSAGE_BYTES.
 */
export const QUEUE_MAX_MESSAGE_BYTES = 256 * 1024;

/** Longest cause a worker reports with SendTaskFailure (and that status.json keeps per item). */
export const TASK_CAUSE_MAX_CHARS = 1024;

/** The execution input: a pointer to the job in S3, never its items. */
export interface ExecutionInput {
  readonly jobId: string;
  readonly bucket: string;
  readonly manifestKey: string;
  readonly itemCount: number;
}

/**
 * The body of a work-queue message, as the state machine's
 * `sqs:sendMessage.waitForTaskToken` task sends it: the task token to answer
 * with, and the worker's input.
 */
export interface TaskMessage<I = unknown> {
  readonly taskToken: string;
  readonly input: I;
}

/** fetcher task input. */
export interface FetchTaskInput {
  readonly jobId: string;
  readonly index: number;
  readonly url: string;
}
/** processor task input: split one item's raw object. */
export interface ProcessTaskInput {
  readonly jobId: string;
  readonly index: number;
}
/** processor task input: build status.json from the item outcomes in S3. */
export interface FinalizeTaskInput {
  readonly action: "finalize";
  readonly jobId: string;
  readonly itemCount: number;
}

/** SDK connection timeout given to every function (SDK_CONNECT_TIMEOUT_MS); well under any request timeout. */
export const SDK_CONNECT_TIMEOUT_MS = 3000;

/** Sockets one pool may hold: the one range the budget (synth) and the functions (init) check. */
export const POOL_SOCKETS_RANGE = { min: 1, max: 256 } as const;

/** The budget setting that bounds a pool: the SDK clients' `maxSockets`, or the fetcher's outbound `fetchMaxSockets`. */
export type PoolBound = "maxSockets" | "fetchMaxSockets";

/** One pool of sockets a function's code holds: which client builds it and which setting caps it. */
export interface SocketPool {
  readonly client: string;
  readonly bound: PoolBound;
}

/**
 * Every socket pool each function's code opens (functions/shared/clients.ts,
 * functions/fetcher/fetch.ts). Budget rule 6 counts its fds from this table, and
 * a test builds each handler's clients from its synthesized environment and
 * checks every agent's maxSockets against it.
 */
export const SOCKET_POOLS = {
  fanout: [
    { client: "S3 client", bound: "maxSockets" },
    { client: "Step Functions client (StartExecution)", bound: "maxSockets" },
  ],
  fetcher: [
    { client: "S3 client", bound: "maxSockets" },
    { client: "Step Functions client (task tokens)", bound: "maxSockets" },
    { client: "outbound http agent", bound: "fetchMaxSockets" },
    { client: "outbound https agent", bound: "fetchMaxSockets" },
  ],
  processor: [
    { client: "S3 client", bound: "maxSockets" },
    { client: "Step Functions client (task tokens)", bound: "maxSockets" },
  ],
} as const satisfies Record<string, readonly SocketPool[]>;
