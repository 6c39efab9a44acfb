/**
 * Typed Amazon States Language: the subset this project's definition uses.
 * The definition is built from these objects, never from a hand-edited string.
 */

export interface Retrier {
  readonly ErrorEquals: readonly string[];
  readonly IntervalSeconds?: number;
  readonly MaxAttempts?: number;
  readonly BackoffRate?: number;
  readonly MaxDelaySeconds?: number;
  readonly JitterStrategy?: "FULL" | "NONE";
}

export interface Catcher {
  readonly ErrorEquals: readonly string[];
  readonly ResultPath?: string | null;
  readonly Next: string;
}

/** A state either names its successor or ends its branch. */
type Transition = { readonly Next: string; readonly End?: never } | { readonly End: true; readonly Next?: never };

export type TaskState = Transition & {
  readonly Type: "Task";
  readonly Comment?: string;
  readonly Resource: string;
  readonly Parameters?: Record<string, unknown>;
  readonly ResultSelector?: Record<string, unknown>;
  readonly ResultPath?: string | null;
  readonly TimeoutSeconds?: number;
  /** With `.waitForTaskToken`: the longest gap between the worker's heartbeats (< TimeoutSeconds). */
  readonly HeartbeatSeconds?: number;
  readonly Retry?: readonly Retrier[];
  readonly Catch?: readonly Catcher[];
};

export type PassState = Transition & {
  readonly Type: "Pass";
  readonly Comment?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly ResultPath?: string | null;
  readonly OutputPath?: string | null;
};

/** A Distributed Map: items read from S3, each processed by a child execution of its own. */
export type MapState = Transition & {
  readonly Type: "Map";
  readonly Comment?: string;
  /** Where the items come from (an S3 object), so they never enter the state. */
  readonly ItemReader: {
    readonly Resource: "arn:aws:states:::s3:getObject";
    readonly ReaderConfig: { readonly InputType: "JSON"; readonly MaxItems?: number };
    readonly Parameters: Record<string, unknown>;
  };
  readonly ItemSelector?: Record<string, unknown>;
  /** Finite: 0 would mean unlimited, which the budget refuses. */
  readonly MaxConcurrency: number;
  readonly ToleratedFailurePercentage?: number;
  readonly Label?: string;
  readonly ItemProcessor: {
    readonly ProcessorConfig: { readonly Mode: "DISTRIBUTED"; readonly ExecutionType: "STANDARD" };
    readonly StartAt: string;
    readonly States: Record<string, State>;
  };
  /** Child outputs go to S3; the Map's own output is a small pointer to them. */
  readonly ResultWriter: {
    readonly Resource: "arn:aws:states:::s3:putObject";
    readonly Parameters: Record<string, unknown>;
  };
  readonly ResultPath?: string | null;
  readonly Retry?: readonly Retrier[];
  readonly Catch?: readonly Catcher[];
};

/** Ends the execution as failed (the ExecutionsFailed alarm watches for it). */
export interface FailState {
  readonly Type: "Fail";
  readonly Comment?: string;
  readonly Error: string;
  readonly Cause: string;
}

export type State = TaskState | PassState | MapState | FailState;

export interface StateMachineDefinition {
  readonly Comment?: string;
  readonly StartAt: string;
  readonly TimeoutSeconds?: number;
  readonly States: Record<string, State>;
}
