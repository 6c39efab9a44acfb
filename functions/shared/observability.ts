/**
 * Powertools logger and metrics, one pair per function at module scope, and the
 * wrapper every handler uses: it adds the Lambda context to the logs and, at the
 * end of each invocation, publishes the open file descriptor count (the
 * `OpenFileDescriptors` metric the alarm watches). Every string a logger
 * writes goes through the one redaction helper (shared/redact.ts): no log line
 * carries a URL's userinfo, query string or fragment.
 */
import { readdirSync } from "fs";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRICS } from "../../contract";
import { redactingReplacer, redactText } from "./redact";
import { describeError } from "./errors";

/** The part of the Lambda context we use (no @types/aws-lambda dependency). */
export interface LambdaContext {
  readonly awsRequestId: string;
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
}

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * `name` is the function's role (fanout, fetcher, processor). The `service`
 * dimension (what the alarm selects on) is POWERTOOLS_SERVICE_NAME when the stack
 * sets it, else the deployed function name, else the role.
 */
export function createObservability(name: string): Observability {
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME?.trim() || process.env.AWS_LAMBDA_FUNCTION_NAME?.trim() || name;
  return {
    // Powertools runs the replacer on every value it serialises, nested ones and formatted errors included.
    logger: new Logger({ serviceName, jsonReplacerFn: redactingReplacer }),
    metrics: new Metrics({ namespace: METRICS.namespace, serviceName }),
  };
}

/** Open file descriptors of this process, from /proc/self/fd; undefined off Linux. */
export function countOpenFds(): number | undefined {
  try {
    // Listing the directory opens one descriptor for itself: do not count it.
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return undefined;
  }
}

/** Wraps a handler's logic: context in the logs, fd metric published at the end, keys reset. */
export function instrument<E, R>(
  { logger, metrics }: Observability,
  fn: (event: E) => Promise<R>,
): (event: E, context?: LambdaContext) => Promise<R> {
  return async (event, context) => {
    if (context) logger.addContext(context as Parameters<Logger["addContext"]>[0]);
    try {
      return await fn(event);
    } catch (error) {
      logger.warn("invocation failed", { error: describeError(error) });
      // The Lambda runtime logs a thrown error's message too.
      if (error instanceof Error) error.message = redactText(error.message);
      throw error;
    } finally {
      const fds = countOpenFds();
      if (fds !== undefined) metrics.addMetric(METRICS.openFileDescriptors, MetricUnit.Count, fds);
      metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  };
}
