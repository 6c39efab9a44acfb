/** CloudWatch namespace and metric names published by the functions (EMF). */
export const METRICS = {
  namespace: "FanoutPipeline",
  /** Open file descriptors at the end of an invocation (unit: Count); dimension `service` = function name. */
  openFileDescriptors: "OpenFileDescriptors",
  /** fanout: a redelivered message whose execution already existed (unit: Count). */
  duplicateDelivery: "DuplicateDelivery",
  /** fanout: a message that failed validation and was written to `rejected/` (unit: Count). */
  messageRejected: "MessageRejected",
  /** fanout: executions started (unit: Count). */
  executionStarted: "ExecutionStarted",
  /** fanout: records handed back to SQS for a retry (unit: Count). */
  recordRetried: "RecordRetried",
  /** processor (Finalize): items of a finished job that succeeded / failed (unit: Count). */
  itemsSucceeded: "ItemsSucceeded",
  itemsFailed: "ItemsFailed",
  /** fetcher, processor: a work-queue message whose task token was already closed (duplicate or stale delivery; unit: Count). */
  taskTokenClosed: "TaskTokenClosed",
} as const;
