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
 */
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { StartExecutionCommand, type SFNClient } from "@aws-sdk/client-sfn";
import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, type Metrics } from "@aws-lambda-powertools/metrics";
import { mapBounded } from "../shared/bounded";
import { KEYS, METRICS } from "../shared/contract";
import { InvalidInputError } from "../shared/errors";
import { describeError, isTransientError } from "../shared/transient";
import type { FanoutConfig } from "./config";
import { messageSchema, parseRecord } from "./message";
import type { ExecutionInput, SqsBatchResponse, SqsEvent, SqsRecord } from "./types";

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
  return messageSchema({ maxItems: config.maxItemsPerJob, allowHttp: config.allowHttp });
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
  const { input } = parsed;
  const keys = { messageId: record.messageId, jobId: input.jobId };
  try {
    await writeManifest(record, input, deps);
    await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.config.stateMachineArn,
        name: input.jobId,
        input: JSON.stringify(input),
      }),
    );
    logger.info("execution started", { ...keys, items: input.items.length });
    return { status: "started", jobId: input.jobId };
  } catch (error) {
    // STANDARD workflows dedupe by name: a redelivered message is already done.
    if ((error as Error).name === "ExecutionAlreadyExists") {
      logger.info("duplicate delivery: execution already exists", keys);
      return { status: "duplicate", jobId: input.jobId };
    }
    const reason = describeError(error);
    logger.error("record handed back to SQS for a retry", { ...keys, error: reason, transient: isTransientError(error) });
    return { status: "retry", error: reason };
  }
}

/**
 * Writes the manifest once: `IfNoneMatch: "*"` makes a redelivery keep the
 * first manifest (412 = already written), so the manifest always describes the
 * execution that runs under this name.
 */
async function writeManifest(record: SqsRecord, input: ExecutionInput, deps: FanoutDeps): Promise<void> {
  const manifest = {
    jobId: input.jobId,
    messageId: record.messageId,
    items: input.items.map((item, index) => ({ index, url: item.url })),
    createdAt: new Date().toISOString(),
  };
  try {
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.config.workBucket,
        Key: input.manifestKey,
        Body: JSON.stringify(manifest),
        ContentType: "application/json",
        IfNoneMatch: "*",
      }),
    );
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 412) throw error;
  }
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
