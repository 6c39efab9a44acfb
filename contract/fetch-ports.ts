/**
 * The ports a fetch may use, by scheme: the only ones the fetcher's security
 * group opens (modules/network.ts) and the only ones the fanout accepts in a URL.
 * `http:` only where an environment allows it (ALLOW_HTTP).
 */
export const FETCH_PORTS = { "https:": 443, "http:": 80 } as const;

/** The ports open to a fetch: 443, and 80 when `http:` is allowed. */
export function fetchPorts(allowHttp: boolean): number[] {
  return allowHttp ? [FETCH_PORTS["https:"], FETCH_PORTS["http:"]] : [FETCH_PORTS["https:"]];
}
