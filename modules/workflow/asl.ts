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
  readonly Retry?: readonly Retrier[];
  readonly Catch?: readonly Catcher[];
};

export type PassState = Transition & {
  readonly Type: "Pass";
  readonly Comment?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly ResultPath?: string | null;
};

export type MapState = Transition & {
  readonly Type: "Map";
  readonly Comment?: string;
  readonly ItemsPath: string;
  readonly ItemSelector?: Record<string, unknown>;
  /** Finite: 0 would mean unlimited, which the budget refuses. */
  readonly MaxConcurrency: number;
  readonly ItemProcessor: {
    readonly ProcessorConfig: { readonly Mode: "INLINE" };
    readonly StartAt: string;
    readonly States: Record<string, State>;
  };
  readonly ResultPath?: string | null;
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
