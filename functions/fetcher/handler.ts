/**
 * fetcher (egress VPC): `{ jobId, index, url }` → `jobs/{jobId}/raw/{index}`,
 * returns `{ key, bytes, sha256, contentType }`. The S3 client, the outbound
 * agent pair, the guarded lookup and the config live at module scope.
 */
import { s3Client } from "../shared/clients";
import { ENV } from "../shared/contract";
import { createObservability, instrument } from "../shared/observability";
import { loadFetcherConfig } from "./config";
import { createFetchAgents, fetchToS3, type FetcherDeps, type FetchResult } from "./fetch";
import { guardedLookup } from "./guard";

const config = loadFetcherConfig();
const observability = createObservability("fetcher");
const deps: FetcherDeps = {
  s3: s3Client(),
  config,
  agents: createFetchAgents(config),
  lookup: guardedLookup(),
  ...observability,
};

if (config.allowPrivate.size > 0) {
  observability.logger.warn(`${ENV.fetchAllowPrivate} exempts origins from the private-address guard (tests and local runs only)`, {
    origins: [...config.allowPrivate],
  });
}

export const handler = instrument<unknown, FetchResult>(observability, (event) => fetchToS3(event, deps));
