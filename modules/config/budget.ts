/**
 * The concurrency budget: one object per environment from which every
 * concurrency bound of the pipeline is derived. `validateBudget` enforces its
 * rules (numbered as in docs/operations.md, "The budget's rules") when a stack is
 * constructed; rules 10 and 11 (the state machine's payload and history against
 * AWS's limits) are in modules/workflow/limits.ts.
 */
import { ENV, ENV_RANGES, SDK_CONNECT_TIMEOUT_MS, SOCKET_POOLS, type IntRange, type PoolBound } from "../../contract";

/** The Lambda limit this budget exists to respect. */
export const LAMBDA_FD_LIMIT = 1024;

/**
 * File descriptors a function holds with no work in flight. Measured: a Node 20
 * process with a bundled handler loaded holds 19 (`bench/results/latest.md`,
 * "fds after init"); the Lambda runtime adds its Runtime API connection and log
 * pipes, so we budget 40.
 */
export const DEFAULT_FD_BASELINE = 40;

/**
 * File descriptors per in-flight task beyond the pooled sockets (a socket being
 * replaced while its predecessor closes, a stream's pipe). Measured in `bench/`
 * ("handler path"): the processor with 50 sockets and 50 tasks in flight peaks at
 * 70 fds, i.e. 19 baseline + 50 sockets + 1 — well under 1 per task; 2 leaves margin.
 */
export const DEFAULT_FDS_PER_TASK = 2;

/** A Distributed Map runs at most this many child executions at once (AWS's limit). */
export const DISTRIBUTED_MAP_MAX_CONCURRENCY = 10_000;
/** The most a work queue keeps a message (the queues use SQS's default, 4 days). */
export const WORK_QUEUE_RETENTION_SECONDS = 345_600;
/**
 * Records per batch of a worker's event source mapping: one task per
 * invocation, so rule 6's in-handler bound and the visibility timeout (6 x one
 * task's timeout) hold exactly.
 */
export const WORK_QUEUE_BATCH_SIZE = 1;

export type FunctionKey = keyof typeof SOCKET_POOLS;

/** Per-function part of the budget. */
export interface FunctionBudget {
  /** Reserved concurrent executions. Range 1..accountConcurrency-100. */
  readonly reservedConcurrency: number;
  /** Function timeout in seconds. Range 1..900. */
  readonly timeoutSeconds: number;
  /** Memory in MB. Range 128..10240. */
  readonly memoryMb: number;
  /** `maxSockets` of each SDK client's agents (one pool per client: SOCKET_POOLS). Range 1..256. */
  readonly maxSockets: number;
  /** Bound of the in-handler fan-out (records, chunk PUTs, upload parts). Range 1..256. */
  readonly taskConcurrency: number;
  /** SDK request timeout in ms; must be below the function timeout (rule 7). */
  readonly sdkRequestTimeoutMs: number;
}

/**
 * A worker's queue. Step Functions puts each task on it (with a task token) and
 * the function consumes it through an event source mapping, so work is admitted
 * at the rate the function can take it and never throttled.
 */
export interface WorkQueueBudget {
  /** Event source mapping `scaling_config.maximum_concurrency`. Range 2..the function's reserved concurrency (rule 8). */
  readonly maximumConcurrency: number;
  /** Visibility timeout; at least 6 x the function timeout (rule 8). */
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the DLQ; the last one reports a transient failure instead. Range 2..1000. */
  readonly maxReceiveCount: number;
  /**
   * The longest a task may wait in the queue before a worker receives it (the
   * backlog of a burst). The task's HeartbeatSeconds and TimeoutSeconds are
   * derived from it (`taskTiming`); a task that waits longer times out and the
   * state machine sends it again.
   */
  readonly queueWaitSeconds: number;
}

/** A function run as a Step Functions task, through its work queue. */
export interface TaskFunctionBudget extends FunctionBudget {
  readonly queue: WorkQueueBudget;
}

export interface FetcherBudget extends TaskFunctionBudget {
  /** `maxSockets` of each of the two outbound agents (http, https) the fetches share. Range 1..256. */
  readonly fetchMaxSockets: number;
  /** Whole outbound fetch timeout in ms; must be below the function timeout (rule 7). */
  readonly fetchTimeoutMs: number;
}

export interface Budget {
  /** The account's concurrent executions limit. @default 1000 */
  readonly accountConcurrency: number;
  readonly queue: {
    /** Event source mapping `scaling_config.maximum_concurrency`. Range 2..1000 (rule 1). */
    readonly maximumConcurrency: number;
    /** Records per batch. Range 1..10, or up to 10000 with a batching window. */
    readonly batchSize: number;
    /** Batching window in seconds. Range 0..300. */
    readonly maximumBatchingWindowSeconds: number;
    /** Queue visibility timeout; at least 6 x the fanout timeout (rule 4). */
    readonly visibilityTimeoutSeconds: number;
    /** Receives before a message moves to the DLQ. Range 1..1000. */
    readonly maxReceiveCount: number;
  };
  readonly map: {
    /**
     * Distributed Map MaxConcurrency: child executions (items) in flight per job.
     * Range 1..10000 (rule 5). The work queues admit the tasks, so it need not fit
     * the workers' reserved concurrency.
     */
    readonly maxConcurrency: number;
  };
  readonly fanout: FunctionBudget;
  readonly fetcher: FetcherBudget;
  readonly processor: TaskFunctionBudget;
  readonly fd: {
    /** Fds with no work in flight. @default DEFAULT_FD_BASELINE */
    readonly baseline: number;
    /** Extra fds per in-flight task. @default DEFAULT_FDS_PER_TASK */
    readonly fdsPerTask: number;
    /** Share of the 1024 fds a function may plan to use. Range (0, 0.5] (rule 6). */
    readonly headroom: number;
  };
}

/** Raised when a budget breaks a rule; the message names the rule, the fields and the values. */
export class BudgetError extends Error {
  constructor(readonly violations: string[]) {
    super(`concurrency budget refused:\n  ${violations.join("\n  ")}`);
    this.name = "BudgetError";
  }
}

const FUNCTIONS: FunctionKey[] = ["fanout", "fetcher", "processor"];

const TASK_FUNCTIONS = ["fetcher", "processor"] as const;
export type TaskFunctionKey = (typeof TASK_FUNCTIONS)[number];

/** A worker task's timing, derived from its queue's budget. */
export interface TaskTiming {
  /**
   * HeartbeatSeconds: the longest gap between two signs of life — the wait
   * before the first receive, or a failed receive's visibility timeout plus the
   * wait after it. The worker heartbeats as soon as it receives the task.
   */
  readonly heartbeatSeconds: number;
  /** TimeoutSeconds: every receive may wait in the queue and use up a visibility timeout. */
  readonly timeoutSeconds: number;
}

export function taskTiming(budget: Budget, fn: TaskFunctionKey): TaskTiming {
  const q = budget[fn].queue;
  return {
    heartbeatSeconds: q.queueWaitSeconds + q.visibilityTimeoutSeconds,
    timeoutSeconds: q.maxReceiveCount * (q.queueWaitSeconds + q.visibilityTimeoutSeconds),
  };
}

/** The sockets each of a function's pools may hold, in SOCKET_POOLS order. */
export function poolSockets(budget: Budget, fn: FunctionKey): { client: string; bound: PoolBound; sockets: number }[] {
  const f = budget[fn] as FunctionBudget & Partial<Record<PoolBound, number>>;
  return SOCKET_POOLS[fn].map((p) => {
    const sockets = f[p.bound];
    if (sockets === undefined) throw new Error(`budget: ${fn}.${p.bound} is not set (it bounds the ${fn}'s ${p.client})`);
    return { client: p.client, bound: p.bound, sockets };
  });
}

/**
 * The environment variables a function's budget becomes: PipelineFunction
 * deploys them, and the integration tests start the bundles with them.
 */
export function budgetVariables(f: FunctionBudget | FetcherBudget): Record<string, string> {
  return {
    [ENV.maxSockets]: String(f.maxSockets),
    [ENV.taskConcurrency]: String(f.taskConcurrency),
    [ENV.sdkRequestTimeoutMs]: String(f.sdkRequestTimeoutMs),
    [ENV.sdkConnectTimeoutMs]: String(SDK_CONNECT_TIMEOUT_MS),
    ...("fetchMaxSockets" in f ? { [ENV.fetchMaxSockets]: String(f.fetchMaxSockets) } : {}),
  };
}

/** Planned peak file descriptors of one function (rule 6's left-hand side). */
export function plannedFds(budget: Budget, fn: FunctionKey): number {
  const sockets = poolSockets(budget, fn).reduce((n, p) => n + p.sockets, 0);
  return budget.fd.baseline + sockets + budget[fn].taskConcurrency * budget.fd.fdsPerTask;
}

/** The fd ceiling rule 6 allows a function (headroom x 1024). */
export function fdCeiling(budget: Budget): number {
  return Math.floor(budget.fd.headroom * LAMBDA_FD_LIMIT);
}

/** Every rule violation in `budget`, as messages; empty when the budget holds. */
export function budgetViolations(budget: Budget): string[] {
  const v: string[] = [];
  const rule = (n: number | string, ok: boolean, msg: string) => {
    if (!ok) v.push(`budget rule ${n}: ${msg}`);
  };
  const int = (field: string, value: number, min: number, max: number) =>
    rule(
      "range",
      Number.isInteger(value) && value >= min && value <= max,
      `${field} (${value}) must be an integer between ${min} and ${max}`,
    );
  const inRange = (field: string, value: number, range: IntRange) => int(field, value, range.min, range.max);
  const { queue, map, fd } = budget;

  int("accountConcurrency", budget.accountConcurrency, 101, 1_000_000);
  int("queue.batchSize", queue.batchSize, 1, 10_000);
  int("queue.maximumBatchingWindowSeconds", queue.maximumBatchingWindowSeconds, 0, 300);
  int("queue.visibilityTimeoutSeconds", queue.visibilityTimeoutSeconds, 0, 43_200);
  int("queue.maxReceiveCount", queue.maxReceiveCount, 1, 1000);
  rule(
    "range",
    queue.batchSize <= 10 || queue.maximumBatchingWindowSeconds >= 1,
    `queue.batchSize (${queue.batchSize}) above 10 needs queue.maximumBatchingWindowSeconds >= 1 (got ${queue.maximumBatchingWindowSeconds})`,
  );
  for (const fn of FUNCTIONS) {
    const f = budget[fn];
    int(`${fn}.reservedConcurrency`, f.reservedConcurrency, 1, budget.accountConcurrency);
    int(`${fn}.timeoutSeconds`, f.timeoutSeconds, 1, 900);
    int(`${fn}.memoryMb`, f.memoryMb, 128, 10_240);
    // The fields that become environment variables, held to the variables' own ranges.
    inRange(`${fn}.maxSockets`, f.maxSockets, ENV_RANGES.maxSockets);
    inRange(`${fn}.taskConcurrency`, f.taskConcurrency, ENV_RANGES.taskConcurrency);
    inRange(`${fn}.sdkRequestTimeoutMs`, f.sdkRequestTimeoutMs, ENV_RANGES.sdkRequestTimeoutMs);
  }
  inRange("fetcher.fetchMaxSockets", budget.fetcher.fetchMaxSockets, ENV_RANGES.fetchMaxSockets);

  // Rule 1: the event source mapping's range.
  rule(
    1,
    Number.isInteger(queue.maximumConcurrency) && queue.maximumConcurrency >= 2 && queue.maximumConcurrency <= 1000,
    `queue.maximumConcurrency (${queue.maximumConcurrency}) must be an integer between 2 and 1000`,
  );
  // Rule 2: never set maximum concurrency above reserved concurrency.
  rule(
    2,
    budget.fanout.reservedConcurrency >= queue.maximumConcurrency,
    `fanout.reservedConcurrency (${budget.fanout.reservedConcurrency}) must be >= queue.maximumConcurrency (${queue.maximumConcurrency})`,
  );
  // Rule 3: AWS keeps 100 unreserved.
  const reserved = reservedTotal(budget);
  rule(
    3,
    reserved <= budget.accountConcurrency - 100,
    `sum of reservedConcurrency (fanout ${budget.fanout.reservedConcurrency} + fetcher ${budget.fetcher.reservedConcurrency} + processor ${budget.processor.reservedConcurrency} = ${reserved}) must be <= accountConcurrency - 100 (${budget.accountConcurrency - 100})`,
  );
  // Rule 4: SQS visibility timeout vs the consumer's timeout.
  rule(
    4,
    queue.visibilityTimeoutSeconds >= 6 * budget.fanout.timeoutSeconds,
    `queue.visibilityTimeoutSeconds (${queue.visibilityTimeoutSeconds}) must be >= 6 x fanout.timeoutSeconds (6 x ${budget.fanout.timeoutSeconds} = ${6 * budget.fanout.timeoutSeconds})`,
  );
  // Rule 5: Distributed Map concurrency, finite (0 would mean unlimited) and within AWS's limit.
  rule(
    5,
    Number.isInteger(map.maxConcurrency) && map.maxConcurrency >= 1 && map.maxConcurrency <= DISTRIBUTED_MAP_MAX_CONCURRENCY,
    `map.maxConcurrency (${map.maxConcurrency}) must be an integer between 1 and ${DISTRIBUTED_MAP_MAX_CONCURRENCY} (0 would mean unlimited)`,
  );
  // Rule 6: file descriptors per function.
  rule(
    6,
    fd.headroom > 0 && fd.headroom <= 0.5,
    `fd.headroom (${fd.headroom}) must be > 0 and <= 0.5`,
  );
  rule(6, fd.baseline >= 0 && fd.fdsPerTask >= 0, `fd.baseline (${fd.baseline}) and fd.fdsPerTask (${fd.fdsPerTask}) must be >= 0`);
  for (const fn of FUNCTIONS) {
    const f = budget[fn];
    const planned = plannedFds(budget, fn);
    rule(
      6,
      planned <= fdCeiling(budget),
      `${fn} plans ${planned} file descriptors (baseline ${fd.baseline} + pools ${poolSockets(budget, fn).map((p) => `${p.client} ${p.sockets} (${p.bound})`).join(" + ")} + taskConcurrency ${f.taskConcurrency} x fdsPerTask ${fd.fdsPerTask}), more than fd.headroom ${fd.headroom} x ${LAMBDA_FD_LIMIT} = ${fdCeiling(budget)}`,
    );
  }
  // Rule 7: timeouts nest.
  for (const fn of FUNCTIONS) {
    const f = budget[fn];
    rule(
      7,
      f.sdkRequestTimeoutMs < f.timeoutSeconds * 1000,
      `${fn}.sdkRequestTimeoutMs (${f.sdkRequestTimeoutMs}) must be < ${fn}.timeoutSeconds (${f.timeoutSeconds}) in ms (${f.timeoutSeconds * 1000})`,
    );
  }
  rule(
    7,
    budget.fetcher.fetchTimeoutMs < budget.fetcher.timeoutSeconds * 1000,
    `fetcher.fetchTimeoutMs (${budget.fetcher.fetchTimeoutMs}) must be < fetcher.timeoutSeconds (${budget.fetcher.timeoutSeconds}) in ms (${budget.fetcher.timeoutSeconds * 1000})`,
  );
  for (const fn of TASK_FUNCTIONS) {
    const f = budget[fn];
    const t = taskTiming(budget, fn);
    const q = f.queue;
    int(`${fn}.queue.maxReceiveCount`, q.maxReceiveCount, 1, 1000);
    int(`${fn}.queue.queueWaitSeconds`, q.queueWaitSeconds, 1, WORK_QUEUE_RETENTION_SECONDS);
    rule(
      7,
      f.timeoutSeconds < t.heartbeatSeconds,
      `${fn}.timeoutSeconds (${f.timeoutSeconds}) must be < the task's HeartbeatSeconds (${fn}.queue.queueWaitSeconds ${q.queueWaitSeconds} + visibilityTimeoutSeconds ${q.visibilityTimeoutSeconds} = ${t.heartbeatSeconds})`,
    );
    rule(
      7,
      t.heartbeatSeconds < t.timeoutSeconds,
      `${fn}: the task's HeartbeatSeconds (${t.heartbeatSeconds}) must be < its TimeoutSeconds (${fn}.queue.maxReceiveCount ${q.maxReceiveCount} x ${t.heartbeatSeconds} = ${t.timeoutSeconds}); maxReceiveCount must be >= 2`,
    );
    rule(
      7,
      t.timeoutSeconds <= WORK_QUEUE_RETENTION_SECONDS,
      `${fn}: the task's TimeoutSeconds (${t.timeoutSeconds}) must be <= the work queue's retention (${WORK_QUEUE_RETENTION_SECONDS}), or SQS deletes a task that is still awaited`,
    );
    // Rule 8: each work queue's mapping and visibility timeout, as for the ingest queue (rules 1, 2, 4).
    rule(
      8,
      Number.isInteger(q.maximumConcurrency) && q.maximumConcurrency >= 2 && q.maximumConcurrency <= f.reservedConcurrency,
      `${fn}.queue.maximumConcurrency (${q.maximumConcurrency}) must be an integer between 2 and ${fn}.reservedConcurrency (${f.reservedConcurrency})`,
    );
    rule(
      8,
      Number.isInteger(q.visibilityTimeoutSeconds) && q.visibilityTimeoutSeconds >= 6 * f.timeoutSeconds && q.visibilityTimeoutSeconds <= 43_200,
      `${fn}.queue.visibilityTimeoutSeconds (${q.visibilityTimeoutSeconds}) must be >= 6 x ${fn}.timeoutSeconds (6 x ${f.timeoutSeconds} = ${6 * f.timeoutSeconds}) and <= 43200`,
    );
  }
  return v;
}

/** Reserved concurrency of one environment's functions, summed. */
export function reservedTotal(budget: Budget): number {
  return FUNCTIONS.reduce((sum, fn) => sum + budget[fn].reservedConcurrency, 0);
}

/** One environment as rule 3 sees it across environments. */
export interface AccountShare {
  readonly name: string;
  readonly account: string;
  readonly region: string;
  readonly budget: Budget;
}

/**
 * Rule 3 across environments: reserved concurrency comes out of one pool per
 * account and region, so every environment deployed there counts against it.
 */
export function sharedAccountViolations(envs: readonly AccountShare[]): string[] {
  const groups = new Map<string, AccountShare[]>();
  for (const e of envs) {
    const key = `${e.account} in ${e.region}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const v: string[] = [];
  for (const [where, group] of groups) {
    if (group.length < 2) continue;
    const limits = new Set(group.map((e) => e.budget.accountConcurrency));
    if (limits.size > 1) {
      v.push(
        `budget rule 3: environments ${group.map((e) => `${e.name} (${e.budget.accountConcurrency})`).join(", ")} share account ${where} but state different accountConcurrency`,
      );
      continue;
    }
    const total = group.reduce((sum, e) => sum + reservedTotal(e.budget), 0);
    const limit = group[0].budget.accountConcurrency - 100;
    if (total > limit) {
      v.push(
        `budget rule 3: environments ${group.map((e) => e.name).join(", ")} share account ${where}: their reserved concurrency (${group.map((e) => `${e.name} ${reservedTotal(e.budget)}`).join(" + ")} = ${total}) must be <= accountConcurrency - 100 (${limit})`,
      );
    }
  }
  return v;
}

/** Throws a `BudgetError` naming every broken rule; returns the budget when it holds. */
export function validateBudget(budget: Budget): Budget {
  const violations = budgetViolations(budget);
  if (violations.length > 0) throw new BudgetError(violations);
  return budget;
}
