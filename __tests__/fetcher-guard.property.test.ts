/**
 * The fetcher's address guard, property-based (fast-check, fixed seeds, 10,000
 * inputs per property): nothing outside global unicast is ever connected to,
 * whatever the notation, and global unicast addresses get through.
 *
 * The generators are built from the IANA special-purpose registries written out
 * here, independently of ipaddr.js (which the guard uses): an address drawn
 * from a block that is not global unicast must be refused, one drawn from
 * outside every such block must be accepted. Each address is rendered in every
 * notation that reaches the guard — dotted decimal; octal and hex parts; short
 * forms (`127.1`, `127.0.1`) and single 32-bit integers; IPv6 compressed at any
 * zero run, expanded, with leading zeros, upper case, with a dotted IPv4 tail;
 * IPv4-mapped, -translated and NAT64 forms; zone ids — and sent down both
 * paths a connection can take: a literal URL host (bracketed for IPv6), which
 * Node connects to without a lookup, and a host name whose DNS answer is the
 * address, which goes through the guarded lookup the agent connects with.
 */
import * as fc from "fast-check";
import * as net from "net";
import type { LookupAddress } from "dns";
import { blockedReason, checkUrl, guardedLookup } from "../functions/fetcher/guard";
import { FetchRefusedError } from "../functions/shared/errors";

const RUNS = 10_000;
const POLICY = { allowHttp: false, allowPrivate: new Set<string>() };

// ---------------------------------------------------------------- IPv4

/** [first address as a 32-bit integer, prefix length] */
type Block = readonly [base: number, prefix: number];

const v4 = (dotted: string): number => dotted.split(".").reduce((n, part) => n * 256 + Number(part), 0);
const block4 = (cidr: string): Block => {
  const [address, prefix] = cidr.split("/");
  return [v4(address), Number(prefix)];
};

/** IPv4 that is not global unicast: RFC 6890 / IANA special-purpose, multicast, reserved, broadcast. */
const NON_GLOBAL_V4: readonly Block[] = [
  "0.0.0.0/8", // "this network"
  "10.0.0.0/8", // private
  "100.64.0.0/10", // shared address space (CGNAT)
  "127.0.0.0/8", // loopback
  "169.254.0.0/16", // link-local (instance metadata)
  "172.16.0.0/12", // private
  "192.0.0.0/24", // IETF protocol assignments
  "192.0.2.0/24", // TEST-NET-1
  "192.31.196.0/24", // AS112-v4
  "192.52.193.0/24", // AMT
  "192.88.99.0/24", // deprecated 6to4 relay anycast
  "192.168.0.0/16", // private
  "192.175.48.0/24", // AS112 direct delegation
  "198.18.0.0/15", // benchmarking
  "198.51.100.0/24", // TEST-NET-2
  "203.0.113.0/24", // TEST-NET-3
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, and 255.255.255.255
].map(block4);

const inBlock4 = (n: number, [base, prefix]: Block) => Math.floor(n / 2 ** (32 - prefix)) === Math.floor(base / 2 ** (32 - prefix));
const isNonGlobal4 = (n: number) => NON_GLOBAL_V4.some((b) => inBlock4(n, b));
const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");

const nonGlobalV4 = fc
  .tuple(fc.constantFrom(...NON_GLOBAL_V4), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
  .map(([[base, prefix], bits]) => base + (bits % 2 ** (32 - prefix)));
const globalV4 = fc.integer({ min: 0, max: 2 ** 32 - 1 }).filter((n) => !isNonGlobal4(n));

type Radix = "dec" | "oct" | "hex" | "HEX";
const radix = fc.constantFrom<Radix>("dec", "oct", "hex", "HEX");
const part = (value: number, r: Radix) =>
  r === "dec" ? String(value) : r === "oct" ? `0${value.toString(8)}` : r === "hex" ? `0x${value.toString(16)}` : `0X${value.toString(16).toUpperCase()}`;

/**
 * An IPv4 address as a URL host, in any notation the WHATWG URL parser (and
 * inet_aton) accepts: 4, 3, 2 or 1 parts, each in decimal, octal or hex, with
 * an optional trailing dot.
 */
function v4Notation(n: number): fc.Arbitrary<string> {
  const [a, b, c, d] = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return fc
    .tuple(fc.constantFrom(4, 3, 2, 1), fc.array(radix, { minLength: 4, maxLength: 4 }), fc.boolean())
    .map(([parts, r, trailingDot]) => {
      const values = parts === 4 ? [a, b, c, d] : parts === 3 ? [a, b, (c << 8) | d] : parts === 2 ? [a, n % 2 ** 24] : [n];
      return values.map((value, i) => part(value, r[i])).join(".") + (trailingDot ? "." : "");
    });
}

// ---------------------------------------------------------------- IPv6

type Groups = number[]; // eight 16-bit groups

const groupsOf = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });

/** `prefix` (groups) over random bits, masked to `length` bits. */
function inPrefix6(prefix: readonly number[], length: number, rest: Groups): Groups {
  return rest.map((g, i) => {
    const bits = Math.max(0, Math.min(16, length - i * 16)); // bits of this group fixed by the prefix
    const mask = bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
    return ((prefix[i] ?? 0) & mask) | (g & ~mask & 0xffff);
  });
}

const withIPv4 = (high: readonly number[], n: number): Groups => [...high, n >>> 16, n & 0xffff];
const startsWith = (g: Groups, high: readonly number[]) => high.every((x, i) => g[i] === x);
/** IPv4-mapped, IPv4-translated or well-known NAT64: forms whose destination is their last 32 bits. */
const embedsIPv4 = (g: Groups) =>
  startsWith(g, [0, 0, 0, 0, 0, 0xffff]) || startsWith(g, [0, 0, 0, 0, 0xffff, 0]) || startsWith(g, [0x64, 0xff9b, 0, 0, 0, 0]);

/** IPv6 that is not global unicast (IANA IPv6 special-purpose registry, and everything outside 2000::/3). */
interface Labelled {
  readonly groups: Groups;
  readonly kind: string;
}
const nonGlobalV6: fc.Arbitrary<Labelled> = fc.oneof(
  fc.constant<Labelled>({ groups: [0, 0, 0, 0, 0, 0, 0, 0], kind: "unspecified" }),
  fc.constant<Labelled>({ groups: [0, 0, 0, 0, 0, 0, 0, 1], kind: "loopback" }),
  // IPv4-compatible ::a.b.c.d (deprecated), whatever it embeds
  fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((n) => ({ groups: withIPv4([0, 0, 0, 0, 0, 0], n), kind: "IPv4-compatible" })),
  // IPv4-mapped, -translated and NAT64 of a non-global IPv4: the destination is that IPv4
  nonGlobalV4.map((n) => ({ groups: withIPv4([0, 0, 0, 0, 0, 0xffff], n), kind: "IPv4-mapped" })),
  nonGlobalV4.map((n) => ({ groups: withIPv4([0, 0, 0, 0, 0xffff, 0], n), kind: "IPv4-translated" })),
  nonGlobalV4.map((n) => ({ groups: withIPv4([0x64, 0xff9b, 0, 0, 0, 0], n), kind: "NAT64 well-known" })),
  ...(
    [
      [[0x64, 0xff9b, 1], 48, "NAT64 local-use"],
      [[0x100], 64, "discard-only"],
      [[0x2001, 0], 32, "Teredo"],
      [[0x2001], 23, "IETF protocol assignments"],
      [[0x2001, 0xdb8], 32, "documentation"],
      [[0x2002], 16, "6to4"], // public embedded IPv4s included: refused outright
      [[0x2620, 0x4f, 0x8000], 48, "AS112-v6"],
      [[0x3fff], 20, "documentation (RFC 9637)"],
      [[0x5f00], 16, "segment routing"],
      [[0xfc00], 7, "unique-local"],
      [[0xfe80], 10, "link-local"],
      [[0xfec0], 10, "site-local"],
      [[0xff00], 8, "multicast"],
    ] as const
  ).map(([prefix, length, kind]) => groupsOf.map((rest) => ({ groups: inPrefix6(prefix, length, rest), kind }))),
  // outside 2000::/3: the first three bits are not 001 (but not the forms above that embed a public IPv4, which are accepted)
  groupsOf
    .filter((g) => g[0] >>> 13 !== 0b001 && !embedsIPv4(g))
    .map((groups) => ({ groups, kind: "outside 2000::/3" })),
);

/** Global unicast IPv6: 2000::/3 outside its special-purpose blocks. */
const globalV6 = groupsOf
  .map((rest) => inPrefix6([0x2000], 3, rest))
  .filter(
    (g) =>
      !(g[0] === 0x2001 && g[1] < 0x200) && // 2001::/23
      !(g[0] === 0x2001 && g[1] === 0xdb8) &&
      g[0] !== 0x2002 &&
      !(g[0] === 0x2620 && g[1] === 0x4f && g[2] === 0x8000) &&
      !(g[0] === 0x3fff && g[1] < 0x1000), // 3fff::/20
  );

/**
 * IPv6 in any notation net.isIP and the URL parser accept: "::" at any zero
 * run (or none), leading zeros, either case, a dotted-decimal tail.
 */
function v6Notation(groups: Groups): fc.Arbitrary<string> {
  const zeroRuns: [number, number][] = [];
  for (let i = 0; i < 8; i++) {
    if (groups[i] !== 0) continue;
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    for (let end = i + 1; end <= j; end++) zeroRuns.push([i, end]);
    i = j;
  }
  return fc
    .record({
      compress: zeroRuns.length ? fc.option(fc.constantFrom(...zeroRuns), { nil: undefined }) : fc.constant(undefined),
      pad: fc.boolean(),
      upper: fc.boolean(),
      dottedTail: fc.boolean(),
    })
    .map(({ compress, pad, upper, dottedTail }) => {
      const hex = (g: number) => {
        const text = pad ? g.toString(16).padStart(4, "0") : g.toString(16);
        return upper ? text.toUpperCase() : text;
      };
      const tail = dottedTail ? [dotted(groups[6] * 65536 + groups[7])] : groups.slice(6).map(hex);
      const head = groups.slice(0, 6).map(hex);
      const all = [...head, ...tail];
      const lastIndex = (i: number) => (dottedTail && i >= 6 ? 6 : i); // the dotted tail is one token for groups 6 and 7
      if (!compress || (dottedTail && compress[1] > 6)) return all.join(":");
      const [start, end] = [lastIndex(compress[0]), lastIndex(compress[1])];
      if (start === end) return all.join(":");
      return `${all.slice(0, start).join(":")}::${all.slice(end).join(":")}`;
    });
}

// ---------------------------------------------------------------- the two ways to a socket

/** What a fetch of `url` would connect to: "refused", or the address the socket would use. */
function literalConnect(host: string): string {
  const url = new URL(`https://${host}/file?x=1`);
  try {
    checkUrl(url, POLICY);
  } catch (error) {
    if (error instanceof FetchRefusedError) return "refused";
    throw error;
  }
  const bare = url.hostname.replace(/^\[|\]$/g, "");
  // Node connects to an IP literal without a lookup; a name would go through the guarded lookup.
  return net.isIP(bare) ? bare : "lookup";
}

/** What the guarded lookup lets a socket connect to when a name resolves to `address`. */
function lookupConnect(address: string): string {
  const answer = { address, family: address.includes(":") ? 6 : 4 } as LookupAddress;
  const lookup = guardedLookup((_host, _options, callback) => callback(null, [answer]));
  let outcome = "no answer";
  lookup("origin.example", { all: false }, (error, result) => {
    outcome = error ? (error instanceof FetchRefusedError ? "refused" : `error ${error.message}`) : String(result);
  });
  return outcome;
}

const seeded = (seed: number) => ({ seed, numRuns: RUNS });
const throws = (fn: () => unknown) => {
  try {
    fn();
    return false;
  } catch {
    return true;
  }
};

// Plain boolean predicates (no expect() per run: 10,000 of them cost seconds); fast-check reports the counterexample.
describe("address guard properties (fast-check, 10,000 inputs each, fixed seeds)", () => {
  test("never connects to an IPv4 address outside global unicast, in any notation, by URL or by DNS", () => {
    fc.assert(
      fc.property(nonGlobalV4.chain((n) => fc.tuple(fc.constant(n), v4Notation(n))), ([n, notation]) =>
        new URL(`https://${notation}/`).hostname === dotted(n) && // the generator writes what it means
        literalConnect(notation) === "refused" &&
        lookupConnect(dotted(n)) === "refused" &&
        blockedReason(notation) !== undefined, // a non-canonical notation is "not an IP address": refused too
      ),
      seeded(0x5eed_0001),
    );
  });

  test("never connects to an IPv6 address outside global unicast, in any notation, bracketed in a URL or by DNS", () => {
    fc.assert(
      fc.property(
        nonGlobalV6.chain((a) => fc.tuple(fc.constant(a.kind), v6Notation(a.groups))),
        ([, notation]) => net.isIPv6(notation) && literalConnect(`[${notation}]`) === "refused" && lookupConnect(notation) === "refused",
      ),
      seeded(0x5eed_0002),
    );
  });

  test("never connects to a scoped address (zone id), whatever the address: URLs cannot carry one, DNS answers are refused", () => {
    const zone = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/);
    const address = fc.oneof(nonGlobalV6.map((a) => a.groups), globalV6);
    fc.assert(
      fc.property(address.chain((g) => fc.tuple(v6Notation(g), zone)), ([notation, z]) => {
        const scoped = `${notation}%${z}`;
        return (
          throws(() => new URL(`https://[${scoped}]/`)) && // WHATWG URLs have no zone ids
          throws(() => new URL(`https://[${notation}%25${z}]/`)) &&
          lookupConnect(scoped) === "refused" &&
          blockedReason(scoped) !== undefined
        );
      }),
      seeded(0x5eed_0003),
    );
  });

  test("connects to global unicast IPv4 in any notation, and to its IPv4-mapped, -translated and NAT64 forms", () => {
    const embedded = (n: number) =>
      fc.constantFrom(withIPv4([0, 0, 0, 0, 0, 0xffff], n), withIPv4([0, 0, 0, 0, 0xffff, 0], n), withIPv4([0x64, 0xff9b, 0, 0, 0, 0], n)).chain(v6Notation);
    fc.assert(
      fc.property(
        globalV4.chain((n) => fc.tuple(fc.constant(n), v4Notation(n), embedded(n))),
        ([n, notation, v6]) =>
          literalConnect(notation) === dotted(n) &&
          lookupConnect(dotted(n)) === dotted(n) &&
          literalConnect(`[${v6}]`).includes(":") &&
          lookupConnect(v6) === v6,
      ),
      seeded(0x5eed_0004),
    );
  });

  test("connects to global unicast IPv6 (2000::/3 outside its special blocks) in any notation", () => {
    fc.assert(
      fc.property(
        globalV6.chain(v6Notation),
        (notation) => blockedReason(notation) === undefined && literalConnect(`[${notation}]`).includes(":") && lookupConnect(notation) === notation,
      ),
      seeded(0x5eed_0005),
    );
  });
});
