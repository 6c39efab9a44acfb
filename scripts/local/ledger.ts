/**
 * The ledger: where every message sent ended up, proved from what the pipeline
 * left behind, not from what the runner expected.
 *
 * Each message must end in exactly one of
 *   succeeded  an execution (found through its manifest's messageId) that wrote
 *              status.json with no failed item
 *   failed     an execution whose status.json records failed items, or whose
 *              Finalize failed and the definition's fallback wrote status.json
 *   rejected   `rejected/{messageId}.json` in the work bucket
 *   dlq        in the dead-letter queue
 * A message in none is lost; in more than one, counted twice. status.json is
 * checked against the execution's items (one entry per index, counts add up,
 * same as the execution output). Anything inconsistent is a problem, and any
 * problem makes the run fail.
 */
import { mapBounded } from "../../functions/shared/bounded";
import { KEYS } from "../../functions/shared/contract";
import { FINALIZE_FAILED_STATUS } from "../../modules/workflow/definition";
import type { PlannedMessage } from "./producer";
import type { QueuedMessage } from "./sqs";
import type { ExecutionRecord } from "./workflow";

export type Outcome = "succeeded" | "failed" | "rejected" | "dlq";
export const OUTCOMES: readonly Outcome[] = ["succeeded", "failed", "rejected", "dlq"];

/** Reads the work bucket (directly, not through the fault proxy). */
export interface BucketReader {
  getJson(key: string): Promise<Record<string, unknown> | undefined>;
  listKeys(prefix: string): Promise<string[]>;
}

export interface LedgerEntry {
  readonly messageId: string;
  readonly kind: PlannedMessage["kind"];
  readonly outcomes: Outcome[];
  readonly deliveries: number;
  readonly executions: string[];
  /** Failed items of its execution (status.json). */
  failedItems: number;
  items: number;
}

export interface StatusItem {
  readonly index: number;
  readonly status: "succeeded" | "failed";
  readonly error?: string;
  readonly result?: Record<string, unknown>;
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
  /** status.json of every execution, by execution name. */
  readonly statuses: ReadonlyMap<string, { items: StatusItem[]; succeeded: number; failed: number }>;
}

export interface LedgerInput {
  readonly planned: readonly PlannedMessage[];
  readonly queue: ReadonlyMap<string, QueuedMessage>;
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

export async function buildLedger(input: LedgerInput): Promise<LedgerResult> {
  const problems: string[] = [];
  const unexpected: string[] = [];
  const planned = new Map(input.planned.map((p) => [p.messageId, p]));
  const entries = new Map<string, LedgerEntry>();
  for (const p of input.planned) {
    const q = input.queue.get(p.messageId);
    entries.set(p.messageId, {
      messageId: p.messageId,
      kind: p.kind,
      outcomes: [],
      deliveries: q?.deliveries ?? 0,
      executions: [],
      failedItems: 0,
      items: 0,
    });
  }

  // Rejected messages: rejected/{messageId}.json
  const rejectionReasons: Record<string, number> = {};
  const rejectedKeys = await input.bucket.listKeys(KEYS.prefixes.rejected);
  const executionKeys = [...input.executions.values()].flatMap((e) => {
    const jobId = String(e.input?.jobId ?? e.name);
    return [String(e.input?.manifestKey ?? KEYS.manifest(jobId)), KEYS.status(jobId)];
  });
  const objects = await readAll(input.bucket, [...rejectedKeys, ...executionKeys]);
  for (const key of rejectedKeys) {
    const stored = objects.get(key);
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
    entry.outcomes.push("rejected");
  }

  // Executions: manifest → messageId, status.json → succeeded / failed.
  const statuses = new Map<string, { items: StatusItem[]; succeeded: number; failed: number }>();
  const items = { total: 0, succeeded: 0, failed: 0, failedByError: {} as Record<string, number> };
  for (const execution of input.executions.values()) {
    const jobId = String(execution.input?.jobId ?? execution.name);
    const manifest = objects.get(String(execution.input?.manifestKey ?? KEYS.manifest(jobId)));
    const messageId = String(manifest?.messageId ?? "");
    const entry = entries.get(messageId);
    if (!entry) {
      problems.push(`execution ${execution.name}: its manifest names no message that was sent (messageId ${messageId || "missing"})`);
      continue;
    }
    entry.executions.push(execution.name);
    const expectedJob = planned.get(messageId)?.jobId;
    if (expectedJob && expectedJob !== execution.name) {
      problems.push(`execution ${execution.name}: message ${messageId} should have run as ${expectedJob}`);
    }
    const status = objects.get(KEYS.status(jobId));
    if (execution.status !== "SUCCEEDED") {
      if (execution.status === "FAILED" && status?.status === FINALIZE_FAILED_STATUS) {
        // Finalize failed after its retries and the definition's fallback recorded the job: failed, not lost.
        const recorded = Array.isArray(status.items) ? status.items.length : -1;
        const expected = Array.isArray(execution.input?.items) ? execution.input.items.length : 0;
        if (recorded !== expected) problems.push(`execution ${execution.name}: status.json (${FINALIZE_FAILED_STATUS}) has ${recorded} items, the execution had ${expected}`);
        if (!status.error) problems.push(`execution ${execution.name}: status.json (${FINALIZE_FAILED_STATUS}) names no error`);
        unexpected.push(`execution ${execution.name}: Finalize failed (${String(status.error)}); status.json recorded by the state machine`);
        entry.items = Math.max(recorded, 0);
        entry.failedItems = entry.items;
        entry.outcomes.push("failed");
        continue;
      }
      problems.push(`execution ${execution.name} (message ${messageId}): ${execution.status}${execution.error ? `: ${execution.error}` : ""}`);
      continue;
    }
    if (!status) {
      problems.push(`execution ${execution.name} (message ${messageId}): succeeded but ${KEYS.status(jobId)} is missing`);
      continue;
    }
    const checked = checkStatus(execution, status);
    if (checked.problems.length > 0) {
      problems.push(...checked.problems.map((p) => `execution ${execution.name}: ${p}`));
      continue;
    }
    statuses.set(execution.name, { items: checked.items, succeeded: checked.succeeded, failed: checked.failed });
    entry.items = checked.items.length;
    entry.failedItems = checked.failed;
    items.total += checked.items.length;
    items.succeeded += checked.succeeded;
    items.failed += checked.failed;
    for (const item of checked.items) {
      if (item.status !== "failed") continue;
      const name = item.error ?? "unknown";
      items.failedByError[name] = (items.failedByError[name] ?? 0) + 1;
      const plannedItem = planned.get(messageId)?.items?.[item.index];
      if (plannedItem?.servable) unexpected.push(`${execution.name} item ${item.index}: failed with ${name} (a servable URL)`);
    }
    for (const item of checked.items) {
      const plannedItem = planned.get(messageId)?.items?.[item.index];
      if (plannedItem && !plannedItem.servable && item.status === "succeeded") {
        problems.push(`execution ${execution.name} item ${item.index}: succeeded, but its URL answers 404`);
      }
    }
    entry.outcomes.push(checked.failed > 0 ? "failed" : "succeeded");
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
      unexpected.push(`message ${entry.messageId} (${entry.kind}) ended ${entry.outcomes[0]}`);
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
async function readAll(bucket: BucketReader, keys: readonly string[]): Promise<Map<string, Record<string, unknown> | undefined>> {
  const values = await mapBounded(keys, 16, (key) => bucket.getJson(key));
  return new Map(keys.map((key, i) => [key, values[i]]));
}

/** status.json against the execution: one item per index, counts consistent with the items and the output. */
export function checkStatus(
  execution: ExecutionRecord,
  status: Record<string, unknown>,
): { problems: string[]; items: StatusItem[]; succeeded: number; failed: number } {
  const problems: string[] = [];
  const expectedItems = Array.isArray(execution.input?.items) ? execution.input.items.length : -1;
  const items = (Array.isArray(status.items) ? status.items : []) as StatusItem[];
  if (status.jobId !== execution.name) problems.push(`status.json names job ${String(status.jobId)}`);
  if (items.length !== expectedItems) problems.push(`status.json has ${items.length} items, the execution had ${expectedItems}`);
  const seen = new Set<number>();
  for (const item of items) {
    if (!Number.isInteger(item.index) || item.index < 0 || item.index >= expectedItems || seen.has(item.index)) {
      problems.push(`status.json has an out-of-range or repeated index ${String(item.index)}`);
    }
    seen.add(item.index);
    if (item.status !== "succeeded" && item.status !== "failed") problems.push(`item ${item.index}: status "${String(item.status)}"`);
    if (item.status === "failed" && !item.error) problems.push(`item ${item.index}: failed without an error name`);
    if (item.status === "succeeded" && !item.result?.resultKey) problems.push(`item ${item.index}: succeeded without a result key`);
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
  return { problems, items, succeeded, failed };
}
