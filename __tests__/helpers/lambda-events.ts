/** Builders for the events and records the function tests send (one place, not copied per test). */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";

let counter = 0;

/** An SQS record as Lambda passes it; `body` objects are JSON-encoded, strings are sent as they are. */
export function sqsRecord(body: unknown, messageId = `00000000-0000-4000-8000-${String(++counter).padStart(12, "0")}`, receiveCount = 1) {
  return {
    messageId,
    body: typeof body === "string" ? body : JSON.stringify(body),
    receiptHandle: "rh",
    attributes: { ApproximateReceiveCount: String(receiveCount) },
  };
}

export function sqsEvent(...records: ReturnType<typeof sqsRecord>[]) {
  return { Records: records };
}

/** A fresh task token (unique per call). */
export function taskToken(label = "task"): string {
  return `token-${label}-${++counter}-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * A work-queue record as the state machine's `sqs:sendMessage.waitForTaskToken`
 * task sends it: `{ taskToken, input }`, on its `receiveCount`-th receive.
 */
export function taskRecord(input: unknown, options: { token?: string; receiveCount?: number; messageId?: string } = {}) {
  const token = options.token ?? taskToken();
  return { ...sqsRecord({ taskToken: token, input }, options.messageId, options.receiveCount ?? 1), token };
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
