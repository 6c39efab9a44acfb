/** fetcher configuration: its environment schema, parsed once at module scope by the handler (and at synth). */
import * as z from "zod/mini";
import { ENV } from "../../contract";
import { RUNTIME_ENV, runtimeConfig, type RuntimeConfig } from "../shared/config";
import { flag, integers, originList, parseEnv, type Env } from "../shared/env";
import { WORKER_ENV, workerConfig, type WorkerConfig } from "../shared/worker-config";

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

/** Every variable the fetcher reads. */
export const FETCHER_ENV = z.object({
  ...RUNTIME_ENV,
  ...WORKER_ENV,
  [ENV.allowHttp]: flag(ENV.allowHttp),
  ...integers("fetchTimeoutMs", "fetchMaxBytes", "fetchMaxRedirects", "fetchMaxSockets"),
  [ENV.fetchAllowPrivate]: originList(ENV.fetchAllowPrivate),
});

export function loadFetcherConfig(env: Env = process.env): FetcherConfig {
  const e = parseEnv(FETCHER_ENV, env);
  return {
    ...runtimeConfig(e, env),
    ...workerConfig(e),
    allowHttp: e[ENV.allowHttp] ?? false,
    fetchTimeoutMs: e[ENV.fetchTimeoutMs],
    fetchMaxBytes: e[ENV.fetchMaxBytes],
    fetchMaxRedirects: e[ENV.fetchMaxRedirects],
    fetchMaxSockets: e[ENV.fetchMaxSockets],
    allowPrivate: e[ENV.fetchAllowPrivate],
  };
}
