/**
 * The fanout's logic: one SQS batch in, one partial batch response out.
 *
 * Records are processed through the bounded helper (TASK_CONCURRENCY at once).
 * We do not use Powertools' BatchProcessor: it offers all-parallel (one
 * Promise.all over the whole batch, up to 10,000 records: unbounded) or
 * sequential processing, and we need a bound in between.
 *
 * Every record ends in exactly one of: started, duplicate (execution already
 * existed), rejected (written to `rejected/` and acknowledged) or retry (in
 * `batchItemFailures`, so SQS redelivers it and, after maxReceiveCount, moves it
 * to the DLQ). Nothing is dropped.
 *
 * The job's items go to S3 (`jobs/{jobId}/manifest.json`, a JSON array of
 * `{ index, url }`, written once with `IfNoneMatch: "*"`); the execution input
 * is a pointer to it, whatever the job's size.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { StartExecutionCommand, type SFNClient } from "@aws-sdk/client-sfn";
import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, type Metrics } from "@aws-lambda-powertools/metrics";
import { mapBounded } from "../shared/bounded";
import { destroyBody, readBody } from "../shared/body";
import { KEYS, MANIFEST_METADATA, METRICS } from "../../contract";
import { describeError, InvalidInputError } from "../shared/errors";
import { isTransientError } from "../shared/transient";
import type { FanoutConfig } from "./config";
import { messageSchema, parseRecord, type ParsedJob } from "./message";
import type { SqsBatchResponse, SqsEvent, SqsRecord } from "./types";

/** Most bytes read of an existing manifest (a message is at most 256 KiB; its normalised URLs are held to MAX_URL_LENGTH too). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export interface FanoutDeps {
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  readonly config: FanoutConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly schema: ReturnType<typeof messageSchema>;
}

export type RecordOutcome =
  | { readonly status: "started" | "duplicate"; readonly jobId: string }
  | { readonly status: "rejected"; readonly error: string }
  | { readonly status: "retry"; readonly error: string };

export function createSchema(config: FanoutConfig): ReturnType<typeof messageSchema> {
  return messageSchema({
    maxItems: config.maxItemsPerJob,
    allowHttp: config.allowHttp,
    maxUrlLength: config.maxUrlLength,
    exemptOrigins: config.exemptOrigins,
  });
}

export async function handleBatch(event: SqsEvent, deps: FanoutDeps): Promise<SqsBatchResponse> {
  if (!event || !Array.isArray(event.Records)) throw new InvalidInputError("event has no Records array");
  const outcomes = await mapBounded(event.Records, deps.config.taskConcurrency, (record) =>
    processRecord(record, deps).catch(
      (error: unknown): RecordOutcome => ({ status: "retry", error: describeError(error) }),
    ),
  );
  const counts = { started: 0, duplicate: 0, rejected: 0, retry: 0 };
  const batchItemFailures: SqsBatchResponse["batchItemFailures"] = [];
  outcomes.forEach((outcome, i) => {
    counts[outcome.status]++;
    if (outcome.status === "retry") batchItemFailures.push({ itemIdentifier: event.Records[i].messageId });
  });
  deps.metrics.addMetric(METRICS.executionStarted, MetricUnit.Count, counts.started);
  deps.metrics.addMetric(METRICS.duplicateDelivery, MetricUnit.Count, counts.duplicate);
  deps.metrics.addMetric(METRICS.messageRejected, MetricUnit.Count, counts.rejected);
  deps.metrics.addMetric(METRICS.recordRetried, MetricUnit.Count, counts.retry);
  deps.logger.info("batch done", { records: event.Records.length, ...counts });
  return { batchItemFailures };
}

export async function processRecord(record: SqsRecord, deps: FanoutDeps): Promise<RecordOutcome> {
  const { logger } = deps;
  const parsed = parseRecord(record, deps.schema, deps.config.workBucket);
  if (!parsed.ok) return reject(record, parsed.error, deps);
  const { job } = parsed;
  const keys = { messageId: record.messageId, jobId: job.jobId };
  try {
    const manifest = await writeManifest(record, job, deps);
    if (manifest.status === "different") return reject(record, manifest.reason, deps);
    await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.config.stateMachineArn,
        name: job.jobId,
        input: JSON.stringify(job.input),
      }),
    );
    logger.info("execution started", { ...keys, items: job.urls.length, manifest: manifest.status });
    return { status: "started", jobId: job.jobId };
  } catch (error) {
    // STANDARD workflows dedupe by name (and input): a redelivered message whose execution has finished is done.
    if ((error as Error).name === "ExecutionAlreadyExists") {
      logger.info("duplicate delivery: execution already exists", keys);
      return { status: "duplicate", jobId: job.jobId };
    }
    const reason = describeError(error);
    logger.error("record handed back to SQS for a retry", { ...keys, error: reason, transient: isTransientError(error) });
    return { status: "retry", error: reason };
  }
}

type ManifestOutcome =
  | { readonly status: "written" }
  /** The manifest was there with the same items: a redelivery (or a resend) of this job. */
  | { readonly status: "existing" }
  /** The manifest was there with other items: the jobId is reused. */
  | { readonly status: "different"; readonly reason: string };

/**
 * Writes the manifest once: `IfNoneMatch: "*"` keeps the first one (412 = it
 * exists), so the manifest always describes the execution that runs under
 * this name. On 412 the existing manifest is compared with this message's items.
 */
async function writeManifest(record: SqsRecord, job: ParsedJob, deps: FanoutDeps): Promise<ManifestOutcome> {
  const key = job.input.manifestKey;
  try {
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.config.workBucket,
        Key: key,
        Body: JSON.stringify(job.urls.map((url, index) => ({ index, url }))),
        ContentType: "application/json",
        Metadata: { [MANIFEST_METADATA.messageId]: record.messageId },
        IfNoneMatch: "*",
      }),
    );
    return { status: "written" };
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.$metadata?.httpStatusCode !== 412 && e.name !== "PreconditionFailed") throw error;
  }
  const existing = await readManifestUrls(key, deps);
  if (existing !== undefined && existing.length === job.urls.length && existing.every((url, i) => url === job.urls[i])) {
    return { status: "existing" };
  }
  return { status: "different", reason: `jobId "${job.jobId}" already names a job with different items (${key})` };
}

/** The URLs of an existing manifest, in index order; undefined when it is not a manifest. Throws (→ retry) when it cannot be read. */
async function readManifestUrls(key: string, deps: FanoutDeps): Promise<string[] | undefined> {
  const object = await deps.s3.send(new GetObjectCommand({ Bucket: deps.config.workBucket, Key: key }));
  let text: string;
  try {
    text = (await readBody(object.Body, MAX_MANIFEST_BYTES)).toString("utf8");
  } catch (error) {
    destroyBody(object.Body);
    throw error;
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(manifest)) return undefined;
  const items = manifest as { index?: unknown; url?: unknown }[];
  if (!items.every((item, i) => typeof item === "object" && item !== null && item.index === i && typeof item.url === "string")) return undefined;
  return items.map((item) => item.url as string);
}

/** Stores a bad message with its error and acknowledges it; if the store fails, SQS retries the record. */
async function reject(record: SqsRecord, error: string, deps: FanoutDeps): Promise<RecordOutcome> {
  const rejected = { messageId: record.messageId, body: record.body, error, receivedAt: new Date().toISOString() };
  try {
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.config.workBucket,
        Key: KEYS.rejected(record.messageId),
        Body: JSON.stringify(rejected),
        ContentType: "application/json",
      }),
    );
  } catch (storeError) {
    const reason = describeError(storeError);
    deps.logger.error("could not store a rejected message: handed back to SQS", { messageId: record.messageId, error: reason });
    return { status: "retry", error: reason };
  }
  deps.logger.warn("message rejected", { messageId: record.messageId, error });
  return { status: "rejected", error };
}
