/**
 * The ledger: where every message sent ended up, proved from what the pipeline
 * left behind, not from what the runner expected.
 *
 * Each message must end in exactly one of
 *   succeeded  an execution (found through its manifest's `message-id` user
 *              metadata) that wrote status.json with no failed item
 *   failed     an execution whose status.json records failed items, or whose
 *              Finalize failed and the definition's fallback wrote status.json
 *              (status finalize-failed; checked against the outcomes in S3)
 *   rejected   `rejected/{messageId}.json` in the work bucket
 *   dlq        in the dead-letter queue
 * A message in none is lost; in more than one, counted twice. status.json is
 * checked against the manifest (one entry per index, the manifest's URL, counts
 * that add up, the execution's output). Anything inconsistent is a problem, and
 * any problem makes the run fail.
 */
import { mapBounded } from "../../functions/shared/bounded";
import { KEYS, MANIFEST_METADATA, OUTCOME_MISSING_ERROR } from "../../contract";
import { FINALIZE_FAILED_STATUS } from "../../modules/workflow/definition";
import type { PlannedMessage } from "./producer";
import type { QueuedMessage } from "./sqs";
import type { ExecutionRecord } from "./workflow";

export type Outcome = "succeeded" | "failed" | "rejected" | "dlq";
export const OUTCOMES: readonly Outcome[] = ["succeeded", "failed", "rejected", "dlq"];

/** Reads the work bucket (directly, not through the fault proxy). */
export interface BucketReader {
  /** The object parsed as JSON (undefined: no such key). */
  getJson(key: string): Promise<unknown>;
  /** The object's user metadata (undefined: no such key). */
  metadata(key: string): Promise<Record<string, string> | undefined>;
  listKeys(prefix: string): Promise<string[]>;
}

export interface LedgerEntry {
  readonly messageId: string;
  readonly kind: PlannedMessage["kind"];
  readonly outcomes: Outcome[];
  readonly deliveries: number;
  readonly executions: string[];
  /** Failed items of its execution (status.json, or the outcomes in S3). */
  failedItems: number;
  items: number;
}

export interface StatusItem {
  readonly index: number;
  readonly url?: string;
  readonly status: "succeeded" | "failed";
  readonly error?: string;
  readonly cause?: string;
  readonly result?: Record<string, unknown>;
}

export interface JobRecord {
  readonly items: StatusItem[];
  readonly succeeded: number;
  readonly failed: number;
  /** "succeeded" (status.json by Finalize) or "finalize-failed" (by the state machine's fallback). */
  readonly recordedBy: "finalize" | typeof FINALIZE_FAILED_STATUS;
}

export interface LedgerResult {
  readonly sent: number;
  readonly counts: Record<Outcome, number>;
  /** Messages in exactly one outcome. */
  readonly accounted: number;
  readonly lost: number;
  readonly countedTwice: number;
  /** sent === succeeded + failed + rejected + dlq, and nothing lost or counted twice. */
  readonly balanced: boolean;
  readonly entries: readonly LedgerEntry[];
  /** Inconsistencies (each one fails the run). */
  readonly problems: string[];
  /** Outcomes that differ from what the producer planned (information: faults can fail good items). */
  readonly unexpected: string[];
  readonly rejectionReasons: Record<string, number>;
  readonly items: { total: number; succeeded: number; failed: number; failedByError: Record<string, number> };
  /** Messages delivered more than once, and how many executions they produced (must be ≤ 1). */
  readonly redelivered: { messages: number; withOneExecution: number; withMoreExecutions: number };
  /** Each job's recorded outcome, by execution name. */
  readonly statuses: ReadonlyMap<string, JobRecord>;
}

export interface LedgerInput {
  readonly planned: readonly PlannedMessage[];
  /** The ingest queue's messages. */
  readonly queue: ReadonlyMap<string, QueuedMessage>;
  /** Parent executions by name. */
  readonly executions: ReadonlyMap<string, ExecutionRecord>;
  readonly bucket: BucketReader;
}

/** Groups rejection errors: the reason without the values that differ per message. */
export function reasonGroup(error: string): string {
  return error
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\d+/g, "N")
    .slice(0, 140);
}

type Obj = Record<string, unknown>;
const asObject = (v: unknown): Obj | undefined => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined);

/** An entry of the manifest: `{ index, url }`. */
interface ManifestItem {
  readonly index: number;
  readonly url: string;
}

export async function buildLedger(input: LedgerInput): Promise<LedgerResult> {
  const problems: string[] = [];
  const unexpected: string[] = [];
  const planned = new Map(input.planned.map((p) => [p.messageId, p]));
  const entries = new Map<string, LedgerEntry>();
  for (const p of input.planned) {
    const q = input.queue.get(p.messageId);
    entries.set(p.messageId, { messageId: p.messageId, kind: p.kind, outcomes: [], deliveries: q?.deliveries ?? 0, executions: [], failedItems: 0, items: 0 });
  }

  // Rejected messages: rejected/{messageId}.json
  const rejectionReasons: Record<string, number> = {};
  const rejectedWhy = new Map<string, string>();
  const rejectedKeys = await input.bucket.listKeys(KEYS.prefixes.rejected);
  const executions = [...input.executions.values()];
  const jobOf = (e: ExecutionRecord) => String(e.input?.jobId ?? e.name);
  const manifestOf = (e: ExecutionRecord) => String(e.input?.manifestKey ?? KEYS.manifest(jobOf(e)));
  const objects = await readAll(input.bucket, [...rejectedKeys, ...executions.flatMap((e) => [manifestOf(e), KEYS.status(jobOf(e))])]);
  const heads = await mapBounded(executions, 16, (e) => input.bucket.metadata(manifestOf(e)));
  const metadata = new Map(executions.map((e, i) => [e.name, heads[i]]));

  for (const key of rejectedKeys) {
    const stored = asObject(objects.get(key));
    const messageId = String(stored?.messageId ?? "");
    const entry = entries.get(messageId);
    if (!entry || key !== KEYS.rejected(messageId)) {
      problems.push(`${key}: a rejected record for no message that was sent (messageId ${messageId || "missing"})`);
      continue;
    }
    if (stored?.body !== planned.get(messageId)?.body) problems.push(`${key}: the stored body is not the body that was sent`);
    const error = String(stored?.error ?? "");
    if (!error) problems.push(`${key}: no error recorded`);
    rejectionReasons[reasonGroup(error)] = (rejectionReasons[reasonGroup(error)] ?? 0) + 1;
    rejectedWhy.set(messageId, error.slice(0, 200));
    entry.outcomes.push("rejected");
  }

  // Executions: manifest metadata → messageId; status.json (or the fallback's) → succeeded / failed.
  const statuses = new Map<string, JobRecord>();
  const items = { total: 0, succeeded: 0, failed: 0, failedByError: {} as Record<string, number> };
  const count = (record: JobRecord) => {
    items.total += record.items.length;
    items.succeeded += record.succeeded;
    items.failed += record.failed;
    for (const item of record.items) {
      if (item.status !== "failed") continue;
      const name = item.error ?? "unknown";
      items.failedByError[name] = (items.failedByError[name] ?? 0) + 1;
    }
  };
  for (const execution of executions) {
    const jobId = jobOf(execution);
    const messageId = metadata.get(execution.name)?.[MANIFEST_METADATA.messageId] ?? "";
    const entry = entries.get(messageId);
    if (!entry) {
      problems.push(`execution ${execution.name}: its manifest's ${MANIFEST_METADATA.messageId} metadata names no message that was sent (${messageId || "missing"})`);
      continue;
    }
    entry.executions.push(execution.name);
    const plan = planned.get(messageId);
    if (plan?.jobId && plan.jobId !== execution.name) problems.push(`execution ${execution.name}: message ${messageId} should have run as ${plan.jobId}`);
    const manifest = checkManifest(objects.get(manifestOf(execution)), execution, plan, problems);
    if (!manifest) continue;
    const status = asObject(objects.get(KEYS.status(jobId)));
    let record: JobRecord | undefined;
    if (execution.status === "FAILED" && status?.status === FINALIZE_FAILED_STATUS) {
      // Finalize failed after its retries and the definition's fallback recorded the job: failed, not lost.
      record = await checkFallbackStatus(execution, status, manifest, input.bucket, problems);
      if (record) unexpected.push(`execution ${execution.name}: Finalize failed (${String(asObject(status.error)?.Error ?? status.error)}); status.json recorded by the state machine`);
    } else if (execution.status !== "SUCCEEDED") {
      problems.push(`execution ${execution.name} (message ${messageId}): ${execution.status}${execution.error ? `: ${execution.error}` : ""}`);
      continue;
    } else if (!status) {
      problems.push(`execution ${execution.name} (message ${messageId}): succeeded but ${KEYS.status(jobId)} is missing`);
      continue;
    } else {
      const checked = checkStatus(execution, status, manifest);
      if (checked.problems.length > 0) problems.push(...checked.problems.map((p) => `execution ${execution.name}: ${p}`));
      else record = { items: checked.items, succeeded: checked.succeeded, failed: checked.failed, recordedBy: "finalize" };
    }
    if (!record) continue;
    statuses.set(execution.name, record);
    count(record);
    entry.items = record.items.length;
    entry.failedItems = record.failed;
    for (const item of record.items) {
      const plannedItem = plan?.items?.[item.index];
      if (!plannedItem) continue;
      if (item.status === "failed" && plannedItem.servable) unexpected.push(`${execution.name} item ${item.index}: failed with ${item.error ?? "unknown"} (a servable URL)`);
      if (item.status === "succeeded" && !plannedItem.servable) problems.push(`execution ${execution.name} item ${item.index}: succeeded, but its URL answers 404`);
    }
    // A job whose Finalize failed is failed, whatever its items did.
    entry.outcomes.push(record.failed > 0 || record.recordedBy !== "finalize" ? "failed" : "succeeded");
  }

  // The dead-letter queue.
  for (const [messageId, q] of input.queue) {
    if (q.state !== "dlq") continue;
    const entry = entries.get(messageId);
    if (!entry) problems.push(`DLQ holds ${messageId}, which was never sent`);
    else entry.outcomes.push("dlq");
  }

  const counts: Record<Outcome, number> = { succeeded: 0, failed: 0, rejected: 0, dlq: 0 };
  let lost = 0;
  let countedTwice = 0;
  const redelivered = { messages: 0, withOneExecution: 0, withMoreExecutions: 0 };
  for (const entry of entries.values()) {
    if (entry.outcomes.length === 0) {
      lost++;
      problems.push(`message ${entry.messageId} (${entry.kind}) is unaccounted for (delivered ${entry.deliveries} times)`);
    } else if (entry.outcomes.length > 1) {
      countedTwice++;
      problems.push(`message ${entry.messageId} (${entry.kind}) is counted more than once: ${entry.outcomes.join(" + ")}`);
    } else {
      counts[entry.outcomes[0]]++;
    }
    if (entry.deliveries > 1) {
      redelivered.messages++;
      if (entry.executions.length === 1) redelivered.withOneExecution++;
      if (entry.executions.length > 1) redelivered.withMoreExecutions++;
    }
    const expected = { good: ["succeeded", "failed"], poison: ["dlq"], malformed: ["rejected"] }[entry.kind];
    if (entry.outcomes.length === 1 && !expected.includes(entry.outcomes[0])) {
      // A good message is valid by construction: its rejection means the runner and the fanout disagree (e.g. a local override missing).
      const line = `message ${entry.messageId} (${entry.kind}) ended ${entry.outcomes[0]}`;
      if (entry.kind === "good" && entry.outcomes[0] === "rejected") problems.push(`${line}: ${rejectedWhy.get(entry.messageId) ?? "no reason recorded"}`);
      else unexpected.push(line);
    }
  }
  const accounted = counts.succeeded + counts.failed + counts.rejected + counts.dlq;
  return {
    sent: input.planned.length,
    counts,
    accounted,
    lost,
    countedTwice,
    balanced: lost === 0 && countedTwice === 0 && accounted === input.planned.length,
    entries: [...entries.values()],
    problems,
    unexpected,
    rejectionReasons,
    items,
    redelivered,
    statuses,
  };
}

/** Reads every key, 16 at a time. */
async function readAll(bucket: BucketReader, keys: readonly string[]): Promise<Map<string, unknown>> {
  const values = await mapBounded(keys, 16, (key) => bucket.getJson(key));
  return new Map(keys.map((key, i) => [key, values[i]]));
}

/** The manifest: a JSON array of `{ index, url }`, index i at position i, as many as the execution's itemCount (and the message's items). */
function checkManifest(value: unknown, execution: ExecutionRecord, plan: PlannedMessage | undefined, problems: string[]): ManifestItem[] | undefined {
  const where = `execution ${execution.name}: manifest ${String(execution.input?.manifestKey)}`;
  if (!Array.isArray(value)) {
    problems.push(`${where} is ${value === undefined ? "missing" : "not a JSON array"}`);
    return undefined;
  }
  const manifest = value as ManifestItem[];
  const before = problems.length;
  manifest.forEach((item, i) => {
    if (item?.index !== i || typeof item?.url !== "string") problems.push(`${where}: entry ${i} is ${JSON.stringify(item).slice(0, 120)}`);
  });
  if (execution.input?.itemCount !== manifest.length) problems.push(`${where} has ${manifest.length} items, the execution input says itemCount ${String(execution.input?.itemCount)}`);
  if (plan?.items && plan.items.length !== manifest.length) problems.push(`${where} has ${manifest.length} items, the message had ${plan.items.length}`);
  plan?.items?.forEach((p, i) => {
    if (manifest[i] && manifest[i].url !== p.url) problems.push(`${where}: item ${i}'s URL is not the message's`);
  });
  return problems.length === before ? manifest : undefined;
}

/** status.json against the manifest: one item per index with the manifest's URL, counts consistent with the items and the output. */
export function checkStatus(
  execution: ExecutionRecord,
  status: Record<string, unknown>,
  manifest: readonly ManifestItem[],
): { problems: string[]; items: StatusItem[]; succeeded: number; failed: number } {
  const problems: string[] = [];
  const items = (Array.isArray(status.items) ? status.items : []) as StatusItem[];
  const jobId = String(execution.input?.jobId ?? execution.name);
  if (status.jobId !== jobId) problems.push(`status.json names job ${String(status.jobId)}`);
  if (status.itemCount !== manifest.length) problems.push(`status.json says itemCount ${String(status.itemCount)}, the manifest has ${manifest.length}`);
  if (items.length !== manifest.length) problems.push(`status.json has ${items.length} items, the manifest ${manifest.length}`);
  const seen = new Set<number>();
  for (const item of items) {
    if (!Number.isInteger(item.index) || item.index < 0 || item.index >= manifest.length || seen.has(item.index)) {
      problems.push(`status.json has an out-of-range or repeated index ${String(item.index)}`);
      continue;
    }
    seen.add(item.index);
    if (item.url !== manifest[item.index].url) problems.push(`item ${item.index}: status.json's URL is not the manifest's`);
    if (item.status !== "succeeded" && item.status !== "failed") problems.push(`item ${item.index}: status "${String(item.status)}"`);
    if (item.status === "failed" && !item.error) problems.push(`item ${item.index}: failed without an error name`);
    if (item.status === "succeeded" && !asObject(item.result)) problems.push(`item ${item.index}: succeeded without a result`);
  }
  const failed = items.filter((i) => i.status === "failed").length;
  const succeeded = items.length - failed;
  if (status.failed !== failed || status.succeeded !== succeeded) {
    problems.push(`status.json counts ${String(status.succeeded)}/${String(status.failed)}, its items say ${succeeded}/${failed}`);
  }
  const out = execution.output as { succeeded?: number; failed?: number; statusKey?: string } | undefined;
  if (out && (out.succeeded !== succeeded || out.failed !== failed)) {
    problems.push(`execution output says ${out.succeeded}/${out.failed}, status.json ${succeeded}/${failed}`);
  }
  if (out?.statusKey !== undefined && out.statusKey !== KEYS.status(jobId)) problems.push(`execution output names ${out.statusKey}, not ${KEYS.status(jobId)}`);
  return { problems, items, succeeded, failed };
}

/** Index of an outcome key (`…/results/3.json` → 3). */
function outcomeIndex(key: string): number {
  const m = /\/(\d+)\.json$/.exec(key);
  return m ? Number(m[1]) : NaN;
}

/**
 * A finalize-failed status.json (written by the state machine itself) against
 * the outcomes in S3: every results/ and failures/ key names an index of the
 * manifest, none has both; an item with neither is failed (its outcome is missing).
 */
async function checkFallbackStatus(
  execution: ExecutionRecord,
  status: Record<string, unknown>,
  manifest: readonly ManifestItem[],
  bucket: BucketReader,
  problems: string[],
): Promise<JobRecord | undefined> {
  const jobId = String(execution.input?.jobId ?? execution.name);
  const where = `execution ${execution.name}: status.json (${FINALIZE_FAILED_STATUS})`;
  const before = problems.length;
  if (status.jobId !== jobId) problems.push(`${where} names job ${String(status.jobId)}`);
  if (status.itemCount !== manifest.length) problems.push(`${where} says itemCount ${String(status.itemCount)}, the manifest has ${manifest.length}`);
  const error = asObject(status.error);
  if (!error?.Error) problems.push(`${where} names no error`);
  if (status.results !== KEYS.resultsPrefix(jobId) || status.failures !== KEYS.failuresPrefix(jobId)) problems.push(`${where} points at ${String(status.results)} and ${String(status.failures)}`);
  if ("items" in status) problems.push(`${where} lists items (the fallback must stay small: the outcomes are in S3)`);
  const [results, failures] = await Promise.all([bucket.listKeys(KEYS.resultsPrefix(jobId)), bucket.listKeys(KEYS.failuresPrefix(jobId))]);
  const succeededAt = new Set(results.map(outcomeIndex));
  const failedAt = new Map<number, string>();
  const failureBodies = await mapBounded(failures, 16, (key) => bucket.getJson(key));
  failures.forEach((key, i) => failedAt.set(outcomeIndex(key), String(asObject(asObject(failureBodies[i])?.error)?.Error ?? "unknown")));
  for (const i of [...succeededAt, ...failedAt.keys()]) {
    if (!Number.isInteger(i) || i < 0 || i >= manifest.length) problems.push(`${where}: an outcome in S3 for index ${i}, outside the manifest`);
  }
  for (const i of succeededAt) if (failedAt.has(i)) problems.push(`${where}: item ${i} has both a result and a failure in S3`);
  if (problems.length > before) return undefined;
  const items: StatusItem[] = manifest.map((m) =>
    succeededAt.has(m.index)
      ? { index: m.index, url: m.url, status: "succeeded", result: {} }
      : { index: m.index, url: m.url, status: "failed", error: failedAt.get(m.index) ?? OUTCOME_MISSING_ERROR },
  );
  const failed = items.filter((i) => i.status === "failed").length;
  return { items, succeeded: items.length - failed, failed, recordedBy: FINALIZE_FAILED_STATUS };
}
