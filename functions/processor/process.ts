/**
 * The processor's split action: stream `raw/{index}` from S3, cut it into chunks
 * and PUT each to `chunks/{index}/{n}` through the bounded queue. The read loop
 * awaits a free slot before it pulls the next buffer, so at most
 * TASK_CONCURRENCY chunks are in flight or in memory (backpressure) whatever the
 * object's size; the body is always read to its end or destroyed.
 */
import { createHash } from "crypto";
import type { Readable } from "stream";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SFNClient } from "@aws-sdk/client-sfn";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { BoundedQueue } from "../shared/bounded";
import { destroyBody } from "../shared/body";
import { KEYS } from "../../contract";
import { describeError, RawObjectMissingError, StorageUnavailableError } from "../shared/errors";
import { isTransientError } from "../shared/transient";
import type { ProcessorConfig } from "./config";
import { detectMode, SNIFF_BYTES, Splitter } from "./split";

/** Also the task worker's deps (SFN client, worker config, logger, metrics). */
export interface ProcessorDeps {
  readonly s3: S3Client;
  /** Answers the task token (shared/task-worker). */
  readonly sfn: SFNClient;
  readonly config: ProcessorConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface SplitInput {
  readonly jobId: string;
  readonly index: number;
}

export interface SplitResult {
  readonly resultKey: string;
  readonly chunks: number;
  readonly bytes: number;
  readonly lines: number;
  readonly sha256: string;
}

export async function splitRaw({ jobId, index }: SplitInput, deps: ProcessorDeps): Promise<SplitResult> {
  const { s3, config } = deps;
  const rawKey = KEYS.raw(jobId, index);
  const object = await s3.send(new GetObjectCommand({ Bucket: config.workBucket, Key: rawKey })).catch((error: unknown) => {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) {
      throw new RawObjectMissingError(`${rawKey} does not exist in ${config.workBucket}`);
    }
    throw storageError(`reading ${rawKey}`, error);
  });
  const body = object.Body as Readable;
  const queue = new BoundedQueue(config.taskConcurrency);
  const hash = createHash("sha256");
  let bytes = 0;
  let chunks = 0;
  const put = (data: Buffer) => {
    const key = KEYS.chunk(jobId, index, chunks++);
    return queue.submit(() =>
      s3.send(new PutObjectCommand({ Bucket: config.workBucket, Key: key, Body: data, ContentLength: data.length })),
    );
  };
  const emit = async (done: Buffer[]) => {
    for (const chunk of done) await put(chunk);
  };
  const newSplitter = (first: Buffer) =>
    new Splitter(detectMode(first, object.ContentType), config.chunkLines, config.chunkBytes);

  let summary: { lines: number; mode: string };
  try {
    let splitter: Splitter | undefined;
    // Text or binary is decided on the first KB, so the first buffers wait here.
    let head: Buffer[] = [];
    for await (const piece of body) {
      const buffer = piece as Buffer;
      bytes += buffer.length;
      hash.update(buffer);
      if (splitter) {
        await emit(splitter.push(buffer));
        continue;
      }
      head.push(buffer);
      if (bytes < SNIFF_BYTES) continue;
      const first = Buffer.concat(head);
      head = [];
      splitter = newSplitter(first);
      await emit(splitter.push(first));
    }
    if (!splitter) {
      const first = Buffer.concat(head);
      splitter = newSplitter(first);
      await emit(splitter.push(first));
    }
    await emit(splitter.end());
    summary = { lines: splitter.lines, mode: splitter.mode };
  } catch (error) {
    throw storageError(`splitting ${rawKey}`, error);
  } finally {
    destroyBody(body); // no-op once read to the end; frees the socket on an early exit
    await queue.idle();
  }
  await queue.drain().catch((error: unknown) => {
    throw storageError(`writing the chunks of ${rawKey}`, error);
  });

  const resultKey = KEYS.result(jobId, index);
  const sha256 = hash.digest("hex");
  const record = { jobId, index, chunks, bytes, lines: summary.lines, sha256, mode: summary.mode };
  await s3
    .send(
      new PutObjectCommand({
        Bucket: config.workBucket,
        Key: resultKey,
        Body: JSON.stringify(record),
        ContentType: "application/json",
      }),
    )
    .catch((error: unknown) => {
      throw storageError(`writing ${resultKey}`, error);
    });
  deps.logger.info("split done", { chunks, bytes, ...summary });
  return { resultKey, chunks, bytes, lines: summary.lines, sha256 };
}

/** Transient S3 trouble becomes StorageUnavailableError (retried); anything else keeps its name. */
export function storageError(what: string, error: unknown): unknown {
  if (error instanceof StorageUnavailableError || !isTransientError(error)) return error;
  return new StorageUnavailableError(`${what}: ${describeError(error)}`, { cause: error });
}
