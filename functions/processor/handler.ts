/**
 * processor (isolated VPC, S3 only): consumes its work queue. Each message is a
 * task of the state machine, `{ taskToken, input }`: `{ jobId, index }` splits
 * `raw/{index}` into chunks and writes `results/{index}.json`; `{ action:
 * "finalize", jobId, itemCount }` builds `status.json` from the outcomes in S3.
 * The task token is answered by shared/task-worker. Clients and config live at
 * module scope.
 */
import { s3Client, sfnClient } from "../shared/clients";
import { createObservability, instrument } from "../shared/observability";
import { handleTaskBatch, type BatchResponse, type WorkQueueEvent } from "../shared/task-worker";
import { loadProcessorConfig } from "./config";
import { processEvent } from "./dispatch";
import type { ProcessorDeps } from "./process";

const config = loadProcessorConfig();
const observability = createObservability("processor");
/** This execution environment's clients and config (exported for the socket-pool test). */
export const deps: ProcessorDeps = { s3: s3Client(), sfn: sfnClient(), config, ...observability };

export const handler = instrument<WorkQueueEvent, BatchResponse>(observability, (event) =>
  handleTaskBatch(event, deps, (input) => processEvent(input, deps)),
);
