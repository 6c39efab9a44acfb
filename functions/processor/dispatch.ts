/**
 * The processor's two actions, chosen by the input's shape:
 * `{ jobId, index }` splits `raw/{index}`; `{ action: "finalize", jobId, itemCount }`
 * builds `status.json` from the outcomes in S3. Anything else is an InvalidInputError.
 */
import { JOB_ID_PATTERN } from "../../contract";
import { InvalidInputError } from "../shared/errors";
import * as z from "zod/mini";
import { describeIssues } from "../shared/validation";
import { finalize, finalizeInputSchema, type FinalizeResult } from "./finalize";
import { splitRaw, type ProcessorDeps, type SplitResult } from "./process";

export const splitInputSchema = z.object({
  jobId: z.string().check(z.regex(JOB_ID_PATTERN)),
  index: z.int().check(z.minimum(0)),
});

export async function processEvent(event: unknown, deps: ProcessorDeps): Promise<SplitResult | FinalizeResult> {
  const action = typeof event === "object" && event !== null ? (event as { action?: unknown }).action : undefined;
  if (action !== undefined && action !== "finalize") {
    throw new InvalidInputError(`processor input is invalid: unknown action ${JSON.stringify(action)}`);
  }
  const isFinalize = action === "finalize";
  const parsed = (isFinalize ? finalizeInputSchema : splitInputSchema).safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(`processor input is invalid: ${describeIssues(parsed.error.issues)}`);
  }
  const { jobId } = parsed.data;
  deps.logger.appendKeys({ jobId, ...("index" in parsed.data ? { index: parsed.data.index } : {}) });
  return "action" in parsed.data ? finalize(parsed.data, deps) : splitRaw(parsed.data, deps);
}
