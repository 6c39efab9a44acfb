/**
 * Named errors. Each sets `this.name` to a literal (minification renames
 * classes, not strings), so Step Functions can Retry/Catch them by name and logs
 * say what happened. The names are the ones in `contract/errors.ts` ERRORS.
 */

/** Transient: the origin answered 5xx, reset the connection or could not be reached. */
export class OriginUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "OriginUnavailableError";
  }
}

/** Transient: the whole fetch, redirects, headers and body included, took longer than FETCH_TIMEOUT_MS. */
export class FetchTimeoutError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FetchTimeoutError";
  }
}

/** Transient: S3 throttled, answered 5xx or timed out after the SDK's own retries. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StorageUnavailableError";
  }
}

/** Permanent: the URL's scheme or (resolved) address is not allowed. */
export class FetchRefusedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FetchRefusedError";
  }
}

/** Permanent: the response is larger than FETCH_MAX_BYTES. */
export class FetchTooLargeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FetchTooLargeError";
  }
}

/** Permanent: the origin answered a non-2xx, non-5xx status (or too many redirects). */
export class OriginHttpError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "OriginHttpError";
  }
}

/** Permanent: the function's input does not match its schema. */
export class InvalidInputError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidInputError";
  }
}

/** Permanent: `raw/{index}` does not exist (the fetch never stored it). */
export class RawObjectMissingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RawObjectMissingError";
  }
}

/**
 * Init only: an environment variable is missing or invalid. Not in ERRORS: it
 * fails the function's init, it never reaches the state machine as a task error.
 */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigurationError";
  }
}

/** `Name: message` for logs and stored reasons. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
