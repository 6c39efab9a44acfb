/**
 * Step Functions' limits on one execution, counted and enforced as AWS does, for
 * the local runner (aws-local-stepfunctions enforces neither):
 *
 *  - every state's input and output, and the execution's input and output, are
 *    at most 256 KiB of UTF-8 JSON (SFN_MAX_PAYLOAD_BYTES); beyond it the
 *    execution fails with `States.DataLimitExceeded`, which no Catch takes;
 *  - a STANDARD execution's history holds at most 25,000 events
 *    (SFN_MAX_HISTORY_EVENTS); AWS writes event 25,000 as the ExecutionFailed
 *    event (`States.Runtime`, "The execution reached the maximum number of
 *    history events (25000).").
 *
 * `HISTORY_EVENTS` (modules/workflow/history.ts) is the one table of what adds events to a history; the
 * interpreter's event log and the runner's task handlers report into a
 * `HistoryCounter` through it.
 */
import { SFN_MAX_HISTORY_EVENTS, SFN_MAX_PAYLOAD_BYTES } from "../../contract";

/** The one table of what adds history events (budget rule 11 counts with it too). */
export { HISTORY_EVENTS } from "../../modules/workflow/history";

/** The error of a state whose input or output is over the payload limit (uncatchable). */
export const DATA_LIMIT_ERROR = "States.DataLimitExceeded";
/** The error of an execution whose history reached the event limit (uncatchable). */
export const HISTORY_LIMIT_ERROR = "States.Runtime";

export interface ExecutionLimits {
  /** @default SFN_MAX_PAYLOAD_BYTES (256 KiB) */
  readonly maxPayloadBytes: number;
  /** @default SFN_MAX_HISTORY_EVENTS (25,000) */
  readonly maxHistoryEvents: number;
}

export const AWS_LIMITS: ExecutionLimits = { maxPayloadBytes: SFN_MAX_PAYLOAD_BYTES, maxHistoryEvents: SFN_MAX_HISTORY_EVENTS };

/** UTF-8 bytes of a value's JSON, as Step Functions measures a payload. */
export function payloadBytes(value: unknown): number {
  if (value === undefined) return 0;
  return Buffer.byteLength(JSON.stringify(value) ?? "null", "utf8");
}

/** An execution ended by one of AWS's limits. */
export class LimitExceededError extends Error {
  /** aws-local-stepfunctions reads these: neither a Retry nor a Catch may take it. */
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(name: typeof DATA_LIMIT_ERROR | typeof HISTORY_LIMIT_ERROR, message: string) {
    super(message);
    this.name = name;
  }
}

export interface LargestPayload {
  readonly bytes: number;
  /** The state (or "(execution input)" / "(execution output)"). */
  readonly state: string;
  /** What was measured: input, effective input (after Parameters), task result, output. */
  readonly what: string;
}

/**
 * One execution's history count and largest payload. `add` and `payload`
 * return a LimitExceededError the first time a limit is crossed (and keep it in
 * `exceeded`); the caller fails the execution with it.
 */
export class HistoryCounter {
  private count = 0;
  private largestPayload: LargestPayload = { bytes: 0, state: "", what: "" };
  exceeded?: LimitExceededError;

  constructor(private readonly limits: ExecutionLimits = AWS_LIMITS) {}

  get events(): number {
    return this.count;
  }

  get largest(): LargestPayload {
    return this.largestPayload;
  }

  /**
   * Adds `n` non-final events. As in AWS, the history never holds more than the
   * limit: the event that would be number `maxHistoryEvents` becomes the
   * ExecutionFailed event instead (so at most limit − 1 events before it).
   */
  add(n: number): LimitExceededError | undefined {
    if (this.exceeded?.name === HISTORY_LIMIT_ERROR) return undefined;
    const room = this.limits.maxHistoryEvents - 1 - this.count;
    if (n <= room) {
      this.count += n;
      return undefined;
    }
    this.count += Math.max(0, room);
    return this.trip(
      new LimitExceededError(HISTORY_LIMIT_ERROR, `The execution reached the maximum number of history events (${this.limits.maxHistoryEvents}).`),
    );
  }

  /** The execution's last event (ExecutionSucceeded / Failed / Aborted / TimedOut). */
  end(): void {
    this.count = Math.min(this.count + 1, this.limits.maxHistoryEvents);
  }

  /** Measures one payload; returns the error when it is over the limit. */
  payload(value: unknown, state: string, what: string): LimitExceededError | undefined {
    const bytes = payloadBytes(value);
    if (bytes > this.largestPayload.bytes) this.largestPayload = { bytes, state, what };
    if (bytes <= this.limits.maxPayloadBytes || this.exceeded) return undefined;
    return this.trip(
      new LimitExceededError(
        DATA_LIMIT_ERROR,
        `The state/task '${state}' ${what} has a size of ${bytes} bytes, over the maximum of ${this.limits.maxPayloadBytes} bytes (${this.limits.maxPayloadBytes / 1024} KiB).`,
      ),
    );
  }

  private trip(error: LimitExceededError): LimitExceededError | undefined {
    if (this.exceeded) return undefined;
    this.exceeded = error;
    return error;
  }
}

/** Events a state's entry adds: <Type>StateEntered (+ MapStateStarted / ParallelStateStarted for an inline Map / a Parallel). */
export function stateEnteredEvents(type: string): number {
  return type === "Map" || type === "Parallel" ? 2 : 1;
}

/** Events a state's exit adds: <Type>StateExited (+ MapStateSucceeded / ParallelStateSucceeded). */
export function stateExitedEvents(type: string): number {
  return type === "Map" || type === "Parallel" ? 2 : 1;
}
