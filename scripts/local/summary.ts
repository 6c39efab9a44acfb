/**
 * The end-of-run summary: one object (printed as JSON with `--json`) and its
 * text rendering. `lost` and the ledger counts are what the exit code is
 * decided on.
 */
import type { LedgerResult } from "./ledger";
import type { PoolStats } from "./lambda-pool";
import type { MappingStats } from "./sqs";
import type { TaskStats } from "./workflow";

/** A function's pool statistics (see `PoolStats`), plus what only an execution can see. */
export interface FunctionSummary extends Omit<PoolStats, "name"> {
  /** For functions the Map calls: most calls in flight at once within one execution (≤ Map MaxConcurrency). */
  readonly peakConcurrentPerExecution?: number;
}

export interface Summary {
  /** Exit status: ledger balanced, nothing lost or counted twice, no problem found. */
  readonly ok: boolean;
  readonly lost: number;
  readonly countedTwice: number;
  readonly ledger: {
    readonly sent: number;
    readonly succeeded: number;
    readonly failed: number;
    readonly rejected: number;
    readonly dlq: number;
    readonly accounted: number;
    readonly lost: number;
    readonly countedTwice: number;
    readonly balanced: boolean;
  };
  readonly messages: { readonly sent: number; readonly good: number; readonly malformed: number; readonly poisoned: number; readonly itemsPerMessage: number };
  readonly executions: {
    readonly started: number;
    /** status.json with no failed item. */
    readonly succeeded: number;
    /** Ran to the end and recorded failed items in status.json. */
    readonly withFailedItems: number;
    /** Did not finish (ExecutionError / timeout): these break the ledger. */
    readonly failed: number;
  };
  readonly items: {
    readonly total: number;
    readonly fetched: number;
    readonly processed: number;
    readonly failed: number;
    readonly failedByError: Record<string, number>;
  };
  readonly rejected: { readonly count: number; readonly reasons: Record<string, number> };
  readonly dlq: number;
  readonly duplicates: {
    /** Extra deliveries injected by the `duplicate` fault. */
    readonly injected: number;
    /** Messages delivered more than once (duplicates and redeliveries). */
    readonly redeliveredMessages: number;
    /** StartExecution answered ExecutionAlreadyExists: the fanout acknowledged a repeat without a second execution. */
    readonly suppressed: number;
    /** Messages delivered more than once that produced exactly one execution / more than one (must be 0). */
    readonly withOneExecution: number;
    readonly withMoreExecutions: number;
  };
  readonly functions: Record<string, FunctionSummary>;
  readonly stateMachine: {
    readonly mapMaxConcurrency: number | null;
    readonly tasks: Record<string, TaskStats>;
  };
  readonly queue: {
    readonly batchSize: number;
    readonly maximumConcurrency: number;
    readonly visibilityTimeoutSeconds: number;
    readonly localVisibilityTimeoutMs: number;
    readonly maxReceiveCount: number | null;
    readonly mapping: MappingStats;
  };
  readonly faults: { readonly spec: string; readonly injected: Record<string, number> };
  readonly config: {
    readonly stack: string;
    readonly source: string;
    readonly seed: number;
    readonly timeScale: number;
    readonly retryScale: number;
    readonly maxEnvironments: number;
    /** SHA-256 of the synthesized `definition` string (the text Terraform deploys, references unresolved). */
    readonly definitionSha256: string;
    /** Environment variables the runner changed from the synthesized values, and why. */
    readonly overrides: Record<string, string>;
  };
  readonly settled: boolean;
  /** From the first message sent until the pipeline settled. */
  readonly wallTimeSeconds: number;
  /** The whole command: synth, servers, run, ledger (the build before it excluded). */
  readonly totalSeconds: number;
  readonly messagesPerSecond: number;
  /** Inconsistencies found (first 50); any makes `ok` false. */
  readonly problems: string[];
  /** Outcomes that differ from the plan but do not break the ledger (first 50). */
  readonly unexpected: string[];
}

export interface SummaryInput {
  readonly ledger: LedgerResult;
  readonly pools: readonly PoolStats[];
  readonly perExecutionPeak: Record<string, number>;
  readonly tasks: Record<string, TaskStats>;
  readonly mapMaxConcurrency: number | null;
  readonly executions: { started: number; notFinished: number };
  readonly taskSucceeded: { fetched: number; processed: number };
  readonly messages: Summary["messages"];
  readonly duplicates: { injected: number; suppressed: number };
  readonly queue: Omit<Summary["queue"], "mapping"> & { mapping: MappingStats };
  readonly faults: Summary["faults"];
  readonly config: Summary["config"];
  readonly settled: boolean;
  readonly extraProblems: readonly string[];
  readonly wallTimeMs: number;
  readonly totalMs: number;
}

export function buildSummary(i: SummaryInput): Summary {
  const l = i.ledger;
  const problems = [...i.extraProblems, ...l.problems];
  const functions: Record<string, FunctionSummary> = {};
  for (const { name, ...stats } of i.pools) {
    const perExecution = i.perExecutionPeak[name];
    functions[name] = { ...stats, ...(perExecution !== undefined ? { peakConcurrentPerExecution: perExecution } : {}) };
  }
  const seconds = i.wallTimeMs / 1000;
  const ok = l.balanced && problems.length === 0 && i.settled;
  return {
    ok,
    lost: l.lost,
    countedTwice: l.countedTwice,
    ledger: { sent: l.sent, ...l.counts, accounted: l.accounted, lost: l.lost, countedTwice: l.countedTwice, balanced: l.balanced },
    messages: i.messages,
    executions: {
      started: i.executions.started,
      succeeded: l.counts.succeeded,
      withFailedItems: l.counts.failed,
      failed: i.executions.notFinished,
    },
    items: {
      total: l.items.total,
      fetched: i.taskSucceeded.fetched,
      processed: i.taskSucceeded.processed,
      failed: l.items.failed,
      failedByError: l.items.failedByError,
    },
    rejected: { count: l.counts.rejected, reasons: l.rejectionReasons },
    dlq: l.counts.dlq,
    duplicates: {
      injected: i.duplicates.injected,
      redeliveredMessages: l.redelivered.messages,
      suppressed: i.duplicates.suppressed,
      withOneExecution: l.redelivered.withOneExecution,
      withMoreExecutions: l.redelivered.withMoreExecutions,
    },
    functions,
    stateMachine: { mapMaxConcurrency: i.mapMaxConcurrency, tasks: i.tasks },
    queue: i.queue,
    faults: i.faults,
    config: i.config,
    settled: i.settled,
    wallTimeSeconds: round(seconds, 2),
    totalSeconds: round(i.totalMs / 1000, 2),
    messagesPerSecond: round(seconds > 0 ? l.sent / seconds : 0, 2),
    problems: problems.slice(0, 50),
    unexpected: l.unexpected.slice(0, 50),
  };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const pad = (s: string, n: number) => s.padEnd(n);
const num = (n: number) => String(n).padStart(6);

export function formatSummary(s: Summary): string {
  const out: string[] = [];
  const L = s.ledger;
  out.push(
    `Local run of ${s.config.stack} (${s.settled ? "settled" : "DID NOT SETTLE"}): ${s.wallTimeSeconds}s wall time, ${s.messagesPerSecond} messages/s ` +
      `(${s.totalSeconds}s with synth and ledger; seed ${s.config.seed})`,
  );
  out.push("");
  out.push(
    `Messages sent          ${num(s.messages.sent)}   (${s.messages.good} good, ${s.messages.malformed} malformed, ${s.messages.poisoned} poisoned; ${s.messages.itemsPerMessage} items each)`,
  );
  out.push(`Executions started     ${num(s.executions.started)}`);
  out.push(`  succeeded            ${num(s.executions.succeeded)}`);
  out.push(`  with failed items    ${num(s.executions.withFailedItems)}`);
  out.push(`  did not finish       ${num(s.executions.failed)}`);
  out.push(`Items                  ${num(s.items.total)}   fetched ${s.items.fetched}, processed ${s.items.processed}, failed ${s.items.failed}${fmtMap(s.items.failedByError)}`);
  out.push(`Rejected messages      ${num(s.rejected.count)}`);
  for (const [reason, n] of Object.entries(s.rejected.reasons).sort((a, b) => b[1] - a[1])) out.push(`  ${String(n).padStart(4)} × ${reason}`);
  out.push(`DLQ                    ${num(s.dlq)}`);
  out.push(
    `Duplicates             ${num(s.duplicates.injected)} injected; ${s.duplicates.suppressed} suppressed (ExecutionAlreadyExists); ` +
      `${s.duplicates.redeliveredMessages} messages delivered more than once, ${s.duplicates.withOneExecution} of them with one execution, ${s.duplicates.withMoreExecutions} with more`,
  );
  out.push("");
  out.push(`Ledger: sent ${L.sent} = succeeded ${L.succeeded} + failed ${L.failed} + rejected ${L.rejected} + dlq ${L.dlq}` + `  →  ${L.balanced ? "balanced" : "NOT BALANCED"}; lost ${L.lost}, counted twice ${L.countedTwice}`);
  out.push("");
  out.push(
    `${pad("function", 11)}${pad("reserved", 10)}${pad("envs", 6)}${pad("invokes", 9)}${pad("throttled", 11)}${pad("errors", 8)}${pad("peak conc", 11)}${pad("per exec", 10)}${pad("peak fds", 10)}mean ms (wait)`,
  );
  for (const [name, f] of Object.entries(s.functions)) {
    out.push(
      `${pad(name, 11)}${pad(String(f.reservedConcurrency), 10)}${pad(String(f.environments), 6)}${pad(String(f.invocations), 9)}${pad(String(f.throttles), 11)}` +
        `${pad(String(f.errors), 8)}${pad(String(f.peakConcurrent), 11)}${pad(f.peakConcurrentPerExecution === undefined ? "-" : String(f.peakConcurrentPerExecution), 10)}${pad(String(f.peakOpenFds), 10)}${f.meanDurationMs} (${f.meanWaitMs})`,
    );
  }
  out.push(`Map MaxConcurrency ${s.stateMachine.mapMaxConcurrency ?? "unset"}; per exec = most calls in flight within one execution`);
  const retries = Object.entries(s.stateMachine.tasks)
    .map(([name, t]) => `${name} ${t.calls} calls, ${t.retried} retries (most for one call ${t.mostRetries}, exhausted ${t.retriesExhausted}), ${t.caught} caught${fmtMap(t.errors)}`)
    .join("\n  ");
  out.push(`Tasks (retry waits × ${s.config.retryScale}):\n  ${retries}`);
  out.push(
    `SQS: batch ${s.queue.batchSize}, max concurrency ${s.queue.maximumConcurrency}, visibility ${s.queue.visibilityTimeoutSeconds}s (local ${s.queue.localVisibilityTimeoutMs}ms), ` +
      `maxReceiveCount ${s.queue.maxReceiveCount ?? "none"}; ${s.queue.mapping.invocations} batches, ${s.queue.mapping.recordsRetried} records retried`,
  );
  out.push(`Faults: ${s.faults.spec}; injected${fmtMap(s.faults.injected) || " nothing"}`);
  out.push(`Local overrides: ${Object.entries(s.config.overrides).map(([k, v]) => `${k} (${v})`).join("; ") || "none"}`);
  if (s.unexpected.length > 0) {
    out.push("");
    out.push(`Unexpected but accounted for (${s.unexpected.length}):`);
    for (const u of s.unexpected.slice(0, 10)) out.push(`  ${u}`);
  }
  if (s.problems.length > 0) {
    out.push("");
    out.push(`PROBLEMS (${s.problems.length}):`);
    for (const p of s.problems.slice(0, 20)) out.push(`  ${p}`);
  }
  out.push("");
  out.push(s.ok ? "OK: every message is accounted for exactly once." : "FAILED: the ledger does not balance (see above).");
  return out.join("\n");
}

function fmtMap(m: Record<string, number>): string {
  const entries = Object.entries(m);
  return entries.length ? ` (${entries.map(([k, v]) => `${k} ${v}`).join(", ")})` : "";
}
