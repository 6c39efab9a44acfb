/**
 * Configuration of a work-queue worker (fetcher, processor): how often it must
 * heartbeat its task token and how many receives its queue allows before the
 * DLQ. Both are set by the stack from the same values the state machine and the
 * queue use, so neither has a default here.
 */
import * as z from "zod/mini";
import { ENV } from "../../contract";
import { integers, parseEnv, type Env, type ParsedEnv } from "./env";

export interface WorkerConfig {
  /** The task state's HeartbeatSeconds: the worker heartbeats every min(this / 3, 60) s. */
  readonly taskHeartbeatSeconds: number;
  /** maxReceiveCount of the work queue's redrive policy. */
  readonly workQueueMaxReceiveCount: number;
}

/** The variables of WorkerConfig, for the workers' environment schemas. */
export const WORKER_ENV = {
  ...integers("taskHeartbeatSeconds", "workQueueMaxReceiveCount"),
};

export function workerConfig(e: ParsedEnv<typeof WORKER_ENV>): WorkerConfig {
  return { taskHeartbeatSeconds: e[ENV.taskHeartbeatSeconds], workQueueMaxReceiveCount: e[ENV.workQueueMaxReceiveCount] };
}

const WORKER_SCHEMA = z.object(WORKER_ENV);

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  return workerConfig(parseEnv(WORKER_SCHEMA, env));
}

/** Milliseconds between two heartbeats: a third of HeartbeatSeconds, at most a minute. */
export function heartbeatIntervalMs(config: Pick<WorkerConfig, "taskHeartbeatSeconds">): number {
  return Math.min((config.taskHeartbeatSeconds * 1000) / 3, 60_000);
}
