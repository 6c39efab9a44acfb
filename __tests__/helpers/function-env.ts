/**
 * Environment for the function unit tests. Import it FIRST in a test file: the
 * function modules validate their configuration when they load. Jest gives each
 * test file its own copy of process.env, so this does not leak between files.
 */
export const FUNCTION_TEST_ENV = {
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_EC2_METADATA_DISABLED: "true",
  POWERTOOLS_LOG_LEVEL: "SILENT",
  POWERTOOLS_METRICS_DISABLED: "true",
  WORK_BUCKET: "work-bucket",
  STATE_MACHINE_ARN: "arn:aws:states:us-east-1:000000000000:stateMachine:pipeline",
  MAX_SOCKETS: "16",
  SDK_CONNECT_TIMEOUT_MS: "3000",
  SDK_REQUEST_TIMEOUT_MS: "30000",
  TASK_CONCURRENCY: "8",
  MAX_ITEMS_PER_JOB: "5",
  MAX_URL_LENGTH: "2048",
  TASK_HEARTBEAT_SECONDS: "30",
  WORK_QUEUE_MAX_RECEIVE_COUNT: "3",
  FETCH_TIMEOUT_MS: "2000",
  FETCH_MAX_BYTES: "1048576",
  FETCH_MAX_REDIRECTS: "3",
  FETCH_MAX_SOCKETS: "4",
  CHUNK_LINES: "10",
  CHUNK_BYTES: "4096",
} as const;

Object.assign(process.env, FUNCTION_TEST_ENV);
