/**
 * The SQS message schema and the parse that turns a record into a job (or the
 * reason it is rejected). Pure: no I/O, so tests call it directly.
 */
import { ENV, JOB_ID_PATTERN, KEYS, QUEUE_MAX_MESSAGE_BYTES, type ExecutionInput } from "../../contract";
import * as z from "zod/mini";
import { describeIssues } from "../shared/validation";
import { portRefusal } from "../shared/origins";
import type { SqsRecord } from "./types";

export interface MessageSchemaOptions {
  readonly maxItems: number;
  readonly allowHttp: boolean;
  /** Longest URL accepted, in characters (MAX_URL_LENGTH), as sent and once normalised. */
  readonly maxUrlLength: number;
  /**
   * `host:port` origins exempt from the port rule: FETCH_ALLOW_PRIVATE, the
   * fetcher's exemption list (tests and local runs only; no stack sets it).
   */
  readonly exemptOrigins?: ReadonlySet<string>;
}

/**
 * Item URLs are accepted only when the fetcher could fetch them: an allowed
 * scheme, a fetchable port (the fetcher's own rule, fetcher/origins.ts) and at
 * most MAX_URL_LENGTH characters both as sent and as stored (`new URL().href`,
 * which percent-encoding can make several times longer).
 */
export function messageSchema(options: MessageSchemaOptions) {
  const schemes = options.allowHttp ? ["https:", "http:"] : ["https:"];
  const exempt = options.exemptOrigins ?? new Set<string>();
  const url = z.pipe(
    z.string().check(z.maxLength(options.maxUrlLength)),
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
      const port = portRefusal(parsed, options.allowHttp, exempt);
      if (port) return fail(port);
      if (parsed.href.length > options.maxUrlLength) {
        return fail(`is ${parsed.href.length} characters once normalised, over ${ENV.maxUrlLength} (${options.maxUrlLength})`);
      }
      return parsed.href;
    }),
  );
  return z.object({
    jobId: z.optional(z.string().check(z.regex(JOB_ID_PATTERN, `must match ${JOB_ID_PATTERN.source}`))),
    items: z.array(z.object({ url })).check(z.minLength(1), z.maxLength(options.maxItems)),
  });
}

/** A valid message: the job, its items' URLs (normalised) and the execution input (a pointer to the manifest). */
export interface ParsedJob {
  readonly jobId: string;
  readonly urls: readonly string[];
  readonly input: ExecutionInput;
}

export type ParseResult = { ok: true; job: ParsedJob } | { ok: false; error: string };

/** Parses one record into a job, or says why it is rejected. */
export function parseRecord(
  record: SqsRecord,
  schema: ReturnType<typeof messageSchema>,
  bucket: string,
): ParseResult {
  // What the deployed queues hold (a larger message never reaches a real queue; a replayed or local one might).
  const bytes = Buffer.byteLength(record.body, "utf8");
  if (bytes > QUEUE_MAX_MESSAGE_BYTES) {
    return { ok: false, error: `message is ${bytes} bytes, over the queue message limit (QUEUE_MAX_MESSAGE_BYTES) of ${QUEUE_MAX_MESSAGE_BYTES}` };
  }
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
  const urls = result.data.items.map((item) => item.url);
  const input: ExecutionInput = { jobId, bucket, manifestKey: KEYS.manifest(jobId), itemCount: urls.length };
  return { ok: true, job: { jobId, urls, input } };
}
