/**
 * Execution history as AWS counts it (STANDARD workflows), in one table that
 * budget rule 11 (`maxHistoryEvents`) and `npm run local` both use, so the bound
 * checked at synth is the one the local runner measures.
 */
import type { State, StateMachineDefinition, TaskState } from "./asl";

/** History events, by what produces them (STANDARD workflows). */
export const HISTORY_EVENTS = {
  /** ExecutionStarted + ExecutionSucceeded | ExecutionFailed | ExecutionAborted | ExecutionTimedOut. */
  execution: 2,
  /** <Type>StateEntered + <Type>StateExited, for every state but Fail (a state that fails the execution has no Exited). */
  state: 2,
  /** FailStateEntered only (the execution's end is counted in `execution`). */
  failState: 1,
  /** One attempt of a callback task (`.waitForTaskToken`): TaskScheduled, TaskStarted, TaskSubmitted, TaskSucceeded | TaskFailed | TaskTimedOut. */
  callbackTaskAttempt: 4,
  /** One attempt of a request-response task (e.g. `aws-sdk:s3:putObject`): TaskScheduled, TaskStarted, TaskSucceeded | TaskFailed | TaskTimedOut. */
  requestResponseTaskAttempt: 3,
  /** A Distributed Map in its parent, per map run (each attempt): MapRunStarted + MapRunSucceeded | MapRunFailed. Its items are child executions, with histories of their own. */
  mapRun: 2,
  /** An inline Map (not in this definition; the local runner counts it): MapStateStarted + MapStateSucceeded | MapStateFailed, and per iteration MapIterationStarted + MapIterationSucceeded | MapIterationFailed. */
  inlineMap: 2,
  inlineMapIteration: 2,
  /** A Parallel state (likewise): ParallelStateStarted + ParallelStateSucceeded | ParallelStateFailed. */
  parallel: 2,
} as const;

type Machine = Pick<StateMachineDefinition, "StartAt" | "States">;

/** Events one attempt of a Task state adds. */
export function taskAttemptEvents(resource: string): number {
  return resource.endsWith(".waitForTaskToken") ? HISTORY_EVENTS.callbackTaskAttempt : HISTORY_EVENTS.requestResponseTaskAttempt;
}

/** Attempts of a state when every retrier uses all its MaxAttempts (AWS's default is 3). */
export function maxAttempts(state: { readonly Retry?: TaskState["Retry"] }): number {
  return 1 + (state.Retry ?? []).reduce((sum, r) => sum + (r.MaxAttempts ?? 3), 0);
}

/** Most events one state can add, every retrier at its maximum. */
export function stateEvents(state: State): number {
  switch (state.Type) {
    case "Fail":
      return HISTORY_EVENTS.failState;
    case "Task":
      return HISTORY_EVENTS.state + maxAttempts(state) * taskAttemptEvents(state.Resource);
    case "Map":
      // A retried map run starts a new run each attempt.
      return HISTORY_EVENTS.state + maxAttempts(state) * HISTORY_EVENTS.mapRun;
    default:
      return HISTORY_EVENTS.state;
  }
}

/**
 * The most history events one execution of `machine` can have: the longest path
 * from StartAt through Next and Catch transitions (the definition has no loops),
 * each state at its retries' maximum. A Distributed Map's items are child
 * executions with histories of their own: see `childMachines`.
 */
export function maxHistoryEvents(machine: Machine): number {
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const longest = (name: string): number => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) throw new Error(`state "${name}" is part of a loop: its history has no bound`);
    const state = machine.States[name];
    if (!state) throw new Error(`state "${name}" is not defined`);
    visiting.add(name);
    const next = [
      ...("Next" in state && state.Next ? [state.Next] : []),
      ...("Catch" in state ? (state.Catch ?? []).map((c) => c.Next) : []),
    ];
    const events = stateEvents(state) + Math.max(0, ...next.map(longest));
    visiting.delete(name);
    memo.set(name, events);
    return events;
  };
  return HISTORY_EVENTS.execution + longest(machine.StartAt);
}

/** The child machines of a definition's Distributed Map states (each item runs one). */
export function childMachines(machine: Machine): { readonly mapState: string; readonly machine: Machine }[] {
  return Object.entries(machine.States).flatMap(([name, state]) =>
    state.Type === "Map" ? [{ mapState: name, machine: state.ItemProcessor }] : [],
  );
}
