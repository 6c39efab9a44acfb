/**
 * The synthesized state machine on `aws-local-stepfunctions`: every Task state
 * that invokes a Lambda (`arn:aws:states:::lambda:invoke` with FunctionName, or
 * a function ARN as Resource) calls the local pool of that function, with the
 * optimised integration's result shape (`{ Payload, StatusCode, … }`) and error
 * names (a function error keeps its errorType; a throttle is
 * `Lambda.TooManyRequestsException`), so the definition's own Retry, Catch,
 * ResultSelector and Map MaxConcurrency decide what happens.
 *
 * Retry timing: the interpreter's wait is overridden to 0 (retryIntervalOverrides)
 * and the wait the definition asks for — IntervalSeconds × BackoffRate^attempt,
 * capped by MaxDelaySeconds, full jitter when JitterStrategy is FULL — is slept
 * here instead, before the error is returned, multiplied by `retryScale`. The
 * interpreter still decides whether to retry (ErrorEquals, MaxAttempts); only
 * the clock is scaled. A fixed override would retry throttled items on a fixed
 * beat and exhaust MaxAttempts in a burst, which is not what AWS does.
 */
import { StateMachine } from "aws-local-stepfunctions";
import type { InvokeOutcome, LambdaPool } from "./lambda-pool";

/** aws-local-stepfunctions 3 calls Promise.withResolvers (Node ≥ 22); without it every Task fails. */
export function installPromiseWithResolvers(): void {
  const P = Promise as unknown as { withResolvers?: () => unknown };
  if (typeof P.withResolvers === "function") return;
  Object.defineProperty(Promise, "withResolvers", {
    configurable: true,
    writable: true,
    value<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

export const LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke";
export const S3_PUT_OBJECT = "arn:aws:states:::aws-sdk:s3:putObject";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: "FULL" | "NONE";
}

export interface TaskStateInfo {
  readonly name: string;
  readonly resource: string;
  readonly retry: readonly Retrier[];
}

/** Every Task state, however deep (Map ItemProcessor/Iterator, Parallel Branches). */
export function taskStates(definition: Json): TaskStateInfo[] {
  const out: TaskStateInfo[] = [];
  const walk = (machine: Json) => {
    for (const [name, state] of Object.entries((machine?.States ?? {}) as Record<string, Json>)) {
      if (state.Type === "Task") out.push({ name, resource: state.Resource, retry: state.Retry ?? [] });
      if (state.Type === "Map") walk(state.ItemProcessor ?? state.Iterator);
      if (state.Type === "Parallel") for (const branch of state.Branches ?? []) walk(branch);
    }
  };
  walk(definition);
  const names = new Set<string>();
  for (const t of out) {
    // aws-local-stepfunctions keys local handlers by state name.
    if (names.has(t.name)) throw new Error(`two Task states are named "${t.name}": the local interpreter cannot tell them apart`);
    names.add(t.name);
  }
  return out;
}

/** The retrier the interpreter will pick for `error` (same matching rules as aws-local-stepfunctions). */
export function matchRetrier(retry: readonly Retrier[], error: string): number {
  return retry.findIndex((r) =>
    r.ErrorEquals.some((e) => e === error || e === "States.ALL" || (e === "States.TaskFailed" && error !== "States.Timeout")),
  );
}

/** The wait in ms the definition asks for before retry number `attempt` (0-based) with `retrier`. */
export function retryDelayMs(retrier: Retrier, attempt: number, random: () => number): number {
  const interval = retrier.IntervalSeconds ?? 1;
  const rate = retrier.BackoffRate ?? 2;
  let seconds = interval * Math.pow(rate, attempt);
  if (retrier.MaxDelaySeconds !== undefined) seconds = Math.min(seconds, retrier.MaxDelaySeconds);
  if (retrier.JitterStrategy === "FULL") seconds = random() * seconds;
  return seconds * 1000;
}

export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED";

export interface ExecutionRecord {
  readonly name: string;
  readonly arn: string;
  readonly input: Json;
  readonly startedAt: number;
  endedAt?: number;
  status: ExecutionStatus;
  output?: Json;
  error?: string;
  /** Per function name: most calls in flight at once within this execution. */
  readonly peakCalls: Record<string, number>;
  readonly inFlight: Record<string, number>;
}

export interface TaskStats {
  /** Task invocations (including retries). */
  calls: number;
  succeeded: number;
  /** Errors returned to the interpreter, by error name (each may be retried). */
  errors: Record<string, number>;
  /** Retries the interpreter made. */
  retried: number;
  /** Errors that ended in a Catch. */
  caught: number;
  /** Most retries one task call (one item) needed. */
  mostRetries: number;
  /** Calls whose matching retrier had no attempt left (the error went on to Catch or failed the execution). */
  retriesExhausted: number;
}

export interface LocalStateMachineOptions {
  readonly definition: Json;
  readonly stateMachineArn: string;
  /** Pools by function ARN. */
  readonly pools: ReadonlyMap<string, LambdaPool>;
  /** Multiplies the definition's retry waits (1 = as in AWS). */
  readonly retryScale: number;
  readonly random: () => number;
  /** Carries out the definition's `aws-sdk:s3:putObject` tasks (the local S3). */
  readonly putObject: (bucket: string, key: string, body: string, contentType?: string) => Promise<void>;
  /** Share of Finalize calls that fail as if after all their retries (fault `finalize-fail`). @default 0 */
  readonly finalizeFailRate?: number;
}

export class LocalStateMachine {
  readonly executions = new Map<string, ExecutionRecord>();
  readonly tasks: Record<string, TaskStats> = {};
  private readonly machine: StateMachine;
  private readonly states: TaskStateInfo[];
  private readonly byName = new Map<string, LambdaPool>();
  /** Retries so far per execution, task state + input and retrier. */
  private readonly attempts = new WeakMap<ExecutionRecord, Map<string, number[]>>();
  private running = 0;
  private waiters: (() => void)[] = [];
  /** Called when an execution ends. */
  onExecutionEnd?: (record: ExecutionRecord) => void;

  constructor(private readonly options: LocalStateMachineOptions) {
    installPromiseWithResolvers();
    this.machine = new StateMachine(options.definition, { validationOptions: { checkArn: true, checkPaths: true } });
    this.states = taskStates(options.definition);
    for (const s of this.states) this.tasks[s.name] = { calls: 0, succeeded: 0, errors: {}, retried: 0, caught: 0, mostRetries: 0, retriesExhausted: 0 };
    for (const [arn, pool] of options.pools) {
      this.byName.set(arn, pool);
      this.byName.set(pool.options.functionName, pool);
    }
  }

  runningCount(): number {
    return this.running;
  }

  /** Starts an execution (the name must be new: the caller enforces idempotency). */
  start(name: string, input: Json): ExecutionRecord {
    if (this.executions.has(name)) throw new Error(`execution ${name} already exists`);
    const arn = `${this.options.stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
    const record: ExecutionRecord = { name, arn, input, startedAt: Date.now(), status: "RUNNING", peakCalls: {}, inFlight: {} };
    this.executions.set(name, record);
    this.running++;
    const handlers: Record<string, (input: Json) => Promise<Json>> = {};
    const intervals: Record<string, number> = {};
    for (const state of this.states) {
      handlers[state.name] = (taskInput: Json) => this.task(record, state, taskInput);
      intervals[state.name] = 0; // the scaled wait is slept in task()
    }
    this.attempts.set(record, new Map());
    const execution = this.machine.run(input, {
      overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: intervals },
      context: { Execution: { Id: arn, Name: name, RoleArn: "arn:aws:iam::000000000000:role/local", StartTime: new Date().toISOString() } },
    } as Parameters<StateMachine["run"]>[1]);
    void this.countEvents(execution.eventLogs);
    execution.result.then(
      (output) => this.end(record, "SUCCEEDED", output),
      (error: unknown) => this.end(record, "FAILED", undefined, describe(error)),
    );
    return record;
  }

  private async countEvents(events: AsyncGenerator<Json>): Promise<void> {
    try {
      for await (const event of events) {
        if (event.type === "StateRetried" && this.tasks[event.state?.name]) this.tasks[event.state.name].retried++;
        else if (event.type === "StateCaught" && this.tasks[event.state?.name]) this.tasks[event.state.name].caught++;
        else if (event.type === "ExecutionSucceeded" || event.type === "ExecutionFailed" || event.type === "ExecutionAborted" || event.type === "ExecutionTimeout") return;
      }
    } catch {
      // the event stream of a failed execution may end with its error
    }
  }

  private end(record: ExecutionRecord, status: ExecutionStatus, output?: Json, error?: string): void {
    record.status = status;
    record.output = output;
    record.error = error;
    record.endedAt = Date.now();
    this.running--;
    this.onExecutionEnd?.(record);
    if (this.running === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when no execution is running. */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async task(record: ExecutionRecord, state: TaskStateInfo, input: Json): Promise<Json> {
    const stats = this.tasks[state.name];
    stats.calls++;
    if (state.resource === S3_PUT_OBJECT) {
      // Step Functions serializes a JSON Body to text, as here.
      const body = typeof input?.Body === "string" ? input.Body : JSON.stringify(input?.Body);
      await this.options.putObject(String(input?.Bucket), String(input?.Key), body, input?.ContentType);
      stats.succeeded++;
      return { ETag: `"local-${stats.calls}"` };
    }
    if (state.name === "Finalize" && (this.options.finalizeFailRate ?? 0) > this.options.random()) {
      // Not a name the definition retries: straight to its Catch, as after exhausted retries.
      stats.errors.InjectedFinalizeFailure = (stats.errors.InjectedFinalizeFailure ?? 0) + 1;
      throw taskError("InjectedFinalizeFailure", "fault finalize-fail: Finalize failed after its retries");
    }
    const integrated = state.resource === LAMBDA_INVOKE || state.resource.startsWith(`${LAMBDA_INVOKE}:`);
    const target: string = integrated ? input?.FunctionName : state.resource;
    const event = integrated ? input?.Payload : input;
    const pool = this.byName.get(target) ?? this.byName.get(String(target).split(":").pop() ?? "");
    let outcome: InvokeOutcome;
    if (!pool) {
      outcome = { ok: false, throttled: false, error: { name: "Lambda.ResourceNotFoundException", message: `Function not found: ${target}` } };
    } else {
      const fn = pool.options.name;
      record.inFlight[fn] = (record.inFlight[fn] ?? 0) + 1;
      record.peakCalls[fn] = Math.max(record.peakCalls[fn] ?? 0, record.inFlight[fn]);
      try {
        outcome = await pool.invoke(event ?? null);
      } finally {
        record.inFlight[fn]--;
      }
    }
    if (outcome.ok) {
      stats.succeeded++;
      if (!integrated) return outcome.result;
      return {
        ExecutedVersion: "$LATEST",
        Payload: outcome.result ?? null,
        SdkHttpMetadata: { HttpStatusCode: 200 },
        SdkResponseMetadata: { RequestId: `local-${stats.calls}` },
        StatusCode: 200,
      };
    }
    const error = outcome.throttled
      ? taskError("Lambda.TooManyRequestsException", "Rate Exceeded. (Service: Lambda, Status Code: 429, Error Code: TooManyRequestsException)")
      : outcome.error.name.startsWith("Lambda.")
        ? taskError(outcome.error.name, outcome.error.message)
        : // The optimised integration names the error after the function's errorType; Cause is the error JSON.
          taskError(outcome.error.name, JSON.stringify({ errorType: outcome.error.name, errorMessage: outcome.error.message, trace: [] }));
    stats.errors[error.name] = (stats.errors[error.name] ?? 0) + 1;
    await this.backoff(record, state, stats, input, error.name);
    throw error;
  }

  /** Sleeps the (scaled) wait the matching retrier asks for, if the interpreter will retry. */
  private async backoff(record: ExecutionRecord, state: TaskStateInfo, stats: TaskStats, input: Json, errorName: string): Promise<void> {
    const index = matchRetrier(state.retry, errorName);
    if (index < 0) return;
    const attempts = this.attempts.get(record) as Map<string, number[]>;
    const key = `${state.name}\u0000${JSON.stringify(input)}`;
    const counts = attempts.get(key) ?? [];
    attempts.set(key, counts);
    const attempt = counts[index] ?? 0;
    const retrier = state.retry[index];
    if (attempt >= (retrier.MaxAttempts ?? 3)) {
      stats.retriesExhausted++;
      return; // the interpreter gives up: no wait
    }
    counts[index] = attempt + 1;
    stats.mostRetries = Math.max(stats.mostRetries, counts.reduce((a, b) => a + (b ?? 0), 0));
    const ms = retryDelayMs(retrier, attempt, this.options.random) * this.options.retryScale;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }
}

function taskError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function describe(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { name?: string; message?: string } };
  // ExecutionError wraps the state's error as `cause`.
  if (e?.cause?.name) return `${e.cause.name}: ${e.cause.message ?? ""}`;
  return `${e?.name ?? "Error"}: ${e?.message ?? String(error)}`;
}
