/** fanout configuration, loaded once at module scope by the handler. */
import { ENV } from "../shared/contract";
import { loadRuntimeConfig, type RuntimeConfig } from "../shared/config";
import { boolFromEnv, intFromEnv, stringFromEnv, type Env } from "../shared/env";

export interface FanoutConfig extends RuntimeConfig {
  readonly stateMachineArn: string;
  /** Items allowed in one message; with the byte check it keeps the execution input under 256 KiB. */
  readonly maxItemsPerJob: number;
  /** Accept `http:` item URLs (the fetcher must allow them too). */
  readonly allowHttp: boolean;
}

export function loadFanoutConfig(env: Env = process.env): FanoutConfig {
  return {
    ...loadRuntimeConfig(env),
    stateMachineArn: stringFromEnv(env, ENV.stateMachineArn),
    maxItemsPerJob: intFromEnv(env, ENV.maxItemsPerJob, { min: 1, max: 10_000, fallback: 100 }),
    allowHttp: boolFromEnv(env, ENV.allowHttp, false),
  };
}
