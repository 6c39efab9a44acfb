/**
 * SQS and the Lambda event source mapping, in memory, with the semantics the
 * pipeline relies on:
 *  - a received message is invisible for the visibility timeout, then comes back
 *    unless it was deleted; each receive increments ApproximateReceiveCount;
 *  - a message that comes back after `maxReceiveCount` receives moves to the DLQ
 *    (redrive policy) instead of being delivered again;
 *  - at-least-once: with the `duplicate` fault a delivery gets a second copy that
 *    is delivered separately (possibly after the first copy was deleted);
 *  - the mapping polls batches of up to `batchSize`, runs at most
 *    `maximumConcurrency` invocations at once, and with ReportBatchItemFailures
 *    deletes every record not listed in `batchItemFailures`; a failed or throttled
 *    invocation, or an invalid response, leaves the whole batch to come back.
 * Times are in milliseconds of the local run (the runner scales AWS seconds).
 */
import { randomUUID } from "crypto";

export interface QueueOptions {
  readonly name: string;
  readonly visibilityTimeoutMs: number;
  /** From the redrive policy; undefined = no DLQ. */
  readonly maxReceiveCount?: number;
  /** Probability that a delivery is duplicated. */
  readonly duplicateRate: number;
  readonly random: () => number;
}

export interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly sentAt: number;
  receiveCount: number;
  visibleAt: number;
  state: "queued" | "deleted" | "dlq";
  /** Deliveries, including duplicate copies. */
  deliveries: number;
  duplicatesInjected: number;
}

export interface Delivery {
  readonly message: QueuedMessage;
  readonly receiptHandle: string;
  readonly receiveCount: number;
  readonly duplicate: boolean;
}

export class LocalQueue {
  readonly messages = new Map<string, QueuedMessage>();
  private readonly order: QueuedMessage[] = [];
  private readonly copies: QueuedMessage[] = [];
  private readonly handles = new Map<string, QueuedMessage>();
  private inFlightDeliveries = 0;
  readonly dlq: QueuedMessage[] = [];
  /** Called when something may have become receivable (new message, redelivered copy). */
  onReceivable?: () => void;

  constructor(readonly options: QueueOptions) {}

  send(body: string, messageId: string = randomUUID()): string {
    const message: QueuedMessage = {
      messageId,
      body,
      sentAt: Date.now(),
      receiveCount: 0,
      visibleAt: 0,
      state: "queued",
      deliveries: 0,
      duplicatesInjected: 0,
    };
    this.messages.set(messageId, message);
    this.order.push(message);
    this.onReceivable?.();
    return messageId;
  }

  /** Up to `max` deliveries; duplicate copies first (they are already "out there"). */
  receive(max: number, now = Date.now()): Delivery[] {
    const out: Delivery[] = [];
    while (out.length < max && this.copies.length > 0) {
      const message = this.copies.shift() as QueuedMessage;
      out.push(this.deliver(message, true));
    }
    for (let i = 0; i < this.order.length && out.length < max; i++) {
      const message = this.order[i];
      if (message.state !== "queued" || message.visibleAt > now) continue;
      const limit = this.options.maxReceiveCount;
      if (limit !== undefined && message.receiveCount >= limit) {
        message.state = "dlq";
        this.dlq.push(message);
        continue;
      }
      message.visibleAt = now + this.options.visibilityTimeoutMs;
      out.push(this.deliver(message, false));
      if (this.options.duplicateRate > 0 && this.options.random() < this.options.duplicateRate) {
        message.duplicatesInjected++;
        this.copies.push(message);
      }
    }
    // Keep the scan short: drop finished messages from the front.
    while (this.order.length > 0 && this.order[0].state !== "queued") this.order.shift();
    return out;
  }

  private deliver(message: QueuedMessage, duplicate: boolean): Delivery {
    message.receiveCount++;
    message.deliveries++;
    this.inFlightDeliveries++;
    const receiptHandle = `${message.messageId}#${message.deliveries}`;
    this.handles.set(receiptHandle, message);
    return { message, receiptHandle, receiveCount: message.receiveCount, duplicate };
  }

  /** Deletes the message (a stale handle of a deleted message is a no-op, as in SQS). */
  delete(receiptHandle: string): void {
    const message = this.handles.get(receiptHandle);
    if (message && message.state === "queued") message.state = "deleted";
    this.settle(receiptHandle);
  }

  /** The delivery is over without a delete: the message comes back when its visibility timeout ends. */
  abandon(receiptHandle: string): void {
    this.settle(receiptHandle);
  }

  private settle(receiptHandle: string): void {
    if (this.handles.delete(receiptHandle)) this.inFlightDeliveries--;
  }

  /** Milliseconds until the next invisible message becomes visible (undefined: none waiting). */
  nextVisibleIn(now = Date.now()): number | undefined {
    let next: number | undefined;
    for (const m of this.order) {
      if (m.state !== "queued" || m.visibleAt <= now) continue;
      next = next === undefined ? m.visibleAt : Math.min(next, m.visibleAt);
    }
    return next === undefined ? undefined : next - now;
  }

  /** Every message deleted or in the DLQ, no copy pending, no delivery in flight. */
  settled(): boolean {
    return this.inFlightDeliveries === 0 && this.copies.length === 0 && this.order.every((m) => m.state !== "queued");
  }

  counts() {
    let queued = 0;
    let deleted = 0;
    let duplicates = 0;
    let redelivered = 0;
    for (const m of this.messages.values()) {
      if (m.state === "queued") queued++;
      else if (m.state === "deleted") deleted++;
      duplicates += m.duplicatesInjected;
      if (m.receiveCount - m.duplicatesInjected > 1) redelivered++;
    }
    return { sent: this.messages.size, queued, deleted, dlq: this.dlq.length, inFlight: this.inFlightDeliveries, duplicatesInjected: duplicates, redelivered };
  }
}

/** The SQS record a Lambda receives. */
export function sqsRecord(d: Delivery, queueArn: string, region: string) {
  return {
    messageId: d.message.messageId,
    receiptHandle: d.receiptHandle,
    body: d.message.body,
    attributes: {
      ApproximateReceiveCount: String(d.receiveCount),
      SentTimestamp: String(d.message.sentAt),
      SenderId: "LOCAL",
      ApproximateFirstReceiveTimestamp: String(d.message.sentAt),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

export type MappingInvoke = (event: { Records: ReturnType<typeof sqsRecord>[] }) => Promise<
  { ok: true; result: unknown } | { ok: false; reason: string }
>;

export interface MappingOptions {
  readonly batchSize: number;
  readonly maximumConcurrency: number;
  readonly reportBatchItemFailures: boolean;
  readonly queueArn: string;
  readonly region: string;
}

export interface MappingStats {
  invocations: number;
  failedInvocations: number;
  recordsAcknowledged: number;
  recordsRetried: number;
  peakConcurrent: number;
  failureReasons: Record<string, number>;
}

export class EventSourceMapping {
  private inFlight = 0;
  private timer?: NodeJS.Timeout;
  /** Polls only between start() and stop(). */
  private stopped = true;
  readonly stats: MappingStats = {
    invocations: 0,
    failedInvocations: 0,
    recordsAcknowledged: 0,
    recordsRetried: 0,
    peakConcurrent: 0,
    failureReasons: {},
  };

  constructor(
    private readonly queue: LocalQueue,
    private readonly options: MappingOptions,
    private readonly invoke: MappingInvoke,
  ) {
    queue.onReceivable = () => this.pump();
  }

  start(): void {
    this.stopped = false;
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  busy(): number {
    return this.inFlight;
  }

  private pump(): void {
    if (this.stopped) return;
    while (this.inFlight < this.options.maximumConcurrency) {
      const batch = this.queue.receive(this.options.batchSize);
      if (batch.length === 0) break;
      this.inFlight++;
      this.stats.peakConcurrent = Math.max(this.stats.peakConcurrent, this.inFlight);
      void this.process(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
    clearTimeout(this.timer);
    const wait = this.queue.nextVisibleIn();
    if (wait !== undefined) this.timer = setTimeout(() => this.pump(), Math.max(1, wait + 1));
  }

  private async process(batch: Delivery[]): Promise<void> {
    this.stats.invocations++;
    const event = { Records: batch.map((d) => sqsRecord(d, this.options.queueArn, this.options.region)) };
    let failed: Set<string> | "all";
    try {
      const outcome = await this.invoke(event);
      failed = outcome.ok ? this.failuresOf(outcome.result, batch) : this.invocationFailed(outcome.reason);
    } catch (error) {
      failed = this.invocationFailed(String(error));
    }
    for (const d of batch) {
      if (failed === "all" || failed.has(d.message.messageId)) {
        this.stats.recordsRetried++;
        this.queue.abandon(d.receiptHandle);
      } else {
        this.stats.recordsAcknowledged++;
        this.queue.delete(d.receiptHandle);
      }
    }
  }

  private invocationFailed(reason: string): "all" {
    this.stats.failedInvocations++;
    this.stats.failureReasons[reason] = (this.stats.failureReasons[reason] ?? 0) + 1;
    return "all";
  }

  /** The message ids to retry from a partial batch response ("all" when the response is invalid). */
  private failuresOf(result: unknown, batch: Delivery[]): Set<string> | "all" {
    if (!this.options.reportBatchItemFailures) return new Set();
    if (result === null || result === undefined) return new Set();
    const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
    if (failures === undefined || failures === null) return new Set();
    if (!Array.isArray(failures)) return this.invocationFailed("invalid batchItemFailures");
    const ids = new Set(batch.map((d) => d.message.messageId));
    const out = new Set<string>();
    for (const f of failures) {
      const id = (f as { itemIdentifier?: unknown })?.itemIdentifier;
      // AWS treats an empty or unknown identifier as a failure of the whole batch.
      if (typeof id !== "string" || !ids.has(id)) return this.invocationFailed("invalid itemIdentifier in batchItemFailures");
      out.add(id);
    }
    return out;
  }
}
