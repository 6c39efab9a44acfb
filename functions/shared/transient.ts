/**
 * Which errors are worth retrying later: throttling, 5xx, timeouts and network
 * failures. Everything else is permanent (but the fanout still never drops a
 * record on an unexpected error: it hands it back to SQS).
 */
const TRANSIENT_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "SlowDown",
  "RequestTimeout",
  "RequestTimeoutException",
  "ServiceUnavailable",
  "InternalError",
  "InternalFailure",
  "InternalServerError",
  "TimeoutError",
]);

/** Socket-level error codes of a network path that may work on a retry. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

const TRANSIENT_CODES = new Set([...NETWORK_ERROR_CODES, "EMFILE"]);

interface SdkLikeError {
  name?: string;
  code?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

export function isTransientError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as SdkLikeError;
  const status = e.$metadata?.httpStatusCode;
  return (
    (e.name !== undefined && TRANSIENT_NAMES.has(e.name)) ||
    (e.code !== undefined && TRANSIENT_CODES.has(e.code)) ||
    Boolean(e.$retryable) ||
    status === 429 ||
    (status !== undefined && status >= 500)
  );
}
