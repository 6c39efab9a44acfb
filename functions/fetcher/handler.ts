/**
 * fetcher (egress VPC): consumes its work queue. Each message is a task of the
 * state machine, `{ taskToken, input: { jobId, index, url } }`; the fetch
 * streams the URL into `jobs/{jobId}/raw/{index}` and the task token is
 * answered with `{ key, bytes, sha256, contentType }` or the named error
 * (shared/task-worker). The S3 and SFN clients, the outbound agent pair, the
 * guarded lookup and the config live at module scope.
 */
import { s3Client, sfnClient } from "../shared/clients";
import { ENV } from "../../contract";
import { createObservability, instrument } from "../shared/observability";
import { handleTaskBatch, type BatchResponse, type WorkQueueEvent } from "../shared/task-worker";
import { loadFetcherConfig } from "./config";
import { createFetchAgents, fetchToS3, type FetcherDeps } from "./fetch";
import { guardedLookup } from "./guard";

const config = loadFetcherConfig();
const observability = createObservability("fetcher");
/** This execution environment's clients and config (exported for the socket-pool test). */
export const deps: FetcherDeps = {
  s3: s3Client(),
  sfn: sfnClient(),
  config,
  agents: createFetchAgents(config),
  lookup: guardedLookup(),
  ...observability,
};

if (config.allowPrivate.size > 0) {
  observability.logger.warn(`${ENV.fetchAllowPrivate} exempts origins from the address guard and the port rule (tests and local runs only)`, {
    origins: [...config.allowPrivate],
  });
}

export const handler = instrument<WorkQueueEvent, BatchResponse>(observability, (event) =>
  handleTaskBatch(event, deps, (input) => fetchToS3(input, deps)),
);
