/**
 * Shared pieces of the function integration tests: a private copy of a bundle
 * (so a rebuild by another test worker cannot swap the file under a running
 * child), the child's environment (loopback endpoints, dummy credentials, no
 * access to the developer's AWS config), a parent-side S3 client for
 * arranging and checking objects, and task messages whose tokens the loopback
 * Step Functions endpoint knows, so a worker's answer can be checked.
 */
import * as path from "path";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { bundleFunction } from "../../modules/bundle";
import { budgetVariables, type FunctionKey } from "../../modules/config/budget";
import { projectConfig } from "../../modules/config/environments";
import type { InvokeResult, LambdaChild } from "../../scripts/lib/lambda-child";
import { loopbackAwsEnv } from "../../scripts/lib/loopback-env";
import { listAllKeys } from "../../scripts/lib/loopback-s3";
import type { SfnEndpoint } from "../../scripts/lib/sfn-endpoint";
import { sqsEvent, taskRecord, taskToken } from "./lambda-events";

export const BUCKET = "work-bucket";
/**
 * The dev environment's budget. A bundle here gets the variables synth derives
 * from it (`budgetVariables`, the same function PipelineFunction deploys), so it
 * runs with its deployed bounds, not a test's own.
 */
const DEV_BUDGET = (() => {
  const dev = projectConfig.environments.find((e) => e.name === "dev");
  if (!dev) throw new Error("no dev environment in projectConfig");
  return dev.budget;
})();

/** The fd bound of the integration tests: peak open fds ≤ the function's deployed MAX_SOCKETS + 40. */
export function fdLimit(fn: FunctionKey): number {
  return DEV_BUDGET[fn].maxSockets + 40;
}

/** The bundle's index.js (built if missing; bundles are written atomically, so a concurrent rebuild is safe). */
export function bundlePath(name: string): string {
  return path.join(bundleFunction(name).dir, "index.js");
}

/** Environment of a child running function `fn`'s bundle against loopback servers, with its deployed bounds. */
export function childEnv(fn: FunctionKey, endpoints: { s3: string; sfn?: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...loopbackAwsEnv(endpoints),
    POWERTOOLS_LOG_LEVEL: "WARN",
    WORK_BUCKET: BUCKET,
    ...budgetVariables(DEV_BUDGET[fn]),
    ...extra,
  };
}


export async function putText(s3: S3Client, key: string, body: string | Buffer, contentType = "text/plain"): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: contentType }));
}

export async function getBytes(s3: S3Client, key: string): Promise<Buffer | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  } catch (error) {
    if ((error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

export async function getJson<T = Record<string, unknown>>(s3: S3Client, key: string): Promise<T | undefined> {
  const bytes = await getBytes(s3, key);
  return bytes && (JSON.parse(bytes.toString("utf8")) as T);
}

/** Every key (and size) under a prefix of the test bucket. */
export function listKeys(s3: S3Client, prefix: string): Promise<{ key: string; size: number }[]> {
  return listAllKeys(s3, BUCKET, prefix);
}

/** The work-queue settings of a worker child (fetcher, processor): a heartbeat every second, 3 receives. */
export const WORKER_ENV = { TASK_HEARTBEAT_SECONDS: "3", WORK_QUEUE_MAX_RECEIVE_COUNT: "3" } as const;
export const MAX_RECEIVES = Number(WORKER_ENV.WORK_QUEUE_MAX_RECEIVE_COUNT);

/** How a worker answered a task token at the loopback Step Functions endpoint. */
export type TaskAnswer = { readonly kind: "success"; readonly output: unknown } | { readonly kind: "failure"; readonly error: string; readonly cause: string };

export interface TaskRun {
  readonly token: string;
  /** What the child's handler returned (the partial batch response) or its error. */
  readonly response: InvokeResult<{ batchItemFailures: { itemIdentifier: string }[] }>;
  /** The answer the endpoint received for the token, if any. */
  readonly answer: TaskAnswer | undefined;
  readonly heartbeats: number;
  readonly messageId: string;
}

/**
 * Sends one task message (`{ taskToken, input }`, on its `receiveCount`-th
 * receive) to a worker child whose SFN client points at `sfn`, and records how
 * the token was answered. `open: false` registers the token closed (a stale or
 * duplicate delivery).
 */
export async function runTask(
  child: LambdaChild,
  sfn: SfnEndpoint,
  input: unknown,
  options: { receiveCount?: number; open?: boolean; token?: string } = {},
): Promise<TaskRun> {
  const token = options.token ?? taskToken("it");
  let answer: TaskAnswer | undefined;
  let heartbeats = 0;
  sfn.registerTask(token, {
    success: (output) => void (answer = { kind: "success", output: JSON.parse(output) }),
    failure: (error, cause) => void (answer = { kind: "failure", error, cause }),
    heartbeat: () => void heartbeats++,
  });
  if (options.open === false) sfn.closeTask(token);
  const record = taskRecord(input, { token, receiveCount: options.receiveCount ?? 1 });
  const response = await child.invoke<{ batchItemFailures: { itemIdentifier: string }[] }>(sqsEvent(record));
  return { token, response, answer, heartbeats, messageId: record.messageId };
}

/** A task run as the old direct invoke looked: `{ ok, result }` for a success, `{ ok: false, error: { name, message } }` for a failure. */
export function asOutcome(run: TaskRun): { ok: true; result: unknown } | { ok: false; error: { name: string; message: string } } | { pending: string } {
  if (run.answer?.kind === "success") return { ok: true, result: run.answer.output };
  if (run.answer?.kind === "failure") return { ok: false, error: { name: run.answer.error, message: run.answer.cause } };
  return { pending: `no answer; handler returned ${JSON.stringify(run.response)}` };
}
