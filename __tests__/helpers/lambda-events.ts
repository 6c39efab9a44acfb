/** Builders for the events and records the function tests send (one place, not copied per test). */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";

let counter = 0;

/** An SQS record; `body` objects are JSON-encoded, strings are sent as they are. */
export function sqsRecord(body: unknown, messageId = `00000000-0000-4000-8000-${String(++counter).padStart(12, "0")}`) {
  return { messageId, body: typeof body === "string" ? body : JSON.stringify(body), receiptHandle: "rh", attributes: {} };
}

export function sqsEvent(...records: ReturnType<typeof sqsRecord>[]) {
  return { Records: records };
}

/** A job message with `count` https items. */
export function jobMessage(jobId: string | undefined, count = 1, base = "https://example.com/file") {
  const items = Array.from({ length: count }, (_, i) => ({ url: `${base}-${i}.txt` }));
  return jobId === undefined ? { items } : { jobId, items };
}

/** Silent Powertools logger and metrics (the test env sets SILENT / DISABLED). */
export function quietObservability() {
  return { logger: new Logger({ serviceName: "test" }), metrics: new Metrics({ namespace: "Test", serviceName: "test" }) };
}

/** A Lambda context for in-process handler calls. */
export function lambdaContext(functionName = "test-function") {
  return {
    awsRequestId: `req-${++counter}`,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: "1024",
  };
}
