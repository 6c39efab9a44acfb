/**
 * The end-of-run summary: one object (printed as JSON with `--json`) and its
 * text rendering. `lost` and the ledger counts are what the exit code is
 * decided on.
 */
import type { LargestPayload } from "./history";
import type { LedgerResult } from "./ledger";
import type { PoolStats } from "./lambda-pool";
import type { MappingStats, WaitStats } from "./sqs";
import type { ChildStats, TaskStats } from "./workflow";

/** A function's pool statistics (see `PoolStats`), and the mapping that invokes it. */
export interface FunctionSummary extends Omit<PoolStats, "name"> {
  /** The event source mapping that invokes it (every invocation comes through one). */
  readonly mapping?: { readonly queue: string; readonly maximumConcurrency: number; readonly batchSize: number };
  /** peakConcurrent ≤ mapping.maximumConcurrency (and so ≤ reserved concurrency). */
  readonly withinMappingMaximum?: boolean;
}

/** One queue and its mapping. */
export interface QueueSummary {
  readonly role: "ingest" | "work";
  /** The function its mapping invokes. */
  readonly function: string;
  readonly batchSize: number;
  readonly maximumConcurrency: number;
  readonly reportBatchItemFailures: boolean;
  readonly visibilityTimeoutSeconds: number;
  readonly localVisibilityTimeoutMs: number;
  readonly maxReceiveCount: number | null;
  readonly deadLetterQueue: string | null;
  readonly messages: { readonly sent: number; readonly deleted: number; readonly dlq: number; readonly redelivered: number; readonly duplicatesInjected: number; readonly redeliveredAfterDelete: number };
  readonly mapping: MappingStats;
  /** sent → first receive, and sent → the receive that was acknowledged (ms, local clock). */
  readonly wait: { readonly firstReceive: WaitStats; readonly acknowledgedReceive: WaitStats };
}

export interface PayloadRecord extends LargestPayload {
  readonly execution: string;
}

/** AWS's per-execution limits, and how close the run came. */
export interface LimitsSummary {
  readonly maxPayloadBytes: number;
  readonly maxHistoryEvents: number;
  readonly largestPayload: { readonly parent: PayloadRecord; readonly child: PayloadRecord };
  readonly mostHistoryEvents: { readonly parent: { events: number; execution: string }; readonly child: { events: number; execution: string } };
  /** Executions ended by a limit, by error name (States.DataLimitExceeded, States.Runtime): must be none. */
  readonly failures: { readonly parent: Record<string, number>; readonly child: Record<string, number> };
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
    /** Repeated StartExecution calls (same name) that started nothing new: idempotent 200s while running, ExecutionAlreadyExists after. */
    readonly suppressed: number;
    /** Messages delivered more than once that produced exactly one execution / more than one (must be 0). */
    readonly withOneExecution: number;
    readonly withMoreExecutions: number;
  };
  /** Work-queue deliveries after the task token closed (fault stale-token), and how many the workers skipped (acknowledged without work). */
  readonly staleDeliveries: { readonly injected: number; readonly acknowledged: number; readonly closedTokenAnswers: number };
  readonly functions: Record<string, FunctionSummary>;
  readonly stateMachine: {
    readonly mapMaxConcurrency: number | null;
    readonly tasks: Record<string, TaskStats>;
    /** Distributed Map runs: count, items, most child executions in flight in one run (≤ MaxConcurrency). */
    readonly mapRuns: { readonly count: number; readonly items: number; readonly peakInFlight: number };
    readonly children: Omit<ChildStats, "largestPayload" | "mostHistoryEvents">;
    readonly limits: LimitsSummary;
  };
  /** By queue name. */
  readonly queues: Record<string, QueueSummary>;
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
  /** CPU seconds while the pipeline ran: the runner (interpreter, endpoints, proxies; S3 is its own process, in runnerThreadsBusy.s3) and each function's environments. */
  readonly cpuSeconds: {
    readonly runner: number;
    /** Seconds the runner's main thread (interpreter, endpoints, origin) and the S3 servers process (s3rver) were busy. */
    readonly runnerThreadsBusy: { readonly main: number; readonly s3?: number };
    readonly functions: Record<string, number>;
  };
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
  readonly pools: readonly (PoolStats & { mapping?: FunctionSummary["mapping"] })[];
  readonly stateMachine: Summary["stateMachine"];
  readonly executions: { started: number; notFinished: number };
  readonly taskSucceeded: { fetched: number; processed: number };
  readonly messages: Summary["messages"];
  readonly duplicates: { injected: number; suppressed: number };
  readonly staleDeliveries: Summary["staleDeliveries"];
  readonly queues: Summary["queues"];
  readonly faults: Summary["faults"];
  readonly config: Summary["config"];
  readonly settled: boolean;
  readonly runnerCpuSeconds: number;
  readonly runnerThreadsBusy: { readonly main: number; readonly s3?: number };
  readonly extraProblems: readonly string[];
  readonly wallTimeMs: number;
  readonly totalMs: number;
}

export function buildSummary(i: SummaryInput): Summary {
  const l = i.ledger;
  const problems = [...i.extraProblems, ...l.problems];
  const functions: Record<string, FunctionSummary> = {};
  for (const { name, ...stats } of i.pools) {
    const within = stats.mapping ? stats.peakConcurrent <= stats.mapping.maximumConcurrency : undefined;
    functions[name] = { ...stats, ...(within !== undefined ? { withinMappingMaximum: within } : {}) };
    // Admission by queues: a function whose mapping's maximum fits its reserved concurrency is never throttled.
    if (stats.mapping && stats.mapping.maximumConcurrency <= stats.reservedConcurrency && stats.throttles > 0) {
      problems.push(`${name}: ${stats.throttles} throttles, though its mapping admits at most ${stats.mapping.maximumConcurrency} of ${stats.reservedConcurrency} reserved`);
    }
    if (within === false) problems.push(`${name}: ${stats.peakConcurrent} concurrent invocations, over its mapping's maximum concurrency ${stats.mapping?.maximumConcurrency}`);
  }
  const lf = i.stateMachine.limits.failures;
  for (const [kind, byError] of Object.entries(lf)) {
    for (const [error, n] of Object.entries(byError)) problems.push(`${n} ${kind} execution(s) failed on an AWS limit: ${error}`);
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
    staleDeliveries: i.staleDeliveries,
    functions,
    stateMachine: i.stateMachine,
    queues: i.queues,
    faults: i.faults,
    config: i.config,
    settled: i.settled,
    cpuSeconds: {
      runner: round(i.runnerCpuSeconds, 1),
      runnerThreadsBusy: { main: round(i.runnerThreadsBusy.main, 1), ...(i.runnerThreadsBusy.s3 !== undefined ? { s3: round(i.runnerThreadsBusy.s3, 1) } : {}) },
      functions: Object.fromEntries(i.pools.map((p) => [p.name, p.cpuSeconds])) },
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
  out.push(`Executions started     ${num(s.executions.started)}   (parents; each item is a child execution of its map run)`);
  out.push(`  succeeded            ${num(s.executions.succeeded)}`);
  out.push(`  with failed items    ${num(s.executions.withFailedItems)}`);
  out.push(`  did not finish       ${num(s.executions.failed)}`);
  out.push(`Items                  ${num(s.items.total)}   fetched ${s.items.fetched}, processed ${s.items.processed}, failed ${s.items.failed}${fmtMap(s.items.failedByError)}`);
  out.push(`Rejected messages      ${num(s.rejected.count)}`);
  for (const [reason, n] of Object.entries(s.rejected.reasons).sort((a, b) => b[1] - a[1])) out.push(`  ${String(n).padStart(4)} × ${reason}`);
  out.push(`DLQ                    ${num(s.dlq)}`);
  out.push(
    `Duplicates             ${num(s.duplicates.injected)} injected; ${s.duplicates.suppressed} repeated StartExecution calls started nothing new (same name: idempotent or ExecutionAlreadyExists); ` +
      `${s.duplicates.redeliveredMessages} messages delivered more than once, ${s.duplicates.withOneExecution} of them with one execution, ${s.duplicates.withMoreExecutions} with more`,
  );
  out.push("");
  out.push(`Ledger: sent ${L.sent} = succeeded ${L.succeeded} + failed ${L.failed} + rejected ${L.rejected} + dlq ${L.dlq}` + `  →  ${L.balanced ? "balanced" : "NOT BALANCED"}; lost ${L.lost}, counted twice ${L.countedTwice}`);
  out.push("");
  if (s.staleDeliveries.injected > 0 || s.staleDeliveries.closedTokenAnswers > 0) {
    out.push(
      `Stale deliveries       ${num(s.staleDeliveries.injected)} injected; ${s.staleDeliveries.acknowledged} acknowledged by the workers; ` +
        `${s.staleDeliveries.closedTokenAnswers} answers to closed tokens (TaskTimedOut)`,
    );
  }
  out.push("");
  out.push(
    `${pad("function", 11)}${pad("reserved", 10)}${pad("mapping max", 13)}${pad("peak conc", 11)}${pad("envs", 6)}${pad("invokes", 9)}${pad("throttled", 11)}` +
      `${pad("errors", 8)}${pad("killed", 8)}${pad("peak fds", 10)}mean ms (wait)`,
  );
  for (const [name, f] of Object.entries(s.functions)) {
    out.push(
      `${pad(name, 11)}${pad(String(f.reservedConcurrency), 10)}${pad(f.mapping ? String(f.mapping.maximumConcurrency) : "-", 13)}${pad(String(f.peakConcurrent), 11)}` +
        `${pad(String(f.environments), 6)}${pad(String(f.invocations), 9)}${pad(String(f.throttles), 11)}${pad(String(f.errors), 8)}${pad(String(f.killed), 8)}` +
        `${pad(String(f.peakOpenFds), 10)}${f.meanDurationMs} (${f.meanWaitMs})`,
    );
  }
  out.push("");
  out.push(`${pad("queue", 34)}${pad("→ function", 12)}${pad("batch", 7)}${pad("visibility", 20)}${pad("sent", 7)}${pad("retried", 9)}wait first receive / acknowledged receive p50 · p99 · max ms`);
  for (const [name, q] of Object.entries(s.queues)) {
    const w = (x: WaitStats) => `${x.p50Ms} · ${x.p99Ms} · ${x.maxMs}`;
    out.push(
      `${pad(name, 34)}${pad(q.function, 12)}${pad(String(q.batchSize), 7)}${pad(`${q.visibilityTimeoutSeconds}s (${q.localVisibilityTimeoutMs}ms)`, 20)}` +
        `${pad(String(q.messages.sent), 7)}${pad(String(q.mapping.recordsRetried), 9)}${w(q.wait.firstReceive)} / ${w(q.wait.acknowledgedReceive)}`,
    );
  }
  const m = s.stateMachine;
  out.push("");
  out.push(
    `Distributed Map: ${m.mapRuns.count} map runs, ${m.mapRuns.items} child executions (${m.children.succeeded} succeeded, ${m.children.failed} failed, ${m.children.aborted} aborted); ` +
      `most in flight in one run ${m.mapRuns.peakInFlight} (MaxConcurrency ${m.mapMaxConcurrency ?? "unset"})`,
  );
  const lim = m.limits;
  const payload = (p: PayloadRecord) => (p.bytes ? `${p.bytes} bytes (${p.state} ${p.what}, ${p.execution})` : "none");
  out.push(`Largest state payload: parent ${payload(lim.largestPayload.parent)}; child ${payload(lim.largestPayload.child)}  (limit ${lim.maxPayloadBytes})`);
  out.push(
    `Most history events:   parent ${lim.mostHistoryEvents.parent.events} (${lim.mostHistoryEvents.parent.execution || "none"}); ` +
      `child ${lim.mostHistoryEvents.child.events} (${lim.mostHistoryEvents.child.execution || "none"})  (limit ${lim.maxHistoryEvents})`,
  );
  const retries = Object.entries(m.tasks)
    .map(([name, t]) => `${name} ${t.calls} calls, ${t.retried} retries (most for one call ${t.mostRetries}, exhausted ${t.retriesExhausted}), ${t.caught} caught${fmtMap(t.errors)}`)
    .join("\n  ");
  out.push(`Tasks (retry waits × ${s.config.retryScale}):\n  ${retries}`);
  const busy = s.cpuSeconds.runnerThreadsBusy;
  out.push(`CPU seconds: runner ${s.cpuSeconds.runner} (main thread busy ${busy.main}s${busy.s3 !== undefined ? `, S3 process ${busy.s3}s` : ""}); ${Object.entries(s.cpuSeconds.functions).map(([k, v]) => `${k} ${v}`).join(", ")}`);
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
