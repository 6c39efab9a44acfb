/**
 * The state machine against AWS's hard limits, checked at synth (budget rules 10
 * and 11): a state's input or output over 256 KiB, or an execution's history
 * over 25,000 events, fails the execution in a way no Catch can catch — the job
 * would lose its record. Also: a job's message must fit in one message of the ingest queue.
 */
import {
  KEYS,
  SFN_MAX_CAUSE_CHARS,
  SFN_MAX_ERROR_CHARS,
  SFN_MAX_HISTORY_EVENTS,
  SFN_MAX_PAYLOAD_BYTES,
  QUEUE_MAX_MESSAGE_BYTES,
} from "../../contract";
import type { StateMachineDefinition } from "./asl";
import { FINALIZE_FAILED_STATUS } from "./definition";
import { childMachines, maxHistoryEvents } from "./history";

/** Longest values AWS and the contract allow, used to build worst-case payloads. */
const LONGEST = {
  jobId: 64,
  bucket: 63,
  /** SendTaskSuccess accepts task tokens of up to 2,048 characters. */
  taskToken: 2048,
  /** `https://sqs.<region>.amazonaws.com/<account>/<name of up to 80>`. */
  queueUrl: 160,
  /** ARNs and keys Step Functions fills in itself (map run ARN, result writer key). */
  awsString: 2048,
} as const;

export interface LimitInputs {
  readonly definition: StateMachineDefinition;
  readonly maxItemsPerJob: number;
  readonly maxUrlLength: number;
}

export interface PayloadBound {
  readonly execution: "parent" | "child";
  readonly state: string;
  /** "input", "output" or "effective input" (a task's Parameters: what it sends). */
  readonly what: string;
  readonly bytes: number;
}

const text = (n: number) => "x".repeat(n);
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), "utf8");

/** The largest message a producer may send: `maxItemsPerJob` items at `maxUrlLength`, with a jobId. */
export function largestMessageBytes(maxItemsPerJob: number, maxUrlLength: number): number {
  const item = bytes({ url: text(maxUrlLength) });
  return bytes({ jobId: text(LONGEST.jobId), items: [] }) + maxItemsPerJob * item + Math.max(0, maxItemsPerJob - 1);
}

/**
 * The largest input, output and effective input of every state of the
 * definition (`buildDefinition`'s shape) at `maxItemsPerJob` items, URLs of
 * `maxUrlLength` and errors as long as SendTaskFailure allows. Nothing here grows
 * with the item count but the digits of an index: the items live in S3.
 */
export function payloadBounds(p: Omit<LimitInputs, "definition">): PayloadBound[] {
  const jobId = text(LONGEST.jobId);
  const bucket = text(LONGEST.bucket);
  const index = Math.max(0, p.maxItemsPerJob - 1);
  const error = { Error: text(SFN_MAX_ERROR_CHARS), Cause: text(SFN_MAX_CAUSE_CHARS) };
  const token = text(LONGEST.taskToken);
  const queueUrl = text(LONGEST.queueUrl);
  const message = (input: unknown) => ({ QueueUrl: queueUrl, MessageBody: { taskToken: token, input } });

  const pointer = { jobId, bucket, manifestKey: KEYS.manifest(jobId), itemCount: p.maxItemsPerJob };
  const mapResult = { MapRunArn: text(LONGEST.awsString), ResultWriterDetails: { Bucket: bucket, Key: text(LONGEST.awsString) } };
  const afterMap = { ...pointer, map: mapResult, mapError: error };
  const status = { statusKey: KEYS.status(jobId), succeeded: p.maxItemsPerJob, failed: p.maxItemsPerJob };

  const item = { jobId, bucket, index, url: text(p.maxUrlLength) };
  const fetched = { ...item, fetch: { key: KEYS.raw(jobId, index), bytes: Number.MAX_SAFE_INTEGER } };
  const failed = { ...fetched, error };

  const parent = (state: string, what: string, value: unknown): PayloadBound => ({ execution: "parent", state, what, bytes: bytes(value) });
  const child = (state: string, what: string, value: unknown): PayloadBound => ({ execution: "child", state, what, bytes: bytes(value) });
  return [
    parent("(execution)", "input", pointer),
    parent("FetchAndProcess", "output", afterMap),
    parent("Finalize", "effective input", message({ action: "finalize", jobId, itemCount: p.maxItemsPerJob })),
    parent("Finalize", "output", status),
    parent("Finalize", "caught error", { ...afterMap, finalizeError: error }),
    parent("RecordFinalizeFailure", "effective input", {
      Bucket: bucket,
      Key: KEYS.status(jobId),
      ContentType: "application/json",
      Body: { jobId, status: FINALIZE_FAILED_STATUS, itemCount: p.maxItemsPerJob, error, results: KEYS.resultsPrefix(jobId), failures: KEYS.failuresPrefix(jobId) },
    }),
    child("(execution)", "input", item),
    child("Fetch", "effective input", message({ jobId, index, url: item.url })),
    child("Fetch", "output", fetched),
    child("Process", "effective input", message({ jobId, index })),
    child("Process", "caught error", failed),
    child("RecordItemFailure", "effective input", {
      Bucket: bucket,
      Key: KEYS.failure(jobId, index),
      ContentType: "application/json",
      Body: { index, url: item.url, error },
    }),
    child("ItemFailed", "output", { index, status: "failed", error: error.Error }),
  ];
}

/** Budget rules 10 and 11 (and the message rule), as messages naming the rule, fields and values. */
export function workflowLimitViolations(p: LimitInputs): string[] {
  const v: string[] = [];
  const message = largestMessageBytes(p.maxItemsPerJob, p.maxUrlLength);
  if (message > QUEUE_MAX_MESSAGE_BYTES) {
    v.push(
      `budget rule range: a message of maxItemsPerJob (${p.maxItemsPerJob}) items with URLs of maxUrlLength (${p.maxUrlLength}) is ${message} bytes, more than the ingest queue accepts (${QUEUE_MAX_MESSAGE_BYTES})`,
    );
  }
  const largest = payloadBounds(p).reduce((a, b) => (b.bytes > a.bytes ? b : a));
  if (largest.bytes > SFN_MAX_PAYLOAD_BYTES) {
    v.push(
      `budget rule 10: the ${largest.execution} execution's ${largest.state} ${largest.what} can reach ${largest.bytes} bytes at maxItemsPerJob ${p.maxItemsPerJob} and maxUrlLength ${p.maxUrlLength}, more than Step Functions' ${SFN_MAX_PAYLOAD_BYTES}`,
    );
  }
  const machines = [{ name: "the parent execution", machine: p.definition }, ...childMachines(p.definition).map((c) => ({ name: `each ${c.mapState} child execution`, machine: c.machine }))];
  for (const { name, machine } of machines) {
    const events = maxHistoryEvents(machine);
    if (events > SFN_MAX_HISTORY_EVENTS) {
      v.push(`budget rule 11: ${name} can record ${events} history events with every retrier at its MaxAttempts, more than Step Functions' ${SFN_MAX_HISTORY_EVENTS}`);
    }
  }
  return v;
}
