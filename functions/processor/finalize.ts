/**
 * The processor's finalize action: build `jobs/{jobId}/status.json` from what
 * is in S3, never from the execution's state. The manifest says which items
 * the job has; `results/{i}.json` (written by the processor) and
 * `failures/{i}.json` (written by the state machine) say how each one ended.
 * An item with neither is failed with OUTCOME_MISSING_ERROR (contract/errors.ts).
 */
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import * as z from "zod/mini";
import { mapBounded } from "../shared/bounded";
import { destroyBody, readBody } from "../shared/body";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { JOB_ID_PATTERN, KEYS, METRICS, OUTCOME_MISSING_ERROR, TASK_CAUSE_MAX_CHARS } from "../../contract";
import { InvalidInputError } from "../shared/errors";
import { cutText } from "../shared/task-worker";
import { describeIssues } from "../shared/validation";
import type { ProcessorDeps } from "./process";
import { storageError } from "./process";

/** The cause recorded for an item that has no outcome in S3 (its child execution failed before it could record one, or the map run stopped). */
export const OUTCOME_MISSING_CAUSE = "no result or failure recorded in S3 for this item";
/** Most bytes read of a manifest (an SQS message is at most 1 MiB; URLs may grow when normalised). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** Most bytes read of one outcome object (a failure holds a Cause of at most 32 KiB). */
export const MAX_OUTCOME_BYTES = 1024 * 1024;

export const finalizeInputSchema = z.object({
  action: z.literal("finalize"),
  jobId: z.string().check(z.regex(JOB_ID_PATTERN)),
  itemCount: z.int().check(z.minimum(0)),
});
export type FinalizeInput = z.infer<typeof finalizeInputSchema>;

/** The manifest the fanout writes: a JSON array of `{ index, url }`. */
export const manifestSchema = z.array(z.object({ index: z.int().check(z.minimum(0)), url: z.string() }));
export type ManifestItem = z.infer<typeof manifestSchema>[number];

/** A failure record as the state machine writes it: `{ index, url, error: { Error, Cause } }`. */
const failureRecordSchema = z.object({
  error: z.optional(z.object({ Error: z.optional(z.string()), Cause: z.optional(z.string()) })),
});

export interface FinalizeResult {
  readonly statusKey: string;
  readonly succeeded: number;
  readonly failed: number;
}

/** One item's outcome as read from S3. */
export type ItemOutcome =
  | { readonly status: "succeeded"; readonly result: unknown }
  | { readonly status: "failed"; readonly error: string; readonly cause: string };

export type StatusItem = { readonly index: number; readonly url: string } & ItemOutcome;

export interface JobStatus {
  readonly jobId: string;
  readonly itemCount: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly items: readonly StatusItem[];
  readonly finishedAt: string;
}

/** The status document (pure; exported for tests): every manifest item, sorted by index. */
export function buildStatus(jobId: string, manifest: readonly ManifestItem[], outcomes: ReadonlyMap<number, ItemOutcome>, finishedAt: Date): JobStatus {
  const items: StatusItem[] = [...manifest]
    .sort((a, b) => a.index - b.index)
    .map(({ index, url }) => ({ index, url, ...(outcomes.get(index) ?? missing(OUTCOME_MISSING_CAUSE)) }));
  const failed = items.filter((item) => item.status === "failed").length;
  return { jobId, itemCount: items.length, succeeded: items.length - failed, failed, items, finishedAt: finishedAt.toISOString() };
}

/** A failure record's outcome: its Error name and its Cause cut to TASK_CAUSE_MAX_CHARS. */
export function failureOutcome(record: unknown): ItemOutcome | undefined {
  const parsed = failureRecordSchema.safeParse(record);
  if (!parsed.success) return undefined;
  const { Error: error, Cause: cause } = parsed.data.error ?? {};
  return { status: "failed", error: error?.trim() ? error : "UnknownError", cause: cutText(cause ?? "", TASK_CAUSE_MAX_CHARS) };
}

function missing(cause: string): ItemOutcome {
  return { status: "failed", error: OUTCOME_MISSING_ERROR, cause: cutText(cause, TASK_CAUSE_MAX_CHARS) };
}

export async function finalize(input: FinalizeInput, deps: ProcessorDeps): Promise<FinalizeResult> {
  const { jobId } = input;
  const manifest = await readManifest(jobId, deps);
  if (manifest.length !== input.itemCount) {
    deps.logger.warn("itemCount disagrees with the manifest: the manifest is trusted", { itemCount: input.itemCount, manifestItems: manifest.length });
  }
  const results = await listOutcomes(KEYS.resultsPrefix(jobId), deps);
  const failures = await listOutcomes(KEYS.failuresPrefix(jobId), deps);
  const outcomes = new Map<number, ItemOutcome>();
  await mapBounded(manifest, deps.config.taskConcurrency, async ({ index }) => {
    const outcome = await readOutcome(results.get(index), failures.get(index), deps);
    if (outcome) outcomes.set(index, outcome);
  });
  const status = buildStatus(jobId, manifest, outcomes, new Date());
  const statusKey = KEYS.status(jobId);
  await deps.s3
    .send(new PutObjectCommand({ Bucket: deps.config.workBucket, Key: statusKey, Body: JSON.stringify(status), ContentType: "application/json" }))
    .catch((error: unknown) => {
      throw storageError(`writing ${statusKey}`, error);
    });
  deps.logger.info("job finished", { itemCount: status.itemCount, succeeded: status.succeeded, failed: status.failed });
  deps.metrics.addMetric(METRICS.itemsSucceeded, MetricUnit.Count, status.succeeded);
  deps.metrics.addMetric(METRICS.itemsFailed, MetricUnit.Count, status.failed);
  return { statusKey, succeeded: status.succeeded, failed: status.failed };
}

async function readManifest(jobId: string, deps: ProcessorDeps): Promise<ManifestItem[]> {
  const key = KEYS.manifest(jobId);
  const text = await readText(key, MAX_MANIFEST_BYTES, deps);
  if (text === undefined) throw new InvalidInputError(`${key} does not exist in ${deps.config.workBucket}: no job to finalize`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`${key} is not valid JSON: ${(error as Error).message}`);
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) throw new InvalidInputError(`${key} is not a manifest: ${describeIssues(result.error.issues, "(manifest)")}`);
  return result.data;
}

interface Listed {
  readonly key: string;
  readonly lastModified: number;
}

/**
 * `{index}.json` objects under a prefix, by index. ListObjects (v1, Marker
 * paging) rather than v2: both work on S3, and s3rver's v2 continuation tokens
 * fail past 1,000 keys on OpenSSL 3.
 */
async function listOutcomes(prefix: string, deps: ProcessorDeps): Promise<Map<number, Listed>> {
  const found = new Map<number, Listed>();
  let marker: string | undefined;
  do {
    const page = await deps.s3
      .send(new ListObjectsCommand({ Bucket: deps.config.workBucket, Prefix: prefix, Marker: marker }))
      .catch((error: unknown) => {
        throw storageError(`listing ${prefix}`, error);
      });
    const contents = page.Contents ?? [];
    for (const object of contents) {
      const match = /^(\d+)\.json$/.exec((object.Key ?? "").slice(prefix.length));
      if (match) found.set(Number(match[1]), { key: object.Key as string, lastModified: object.LastModified?.getTime() ?? 0 });
    }
    marker = page.IsTruncated && contents.length > 0 ? (page.NextMarker ?? contents[contents.length - 1].Key) : undefined;
  } while (marker);
  return found;
}

/**
 * Reads an item's outcome. When both exist, the newer one wins (a failure
 * recorded after a result whose answer was lost; a result written by a redrive
 * after an old failure); on a tie, the failure.
 */
async function readOutcome(result: Listed | undefined, failure: Listed | undefined, deps: ProcessorDeps): Promise<ItemOutcome | undefined> {
  if (result && (!failure || result.lastModified > failure.lastModified)) {
    const text = await readText(result.key, MAX_OUTCOME_BYTES, deps);
    if (text === undefined) return missing(`${result.key} was listed but could not be read (deleted since)`);
    try {
      return { status: "succeeded", result: JSON.parse(text) };
    } catch (error) {
      return missing(`${result.key} is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (failure) {
    const text = await readText(failure.key, MAX_OUTCOME_BYTES, deps);
    if (text === undefined) return missing(`${failure.key} was listed but could not be read (deleted since)`);
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (error) {
      return missing(`${failure.key} is not valid JSON: ${(error as Error).message}`);
    }
    return failureOutcome(record) ?? missing(`${failure.key} is not a failure record`);
  }
  return undefined;
}

/** An object's text, read to its end (or destroyed); undefined when it does not exist. */
async function readText(key: string, maxBytes: number, deps: ProcessorDeps): Promise<string | undefined> {
  const object = await deps.s3.send(new GetObjectCommand({ Bucket: deps.config.workBucket, Key: key })).catch((error: unknown) => {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) return undefined;
    throw storageError(`reading ${key}`, error);
  });
  if (!object) return undefined;
  try {
    return (await readBody(object.Body, maxBytes)).toString("utf8");
  } catch (error) {
    destroyBody(object.Body);
    throw storageError(`reading ${key}`, error);
  }
}
