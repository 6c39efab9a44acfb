/**
 * Distributed Map for aws-local-stepfunctions, which runs only inline Maps (no
 * ItemReader, no ResultWriter, no child executions).
 *
 * `rewriteDistributedMaps` replaces each `ProcessorConfig.Mode: DISTRIBUTED`
 * Map of a machine with a Task state (Resource `LOCAL_MAP_RUN`) that keeps the
 * Map's InputPath, ResultSelector, ResultPath, OutputPath, Retry, Catch and
 * transition, so the interpreter still applies the definition's own Retry (for
 * States.ItemReaderFailed, …) and Catch to the map run. The runner gives that
 * Task a local handler that calls `runMapRun`, which does what Step Functions
 * does for a map run:
 *
 *  1. ItemReader: evaluates its Parameters against the state input, reads the
 *     object (`s3:getObject`, ReaderConfig InputType JSON: a JSON array;
 *     MaxItems honoured) — any failure is `States.ItemReaderFailed`;
 *  2. per item, evaluates ItemSelector with `$$.Map.Item.{Index,Value}` — on the
 *     interpreter itself (a one-state Pass machine), so paths and intrinsic
 *     functions mean what they mean there;
 *  3. runs each item as a child execution of the ItemProcessor (the caller's
 *     `runChild`), at most MaxConcurrency at once (0 or absent: 10,000);
 *  4. ToleratedFailurePercentage / ToleratedFailureCount: once failed children
 *     exceed either, no more children start, the running ones are stopped and
 *     the map run fails with `States.ExceedToleratedFailureThreshold`;
 *  5. ResultWriter: writes `<Prefix>/<mapRunId>/SUCCEEDED_0.json`,
 *     `FAILED_0.json` (each only when it has entries) and `manifest.json`, laid
 *     out as AWS does — any failure is `States.ResultWriterFailed` — and returns
 *     `{ MapRunArn, ResultWriterDetails: { Bucket, Key } }` (without a
 *     ResultWriter: the array of child outputs).
 */
import { randomUUID } from "crypto";
import { StateMachine } from "aws-local-stepfunctions";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Resource of the Task a Distributed Map is rewritten into (local only; never deployed). */
export const LOCAL_MAP_RUN = "arn:aws:states:::local:distributedMapRun";

/** Errors of a map run, as Step Functions names them. */
export const MAP_RUN_ERROR = {
  itemReader: "States.ItemReaderFailed",
  resultWriter: "States.ResultWriterFailed",
  threshold: "States.ExceedToleratedFailureThreshold",
} as const;

/** AWS's bound on a Distributed Map's concurrency when MaxConcurrency is 0 or absent. */
export const DISTRIBUTED_MAX_CONCURRENCY = 10_000;

/** What a rewritten Distributed Map needs at run time. */
export interface DistributedMapSpec {
  readonly stateName: string;
  /** `Label`, or the state name. */
  readonly label: string;
  readonly itemReader: { readonly Resource: string; readonly ReaderConfig?: { readonly InputType?: string; readonly MaxItems?: number }; readonly Parameters: Json };
  readonly itemSelector?: Json;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercentage?: number;
  readonly toleratedFailureCount?: number;
  readonly resultWriter?: { readonly Resource: string; readonly Parameters: Json };
  /** The ItemProcessor as a machine of its own (ProcessorConfig removed). */
  readonly itemProcessor: Json;
  /** The Map state as written (for reports). */
  readonly original: Json;
}

/** True for a `Mode: DISTRIBUTED` Map. */
export function isDistributedMap(state: Json): boolean {
  return state?.Type === "Map" && (state.ItemProcessor?.ProcessorConfig?.Mode ?? "INLINE") === "DISTRIBUTED";
}

/**
 * The machine with each top-level Distributed Map replaced by a LOCAL_MAP_RUN
 * Task; returns the specs by state name. Inline Maps and Parallel branches are
 * left to the interpreter (a Distributed Map inside one is refused: AWS allows
 * it, this runner does not model it).
 */
export function rewriteDistributedMaps(machine: Json): { machine: Json; maps: Map<string, DistributedMapSpec> } {
  const maps = new Map<string, DistributedMapSpec>();
  const states: Record<string, Json> = {};
  for (const [name, state] of Object.entries((machine?.States ?? {}) as Record<string, Json>)) {
    if (!isDistributedMap(state)) {
      refuseNested(name, state);
      states[name] = state;
      continue;
    }
    if (!state.ItemReader) throw new Error(`Distributed Map "${name}": only an ItemReader source is modelled locally (no ItemsPath over the state input)`);
    if (state.ItemReader.Resource !== "arn:aws:states:::s3:getObject") {
      throw new Error(`Distributed Map "${name}": ItemReader ${state.ItemReader.Resource} is not modelled locally (only arn:aws:states:::s3:getObject)`);
    }
    const inputType = state.ItemReader.ReaderConfig?.InputType ?? "JSON";
    if (inputType !== "JSON") throw new Error(`Distributed Map "${name}": ReaderConfig.InputType ${inputType} is not modelled locally (only JSON)`);
    if (state.ItemBatcher) throw new Error(`Distributed Map "${name}": ItemBatcher is not modelled locally`);
    if (state.ResultWriter && state.ResultWriter.Resource !== "arn:aws:states:::s3:putObject") {
      throw new Error(`Distributed Map "${name}": ResultWriter ${state.ResultWriter.Resource} is not modelled locally`);
    }
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { ProcessorConfig, ...processor } = state.ItemProcessor;
    maps.set(name, {
      stateName: name,
      label: state.Label ?? name,
      itemReader: state.ItemReader,
      itemSelector: state.ItemSelector ?? state.Parameters,
      maxConcurrency: state.MaxConcurrency && state.MaxConcurrency > 0 ? state.MaxConcurrency : DISTRIBUTED_MAX_CONCURRENCY,
      toleratedFailurePercentage: state.ToleratedFailurePercentage,
      toleratedFailureCount: state.ToleratedFailureCount,
      resultWriter: state.ResultWriter,
      itemProcessor: processor,
      original: state,
    });
    const task: Record<string, Json> = { Type: "Task", Resource: LOCAL_MAP_RUN };
    for (const key of ["Comment", "InputPath", "ResultSelector", "ResultPath", "OutputPath", "Retry", "Catch", "Next", "End"]) {
      if (key in state) task[key] = state[key];
    }
    states[name] = task;
  }
  return { machine: { ...machine, States: states }, maps };
}

function refuseNested(name: string, state: Json): void {
  const inner: Json[] = [];
  if (state?.Type === "Map") inner.push(state.ItemProcessor ?? state.Iterator);
  if (state?.Type === "Parallel") inner.push(...(state.Branches ?? []));
  for (const machine of inner) {
    for (const [n, s] of Object.entries((machine?.States ?? {}) as Record<string, Json>)) {
      if (isDistributedMap(s)) throw new Error(`Distributed Map "${n}" inside "${name}": only top-level Distributed Maps of a machine are modelled locally`);
      refuseNested(n, s);
    }
  }
}

/**
 * A payload template (Parameters, ItemSelector, …) evaluated by the interpreter
 * itself: a one-state Pass machine, built once, run per evaluation.
 */
export class TemplateEvaluator {
  private readonly machine: StateMachine;

  constructor(template: Json) {
    this.machine = new StateMachine({ StartAt: "Evaluate", States: { Evaluate: { Type: "Pass", Parameters: template, End: true } } } as Json, {
      validationOptions: { noValidate: true },
    });
  }

  async evaluate(input: Json, context: Json): Promise<Json> {
    try {
      return await this.machine.run(input, { context } as Json).result;
    } catch (error) {
      // ExecutionError wraps the real one (States.Runtime for a path that points nowhere, …).
      const cause = (error as { cause?: Error }).cause ?? (error as Error);
      const e = new Error(cause.message);
      e.name = cause.name;
      throw e;
    }
  }
}

/** One child execution's end, as the map run records it. */
export interface ChildOutcome {
  readonly name: string;
  readonly arn: string;
  readonly status: "SUCCEEDED" | "FAILED" | "ABORTED";
  readonly input: Json;
  readonly output?: Json;
  readonly error?: string;
  readonly cause?: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface MapRunHost {
  /** The object's text (throws when it cannot be read). */
  getObject(bucket: string, key: string): Promise<string>;
  putObject(bucket: string, key: string, body: string, contentType: string): Promise<void>;
  /** Starts one child execution; `abort` stops it (its outcome is then ABORTED). */
  startChild(run: MapRunInfo, index: number, input: Json): { readonly outcome: Promise<ChildOutcome>; abort(): void };
}

export interface MapRunInfo {
  readonly mapRunId: string;
  readonly mapRunArn: string;
  /** ARN prefix of the child executions (`…:execution:<machine>/<label>:<mapRunId>`). */
  readonly childArnPrefix: string;
  readonly childStateMachineArn: string;
  readonly spec: DistributedMapSpec;
}

export interface MapRunStats {
  readonly mapRunArn: string;
  readonly items: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly aborted: number;
  /** Most child executions running at once (≤ MaxConcurrency). */
  readonly peakInFlight: number;
}

/** Map-run error with the name the definition's Retry / Catch match. */
export function mapRunError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** The evaluators of one Distributed Map (built once per state). */
export class DistributedMapRunner {
  private readonly reader: TemplateEvaluator;
  private readonly selector?: TemplateEvaluator;
  private readonly writer?: TemplateEvaluator;

  constructor(readonly spec: DistributedMapSpec) {
    this.reader = new TemplateEvaluator(spec.itemReader.Parameters ?? {});
    if (spec.itemSelector !== undefined) this.selector = new TemplateEvaluator(spec.itemSelector);
    if (spec.resultWriter) this.writer = new TemplateEvaluator(spec.resultWriter.Parameters ?? {});
  }

  /**
   * One map run. `parentArn` is the parent execution's ARN, `stateMachineArn`
   * its machine; `context` the parent's context object. Resolves with the
   * state's result; rejects with a map-run error.
   */
  async run(
    input: Json,
    parent: { readonly executionArn: string; readonly stateMachineArn: string; readonly context: Json },
    host: MapRunHost,
    options: { readonly signal?: AbortSignal; readonly onStats?: (stats: MapRunStats) => void } = {},
  ): Promise<Json> {
    const spec = this.spec;
    const mapRunId = randomUUID();
    const machineName = parent.stateMachineArn.split(":").pop() as string;
    const arnBase = parent.stateMachineArn.replace(/:stateMachine:[^:]+$/, "");
    const info: MapRunInfo = {
      mapRunId,
      mapRunArn: `${arnBase}:mapRun:${machineName}/${spec.label}:${mapRunId}`,
      childArnPrefix: `${arnBase}:execution:${machineName}/${spec.label}:${mapRunId}`,
      childStateMachineArn: `${parent.stateMachineArn}/${spec.label}`,
      spec,
    };

    // 1. The items.
    let items: Json[];
    try {
      const where = await this.reader.evaluate(input, parent.context);
      const text = await host.getObject(String(where?.Bucket), String(where?.Key));
      const parsed = JSON.parse(text);
      if (!Array.isArray(parsed)) throw new Error(`the object is JSON but not an array (${typeof parsed})`);
      const max = spec.itemReader.ReaderConfig?.MaxItems;
      items = max && max > 0 ? parsed.slice(0, max) : parsed;
    } catch (error) {
      throw mapRunError(MAP_RUN_ERROR.itemReader, `ItemReader ${spec.itemReader.Resource} failed: ${(error as Error).message}`);
    }

    // 2–4. One child execution per item, MaxConcurrency at once, within the tolerated failures.
    const outcomes: ChildOutcome[] = new Array(items.length);
    const running = new Map<number, () => void>();
    let next = 0;
    let failed = 0;
    let peak = 0;
    let exceeded = false;
    // AWS: with neither threshold set, no failure is tolerated; with both, exceeding either fails the run.
    const tolerated = (n: number): boolean => {
      const pct = spec.toleratedFailurePercentage;
      const count = spec.toleratedFailureCount;
      if (pct === undefined && count === undefined) return n === 0;
      if (count !== undefined && n > count) return false;
      if (pct !== undefined && items.length > 0 && (n / items.length) * 100 > pct) return false;
      return true;
    };
    const stopAll = () => {
      for (const abort of running.values()) abort();
    };
    options.signal?.addEventListener("abort", stopAll, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        const launch = () => {
          while (!exceeded && !options.signal?.aborted && running.size < spec.maxConcurrency && next < items.length) {
            const index = next++;
            const context = { ...parent.context, Map: { Item: { Index: index, Value: items[index] } } };
            const selected = this.selector ? this.selector.evaluate(input, context) : Promise.resolve(items[index]);
            // Reserve the slot while the selector runs.
            running.set(index, () => undefined);
            peak = Math.max(peak, running.size);
            selected
              .then((childInput) => {
                const child = host.startChild(info, index, childInput);
                running.set(index, child.abort);
                if (exceeded || options.signal?.aborted) child.abort();
                return child.outcome;
              })
              .then(
                (outcome) => {
                  outcomes[index] = outcome;
                  running.delete(index);
                  if (outcome.status !== "SUCCEEDED") failed++;
                  if (!exceeded && outcome.status === "FAILED" && !tolerated(failed)) {
                    exceeded = true;
                    stopAll();
                  }
                  if ((exceeded || options.signal?.aborted || next >= items.length) && running.size === 0) return resolve();
                  launch();
                },
                (error: unknown) => {
                  running.delete(index);
                  reject(error);
                },
              );
          }
          if (running.size === 0 && (next >= items.length || exceeded || options.signal?.aborted)) resolve();
        };
        launch();
      });
    } finally {
      options.signal?.removeEventListener("abort", stopAll);
    }
    const done = outcomes.filter(Boolean);
    options.onStats?.({
      mapRunArn: info.mapRunArn,
      items: items.length,
      succeeded: done.filter((o) => o.status === "SUCCEEDED").length,
      failed: done.filter((o) => o.status === "FAILED").length,
      aborted: done.filter((o) => o.status === "ABORTED").length,
      peakInFlight: peak,
    });
    if (options.signal?.aborted) throw mapRunError("States.Runtime", "the parent execution stopped");

    // 5. The results.
    let result: Json;
    if (this.writer && spec.resultWriter) {
      try {
        result = await this.writeResults(input, parent.context, info, done, host);
      } catch (error) {
        throw mapRunError(MAP_RUN_ERROR.resultWriter, `ResultWriter ${spec.resultWriter.Resource} failed: ${(error as Error).message}`);
      }
    } else {
      result = outcomes.map((o) => o?.output ?? null);
    }
    if (exceeded) {
      throw mapRunError(
        MAP_RUN_ERROR.threshold,
        `The specified tolerated failure threshold was exceeded: ${failed} of ${items.length} child executions failed (tolerated: ${spec.toleratedFailurePercentage ?? 0}%${spec.toleratedFailureCount !== undefined ? `, ${spec.toleratedFailureCount}` : ""}).`,
      );
    }
    return result;
  }

  private async writeResults(input: Json, context: Json, info: MapRunInfo, outcomes: ChildOutcome[], host: MapRunHost): Promise<Json> {
    const where = await (this.writer as TemplateEvaluator).evaluate(input, context);
    const bucket = String(where?.Bucket ?? "");
    if (!bucket) throw new Error("ResultWriter Parameters name no Bucket");
    const prefix = String(where?.Prefix ?? "").replace(/\/+$/, "");
    const base = prefix ? `${prefix}/${info.mapRunId}` : info.mapRunId;
    const files: Record<"SUCCEEDED" | "FAILED" | "PENDING", { Key: string; Size: number }[]> = { FAILED: [], PENDING: [], SUCCEEDED: [] };
    for (const status of ["SUCCEEDED", "FAILED"] as const) {
      const entries = outcomes.filter((o) => (status === "SUCCEEDED" ? o.status === "SUCCEEDED" : o.status !== "SUCCEEDED")).map((o) => resultEntry(o, info));
      if (entries.length === 0) continue;
      const key = `${base}/${status}_0.json`;
      const body = JSON.stringify(entries);
      await host.putObject(bucket, key, body, "application/json");
      files[status].push({ Key: key, Size: Buffer.byteLength(body) });
    }
    const manifestKey = `${base}/manifest.json`;
    await host.putObject(bucket, manifestKey, JSON.stringify({ DestinationBucket: bucket, MapRunArn: info.mapRunArn, ResultFiles: files }), "application/json");
    return { MapRunArn: info.mapRunArn, ResultWriterDetails: { Bucket: bucket, Key: manifestKey } };
  }
}

/** One entry of SUCCEEDED_0.json / FAILED_0.json, as AWS writes it. */
function resultEntry(o: ChildOutcome, info: MapRunInfo): Json {
  const entry: Json = {
    ExecutionArn: o.arn,
    Input: JSON.stringify(o.input),
    InputDetails: { Included: true },
    Name: o.name,
    RedriveCount: 0,
    RedriveStatus: o.status === "SUCCEEDED" ? "NOT_REDRIVABLE" : "REDRIVABLE",
    RedriveStatusReason: o.status === "SUCCEEDED" ? "Execution is SUCCEEDED and cannot be redriven" : "",
    StartDate: new Date(o.startedAt).toISOString(),
    StateMachineArn: info.childStateMachineArn,
    Status: o.status,
    StopDate: new Date(o.endedAt).toISOString(),
  };
  if (o.status === "SUCCEEDED") {
    entry.Output = JSON.stringify(o.output ?? null);
    entry.OutputDetails = { Included: true };
  } else {
    entry.Error = o.error ?? "";
    entry.Cause = o.cause ?? "";
  }
  return entry;
}
