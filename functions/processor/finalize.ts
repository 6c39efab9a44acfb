/**
 * The processor's finalize action: turn the Map's result array into
 * `jobs/{jobId}/status.json` — how many items succeeded and failed, and why.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { JOB_ID_PATTERN, KEYS } from "../shared/contract";
import * as z from "zod/mini";
import type { ProcessorDeps } from "./process";
import { storageError } from "./process";

/** Longest `cause` kept per failed item (Step Functions causes can be long JSON strings). */
export const MAX_CAUSE_LENGTH = 2048;

const index = z.int().check(z.minimum(0));
const url = z.optional(z.string());
/** One element of the Map's result array (the workflow's ItemSucceeded / ItemFailed Pass states). */
const itemSchema = z.discriminatedUnion("status", [
  z.object({ index, url, status: z.literal("succeeded"), result: z.optional(z.record(z.string(), z.unknown())) }),
  z.object({ index, url, status: z.literal("failed"), error: z.string(), cause: z.optional(z.string()) }),
]);

export const finalizeInputSchema = z.object({
  action: z.literal("finalize"),
  jobId: z.string().check(z.regex(JOB_ID_PATTERN)),
  items: z.array(itemSchema),
});
export type FinalizeInput = z.infer<typeof finalizeInputSchema>;

export interface FinalizeResult {
  readonly statusKey: string;
  readonly succeeded: number;
  readonly failed: number;
}

/** The status document (pure; exported for tests). */
export function buildStatus(input: FinalizeInput, finishedAt: Date) {
  const items = [...input.items]
    .sort((a, b) => a.index - b.index)
    .map((item) =>
      item.status === "failed" && item.cause && item.cause.length > MAX_CAUSE_LENGTH
        ? { ...item, cause: `${item.cause.slice(0, MAX_CAUSE_LENGTH)}…` }
        : item,
    );
  const failed = items.filter((item) => item.status === "failed").length;
  return {
    jobId: input.jobId,
    succeeded: items.length - failed,
    failed,
    items,
    finishedAt: finishedAt.toISOString(),
  };
}

export async function finalize(input: FinalizeInput, deps: ProcessorDeps): Promise<FinalizeResult> {
  const status = buildStatus(input, new Date());
  const statusKey = KEYS.status(input.jobId);
  await deps.s3
    .send(
      new PutObjectCommand({
        Bucket: deps.config.workBucket,
        Key: statusKey,
        Body: JSON.stringify(status),
        ContentType: "application/json",
      }),
    )
    .catch((error: unknown) => {
      throw storageError(`writing ${statusKey}`, error);
    });
  deps.logger.info("job finished", { succeeded: status.succeeded, failed: status.failed });
  return { statusKey, succeeded: status.succeeded, failed: status.failed };
}
