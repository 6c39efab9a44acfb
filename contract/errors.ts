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
 * Error recorded in status.json for an item with neither a result nor a failure
 * in S3 (its child execution ended without recording one).
 */
export const OUTCOME_MISSING_ERROR = "ItemOutcomeMissing";
