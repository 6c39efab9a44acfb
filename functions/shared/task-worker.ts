/**
 * The work-queue consumer of the fetcher and the processor. The state machine
 * puts each task on the worker's queue (`sqs:sendMessage.waitForTaskToken`) as
 * `{ taskToken, input }`; the queue's event source mapping admits messages no
 * faster than the worker's reserved concurrency, and the worker answers the
 * token with SendTaskSuccess or SendTaskFailure.
 *
 * Per record, one after another:
 * - a body with no usable task token cannot be answered: it is logged as an
 *   error and listed in `batchItemFailures`, so it ends in the DLQ (alarmed);
 * - a first SendTaskHeartbeat, before any work: a closed token (`TaskTimedOut`,
 *   `TaskDoesNotExist`, `InvalidToken`) means a duplicate or stale delivery, so
 *   the work is skipped and the message acknowledged (metric TaskTokenClosed);
 * - while the work runs, a heartbeat every min(TASK_HEARTBEAT_SECONDS / 3, 60) s;
 * - success → SendTaskSuccess with the JSON output; a transient error before the
 *   queue's last receive → `batchItemFailures` (SQS redelivers after the
 *   visibility timeout); any other error, or a transient one on the last receive
 *   → SendTaskFailure with the error's name and message;
 * - an answer refused because the token is closed is a duplicate delivery
 *   (acknowledged); an answer that fails transiently goes back to the queue (the
 *   work is idempotent and is redone).
 */
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, type SFNClient } from "@aws-sdk/client-sfn";
import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, type Metrics } from "@aws-lambda-powertools/metrics";
import * as z from "zod/mini";
import { ERRORS, METRICS, SFN_MAX_ERROR_CHARS, TASK_CAUSE_MAX_CHARS } from "../../contract";
import { describeError, InvalidInputError } from "./errors";
import { isTransientError } from "./transient";
import { describeIssues } from "./validation";
import { heartbeatIntervalMs, type WorkerConfig } from "./worker-config";

/** The parts of an SQS record the worker uses (Lambda sends `attributes.ApproximateReceiveCount` as a string). */
export interface WorkQueueRecord {
  readonly messageId: string;
  readonly body: string;
  readonly attributes?: { readonly ApproximateReceiveCount?: string };
}

export interface WorkQueueEvent {
  readonly Records: readonly WorkQueueRecord[];
}

export interface BatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface TaskWorkerDeps {
  readonly sfn: SFNClient;
  readonly config: WorkerConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** The worker's own logic: the task's input in, its output out (thrown errors become the task's failure). */
export type TaskRun = (input: unknown) => Promise<unknown>;

export type TaskOutcome =
  /** SendTaskSuccess was accepted. */
  | { readonly status: "succeeded" }
  /** SendTaskFailure was accepted. */
  | { readonly status: "failed"; readonly error: string }
  /** The token was already closed (duplicate or stale delivery): acknowledged. */
  | { readonly status: "closed"; readonly when: "before the work" | "during the work" | "at the answer" }
  /** Listed in batchItemFailures: SQS redelivers it, or moves it to the DLQ after maxReceiveCount. */
  | { readonly status: "retry"; readonly reason: string };

/** What Step Functions answers for a token that can no longer be answered. */
export const CLOSED_TOKEN_ERRORS: ReadonlySet<string> = new Set(["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"]);

/** SendTask*'s limit on the token's length. */
const MAX_TOKEN_CHARS = 2048;

const taskMessageSchema = z.object({
  taskToken: z.string().check(z.minLength(1), z.maxLength(MAX_TOKEN_CHARS)),
  input: z.optional(z.unknown()),
});

export type ParsedTaskMessage = { ok: true; taskToken: string; input: unknown } | { ok: false; error: string };

/** Parses a work-queue body as `{ taskToken, input }`, or says why it cannot be answered. */
export function parseTaskMessage(body: string): ParsedTaskMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    return { ok: false, error: `body is not valid JSON: ${(error as Error).message}` };
  }
  const result = taskMessageSchema.safeParse(parsed);
  if (!result.success) return { ok: false, error: `body is not a task message: ${describeIssues(result.error.issues, "(body)")}` };
  return { ok: true, taskToken: result.data.taskToken, input: result.data.input };
}

export function isClosedTokenError(error: unknown): boolean {
  return CLOSED_TOKEN_ERRORS.has((error as { name?: string } | null)?.name ?? "");
}

/** A worker error is transient when it is one of ERRORS.transient or an SDK/network error worth a retry. */
export function isTransientTaskError(error: unknown): boolean {
  return (ERRORS.transient as readonly string[]).includes(errorName(error)) || isTransientError(error);
}

/** `text` cut to at most `max` characters (an ellipsis marks the cut), `suffix` kept whole at the end. */
export function cutText(text: string, max: number, suffix = ""): string {
  if (text.length + suffix.length <= max) return text + suffix;
  const room = Math.max(0, max - suffix.length - 1);
  return `${text.slice(0, room)}…${suffix}`.slice(0, max);
}

function errorName(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === "string" && name.trim() ? name : "Error";
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Receive number of this delivery and whether it is the queue's last before the DLQ. */
export function receiveOf(record: WorkQueueRecord, config: WorkerConfig): { count: number | undefined; last: boolean } {
  const raw = record.attributes?.ApproximateReceiveCount;
  const count = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
  // Unknown count: treat it as the last receive, so a failure is reported rather than left to the DLQ.
  return { count, last: count === undefined || count >= config.workQueueMaxReceiveCount };
}

/** The SendTaskFailure fields for an error: its name (≤ 256 chars) and its message (≤ TASK_CAUSE_MAX_CHARS). */
export function failureFields(error: unknown, note = ""): { error: string; cause: string } {
  return {
    error: errorName(error).slice(0, SFN_MAX_ERROR_CHARS),
    cause: cutText(errorMessage(error), TASK_CAUSE_MAX_CHARS, note),
  };
}

export async function handleTaskBatch(event: WorkQueueEvent, deps: TaskWorkerDeps, run: TaskRun): Promise<BatchResponse> {
  if (!event || !Array.isArray(event.Records)) throw new InvalidInputError("event has no Records array");
  const counts = { succeeded: 0, failed: 0, closed: 0, retry: 0 };
  const batchItemFailures: BatchResponse["batchItemFailures"] = [];
  // One after another: the mappings use batch size 1, and the worker's own bound (TASK_CONCURRENCY) is inside `run`.
  for (const record of event.Records) {
    const outcome = await handleTaskRecord(record, deps, run).catch(
      (error: unknown): TaskOutcome => {
        deps.logger.error("unexpected worker error: record handed back to SQS", { messageId: record.messageId, error: describeError(error) });
        return { status: "retry", reason: describeError(error) };
      },
    );
    deps.logger.resetKeys();
    counts[outcome.status]++;
    if (outcome.status === "retry") batchItemFailures.push({ itemIdentifier: record.messageId });
  }
  deps.metrics.addMetric(METRICS.taskTokenClosed, MetricUnit.Count, counts.closed);
  deps.logger.info("batch done", { records: event.Records.length, ...counts });
  return { batchItemFailures };
}

export async function handleTaskRecord(record: WorkQueueRecord, deps: TaskWorkerDeps, run: TaskRun): Promise<TaskOutcome> {
  const { logger } = deps;
  const message = parseTaskMessage(record.body);
  if (!message.ok) {
    logger.error("work-queue message cannot be answered (no usable task token): handed back to SQS, it ends in the DLQ", {
      messageId: record.messageId,
      error: message.error,
    });
    return { status: "retry", reason: message.error };
  }
  const { taskToken, input } = message;
  const receive = receiveOf(record, deps.config);
  logger.appendKeys({ messageId: record.messageId, receiveCount: receive.count });

  // Before any work: is the token still open? A closed one is a duplicate or stale delivery.
  try {
    if ((await heartbeat(taskToken, deps)) === "closed") return closed("before the work", deps);
  } catch (error) {
    // Not known to be open: no work without an answerable token. SQS redelivers it (or, after maxReceiveCount, the DLQ holds it).
    const transient = isTransientError(error);
    logger[transient ? "warn" : "error"]("first heartbeat failed: handed back to SQS", { error: describeError(error), transient });
    return { status: "retry", reason: describeError(error) };
  }

  const ticker = startHeartbeats(taskToken, deps);
  let answer: { output: string } | { error: string; cause: string };
  try {
    answer = { output: JSON.stringify((await run(input)) ?? {}) };
  } catch (error) {
    if (ticker.closed()) return closed("during the work", deps);
    const transient = isTransientTaskError(error);
    if (transient && !receive.last) {
      logger.warn("transient failure: handed back to SQS for a redelivery", {
        error: describeError(error),
        receive: receive.count,
        maxReceiveCount: deps.config.workQueueMaxReceiveCount,
      });
      return { status: "retry", reason: describeError(error) };
    }
    const note = !transient
      ? ""
      : receive.count === undefined
        ? " (transient, receive count unknown)"
        : ` (transient, last of ${deps.config.workQueueMaxReceiveCount} receives)`;
    answer = failureFields(error, note);
    logger.warn("task failed", { error: describeError(error), transient, receive: receive.count });
  } finally {
    await ticker.stop();
  }
  if (ticker.closed()) return closed("during the work", deps);

  try {
    if ("output" in answer) await deps.sfn.send(new SendTaskSuccessCommand({ taskToken, output: answer.output }));
    else await deps.sfn.send(new SendTaskFailureCommand({ taskToken, ...answer }));
  } catch (error) {
    if (isClosedTokenError(error)) return closed("at the answer", deps);
    const transient = isTransientError(error);
    // Not answered: the work is idempotent and is redone on the redelivery (or the message ends in the DLQ).
    logger[transient ? "warn" : "error"]("answering the task token failed: handed back to SQS", {
      error: describeError(error),
      transient,
    });
    return { status: "retry", reason: describeError(error) };
  }
  return "output" in answer ? { status: "succeeded" } : { status: "failed", error: answer.error };
}

function closed(when: Extract<TaskOutcome, { status: "closed" }>["when"], deps: TaskWorkerDeps): TaskOutcome {
  deps.logger.info("task token already closed: duplicate or stale delivery, acknowledged", { when });
  return { status: "closed", when };
}

/** One SendTaskHeartbeat: "open", "closed" (token closed), or throws. */
async function heartbeat(taskToken: string, deps: TaskWorkerDeps): Promise<"open" | "closed"> {
  try {
    await deps.sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
    return "open";
  } catch (error) {
    if (isClosedTokenError(error)) return "closed";
    throw error;
  }
}

/** Heartbeats on an unref'd timer while the work runs; a closed token stops it. `stop` waits for one in flight. */
function startHeartbeats(taskToken: string, deps: TaskWorkerDeps): { stop(): Promise<void>; closed(): boolean } {
  let isClosed = false;
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (inFlight || isClosed) return;
    inFlight = heartbeat(taskToken, deps)
      .then((state) => {
        if (state !== "closed") return;
        isClosed = true;
        clearInterval(timer);
        deps.logger.warn("task token closed while the work ran (timed out or answered elsewhere)");
      })
      .catch((error: unknown) => deps.logger.warn("heartbeat failed; the next one may get through", { error: describeError(error) }))
      .finally(() => (inFlight = undefined));
  }, heartbeatIntervalMs(deps.config));
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
    closed: () => isClosed,
  };
}
