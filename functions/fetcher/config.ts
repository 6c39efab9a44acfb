/** fetcher configuration, loaded once at module scope by the handler. */
import { ENV } from "../shared/contract";
import { loadRuntimeConfig, type RuntimeConfig } from "../shared/config";
import { boolFromEnv, intFromEnv, type Env } from "../shared/env";
import { ConfigurationError } from "../shared/errors";
import { loadWorkerConfig, type WorkerConfig } from "../shared/worker-config";

export interface FetcherConfig extends RuntimeConfig, WorkerConfig {
  readonly allowHttp: boolean;
  /** Whole fetch: connect, redirects, headers, body and upload. */
  readonly fetchTimeoutMs: number;
  readonly fetchMaxBytes: number;
  readonly fetchMaxRedirects: number;
  /** `host:port` origins exempt from the private-address guard (tests and local runs only). */
  readonly allowPrivate: ReadonlySet<string>;
}

export function loadFetcherConfig(env: Env = process.env): FetcherConfig {
  return {
    ...loadRuntimeConfig(env),
    ...loadWorkerConfig(env),
    allowHttp: boolFromEnv(env, ENV.allowHttp, false),
    fetchTimeoutMs: intFromEnv(env, ENV.fetchTimeoutMs, { min: 100, max: 900_000, fallback: 30_000 }),
    fetchMaxBytes: intFromEnv(env, ENV.fetchMaxBytes, { min: 1, max: 5 * 1024 ** 3, fallback: 100 * 1024 ** 2 }),
    fetchMaxRedirects: intFromEnv(env, ENV.fetchMaxRedirects, { min: 0, max: 20, fallback: 5 }),
    allowPrivate: parseOrigins(env[ENV.fetchAllowPrivate]),
  };
}

/** `host:port,host:port` → a set of lower-case origins; IPv6 hosts in brackets (`[::1]:8080`). */
export function parseOrigins(raw: string | undefined): ReadonlySet<string> {
  const origins = new Set<string>();
  for (const entry of (raw ?? "").split(",").map((e) => e.trim()).filter(Boolean)) {
    const origin = normaliseOrigin(entry);
    if (!origin) {
      throw new ConfigurationError(
        `${ENV.fetchAllowPrivate} environment variable must be a comma-separated list of host:port (got "${entry}")`,
      );
    }
    origins.add(origin);
  }
  return origins;
}

/** `host:port` with the host as URL.hostname writes it (what originOf compares), or undefined. */
function normaliseOrigin(entry: string): string | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):(\d{1,5})$/i.exec(entry);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535) return undefined;
  try {
    return `${new URL(`http://${match[1]}/`).hostname}:${port}`;
  } catch {
    return undefined;
  }
}
