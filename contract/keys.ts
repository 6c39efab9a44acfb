/**
 * S3 key layout in the work bucket. Everything that grows with a job lives
 * here, never in the execution's state: the manifest (the Map's item reader),
 * each item's outcome (results/ or failures/), the map run's result files and
 * the final status.
 */
export const KEYS = {
  /** The job's items: a JSON array of `{ index, url }` (the Distributed Map reads it). */
  manifest: (jobId: string) => `jobs/${jobId}/manifest.json`,
  raw: (jobId: string, index: number | string) => `jobs/${jobId}/raw/${index}`,
  chunk: (jobId: string, index: number | string, n: number | string) => `jobs/${jobId}/chunks/${index}/${n}`,
  /** A succeeded item's outcome (processor). */
  result: (jobId: string, index: number | string) => `jobs/${jobId}/results/${index}.json`,
  /** A failed item's outcome: `{ index, url, error, cause }` (written by the state machine itself). */
  failure: (jobId: string, index: number | string) => `jobs/${jobId}/failures/${index}.json`,
  resultsPrefix: (jobId: string) => `jobs/${jobId}/results/`,
  failuresPrefix: (jobId: string) => `jobs/${jobId}/failures/`,
  /** Where the Distributed Map's ResultWriter writes the map run's manifest and result files. */
  mapResults: (jobId: string) => `jobs/${jobId}/map`,
  status: (jobId: string) => `jobs/${jobId}/status.json`,
  rejected: (messageId: string) => `rejected/${messageId}.json`,
  /** Prefixes for IAM scoping. */
  prefixes: { jobs: "jobs/", rejected: "rejected/" },
} as const;

/** Job id rule. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** S3 user metadata of the manifest: the SQS message that created the job. */
export const MANIFEST_METADATA = { messageId: "message-id" } as const;
