/**
 * fanout: SQS ingest queue → manifest in S3 → StartExecution (name = jobId).
 * Returns a partial batch response: only records that should be retried are
 * listed. Clients, config and schema live at module scope (validated at init).
 */
import { s3Client, sfnClient } from "../shared/clients";
import { ENV } from "../../contract";
import { createObservability, instrument } from "../shared/observability";
import { loadFanoutConfig } from "./config";
import { createSchema, handleBatch, type FanoutDeps } from "./fanout";
import type { SqsBatchResponse, SqsEvent } from "./types";

const config = loadFanoutConfig();
const observability = createObservability("fanout");
/** This execution environment's clients and config (exported for the socket-pool test). */
export const deps: FanoutDeps = {
  s3: s3Client(),
  sfn: sfnClient(),
  config,
  schema: createSchema(config),
  ...observability,
};

if (config.exemptOrigins.size > 0) {
  observability.logger.warn(`${ENV.fetchAllowPrivate} exempts origins from the port rule (tests and local runs only)`, { origins: [...config.exemptOrigins] });
}

export const handler = instrument<SqsEvent, SqsBatchResponse>(observability, (event) => handleBatch(event, deps));
