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
  /** "true" lets `http:` URLs through (fanout validation, fetcher). */
  allowHttp: "ALLOW_HTTP",
  /** Whole-fetch timeout in ms (fetcher). */
  fetchTimeoutMs: "FETCH_TIMEOUT_MS",
  /** Max response bytes (fetcher). */
  fetchMaxBytes: "FETCH_MAX_BYTES",
  /** Max redirects followed, each re-checked (fetcher). */
  fetchMaxRedirects: "FETCH_MAX_REDIRECTS",
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

/** S3 key layout in the work bucket. */
export const KEYS = {
  manifest: (jobId: string) => `jobs/${jobId}/manifest.json`,
  raw: (jobId: string, index: number) => `jobs/${jobId}/raw/${index}`,
  chunk: (jobId: string, index: number, n: number) => `jobs/${jobId}/chunks/${index}/${n}`,
  result: (jobId: string, index: number) => `jobs/${jobId}/results/${index}.json`,
  status: (jobId: string) => `jobs/${jobId}/status.json`,
  rejected: (messageId: string) => `rejected/${messageId}.json`,
  /** Prefixes for IAM scoping. */
  prefixes: { jobs: "jobs/", rejected: "rejected/" },
} as const;

/** Job id rule (DESIGN.md). */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Step Functions' limit on execution input, in bytes. */
export const SFN_MAX_INPUT_BYTES = 256 * 1024;
