/**
 * Origins and ports: the one port rule of a fetch, shared by the fetcher (which
 * refuses the fetch) and the fanout (which rejects the message up front, so a
 * job never carries an item the fetcher would refuse), and the
 * FETCH_ALLOW_PRIVATE exemption list both read.
 *
 * A fetch may use only the ports of `fetchPorts(allowHttp)` (contract/fetch-ports.ts:
 * 443, and 80 with ALLOW_HTTP) — the ones the fetcher's security group opens.
 * An origin listed in FETCH_ALLOW_PRIVATE (`host:port`, tests and local runs
 * only; the function construct refuses it at synth and a policy test proves no
 * stack sets it) is exempt from the port rule as from the address guard.
 */
import { fetchPorts } from "../../contract";

/** `host:port` of a URL, with the scheme's default port filled in (IPv6 hosts keep their brackets). */
export function originOf(url: URL): string {
  return `${url.hostname.toLowerCase()}:${portOf(url) ?? ""}`;
}

/** The port a URL connects to: its explicit port, else its scheme's default (undefined for other schemes). */
export function portOf(url: URL): number | undefined {
  if (url.port) return Number(url.port);
  if (url.protocol === "https:") return 443;
  if (url.protocol === "http:") return 80;
  return undefined;
}

/**
 * Why a URL's port is refused (`port 8443 is not allowed (allowed: 443)`), or
 * undefined when it is a fetchable port or the origin is exempt.
 */
export function portRefusal(url: URL, allowHttp: boolean, exempt: ReadonlySet<string>): string | undefined {
  if (exempt.has(originOf(url))) return undefined;
  const allowed = fetchPorts(allowHttp);
  const port = portOf(url);
  if (port !== undefined && allowed.includes(port)) return undefined;
  return `port ${port ?? "(none)"} is not allowed (allowed: ${allowed.join(", ")})`;
}

/**
 * `host:port,host:port` (FETCH_ALLOW_PRIVATE) → a set of lower-case origins
 * (IPv6 hosts in brackets, `[::1]:8080`), or the first entry that is not one.
 */
export function parseOrigins(raw: string | undefined): { readonly origins: ReadonlySet<string> } | { readonly refused: string } {
  const origins = new Set<string>();
  for (const entry of (raw ?? "").split(",").map((e) => e.trim()).filter(Boolean)) {
    const origin = normaliseOrigin(entry);
    if (!origin) return { refused: entry };
    origins.add(origin);
  }
  return { origins };
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
