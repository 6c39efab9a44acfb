/**
 * The contract between the infrastructure (modules/, stacks/) and the
 * functions: the environment variables each function reads, the S3 key layout,
 * the error names the state machine retries or catches, the metrics the alarms
 * watch, the socket pools the budget counts and AWS's limits. Both sides import
 * it, so a rename cannot leave one of them behind.
 */
export * from "./env";
export * from "./errors";
export * from "./fetch-ports";
export * from "./keys";
export * from "./limits";
export * from "./messages";
export * from "./metrics";
export * from "./socket-pools";
