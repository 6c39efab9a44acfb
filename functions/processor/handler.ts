/**
 * processor (isolated VPC, S3 only): `{ jobId, index }` splits `raw/{index}`
 * into chunks and writes `results/{index}.json`; `{ action: "finalize", jobId,
 * items }` writes `status.json`. Client and config live at module scope.
 */
import { s3Client } from "../shared/clients";
import { createObservability, instrument } from "../shared/observability";
import { loadProcessorConfig } from "./config";
import { processEvent } from "./dispatch";
import type { FinalizeResult } from "./finalize";
import type { ProcessorDeps, SplitResult } from "./process";

const config = loadProcessorConfig();
const observability = createObservability("processor");
const deps: ProcessorDeps = { s3: s3Client(), config, ...observability };

export const handler = instrument<unknown, SplitResult | FinalizeResult>(observability, (event) => processEvent(event, deps));
