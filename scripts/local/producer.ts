/**
 * The messages a local run sends: good jobs whose items point at the local
 * origin (some items answer 404 on purpose, so some executions record failed
 * items), a share of malformed messages of every kind the fanout must reject,
 * and — with the `poison` fault — good messages whose StartExecution always
 * fails, so they travel the redrive path to the DLQ. Deterministic for a seed.
 * `urlLength` pads every item URL to exactly that many characters (the fanout's
 * MAX_URL_LENGTH is the longest it accepts); `badJobRatio` makes that share of
 * good messages answer 404 on every item.
 */

export type MessageKind = "good" | "malformed" | "poison";

export interface PlannedItem {
  readonly url: string;
  /** Whether the origin serves it (a 404 item must end as a failed item). */
  readonly servable: boolean;
}

export interface PlannedMessage {
  readonly index: number;
  readonly messageId: string;
  readonly body: string;
  readonly kind: MessageKind;
  /** The execution name the fanout should use (good and poison messages). */
  readonly jobId?: string;
  readonly items?: readonly PlannedItem[];
  /** Which malformation (malformed messages). */
  readonly malformation?: string;
}

export interface PlanOptions {
  readonly messages: number;
  readonly itemsPerMessage: number;
  /** Share of malformed messages (exact: round(messages × ratio)). */
  readonly badRatio: number;
  /** Probability that an item points at a URL answering 404. */
  readonly badItemRatio: number;
  /** Share of good messages that are poisoned (exact, rounded). */
  readonly poisonRatio: number;
  /** Base URL of the local origin (through its fault proxy). */
  readonly origin: string;
  /** The fanout's MAX_ITEMS_PER_JOB (one malformation exceeds it). */
  readonly maxItemsPerJob: number;
  /** Pad each good message's item URLs to exactly this many characters. @default no padding */
  readonly urlLength?: number;
  /** Share of good messages whose every item answers 404 (exact, rounded). @default 0 */
  readonly badJobRatio?: number;
  readonly random: () => number;
}

/** `url` padded with a query parameter to exactly `length` characters. */
export function padUrl(url: string, length: number | undefined): string {
  if (length === undefined) return url;
  const pad = length - url.length - "&pad=".length;
  if (pad < 0) throw new Error(`--url-length ${length} is shorter than the local URLs themselves (${url.length + "&pad=".length} characters: ${url})`);
  return `${url}&pad=${"x".repeat(pad)}`;
}

/** The malformations, in rotation. Each must be rejected by the fanout's validation. */
export const MALFORMATIONS: readonly { readonly name: string; readonly body: (o: PlanOptions, n: number) => string }[] = [
  { name: "not JSON", body: (o) => `{"items": [{"url": "${o.origin}/text?lines=1"` },
  { name: "no items", body: (_o, n) => JSON.stringify({ jobId: `bad-${n}` }) },
  { name: "empty items", body: () => JSON.stringify({ items: [] }) },
  { name: "scheme not allowed", body: () => JSON.stringify({ items: [{ url: "ftp://127.0.0.1/file.txt" }] }) },
  { name: "invalid jobId", body: (o) => JSON.stringify({ jobId: "not a valid id!", items: [{ url: `${o.origin}/text?lines=1` }] }) },
  { name: "not a URL", body: () => JSON.stringify({ items: [{ url: "not a url" }] }) },
  {
    name: "too many items",
    body: (o) => JSON.stringify({ items: Array.from({ length: o.maxItemsPerJob + 1 }, (_, i) => ({ url: `${o.origin}/text?lines=1&i=${i}` })) }),
  },
  { name: "items not an array", body: (o) => JSON.stringify({ items: `${o.origin}/text` }) },
];

/** A v4-shaped UUID drawn from `random` (reproducible message ids). */
export function uuidFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = "4";
  hex[16] = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Picks `count` distinct indexes out of `n`. */
function pick(n: number, count: number, random: () => number): Set<number> {
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return new Set(all.slice(0, Math.max(0, Math.min(n, count))));
}

export function planMessages(o: PlanOptions): PlannedMessage[] {
  const badCount = Math.round(o.messages * o.badRatio);
  const bad = pick(o.messages, badCount, o.random);
  const goodIndexes = Array.from({ length: o.messages }, (_, i) => i).filter((i) => !bad.has(i));
  const poisonPicks = pick(goodIndexes.length, Math.round(goodIndexes.length * o.poisonRatio), o.random);
  const poison = new Set([...poisonPicks].map((i) => goodIndexes[i]));
  const healthy = goodIndexes.filter((i) => !poison.has(i));
  const failingPicks = pick(healthy.length, Math.round(healthy.length * (o.badJobRatio ?? 0)), o.random);
  const failing = new Set([...failingPicks].map((i) => healthy[i]));
  const out: PlannedMessage[] = [];
  let malformed = 0;
  for (let n = 0; n < o.messages; n++) {
    const messageId = uuidFrom(o.random);
    if (bad.has(n)) {
      const m = MALFORMATIONS[malformed++ % MALFORMATIONS.length];
      out.push({ index: n, messageId, body: m.body(o, n), kind: "malformed", malformation: m.name });
      continue;
    }
    const items: PlannedItem[] = Array.from({ length: o.itemsPerMessage }, (_, i) => {
      if (failing.has(n) || o.random() < o.badItemRatio) return { url: padUrl(`${o.origin}/status?code=404&m=${n}&i=${i}`, o.urlLength), servable: false };
      const lines = 1 + Math.floor(o.random() * 2500);
      return { url: padUrl(`${o.origin}/text?lines=${lines}&m=${n}&i=${i}`, o.urlLength), servable: true };
    });
    // Half the jobs name themselves; the others get `msg-<messageId>` from the fanout.
    const explicit = n % 2 === 0;
    const jobId = explicit ? `job-${String(n).padStart(5, "0")}` : `msg-${messageId}`;
    const body = JSON.stringify(explicit ? { jobId, items: items.map((i) => ({ url: i.url })) } : { items: items.map((i) => ({ url: i.url })) });
    out.push({ index: n, messageId, body, kind: poison.has(n) ? "poison" : "good", jobId, items });
  }
  return out;
}
