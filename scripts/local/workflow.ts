/**
 * The synthesized state machine on `aws-local-stepfunctions`, with the parts of
 * Step Functions the interpreter does not have, modelled here:
 *
 *  - `arn:aws:states:::sqs:sendMessage.waitForTaskToken` tasks: each attempt gets
 *    a task token of its own (the context's `$$.Task.Token` is a placeholder,
 *    replaced in the message body), the MessageBody goes to the local queue its
 *    QueueUrl names, the token is registered with the loopback SFN endpoint, and
 *    the task ends on SendTaskSuccess (its parsed output) or SendTaskFailure (an
 *    error named as reported, so the definition's Retry/Catch match by name).
 *    HeartbeatSeconds and TimeoutSeconds are enforced here, scaled by
 *    `timeScale` like the queues' visibility timeouts (States.HeartbeatTimeout /
 *    States.Timeout), and the token is closed, so a late answer gets
 *    TaskTimedOut as in AWS. The interpreter's own task timer (unscaled, 60 s
 *    when a Task has none) is disabled.
 *  - `arn:aws:states:::aws-sdk:s3:putObject` tasks on the local S3.
 *  - Distributed Maps (scripts/local/distributed-map.ts): each item a child
 *    execution of its own, with its own history and limits.
 *  - AWS's limits (scripts/local/history.ts): a state's input or output over
 *    256 KiB fails the execution with States.DataLimitExceeded, a history over
 *    25,000 events with States.Runtime; neither can be caught (the execution is
 *    stopped). Every handler first yields a turn so the event log of the state
 *    before it has been checked: a state after a limit breach has no effect.
 *
 * Retries are the interpreter's own: it matches ErrorEquals, counts MaxAttempts
 * and sleeps IntervalSeconds × BackoffRate^attempt (capped by MaxDelaySeconds,
 * full jitter when JitterStrategy is FULL). Only the seconds are scaled, by
 * `retryScale`, in the definition it runs (IntervalSeconds and MaxDelaySeconds
 * multiplied); the retry counts in the summary come from its event log.
 *
 * One difference is left: a timeout raised here is not the interpreter's own
 * timeout class, so a `States.TaskFailed` retrier or catcher would match it
 * (in AWS it does not). The definition names no `States.TaskFailed`.
 */
import { randomUUID } from "crypto";
import { StateMachine } from "aws-local-stepfunctions";
import { DistributedMapRunner, LOCAL_MAP_RUN, rewriteDistributedMaps, type ChildOutcome, type MapRunHost, type MapRunInfo, type MapRunStats } from "./distributed-map";
import { AWS_LIMITS, HISTORY_EVENTS, HistoryCounter, LimitExceededError, stateEnteredEvents, stateExitedEvents, type ExecutionLimits, type LargestPayload } from "./history";

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

export const SQS_SEND_WAIT_FOR_TOKEN = "arn:aws:states:::sqs:sendMessage.waitForTaskToken";
export const S3_PUT_OBJECT = "arn:aws:states:::aws-sdk:s3:putObject";

/** What `$$.Task.Token` evaluates to in the interpreter; each attempt's handler puts a real token in its place. */
export const TASK_TOKEN_PLACEHOLDER = "local-task-token-placeholder";
/** The interpreter's own task timer, disabled (seconds; below setTimeout's 2^31 ms). */
const NO_INTERPRETER_TIMEOUT = 2_000_000;

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

type TaskKind = "callback" | "s3-put" | "map-run";

export interface TaskStateInfo {
  readonly name: string;
  readonly kind: TaskKind;
  readonly resource: string;
  readonly retry: readonly Retrier[];
  /** As written in the definition (AWS seconds). */
  readonly timeoutSeconds?: number;
  readonly heartbeatSeconds?: number;
}

export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "ABORTED";

export interface ExecutionRecord {
  readonly name: string;
  readonly arn: string;
  readonly kind: "parent" | "child";
  /** A child's parent execution and item index. */
  readonly parent?: string;
  readonly index?: number;
  readonly input: Json;
  readonly startedAt: number;
  endedAt?: number;
  status: ExecutionStatus;
  output?: Json;
  /** "Name: cause" of a failed execution. */
  error?: string;
  errorName?: string;
  cause?: string;
  /** Set when a limit ended it (the error name: States.DataLimitExceeded / States.Runtime). */
  limitExceeded?: string;
  /** History events so far (AWS's count) and the largest state payload. */
  readonly history: HistoryCounter;
}

export interface TaskStats {
  /** Task attempts (including retries). */
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
  /** Calls that failed again after the last retry their retrier allows (the error went on to Catch or failed the execution). */
  retriesExhausted: number;
}

/** The task-token side of the loopback SFN endpoint (scripts/lib/sfn-endpoint.ts). */
export interface TaskTokenEndpoint {
  registerTask(
    token: string,
    handlers: { success(output: unknown): void; failure(error: string, cause: string): void; heartbeat(): void },
  ): void;
  closeTask(token: string): void;
}

/** Where a task's message goes: the local queue its QueueUrl names. */
export interface TaskQueue {
  readonly name: string;
  send(body: string): string;
}

/** A task message the state machine is about to send. */
export interface SentTask {
  readonly execution: ExecutionRecord;
  readonly state: string;
  readonly queue: string;
  readonly token: string;
  /** The MessageBody as sent (parsed when it is JSON). */
  readonly body: Json;
}

export interface LocalStateMachineOptions {
  readonly definition: Json;
  readonly stateMachineArn: string;
  /** Multiplies the definition's retry waits (1 = as in AWS). */
  readonly retryScale: number;
  /** Local seconds per AWS second for HeartbeatSeconds and TimeoutSeconds. */
  readonly timeScale: number;
  readonly tokens: TaskTokenEndpoint;
  /** The local queue a QueueUrl names (undefined: no such queue). */
  readonly queueByUrl: (url: string) => TaskQueue | undefined;
  /** Step Functions' own S3 access (request-response tasks, ItemReader, ResultWriter). */
  readonly s3: {
    getObject(bucket: string, key: string): Promise<string>;
    putObject(bucket: string, key: string, body: string, contentType?: string): Promise<void>;
  };
  /** @default AWS_LIMITS */
  readonly limits?: ExecutionLimits;
  /** Called before a task message is sent; true = the caller answers the token itself and the message is not sent (fault finalize-fail). */
  readonly interceptTask?: (task: SentTask) => boolean;
  /** Validate the definition with the interpreter's validator (0.1–0.4 s). @default true */
  readonly validate?: boolean;
}

/** What child executions add up to (each is its own execution, with its own history). */
export interface ChildStats {
  started: number;
  succeeded: number;
  failed: number;
  aborted: number;
  failedByError: Record<string, number>;
  /** Ended by a limit, by error name. */
  limitFailures: Record<string, number>;
  largestPayload: LargestPayload & { execution: string };
  mostHistoryEvents: { events: number; execution: string };
}

/** A machine as the interpreter runs it, with what its handlers need. */
interface MachinePlan {
  readonly machine: StateMachine;
  readonly tasks: ReadonlyMap<string, TaskStateInfo>;
  readonly maps: ReadonlyMap<string, { runner: DistributedMapRunner; child: MachinePlan }>;
  /** The machine's ARN (a child machine: `<parent>/<label>`). */
  readonly arn: string;
}

interface RunningExecution {
  readonly record: ExecutionRecord;
  readonly plan: MachinePlan;
  abort(): void;
  /** Open task tokens (closed when the execution ends). */
  readonly tokens: Map<string, () => void>;
  readonly stop: AbortController;
  stopped: boolean;
}

/** An error with the name Step Functions reports (so Retry/Catch match it). */
export function taskError(name: string, cause: string): Error {
  const error = new Error(cause);
  error.name = name;
  return error;
}

export class LocalStateMachine {
  /** Parent executions by name. */
  readonly executions = new Map<string, ExecutionRecord>();
  readonly tasks: Record<string, TaskStats> = {};
  readonly children: ChildStats = {
    started: 0,
    succeeded: 0,
    failed: 0,
    aborted: 0,
    failedByError: {},
    limitFailures: {},
    largestPayload: { bytes: 0, state: "", what: "", execution: "" },
    mostHistoryEvents: { events: 0, execution: "" },
  };
  readonly mapRuns: MapRunStats[] = [];
  private readonly plan: MachinePlan;
  private readonly limits: ExecutionLimits;
  private running = 0;
  private openTasks = 0;
  /** Called when a parent execution ends. */
  onExecutionEnd?: (record: ExecutionRecord) => void;

  constructor(private readonly options: LocalStateMachineOptions) {
    installPromiseWithResolvers();
    this.limits = options.limits ?? AWS_LIMITS;
    if (options.validate ?? true) {
      // The definition as written (Distributed Map included), by the interpreter's validator.
      new StateMachine(options.definition, { validationOptions: { checkArn: true, checkPaths: true } });
    }
    this.plan = this.planMachine(options.definition, options.stateMachineArn);
  }

  /** Runtime machines: Distributed Maps rewritten, task timers disabled, handlers known per state. */
  private planMachine(definition: Json, arn: string): MachinePlan {
    const { machine, maps } = rewriteDistributedMaps(definition);
    const tasks = new Map<string, TaskStateInfo>();
    const prepared = this.prepare(machine, tasks);
    const planned = new Map<string, { runner: DistributedMapRunner; child: MachinePlan }>();
    for (const [name, spec] of maps) {
      planned.set(name, { runner: new DistributedMapRunner(spec), child: this.planMachine(spec.itemProcessor, `${arn}/${spec.label}`) });
    }
    for (const t of tasks.values()) this.tasks[t.name] ??= { calls: 0, succeeded: 0, errors: {}, retried: 0, caught: 0, mostRetries: 0, retriesExhausted: 0 };
    return { machine: new StateMachine(prepared, { validationOptions: { noValidate: true } }), tasks, maps: planned, arn };
  }

  /** Copies a machine (and its inline Maps / Parallel branches) with the interpreter's task timers off; records every Task. */
  private prepare(machine: Json, tasks: Map<string, TaskStateInfo>): Json {
    const states: Record<string, Json> = {};
    for (const [name, state] of Object.entries((machine?.States ?? {}) as Record<string, Json>)) {
      let s = state;
      if (state.Type === "Task") {
        const kind: TaskKind | undefined =
          state.Resource === SQS_SEND_WAIT_FOR_TOKEN ? "callback" : state.Resource === S3_PUT_OBJECT ? "s3-put" : state.Resource === LOCAL_MAP_RUN ? "map-run" : undefined;
        if (!kind) throw new Error(`Task "${name}": the local runner does not model Resource ${state.Resource}`);
        if (tasks.has(name)) throw new Error(`two Task states are named "${name}": the local interpreter keys handlers by state name`);
        tasks.set(name, {
          name,
          kind,
          resource: state.Resource,
          retry: state.Retry ?? [],
          timeoutSeconds: state.TimeoutSeconds,
          heartbeatSeconds: state.HeartbeatSeconds,
        });
        // eslint-disable-next-line @typescript-eslint/no-unused-vars
        const { HeartbeatSeconds, TimeoutSecondsPath, HeartbeatSecondsPath, ...rest } = state;
        s = { ...rest, TimeoutSeconds: NO_INTERPRETER_TIMEOUT, ...(state.Retry ? { Retry: scaleRetriers(state.Retry, this.options.retryScale) } : {}) };
      } else if (state.Type === "Map") {
        const inner = state.ItemProcessor ?? state.Iterator;
        s = { ...state, ...(state.ItemProcessor ? { ItemProcessor: this.prepare(inner, tasks) } : { Iterator: this.prepare(inner, tasks) }) };
      } else if (state.Type === "Parallel") {
        s = { ...state, Branches: (state.Branches ?? []).map((b: Json) => this.prepare(b, tasks)) };
      }
      if (state.Type !== "Task" && Array.isArray(state.Retry)) s = { ...s, Retry: scaleRetriers(state.Retry, this.options.retryScale) };
      states[name] = s;
    }
    return { ...machine, States: states };
  }

  runningCount(): number {
    return this.running;
  }

  /** Callback tasks waiting for their answer. */
  openTaskCount(): number {
    return this.openTasks;
  }

  isRunning(name: string): boolean {
    return this.executions.get(name)?.status === "RUNNING";
  }

  /** Starts a parent execution (the name must be new: the caller enforces idempotency). */
  start(name: string, input: Json): ExecutionRecord {
    if (this.executions.has(name)) throw new Error(`execution ${name} already exists`);
    const arn = `${this.options.stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
    const record = this.newRecord({ name, arn, kind: "parent", input });
    this.executions.set(name, record);
    this.running++;
    void this.execute(record, this.plan).then(() => {
      this.running--;
      this.onExecutionEnd?.(record);
    });
    return record;
  }

  private newRecord(r: { name: string; arn: string; kind: "parent" | "child"; input: Json; parent?: string; index?: number }): ExecutionRecord {
    return { ...r, startedAt: Date.now(), status: "RUNNING", history: new HistoryCounter(this.limits) };
  }

  /** Runs one execution to its end (never rejects). */
  private async execute(record: ExecutionRecord, plan: MachinePlan, external?: AbortSignal): Promise<void> {
    const stop = new AbortController();
    const run: RunningExecution = { record, plan, abort: () => undefined, tokens: new Map(), stop, stopped: false };
    const handlers: Record<string, (input: Json) => Promise<Json>> = {};
    for (const state of plan.tasks.values()) handlers[state.name] = (taskInput: Json) => this.task(run, state, taskInput);
    const context = {
      Execution: { Id: record.arn, Name: record.name, RoleArn: "arn:aws:iam::000000000000:role/local", StartTime: new Date(record.startedAt).toISOString() },
      StateMachine: { Id: plan.arn, Name: plan.arn.split(":").pop() },
      Task: { Token: TASK_TOKEN_PLACEHOLDER },
    };
    const execution = plan.machine.run(record.input, {
      overrides: { taskResourceLocalHandlers: handlers },
      context,
    } as Parameters<StateMachine["run"]>[1]);
    run.abort = execution.abort;
    const onExternal = () => this.stopExecution(run);
    external?.addEventListener("abort", onExternal, { once: true });
    // The execution's input, then every state's input and output from the event log.
    const breach = record.history.payload(record.input, "(execution input)", "input");
    if (breach) this.stopExecution(run, breach);
    const events = this.watch(run, execution.eventLogs);
    let output: Json;
    let failure: unknown;
    try {
      output = await execution.result;
    } catch (error) {
      failure = error;
    }
    await events;
    external?.removeEventListener("abort", onExternal);
    record.history.end();
    if (!record.history.exceeded && failure === undefined) {
      const tooBig = record.history.payload(output, "(execution output)", "output");
      if (tooBig) failure = tooBig;
    }
    // Nothing of a finished execution stays open: a late answer to one of its tokens gets TaskTimedOut.
    run.stopped = true;
    for (const close of run.tokens.values()) close();
    record.endedAt = Date.now();
    const limit = record.history.exceeded;
    if (limit) {
      record.status = "FAILED";
      record.limitExceeded = limit.name;
      record.errorName = limit.name;
      record.cause = limit.message;
    } else if (failure !== undefined) {
      const e = unwrap(failure);
      record.status = run.stop.signal.aborted && e.name === "ExecutionAbortedError" ? "ABORTED" : "FAILED";
      record.errorName = e.name;
      record.cause = e.message;
    } else {
      record.status = "SUCCEEDED";
      record.output = output;
    }
    if (record.errorName) record.error = `${record.errorName}: ${record.cause ?? ""}`;
  }

  /** Stops an execution: for a limit (uncatchable), or because its map run stopped. */
  private stopExecution(run: RunningExecution, limit?: LimitExceededError): void {
    if (run.stopped) return;
    run.stopped = true;
    if (limit && !run.record.history.exceeded) run.record.history.exceeded = limit;
    run.stop.abort();
    run.abort();
  }

  /** Counts history events and checks payloads from the interpreter's event log (kept synchronous per event). */
  private async watch(run: RunningExecution, events: AsyncGenerator<Json>): Promise<void> {
    const h = run.record.history;
    const check = (breach: LimitExceededError | undefined) => {
      if (breach) this.stopExecution(run, breach);
    };
    // The task state being retried in this execution (its states run one after another): retries of this
    // visit, the last retry's attempt against its retrier's MaxAttempts, and a failure not yet retried.
    let visit: { stats: TaskStats; retries: number; lastRetryWasFinal: boolean; failed: boolean } | undefined;
    const endVisit = () => {
      if (visit?.failed && visit.lastRetryWasFinal) visit.stats.retriesExhausted++;
      visit = undefined;
    };
    const taskStats = (name: unknown) => (typeof name === "string" && run.plan.tasks.has(name) ? this.tasks[name] : undefined);
    try {
      for await (const event of events) {
        if (event.type !== "StateFailed" && event.type !== "StateRetried") endVisit();
        switch (event.type) {
          case "ExecutionStarted":
            check(h.add(1));
            break;
          case "StateEntered":
            check(h.add(stateEnteredEvents(event.state.type)));
            check(h.payload(event.state.input, event.state.name, "input"));
            break;
          case "StateExited":
            check(h.add(stateExitedEvents(event.state.type)));
            check(h.payload(event.state.output, event.state.name, "output"));
            break;
          case "MapIterationStarted":
          case "MapIterationSucceeded":
          case "MapIterationFailed":
            check(h.add(HISTORY_EVENTS.inlineMapIteration / 2));
            break;
          case "StateFailed": {
            const stats = taskStats(event.state?.name);
            if (stats && visit?.stats !== stats) visit = { stats, retries: 0, lastRetryWasFinal: false, failed: true };
            if (visit) visit.failed = true;
            break;
          }
          case "StateRetried": {
            const stats = taskStats(event.state?.name);
            if (!stats) break;
            stats.retried++;
            if (visit?.stats !== stats) visit = { stats, retries: 0, lastRetryWasFinal: false, failed: false };
            visit.retries++;
            visit.failed = false;
            visit.lastRetryWasFinal = event.retry.attempt >= (event.retry.retrier.MaxAttempts ?? DEFAULT_MAX_ATTEMPTS);
            stats.mostRetries = Math.max(stats.mostRetries, visit.retries);
            break;
          }
          case "StateCaught": {
            const stats = taskStats(event.state?.name);
            if (stats) stats.caught++;
            break;
          }
          default:
            break;
        }
      }
    } catch {
      // the event stream of a failed execution may end with its error
    }
    endVisit();
  }

  /**
   * Every handler starts here: one turn of the event loop, so the event log up
   * to this state has been checked; a stopped execution does nothing more.
   */
  private async admit(run: RunningExecution): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (run.stopped) throw run.record.history.exceeded ?? taskError("States.Runtime", "the execution was stopped");
  }

  private events(run: RunningExecution, n: number): void {
    const breach = run.record.history.add(n);
    if (breach) {
      this.stopExecution(run, breach);
      throw breach;
    }
  }

  private measure(run: RunningExecution, value: Json, state: string, what: string): void {
    const breach = run.record.history.payload(value, state, what);
    if (breach) {
      this.stopExecution(run, breach);
      throw breach;
    }
  }

  private async task(run: RunningExecution, state: TaskStateInfo, input: Json): Promise<Json> {
    await this.admit(run);
    const stats = this.tasks[state.name];
    stats.calls++;
    let result: Json;
    try {
      if (state.kind === "map-run") {
        this.events(run, 1); // MapRunStarted
        result = await this.mapRun(run, state, input);
        this.events(run, 1); // MapRunSucceeded
      } else {
        this.events(run, 2); // TaskScheduled, TaskStarted
        this.measure(run, input, state.name, "effective input (after Parameters)");
        result = state.kind === "callback" ? await this.callback(run, state, input) : await this.s3Put(input, stats);
        this.events(run, 1); // TaskSucceeded
        this.measure(run, result, state.name, "task result");
      }
    } catch (error) {
      if (error instanceof LimitExceededError) throw error;
      if (run.stopped) throw run.record.history.exceeded ?? error;
      this.events(run, 1); // TaskFailed | TaskTimedOut | MapRunFailed
      const e = error as Error;
      stats.errors[e.name] = (stats.errors[e.name] ?? 0) + 1;
      throw error;
    }
    stats.succeeded++;
    return result;
  }

  private async s3Put(input: Json, stats: TaskStats): Promise<Json> {
    // Step Functions serializes a JSON Body to text, as here.
    const body = typeof input?.Body === "string" ? input.Body : JSON.stringify(input?.Body);
    try {
      await this.options.s3.putObject(String(input?.Bucket), String(input?.Key), body, input?.ContentType);
    } catch (error) {
      // The AWS SDK integration names errors after the service: S3.<ExceptionName>.
      throw taskError(`S3.${(error as Error).name || "S3Exception"}`, (error as Error).message);
    }
    return { ETag: `"local-${stats.calls}"` };
  }

  /** One attempt of a `.waitForTaskToken` SQS task. */
  private callback(run: RunningExecution, state: TaskStateInfo, input: Json): Promise<Json> {
    const token = `AQ${randomUUID().replace(/-/g, "")}${randomUUID().replace(/-/g, "")}`;
    const queue = this.options.queueByUrl(String(input?.QueueUrl));
    if (!queue) return Promise.reject(taskError("SQS.AmazonSQSException", `The specified queue does not exist: ${String(input?.QueueUrl)} (Service: Sqs, Status Code: 400, Error Code: AWS.SimpleQueueService.NonExistentQueue)`));
    const body = withToken(input?.MessageBody, token);
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const scale = this.options.timeScale;
    return new Promise<Json>((resolve, reject) => {
      let heartbeatTimer: NodeJS.Timeout | undefined;
      let timeoutTimer: NodeJS.Timeout | undefined;
      let open = true;
      const close = () => {
        if (!open) return;
        open = false;
        this.openTasks--;
        clearTimeout(heartbeatTimer);
        clearTimeout(timeoutTimer);
        run.tokens.delete(token);
        this.options.tokens.closeTask(token);
      };
      const fail = (name: string, cause: string) => {
        if (!open) return;
        close();
        reject(taskError(name, cause));
      };
      const heartbeatMs = state.heartbeatSeconds === undefined ? undefined : state.heartbeatSeconds * 1000 * scale;
      const armHeartbeat = () => {
        if (heartbeatMs === undefined) return;
        clearTimeout(heartbeatTimer);
        heartbeatTimer = setTimeout(() => fail("States.HeartbeatTimeout", `no heartbeat within HeartbeatSeconds ${state.heartbeatSeconds} (local ${Math.round(heartbeatMs)} ms)`), heartbeatMs);
      };
      this.openTasks++;
      // The execution ended first (stopped by a limit or its map run): the token closes with it, and the
      // attempt settles so nothing (the interpreter's own task timer) waits on it.
      run.tokens.set(token, () => fail("States.Runtime", "the execution ended before the task was answered"));
      this.options.tokens.registerTask(token, {
        success: (output) => {
          if (!open) return;
          let parsed: Json = output;
          if (typeof output === "string") {
            try {
              parsed = JSON.parse(output);
            } catch {
              return fail("States.Runtime", "SendTaskSuccess output is not JSON");
            }
          }
          close();
          resolve(parsed);
        },
        failure: (error, cause) => fail(error || "States.TaskFailed", cause ?? ""),
        heartbeat: () => {
          if (open) armHeartbeat();
        },
      });
      if (state.timeoutSeconds !== undefined) {
        timeoutTimer = setTimeout(() => fail("States.Timeout", `no answer within TimeoutSeconds ${state.timeoutSeconds} (local ${Math.round((state.timeoutSeconds as number) * 1000 * scale)} ms)`), state.timeoutSeconds * 1000 * scale);
      }
      let intercepted = false;
      try {
        intercepted = this.options.interceptTask?.({ execution: run.record, state: state.name, queue: queue.name, token, body }) ?? false;
        if (!intercepted) queue.send(text);
      } catch (error) {
        // SendMessage itself failed (e.g. over the queue's maximum message size): TaskFailed, not submitted.
        return fail("SQS.AmazonSQSException", `${(error as Error).name}: ${(error as Error).message}`);
      }
      try {
        this.events(run, 1); // TaskSubmitted
      } catch (error) {
        close();
        return reject(error);
      }
      armHeartbeat();
    });
  }

  /** One map run of a rewritten Distributed Map: each item a child execution. */
  private async mapRun(run: RunningExecution, state: TaskStateInfo, input: Json): Promise<Json> {
    const map = run.plan.maps.get(state.name);
    if (!map) throw new Error(`no Distributed Map plan for ${state.name}`);
    const host: MapRunHost = {
      getObject: (bucket, key) => this.options.s3.getObject(bucket, key),
      putObject: (bucket, key, body, contentType) => this.options.s3.putObject(bucket, key, body, contentType),
      startChild: (info, index, childInput) => this.startChild(run, map.child, info, index, childInput),
    };
    const context = {
      Execution: { Id: run.record.arn, Name: run.record.name, Input: run.record.input, StartTime: new Date(run.record.startedAt).toISOString() },
      StateMachine: { Id: run.plan.arn },
    };
    return map.runner.run(input, { executionArn: run.record.arn, stateMachineArn: run.plan.arn, context }, host, {
      signal: run.stop.signal,
      onStats: (s) => this.mapRuns.push(s),
    });
  }

  private startChild(parent: RunningExecution, plan: MachinePlan, info: MapRunInfo, index: number, input: Json): { outcome: Promise<ChildOutcome>; abort(): void } {
    const name = `${info.mapRunId}:${index}`;
    const record = this.newRecord({ name, arn: `${info.childArnPrefix}:${index}`, kind: "child", input, parent: parent.record.name, index });
    const stop = new AbortController();
    this.children.started++;
    const outcome = this.execute(record, plan, stop.signal).then((): ChildOutcome => {
      const c = this.children;
      const shown = `${parent.record.name} ${info.spec.label} ${index}`;
      if (record.history.largest.bytes > c.largestPayload.bytes) c.largestPayload = { ...record.history.largest, execution: shown };
      if (record.history.events > c.mostHistoryEvents.events) c.mostHistoryEvents = { events: record.history.events, execution: shown };
      if (record.status === "SUCCEEDED") c.succeeded++;
      else if (record.status === "ABORTED") c.aborted++;
      else {
        c.failed++;
        const name = record.errorName ?? "unknown";
        c.failedByError[name] = (c.failedByError[name] ?? 0) + 1;
        if (record.limitExceeded) c.limitFailures[record.limitExceeded] = (c.limitFailures[record.limitExceeded] ?? 0) + 1;
      }
      return {
        name: record.name,
        arn: record.arn,
        status: record.status === "SUCCEEDED" ? "SUCCEEDED" : record.status === "ABORTED" ? "ABORTED" : "FAILED",
        input,
        output: record.output,
        error: record.errorName,
        cause: record.cause,
        startedAt: record.startedAt,
        endedAt: record.endedAt ?? Date.now(),
      };
    });
    return { outcome, abort: () => stop.abort() };
  }
}

/** Step Functions' MaxAttempts when a retrier names none. */
const DEFAULT_MAX_ATTEMPTS = 3;

/** A state's retriers with their waits multiplied by `scale` (IntervalSeconds defaults to 1, as in AWS). */
function scaleRetriers(retry: readonly Retrier[], scale: number): Retrier[] {
  return retry.map((r) => ({
    ...r,
    IntervalSeconds: (r.IntervalSeconds ?? 1) * scale,
    ...(r.MaxDelaySeconds !== undefined ? { MaxDelaySeconds: r.MaxDelaySeconds * scale } : {}),
  }));
}

/** The message body with each placeholder token replaced by this attempt's token. */
function withToken(value: Json, token: string): Json {
  if (value === TASK_TOKEN_PLACEHOLDER) return token;
  if (typeof value === "string") return value.split(TASK_TOKEN_PLACEHOLDER).join(token);
  if (Array.isArray(value)) return value.map((v) => withToken(v, token));
  if (value && typeof value === "object") {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) out[k] = withToken(v, token);
    return out;
  }
  return value;
}

/** ExecutionError wraps the state's error as `cause`. */
function unwrap(error: unknown): { name: string; message: string } {
  const e = error as { name?: string; message?: string; cause?: { name?: string; message?: string } };
  if (e?.name === "ExecutionError" && e.cause?.name) return { name: e.cause.name, message: e.cause.message ?? "" };
  return { name: e?.name ?? "Error", message: e?.message ?? String(error) };
}
