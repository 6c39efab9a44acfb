/**
 * The outbound-request guard (SSRF protection): an allow-list. Only a global
 * unicast address is ever connected to. Four checks, all before any byte is sent:
 *  1. the scheme: https:, and http: only when ALLOW_HTTP=true;
 *  2. the port: one of `fetchPorts(allowHttp)` (origins.ts; the ports the
 *     fetcher's security group opens);
 *  3. a literal IP host is checked directly (Node does not call `lookup` for IPs);
 *  4. a host name is resolved by `guardedLookup`, which Node's socket uses to
 *     connect: every resolved address is checked and the socket connects only to
 *     one of those, so a DNS answer that changes between check and connect (DNS
 *     rebinding) cannot get through.
 * Every redirect hop goes through all four again (fetch.ts).
 * Origins listed in FETCH_ALLOW_PRIVATE (`host:port`, tests and local runs only)
 * skip checks 2–4; the scheme check always applies.
 *
 * What "global unicast" means is ipaddr.js's range table (a maintained list of
 * the IANA special-purpose registries), not a table of our own:
 *  - IPv4: `range() === "unicast"`.
 *  - IPv6: `range() === "unicast"` and inside 2000::/3, the only block IANA
 *    allocates as global unicast. Everything else in IPv6 is reserved, local or
 *    special, and ipaddr.js does not list all of it — the deprecated
 *    IPv4-compatible form `::a.b.c.d` (::/96), for one, is "unicast" to it.
 *  - Forms whose destination IS their embedded IPv4 are unwrapped and the IPv4
 *    is judged instead: IPv4-mapped `::ffff:a.b.c.d` (the kernel connects to the
 *    IPv4 itself), IPv4-translated `::ffff:0:a.b.c.d` (SIIT, RFC 6145) and the
 *    well-known NAT64 prefix `64:ff9b::/96` (RFC 6052: AWS NAT gateways
 *    translate it, so 64:ff9b::a00:1 reaches 10.0.0.1).
 *  - Refused outright, whatever they embed (the reason names the embedded IPv4
 *    where there is one): 6to4 `2002::/16` (RFC 3056, deprecated by RFC 7526)
 *    and Teredo `2001::/32` (RFC 4380) are tunnels whose packets go wherever
 *    relays and the embedded (for Teredo, obfuscated) IPv4 send them, so no
 *    check of the address vouches for the destination; the local-use NAT64
 *    prefix `64:ff9b:1::/48` (RFC 8215) embeds its IPv4 wherever the operator
 *    chose; a scoped address (zone id, `fe80::1%eth0`) names an interface, which
 *    only non-global addresses need.
 * Only the strict notations a socket connects to without a lookup (`net.isIP`)
 * are judged; anything else is "not an IP address", which is refused too.
 */
import * as dns from "dns";
import * as net from "net";
import * as ipaddr from "ipaddr.js";
import { FetchRefusedError } from "../shared/errors";
import { redactUrl } from "../shared/redact";
import { originOf, portRefusal } from "../shared/origins";

export { originOf };

/** Words for ipaddr.js's range names in messages; a name not listed here is shown as it is (and refused all the same). */
const RANGE_LABELS: Readonly<Record<string, string>> = {
  unspecified: "unspecified",
  broadcast: "broadcast",
  multicast: "multicast",
  linkLocal: "link-local",
  loopback: "loopback",
  carrierGradeNat: "carrier-grade NAT",
  private: "private",
  reserved: "reserved",
  as112: "AS112 (special-purpose)",
  amt: "AMT (special-purpose)",
  uniqueLocal: "unique-local",
  deprecatedSiteLocal: "site-local (deprecated)",
  discard: "discard-only",
  rfc6052: "local-use NAT64 (64:ff9b:1::/48)",
  "6to4": "6to4",
  teredo: "Teredo",
  benchmarking: "benchmarking",
  as112v6: "AS112 (special-purpose)",
  deprecatedOrchid: "ORCHID (deprecated)",
  orchid2: "ORCHIDv2",
  droneRemoteIdProtocolEntityTags: "DRIP (special-purpose)",
  segmentRouting: "segment routing (SRv6 SIDs)",
};

/** IANA's global unicast allocation for IPv6. */
const IPV6_GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR("2000::/3");
/** The well-known NAT64 prefix (RFC 6052): the last 32 bits are the IPv4 destination. */
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR("64:ff9b::/96");
/** IPv4-compatible IPv6 (deprecated, RFC 4291 §2.5.5.1): ::/96 (:: and ::1 are judged by their own ranges first). */
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR("::/96");

const label = (range: string) => RANGE_LABELS[range] ?? range;
const lastIPv4 = (ip: ipaddr.IPv6) => new ipaddr.IPv4(ip.toByteArray().slice(12));

/** Why an address is refused, or undefined when it is global unicast. */
export function blockedReason(address: string): string | undefined {
  const family = net.isIP(address);
  if (family === 4) return ipv4Reason(ipaddr.IPv4.parse(address));
  if (family !== 6) return "not an IP address";
  const [bare, zone] = address.split("%", 2);
  const reason = ipv6Reason(ipaddr.IPv6.parse(dottedTailToHex(bare)));
  return reason ?? (zone !== undefined ? `scoped (zone id %${zone})` : undefined);
}

function ipv4Reason(ip: ipaddr.IPv4): string | undefined {
  const range = ip.range();
  return range === "unicast" ? undefined : label(range);
}

function ipv6Reason(ip: ipaddr.IPv6): string | undefined {
  const range: string = ip.range();
  const unwrap = range === "ipv4Mapped" || range === "rfc6145" || (range === "rfc6052" && ip.match(NAT64_WELL_KNOWN));
  if (unwrap) {
    const inner = lastIPv4(ip);
    const reason = ipv4Reason(inner);
    return reason && `${reason} (embedded IPv4 ${inner.toString()})`;
  }
  if (range === "6to4") return `6to4 (embedded IPv4 ${new ipaddr.IPv4(ip.toByteArray().slice(2, 6)).toString()})`;
  if (range === "teredo") return `Teredo (server IPv4 ${new ipaddr.IPv4(ip.toByteArray().slice(4, 8)).toString()})`;
  if (range !== "unicast") return label(range);
  if (ip.match(IPV4_COMPATIBLE)) return `IPv4-compatible (deprecated, embedded IPv4 ${lastIPv4(ip).toString()})`;
  if (!ip.match(IPV6_GLOBAL_UNICAST)) return "outside global unicast (2000::/3)";
  return undefined;
}

/**
 * `x::a.b.c.d` → `x::hhhh:hhhh`. ipaddr.js reads `::a.b.c.d` as IPv4-mapped
 * (`::ffff:a.b.c.d`), where the socket connects to the IPv4-compatible
 * `::hhhh:hhhh`: converting first makes it judge the address that is used.
 * (`net.isIP` has already required a strict dotted-decimal tail.)
 */
function dottedTailToHex(address: string): string {
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (!tail) return address;
  const [a, b, c, d] = tail.slice(1).map(Number);
  return `${address.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

export interface GuardPolicy {
  readonly allowHttp: boolean;
  /** `host:port` origins exempt from the port rule and the address checks (lower case). */
  readonly allowPrivate: ReadonlySet<string>;
}

/** The host without IPv6 brackets. */
function bareHost(url: URL): string {
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * Checks what can be checked before connecting. Returns whether the address
 * checks apply to the connection (false for an exempt origin).
 */
export function checkUrl(url: URL, policy: GuardPolicy): { guarded: boolean } {
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowHttp)) {
    const allowed = policy.allowHttp ? "https: or http:" : "https:";
    throw new FetchRefusedError(`scheme "${url.protocol}" is not allowed (only ${allowed}): ${redactUrl(url)}`);
  }
  if (policy.allowPrivate.has(originOf(url))) return { guarded: false };
  const port = portRefusal(url, policy.allowHttp, policy.allowPrivate);
  if (port) throw new FetchRefusedError(`${port}: ${redactUrl(url)}`);
  const host = bareHost(url);
  if (net.isIP(host)) {
    const reason = blockedReason(host);
    if (reason) throw new FetchRefusedError(`address ${host} is ${reason}: ${redactUrl(url)}`);
  }
  return { guarded: true };
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;
type Resolver = (hostname: string, options: dns.LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void;

/**
 * A `lookup` for http.request/net.connect that refuses host names resolving to
 * any address that is not global unicast. `resolve` is injectable for tests
 * (default: dns.lookup).
 */
export function guardedLookup(resolve: Resolver = dns.lookup): net.LookupFunction {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      if (addresses.length === 0) return callback(new FetchRefusedError(`${hostname} resolves to no address`), []);
      for (const { address } of addresses) {
        const reason = blockedReason(address);
        if (reason) return callback(new FetchRefusedError(`${hostname} resolves to ${address}, which is ${reason}`), []);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
