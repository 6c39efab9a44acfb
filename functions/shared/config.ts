/**
 * The configuration every function shares: the work bucket and the concurrency
 * budget (sockets per client, in-handler fan-out) plus SDK timeouts. Each
 * function's environment schema includes these variables; the handler loads it
 * once at module scope, so a bad value fails the init.
 */
import * as z from "zod/mini";
import { ENV } from "../../contract";
import { flag, integers, parseEnv, requiredString, type Env, type ParsedEnv } from "./env";

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

/** The variables of RuntimeConfig, for each function's environment schema. */
export const RUNTIME_ENV = {
  [ENV.workBucket]: requiredString(ENV.workBucket),
  ...integers("maxSockets", "taskConcurrency", "sdkConnectTimeoutMs", "sdkRequestTimeoutMs"),
  [ENV.s3ForcePathStyle]: flag(ENV.s3ForcePathStyle),
};

/** RuntimeConfig from a parsed environment (`env` for AWS_ENDPOINT_URL_S3, which only sets a default). */
export function runtimeConfig(e: ParsedEnv<typeof RUNTIME_ENV>, env: Env): RuntimeConfig {
  return {
    workBucket: e[ENV.workBucket],
    maxSockets: e[ENV.maxSockets],
    taskConcurrency: e[ENV.taskConcurrency],
    sdkConnectTimeoutMs: e[ENV.sdkConnectTimeoutMs],
    sdkRequestTimeoutMs: e[ENV.sdkRequestTimeoutMs],
    // Path-style is what S3-compatible servers on 127.0.0.1 need.
    s3ForcePathStyle: e[ENV.s3ForcePathStyle] ?? Boolean(env.AWS_ENDPOINT_URL_S3?.trim()),
  };
}

const RUNTIME_SCHEMA = z.object(RUNTIME_ENV);

/** The shared part alone (the SDK clients are built from it). */
export function loadRuntimeConfig(env: Env = process.env): RuntimeConfig {
  return runtimeConfig(parseEnv(RUNTIME_SCHEMA, env), env);
}
