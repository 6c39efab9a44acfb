import { ERRORS, KEYS } from "../../functions/shared/contract";
import type { Catcher, Retrier, StateMachineDefinition, TaskState } from "./asl";

/** The optimised Lambda integration (errors keep the function's error name). */
export const LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke";
/** The AWS SDK integration Step Functions uses to write an object itself, with no Lambda. */
export const S3_PUT_OBJECT = "arn:aws:states:::aws-sdk:s3:putObject";
/** Status of a job whose Finalize failed after its retries (written by the state machine itself). */
export const FINALIZE_FAILED_STATUS = "finalize-failed";

/** Lambda service errors worth retrying (AWS's recommended set plus throttling). */
export const LAMBDA_TRANSIENT_ERRORS = [
  "Lambda.TooManyRequestsException",
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
] as const;

export interface DefinitionProps {
  /** ARN of the fetcher function (a token at synth time). */
  readonly fetcherArn: string;
  /** ARN of the processor function, which also runs Finalize. */
  readonly processorArn: string;
  /** Map MaxConcurrency (budget rule 5). */
  readonly mapMaxConcurrency: number;
  /** TimeoutSeconds of the Fetch state (> fetcher timeout, rule 7). */
  readonly fetchTimeoutSeconds: number;
  /** TimeoutSeconds of the Process and Finalize states (> processor timeout, rule 7). */
  readonly processTimeoutSeconds: number;
}

/**
 * Backoff with full jitter. Throttling is expected under a burst (many executions
 * share the task functions' reserved concurrency), so it is retried longest:
 * up to 10 attempts, about 6 minutes in all. Then Lambda service errors, then
 * timeouts and the functions' own transient errors.
 */
export const RETRY: readonly Retrier[] = [
  { ErrorEquals: ["Lambda.TooManyRequestsException"], IntervalSeconds: 2, MaxAttempts: 10, BackoffRate: 2, MaxDelaySeconds: 60, JitterStrategy: "FULL" },
  {
    ErrorEquals: LAMBDA_TRANSIENT_ERRORS.filter((e) => e !== "Lambda.TooManyRequestsException"),
    IntervalSeconds: 2,
    MaxAttempts: 6,
    BackoffRate: 2,
    MaxDelaySeconds: 60,
    JitterStrategy: "FULL",
  },
  { ErrorEquals: ["States.Timeout", ...ERRORS.transient], IntervalSeconds: 5, MaxAttempts: 3, BackoffRate: 2, MaxDelaySeconds: 60, JitterStrategy: "FULL" },
];

/** Any error left after the retries marks the item failed; the job still finishes. */
const CATCH_ITEM: readonly Catcher[] = [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "ItemFailed" }];

function invoke(functionArn: string, payload: Record<string, unknown>, timeoutSeconds: number): Omit<TaskState, "Next" | "End"> {
  return {
    Type: "Task",
    Resource: LAMBDA_INVOKE,
    Parameters: { FunctionName: functionArn, Payload: payload },
    TimeoutSeconds: timeoutSeconds,
    Retry: RETRY,
  };
}

/**
 * The pipeline's state machine: a Map over the message's items (Fetch, then
 * Process; a failure after retries records the item as failed) and a Finalize
 * that writes `status.json`. Should Finalize itself fail after its retries, the
 * state machine writes `status.json` directly (status "finalize-failed") and
 * then fails the execution, so the job is recorded and the alarm fires.
 *
 * Input: `{ jobId, bucket, manifestKey, items: [{ url }] }` (what fanout starts).
 * Output: `{ statusKey, succeeded, failed }`.
 */
export function buildDefinition(p: DefinitionProps): StateMachineDefinition {
  return {
    Comment: "Fan out a job's items: fetch each URL into S3, split it into chunks, then record the job's status.",
    StartAt: "FetchAndProcess",
    States: {
      FetchAndProcess: {
        Type: "Map",
        ItemsPath: "$.items",
        ItemSelector: { "jobId.$": "$.jobId", "index.$": "$$.Map.Item.Index", "url.$": "$$.Map.Item.Value.url" },
        MaxConcurrency: p.mapMaxConcurrency,
        ItemProcessor: {
          ProcessorConfig: { Mode: "INLINE" },
          StartAt: "Fetch",
          States: {
            Fetch: {
              ...invoke(p.fetcherArn, { "jobId.$": "$.jobId", "index.$": "$.index", "url.$": "$.url" }, p.fetchTimeoutSeconds),
              ResultSelector: {
                "key.$": "$.Payload.key",
                "bytes.$": "$.Payload.bytes",
                "sha256.$": "$.Payload.sha256",
                "contentType.$": "$.Payload.contentType",
              },
              ResultPath: "$.fetch",
              Catch: CATCH_ITEM,
              Next: "Process",
            },
            Process: {
              ...invoke(p.processorArn, { "jobId.$": "$.jobId", "index.$": "$.index" }, p.processTimeoutSeconds),
              ResultSelector: {
                "resultKey.$": "$.Payload.resultKey",
                "chunks.$": "$.Payload.chunks",
                "bytes.$": "$.Payload.bytes",
                "lines.$": "$.Payload.lines",
                "sha256.$": "$.Payload.sha256",
              },
              ResultPath: "$.process",
              Catch: CATCH_ITEM,
              Next: "ItemSucceeded",
            },
            ItemSucceeded: {
              Type: "Pass",
              Parameters: { "index.$": "$.index", "url.$": "$.url", status: "succeeded", "result.$": "$.process" },
              End: true,
            },
            ItemFailed: {
              Type: "Pass",
              Parameters: { "index.$": "$.index", "url.$": "$.url", status: "failed", "error.$": "$.error.Error", "cause.$": "$.error.Cause" },
              End: true,
            },
          },
        },
        ResultPath: "$.results",
        Next: "Finalize",
      },
      Finalize: {
        ...invoke(p.processorArn, { action: "finalize", "jobId.$": "$.jobId", "items.$": "$.results" }, p.processTimeoutSeconds),
        ResultSelector: {
          "statusKey.$": "$.Payload.statusKey",
          "succeeded.$": "$.Payload.succeeded",
          "failed.$": "$.Payload.failed",
        },
        // The message is already acknowledged: a Finalize that still fails must not take the job's record with it.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.finalizeError", Next: "RecordFinalizeFailure" }],
        End: true,
      },
      RecordFinalizeFailure: {
        Type: "Task",
        Comment: "Step Functions writes status.json itself (no Lambda): every item's outcome and why Finalize failed.",
        Resource: S3_PUT_OBJECT,
        Parameters: {
          "Bucket.$": "$.bucket",
          "Key.$": `States.Format('${KEYS.status("{}")}', $.jobId)`,
          ContentType: "application/json",
          Body: {
            "jobId.$": "$.jobId",
            status: FINALIZE_FAILED_STATUS,
            "error.$": "$.finalizeError.Error",
            "cause.$": "$.finalizeError.Cause",
            "items.$": "$.results",
          },
        },
        Retry: [{ ErrorEquals: ["States.ALL"], IntervalSeconds: 2, MaxAttempts: 5, BackoffRate: 2, MaxDelaySeconds: 30, JitterStrategy: "FULL" }],
        ResultPath: null,
        Next: "FinalizeFailed",
      },
      FinalizeFailed: {
        Type: "Fail",
        Error: "FinalizeFailed",
        Cause: "Finalize failed after its retries; status.json records each item's outcome and the error.",
      },
    },
  };
}
