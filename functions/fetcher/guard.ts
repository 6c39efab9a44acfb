/**
 * The outbound-request guard (SSRF protection). Three checks, all before any
 * byte is sent:
 *  1. the scheme: https:, and http: only when ALLOW_HTTP=true;
 *  2. a literal IP host is checked directly (Node does not call `lookup` for IPs);
 *  3. a host name is resolved by `guardedLookup`, which Node's socket uses to
 *     connect: every resolved address is checked and the socket connects only to
 *     one of those, so a DNS answer that changes between check and connect (DNS
 *     rebinding) cannot get through.
 * Origins listed in FETCH_ALLOW_PRIVATE (`host:port`, tests and local runs only)
 * skip checks 2 and 3; the scheme check always applies.
 */
import * as dns from "dns";
import * as net from "net";
import { FetchRefusedError } from "../shared/errors";

type Rule = readonly [label: string, subnets: readonly string[]];

/** Address classes we never connect to. IPv4-mapped IPv6 (::ffff:a.b.c.d) matches the IPv4 rules. */
const RULES: readonly Rule[] = [
  ["unspecified", ["0.0.0.0/8", "::/128"]],
  ["loopback", ["127.0.0.0/8", "::1/128"]],
  ["private", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]],
  ["link-local", ["169.254.0.0/16", "fe80::/10"]],
  ["unique-local", ["fc00::/7"]],
  ["carrier-grade NAT", ["100.64.0.0/10"]],
  ["multicast", ["224.0.0.0/4", "ff00::/8"]],
  ["reserved or broadcast", ["240.0.0.0/4"]],
  ["special-purpose", ["192.0.0.0/24", "198.18.0.0/15", "::/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32"]],
];

const LISTS = RULES.map(([label, subnets]) => {
  const list = new net.BlockList();
  for (const subnet of subnets) {
    const [address, prefix] = subnet.split("/");
    list.addSubnet(address, Number(prefix), net.isIPv6(address) ? "ipv6" : "ipv4");
  }
  return { label, list };
});

/** Prefixes that carry an IPv4 address inside an IPv6 one: NAT64 (last 32 bits) and 6to4 (bits 16..47). */
const NAT64 = subnetList("64:ff9b::", 96);
const SIX_TO_FOUR = subnetList("2002::", 16);

function subnetList(address: string, prefix: number): net.BlockList {
  const list = new net.BlockList();
  list.addSubnet(address, prefix, "ipv6");
  return list;
}

/** Why an address is refused, or undefined when it is a public unicast address. */
export function blockedReason(address: string): string | undefined {
  const ip = address.split("%")[0]; // drop an IPv6 zone id
  const family = net.isIP(ip);
  if (family === 0) return "not an IP address";
  const type = family === 6 ? "ipv6" : "ipv4";
  for (const { label, list } of LISTS) if (list.check(ip, type)) return label;
  if (family === 6) {
    const groups = expandIPv6(ip);
    let embedded: string | undefined;
    if (NAT64.check(ip, "ipv6")) embedded = ipv4From(groups[6], groups[7]);
    else if (SIX_TO_FOUR.check(ip, "ipv6")) embedded = ipv4From(groups[1], groups[2]);
    const inner = embedded && blockedReason(embedded);
    if (inner) return `${inner} (embedded IPv4 ${embedded})`;
  }
  return undefined;
}

function ipv4From(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
}

/** The eight 16-bit groups of a valid IPv6 address (handles `::` and a trailing dotted quad). */
function expandIPv6(ip: string): number[] {
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split(".").map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::");
  const parse = (part: string | undefined) => (part ? part.split(":").map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

export interface GuardPolicy {
  readonly allowHttp: boolean;
  /** `host:port` origins exempt from the address checks (lower case). */
  readonly allowPrivate: ReadonlySet<string>;
}

/** `host:port` of a URL, with the scheme's default port filled in (IPv6 hosts keep their brackets). */
export function originOf(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : url.protocol === "http:" ? "80" : "");
  return `${url.hostname.toLowerCase()}:${port}`;
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
    throw new FetchRefusedError(`scheme "${url.protocol}" is not allowed (only ${allowed}): ${redact(url)}`);
  }
  if (policy.allowPrivate.has(originOf(url))) return { guarded: false };
  const host = bareHost(url);
  if (net.isIP(host)) {
    const reason = blockedReason(host);
    if (reason) throw new FetchRefusedError(`address ${host} is ${reason}: ${redact(url)}`);
  }
  return { guarded: true };
}

/** The URL without credentials, query or fragment, for messages. */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;
type Resolver = (hostname: string, options: dns.LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void;

/**
 * A `lookup` for http.request/net.connect that refuses host names resolving to
 * any blocked address. `resolve` is injectable for tests (default: dns.lookup).
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
