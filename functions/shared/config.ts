/**
 * The configuration every function shares: the work bucket and the concurrency
 * budget (sockets per client, in-handler fan-out) plus SDK timeouts. Each handler
 * loads it once at module scope, so a bad value fails the init.
 */
import { ENV, POOL_SOCKETS_RANGE } from "../../contract";
import { boolFromEnv, intFromEnv, stringFromEnv, type Env } from "./env";

export interface RuntimeConfig {
  readonly workBucket: string;
  /** Max sockets of each SDK client's agents. */
  readonly maxSockets: number;
  /** Max tasks in flight inside one invocation (bounded helper). */
  readonly taskConcurrency: number;
  readonly sdkConnectTimeoutMs: number;
  /** Socket idle timeout of SDK requests. */
  readonly sdkRequestTimeoutMs: number;
  readonly s3ForcePathStyle: boolean;
}

/**
 * Ranges. No variable the stack sets has a fallback here: a fallback that
 * differed from the deployed value would make a bundle started without it
 * behave unlike the deployed one (synth checks that every one is set).
 */
export const RUNTIME_LIMITS = {
  maxSockets: POOL_SOCKETS_RANGE,
  taskConcurrency: { min: 1, max: 500 },
  sdkConnectTimeoutMs: { min: 100, max: 60_000 },
  sdkRequestTimeoutMs: { min: 100, max: 900_000 },
} as const;

export function loadRuntimeConfig(env: Env = process.env): RuntimeConfig {
  return {
    workBucket: stringFromEnv(env, ENV.workBucket),
    // The budget has no default: the stack derives it and must pass it.
    maxSockets: intFromEnv(env, ENV.maxSockets, RUNTIME_LIMITS.maxSockets),
    taskConcurrency: intFromEnv(env, ENV.taskConcurrency, RUNTIME_LIMITS.taskConcurrency),
    sdkConnectTimeoutMs: intFromEnv(env, ENV.sdkConnectTimeoutMs, RUNTIME_LIMITS.sdkConnectTimeoutMs),
    sdkRequestTimeoutMs: intFromEnv(env, ENV.sdkRequestTimeoutMs, RUNTIME_LIMITS.sdkRequestTimeoutMs),
    // Path-style is what S3-compatible servers on 127.0.0.1 need.
    s3ForcePathStyle: boolFromEnv(env, ENV.s3ForcePathStyle, Boolean(env.AWS_ENDPOINT_URL_S3?.trim())),
  };
}
