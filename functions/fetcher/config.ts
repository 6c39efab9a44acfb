/** fetcher configuration, loaded once at module scope by the handler. */
import { ENV, POOL_SOCKETS_RANGE } from "../../contract";
import { loadRuntimeConfig, type RuntimeConfig } from "../shared/config";
import { boolFromEnv, intFromEnv, type Env } from "../shared/env";
import { loadWorkerConfig, type WorkerConfig } from "../shared/worker-config";
import { parseOrigins } from "../shared/origins";

export interface FetcherConfig extends RuntimeConfig, WorkerConfig {
  readonly allowHttp: boolean;
  /** Whole fetch: connect, redirects, headers, body and upload. */
  readonly fetchTimeoutMs: number;
  readonly fetchMaxBytes: number;
  readonly fetchMaxRedirects: number;
  /** Max sockets of each outbound agent (http, https); the budget's fetcher.fetchMaxSockets. */
  readonly fetchMaxSockets: number;
  /** `host:port` origins exempt from the address guard and the port rule (tests and local runs only). */
  readonly allowPrivate: ReadonlySet<string>;
}

export function loadFetcherConfig(env: Env = process.env): FetcherConfig {
  return {
    ...loadRuntimeConfig(env),
    ...loadWorkerConfig(env),
    allowHttp: boolFromEnv(env, ENV.allowHttp, false),
    // No fallbacks: the stack sets each, and a bundle without one fails its init.
    fetchTimeoutMs: intFromEnv(env, ENV.fetchTimeoutMs, { min: 100, max: 900_000 }),
    fetchMaxBytes: intFromEnv(env, ENV.fetchMaxBytes, { min: 1, max: 5 * 1024 ** 3 }),
    fetchMaxRedirects: intFromEnv(env, ENV.fetchMaxRedirects, { min: 0, max: 20 }),
    fetchMaxSockets: intFromEnv(env, ENV.fetchMaxSockets, POOL_SOCKETS_RANGE),
    allowPrivate: parseOrigins(env[ENV.fetchAllowPrivate]),
  };
}
