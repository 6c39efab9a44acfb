/**
 * Small IPv4 CIDR helpers, evaluated at synth time so subnet ranges are literal
 * values in the plan (no `cidrsubnet()` to reason about in review).
 */

/** A parsed IPv4 CIDR block. */
export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit integer. */
  readonly network: number;
  /** Prefix length, 0..32. */
  readonly prefix: number;
}

const CIDR_SYNTAX = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/**
 * Parses `a.b.c.d/n`. Refuses bad syntax, octets > 255, prefixes > 32 and host
 * bits set (`10.0.0.1/16`), naming `field` and the value in the message.
 */
export function parseCidr(value: string, field = "cidr"): Ipv4Cidr {
  const m = CIDR_SYNTAX.exec(value);
  if (!m) {
    throw new Error(`cidr syntax: ${field} must be an IPv4 CIDR like 10.0.0.0/16 (given "${value}")`);
  }
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255)) {
    throw new Error(`cidr syntax: ${field} has an octet above 255 (given "${value}")`);
  }
  if (prefix > 32) {
    throw new Error(`cidr syntax: ${field} prefix must be 0..32 (given "${value}")`);
  }
  const address = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const network = (address & prefixMask(prefix)) >>> 0;
  if (network !== address) {
    throw new Error(
      `cidr syntax: ${field} has host bits set (given "${value}"; the network address is ${formatCidr({ network, prefix })})`,
    );
  }
  return { network, prefix };
}

/** Formats a parsed CIDR back to `a.b.c.d/n`. */
export function formatCidr(cidr: Ipv4Cidr): string {
  const n = cidr.network;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${cidr.prefix}`;
}

/** True when the two blocks share at least one address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a, "a");
  const y = parseCidr(b, "b");
  // Two aligned blocks overlap iff one contains the other: compare under the shorter prefix.
  const mask = prefixMask(Math.min(x.prefix, y.prefix));
  return ((x.network & mask) >>> 0) === ((y.network & mask) >>> 0);
}

/**
 * Splits `cidr` into `count` equal subnets, the largest that fit: the block is
 * cut into the smallest power of two >= `count` pieces and the first `count`
 * are returned, in address order. Refuses a result smaller than
 * `minSubnetPrefix` (AWS: a subnet is /16../28).
 */
export function splitCidr(cidr: string, count: number, minSubnetPrefix = 28, field = "cidr"): string[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`cidr split: subnet count must be an integer >= 1 (given ${count})`);
  }
  const parent = parseCidr(cidr, field);
  const extraBits = Math.ceil(Math.log2(count));
  const prefix = parent.prefix + extraBits;
  if (prefix > minSubnetPrefix) {
    throw new Error(
      `cidr split: ${field} ${cidr} is too small for ${count} subnets (each would be /${prefix}, smallest allowed is /${minSubnetPrefix})`,
    );
  }
  const size = 2 ** (32 - prefix);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    out.push(formatCidr({ network: parent.network + i * size, prefix }));
  }
  return out;
}

function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}
