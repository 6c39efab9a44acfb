import { ERRORS, KEYS } from "../../contract";
import type { Catcher, Retrier, StateMachineDefinition, TaskState } from "./asl";

/** The SQS integration that hands a task token to a worker and waits for its answer. */
export const SQS_SEND_WAIT_FOR_TOKEN = "arn:aws:states:::sqs:sendMessage.waitForTaskToken";
/** The AWS SDK integration Step Functions uses to write an object itself, with no Lambda. */
export const S3_PUT_OBJECT = "arn:aws:states:::aws-sdk:s3:putObject";
/** The Distributed Map's item reader and result writer. */
export const S3_GET_OBJECT_READER = "arn:aws:states:::s3:getObject";
export const S3_PUT_OBJECT_WRITER = "arn:aws:states:::s3:putObject";
/** Status of a job whose Finalize failed after its retries (written by the state machine itself). */
export const FINALIZE_FAILED_STATUS = "finalize-failed";

/** Errors of the SendMessage call itself (the task never reached its queue). */
export const SQS_SEND_ERRORS = ["SQS.SdkClientException", "SQS.AmazonSQSException"] as const;
/** A task whose worker never answered in time: the message waited too long, or went to the DLQ. */
export const TASK_TIMEOUT_ERRORS = ["States.Timeout", "States.HeartbeatTimeout"] as const;
/** The Distributed Map's own S3 access (reading the manifest, writing the result files). */
export const MAP_RUN_ERRORS = ["States.ItemReaderFailed", "States.ResultWriterFailed"] as const;

/** One worker's queue and the task timing derived from the budget (see `taskTiming`). */
export interface TaskQueue {
  /** URL of the work queue (a token at synth time). */
  readonly queueUrl: string;
  /** TimeoutSeconds: covers the wait in the queue and every receive (budget rule 7). */
  readonly timeoutSeconds: number;
  /** HeartbeatSeconds: the longest gap between two heartbeats (budget rule 7: < timeoutSeconds). */
  readonly heartbeatSeconds: number;
}

export interface DefinitionProps {
  /** The fetcher's work queue (Fetch). */
  readonly fetchQueue: TaskQueue;
  /** The processor's work queue (Process and Finalize). */
  readonly processQueue: TaskQueue;
  /** Distributed Map MaxConcurrency: child executions at once per job (budget rule 5). */
  readonly mapMaxConcurrency: number;
}

const jitter = { BackoffRate: 2, MaxDelaySeconds: 60, JitterStrategy: "FULL" } as const;

/**
 * Retries of a worker task. There is no Retry on throttling: a task is a message
 * on its worker's queue, and the queue's event source mapping admits messages no
 * faster than the worker's reserved concurrency allows, so nothing is throttled.
 * The worker's transient errors are retried by its queue (redelivery); they reach
 * the state machine only from the last receive, and get one more round here.
 */
export const WORKER_RETRY: readonly Retrier[] = [
  { ErrorEquals: [...SQS_SEND_ERRORS], IntervalSeconds: 2, MaxAttempts: 5, ...jitter },
  { ErrorEquals: [...TASK_TIMEOUT_ERRORS], IntervalSeconds: 5, MaxAttempts: 2, ...jitter },
  { ErrorEquals: [...ERRORS.transient], IntervalSeconds: 5, MaxAttempts: 2, ...jitter },
];

/** Writes Step Functions makes itself (outcomes, the fallback status): S3 errors are all worth a retry. */
export const S3_WRITE_RETRY: readonly Retrier[] = [
  { ErrorEquals: ["States.ALL"], IntervalSeconds: 2, MaxAttempts: 5, BackoffRate: 2, MaxDelaySeconds: 30, JitterStrategy: "FULL" },
];

/** Any error left after the retries marks the item failed; the job still finishes. */
const CATCH_ITEM: readonly Catcher[] = [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordItemFailure" }];

/** A task on a worker's queue: the message carries the task token and the worker's input. */
function workerTask(queue: TaskQueue, input: Record<string, unknown>): Omit<TaskState, "Next" | "End"> {
  return {
    Type: "Task",
    Resource: SQS_SEND_WAIT_FOR_TOKEN,
    Parameters: { QueueUrl: queue.queueUrl, MessageBody: { "taskToken.$": "$$.Task.Token", input } },
    TimeoutSeconds: queue.timeoutSeconds,
    HeartbeatSeconds: queue.heartbeatSeconds,
    Retry: WORKER_RETRY,
  };
}

/**
 * The pipeline's state machine. The execution carries a pointer to the job, not
 * its items: `{ jobId, bucket, manifestKey, itemCount }`. A Distributed Map reads
 * the items from the manifest in S3 and runs one STANDARD child execution per
 * item (Fetch on the fetcher's queue, then Process on the processor's), whose
 * outcome goes to S3 (`results/{i}.json` by the processor, `failures/{i}.json` by
 * the state machine itself); the map run's own results go to S3 too. Finalize,
 * on the processor's queue, builds `status.json` from S3. Every state's input and
 * output stays small whatever the job's size, and each child has its own history.
 *
 * Should Finalize fail after its retries, the state machine writes `status.json`
 * itself (status "finalize-failed") and fails the execution, so the job keeps a
 * record and the alarm fires.
 *
 * Output: `{ statusKey, succeeded, failed }`.
 */
export function buildDefinition(p: DefinitionProps): StateMachineDefinition {
  return {
    Comment: "Fan out a job's items from its manifest in S3: fetch each URL, split it into chunks, record each outcome in S3, then the job's status.",
    StartAt: "FetchAndProcess",
    States: {
      FetchAndProcess: {
        Type: "Map",
        Comment: "One child execution per item of the manifest; outcomes are written to S3, never gathered into the state.",
        ItemReader: {
          Resource: S3_GET_OBJECT_READER,
          ReaderConfig: { InputType: "JSON" },
          Parameters: { "Bucket.$": "$.bucket", "Key.$": "$.manifestKey" },
        },
        ItemSelector: {
          "jobId.$": "$.jobId",
          "bucket.$": "$.bucket",
          "index.$": "$$.Map.Item.Value.index",
          "url.$": "$$.Map.Item.Value.url",
        },
        MaxConcurrency: p.mapMaxConcurrency,
        // Every child catches its item's errors; one that still fails has no outcome in S3, which Finalize records.
        ToleratedFailurePercentage: 100,
        Label: "item",
        ItemProcessor: {
          ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" },
          StartAt: "Fetch",
          States: {
            Fetch: {
              ...workerTask(p.fetchQueue, { "jobId.$": "$.jobId", "index.$": "$.index", "url.$": "$.url" }),
              ResultSelector: { "key.$": "$.key", "bytes.$": "$.bytes" },
              ResultPath: "$.fetch",
              Catch: CATCH_ITEM,
              Next: "Process",
            },
            Process: {
              ...workerTask(p.processQueue, { "jobId.$": "$.jobId", "index.$": "$.index" }),
              // The processor wrote results/{index}.json: nothing of it is needed in the state.
              ResultPath: null,
              Catch: CATCH_ITEM,
              Next: "ItemSucceeded",
            },
            ItemSucceeded: {
              Type: "Pass",
              Parameters: { "index.$": "$.index", status: "succeeded" },
              End: true,
            },
            RecordItemFailure: {
              Type: "Task",
              Comment: "Step Functions writes the failed item's outcome itself (no Lambda, nothing admitted by throttling).",
              Resource: S3_PUT_OBJECT,
              Parameters: {
                "Bucket.$": "$.bucket",
                "Key.$": `States.Format('${KEYS.failure("{}", "{}")}', $.jobId, $.index)`,
                ContentType: "application/json",
                Body: { "index.$": "$.index", "url.$": "$.url", "error.$": "$.error" },
              },
              Retry: S3_WRITE_RETRY,
              ResultPath: null,
              Next: "ItemFailed",
            },
            ItemFailed: {
              Type: "Pass",
              Parameters: { "index.$": "$.index", status: "failed", "error.$": "$.error.Error" },
              End: true,
            },
          },
        },
        ResultWriter: {
          Resource: S3_PUT_OBJECT_WRITER,
          Parameters: { "Bucket.$": "$.bucket", "Prefix.$": `States.Format('${KEYS.mapResults("{}")}', $.jobId)` },
        },
        ResultPath: "$.map",
        Retry: [{ ErrorEquals: [...MAP_RUN_ERRORS], IntervalSeconds: 5, MaxAttempts: 3, ...jitter }],
        // A map run that fails still leaves every outcome it recorded in S3: Finalize records the rest as missing.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.mapError", Next: "Finalize" }],
        Next: "Finalize",
      },
      Finalize: {
        ...workerTask(p.processQueue, { action: "finalize", "jobId.$": "$.jobId", "itemCount.$": "$.itemCount" }),
        ResultSelector: { "statusKey.$": "$.statusKey", "succeeded.$": "$.succeeded", "failed.$": "$.failed" },
        // The message is already acknowledged: a Finalize that still fails must not take the job's record with it.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.finalizeError", Next: "RecordFinalizeFailure" }],
        End: true,
      },
      RecordFinalizeFailure: {
        Type: "Task",
        Comment: "Step Functions writes status.json itself (no Lambda): why Finalize failed, and where the item outcomes are.",
        Resource: S3_PUT_OBJECT,
        Parameters: {
          "Bucket.$": "$.bucket",
          "Key.$": `States.Format('${KEYS.status("{}")}', $.jobId)`,
          ContentType: "application/json",
          Body: {
            "jobId.$": "$.jobId",
            status: FINALIZE_FAILED_STATUS,
            "itemCount.$": "$.itemCount",
            "error.$": "$.finalizeError",
            "results.$": `States.Format('${KEYS.resultsPrefix("{}")}', $.jobId)`,
            "failures.$": `States.Format('${KEYS.failuresPrefix("{}")}', $.jobId)`,
          },
        },
        Retry: S3_WRITE_RETRY,
        ResultPath: null,
        Next: "FinalizeFailed",
      },
      FinalizeFailed: {
        Type: "Fail",
        Error: "FinalizeFailed",
        Cause: "Finalize failed after its retries; status.json says why, and each item's outcome is under results/ and failures/.",
      },
    },
  };
}
