/**
 * Configuration of a work-queue worker (fetcher, processor): how often it must
 * heartbeat its task token and how many receives its queue allows before the
 * DLQ. Both are set by the stack from the same values the state machine and the
 * queue use, so neither has a default here.
 */
import { ENV } from "../../contract";
import { intFromEnv, type Env } from "./env";

export interface WorkerConfig {
  /** The task state's HeartbeatSeconds: the worker heartbeats every min(this / 3, 60) s. */
  readonly taskHeartbeatSeconds: number;
  /** maxReceiveCount of the work queue's redrive policy. */
  readonly workQueueMaxReceiveCount: number;
}

/** Ranges: HeartbeatSeconds as Step Functions allows it, maxReceiveCount as SQS allows it. */
export const WORKER_LIMITS = {
  taskHeartbeatSeconds: { min: 1, max: 99_999_999 },
  workQueueMaxReceiveCount: { min: 1, max: 1000 },
} as const;

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  return {
    taskHeartbeatSeconds: intFromEnv(env, ENV.taskHeartbeatSeconds, WORKER_LIMITS.taskHeartbeatSeconds),
    workQueueMaxReceiveCount: intFromEnv(env, ENV.workQueueMaxReceiveCount, WORKER_LIMITS.workQueueMaxReceiveCount),
  };
}

/** Milliseconds between two heartbeats: a third of HeartbeatSeconds, at most a minute. */
export function heartbeatIntervalMs(config: Pick<WorkerConfig, "taskHeartbeatSeconds">): number {
  return Math.min((config.taskHeartbeatSeconds * 1000) / 3, 60_000);
}
