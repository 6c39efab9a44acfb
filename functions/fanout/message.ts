/**
 * The SQS message schema and the parse that turns a record into a job (or the
 * reason it is rejected). Pure: no I/O, so tests call it directly.
 */
import { JOB_ID_PATTERN, KEYS, SFN_MAX_INPUT_BYTES } from "../shared/contract";
import * as z from "zod/mini";
import { describeIssues } from "../shared/validation";
import type { ExecutionInput, SqsRecord } from "./types";

/** Longest URL accepted (a common practical limit; keeps the input small). */
export const MAX_URL_LENGTH = 2048;

export function messageSchema(options: { maxItems: number; allowHttp: boolean }) {
  const schemes = options.allowHttp ? ["https:", "http:"] : ["https:"];
  const url = z.pipe(
    z.string().check(z.maxLength(MAX_URL_LENGTH)),
    z.transform((value: string, ctx) => {
      const fail = (message: string) => {
        ctx.issues.push({ code: "custom", message, input: value });
        return z.NEVER;
      };
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        return fail("is not a valid URL");
      }
      if (!schemes.includes(parsed.protocol)) {
        return fail(`scheme "${parsed.protocol}" is not allowed (allowed: ${schemes.join(", ")})`);
      }
      return parsed.href;
    }),
  );
  return z.object({
    jobId: z.optional(z.string().check(z.regex(JOB_ID_PATTERN, `must match ${JOB_ID_PATTERN.source}`))),
    items: z.array(z.object({ url })).check(z.minLength(1), z.maxLength(options.maxItems)),
  });
}

export type ParseResult = { ok: true; input: ExecutionInput } | { ok: false; error: string };

/** Parses one record into the execution input, or says why it is rejected. */
export function parseRecord(
  record: SqsRecord,
  schema: ReturnType<typeof messageSchema>,
  bucket: string,
): ParseResult {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch (error) {
    return { ok: false, error: `body is not valid JSON: ${(error as Error).message}` };
  }
  const result = schema.safeParse(body);
  if (!result.success) {
    return { ok: false, error: `message does not match the schema: ${describeIssues(result.error.issues, "(message)")}` };
  }
  // Without a jobId the message id names the job, so a redelivery maps to the same execution.
  const jobId = result.data.jobId ?? `msg-${record.messageId}`;
  if (!JOB_ID_PATTERN.test(jobId)) {
    return { ok: false, error: `message has no jobId and its message id cannot name a job ("${jobId}")` };
  }
  const input: ExecutionInput = { jobId, bucket, manifestKey: KEYS.manifest(jobId), items: result.data.items };
  const bytes = Buffer.byteLength(JSON.stringify(input), "utf8");
  if (bytes > SFN_MAX_INPUT_BYTES) {
    return { ok: false, error: `execution input is ${bytes} bytes, over the Step Functions limit of ${SFN_MAX_INPUT_BYTES}` };
  }
  return { ok: true, input };
}
