/** fanout configuration, loaded once at module scope by the handler. */
import { ENV } from "../../contract";
import { loadRuntimeConfig, type RuntimeConfig } from "../shared/config";
import { boolFromEnv, intFromEnv, stringFromEnv, type Env } from "../shared/env";
import { parseOrigins } from "../shared/origins";

export interface FanoutConfig extends RuntimeConfig {
  readonly stateMachineArn: string;
  /** Items allowed in one message (the execution input is a pointer, so this bounds the manifest, not the input). */
  readonly maxItemsPerJob: number;
  /** Longest item URL accepted, in characters (MAX_URL_LENGTH, required: the stack sets it). */
  readonly maxUrlLength: number;
  /** Accept `http:` item URLs (the fetcher must allow them too). */
  readonly allowHttp: boolean;
  /**
   * `host:port` origins exempt from the port rule, from FETCH_ALLOW_PRIVATE: the
   * same variable, and the same exemption, as the fetcher's (tests and local
   * runs only; the function construct refuses it at synth, a policy test proves
   * no stack sets it), so the fanout never accepts what the fetcher refuses.
   */
  readonly exemptOrigins: ReadonlySet<string>;
}

/** Ranges of the fanout's own variables. */
export const FANOUT_LIMITS = {
  maxUrlLength: { min: 1, max: 8192 },
} as const;

export function loadFanoutConfig(env: Env = process.env): FanoutConfig {
  return {
    ...loadRuntimeConfig(env),
    stateMachineArn: stringFromEnv(env, ENV.stateMachineArn),
    maxItemsPerJob: intFromEnv(env, ENV.maxItemsPerJob, { min: 1, max: 10_000 }),
    maxUrlLength: intFromEnv(env, ENV.maxUrlLength, FANOUT_LIMITS.maxUrlLength),
    allowHttp: boolFromEnv(env, ENV.allowHttp, false),
    exemptOrigins: parseOrigins(env[ENV.fetchAllowPrivate]),
  };
}
