/**
 * SQS and the Lambda event source mapping, in memory, with the semantics the
 * pipeline relies on:
 *  - a received message is invisible for the visibility timeout, then comes back
 *    unless it was deleted; each receive increments ApproximateReceiveCount;
 *  - a message that comes back after `maxReceiveCount` receives moves to the DLQ
 *    (redrive policy) instead of being delivered again;
 *  - at-least-once: with the `duplicate` fault a delivery gets a second copy that
 *    is delivered separately (possibly after the first copy was deleted); with
 *    the `stale-token` fault a message that was deleted is delivered once more
 *    (a work-queue message whose task token has closed by then);
 *  - a message larger than the queue's maximum message size is refused at send;
 *  - the mapping polls batches of up to `batchSize`, runs at most
 *    `maximumConcurrency` invocations at once, and with ReportBatchItemFailures
 *    deletes every record not listed in `batchItemFailures`; a failed or throttled
 *    invocation, or an invalid response, leaves the whole batch to come back.
 * Times are in milliseconds of the local run (the runner scales AWS seconds).
 * Each queue records how long messages waited: sent → first receive, and sent →
 * the receive whose invocation acknowledged them.
 */
import { randomUUID } from "crypto";

export interface QueueOptions {
  readonly name: string;
  readonly visibilityTimeoutMs: number;
  /** From the redrive policy; undefined = no DLQ. */
  readonly maxReceiveCount?: number;
  /** Probability that a delivery is duplicated. */
  readonly duplicateRate: number;
  /** Probability that a deleted message is delivered once more (after it was acknowledged). @default 0 */
  readonly redeliverAfterDeleteRate?: number;
  /** Largest body accepted, in UTF-8 bytes. @default no limit */
  readonly maxMessageSizeBytes?: number;
  readonly random: () => number;
}

/** SQS's answer to a message over the queue's maximum size. */
export class MessageTooLongError extends Error {
  constructor(queue: string, bytes: number, max: number) {
    super(`Message of ${bytes} bytes is over the maximum message size of queue ${queue} (${max} bytes)`);
    this.name = "InvalidParameterValue";
  }
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
  /** Deliveries after the message was deleted (fault `stale-token`). */
  redeliveredAfterDelete: number;
  /** When it was first received, and when the receive that was acknowledged happened (ms, local clock). */
  firstReceivedAt?: number;
  acknowledgedReceiveAt?: number;
}

/** p50 / p99 / max of a set of milliseconds. */
export interface WaitStats {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export function waitStats(values: readonly number[]): WaitStats {
  if (values.length === 0) return { count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { count: sorted.length, p50Ms: Math.round(at(0.5)), p99Ms: Math.round(at(0.99)), maxMs: Math.round(sorted[sorted.length - 1]) };
}

export interface Delivery {
  readonly message: QueuedMessage;
  readonly receiptHandle: string;
  readonly receiveCount: number;
  readonly duplicate: boolean;
  /** Delivered after the message was deleted (fault `stale-token`). */
  readonly afterDelete: boolean;
  readonly receivedAt: number;
}

export class LocalQueue {
  readonly messages = new Map<string, QueuedMessage>();
  private readonly order: QueuedMessage[] = [];
  /** Queued messages received and not yet visible again (so the next-visible scan stays short). */
  private readonly invisible = new Set<QueuedMessage>();
  private readonly copies: { message: QueuedMessage; afterDelete: boolean }[] = [];
  private readonly handles = new Map<string, { message: QueuedMessage; receivedAt: number }>();
  private inFlightDeliveries = 0;
  readonly dlq: QueuedMessage[] = [];
  /** Called when something may have become receivable (new message, redelivered copy). */
  onReceivable?: () => void;

  constructor(readonly options: QueueOptions) {}

  get name(): string {
    return this.options.name;
  }

  send(body: string, messageId: string = randomUUID()): string {
    const max = this.options.maxMessageSizeBytes;
    if (max !== undefined) {
      const bytes = Buffer.byteLength(body, "utf8");
      if (bytes > max) throw new MessageTooLongError(this.options.name, bytes, max);
    }
    const message: QueuedMessage = {
      messageId,
      body,
      sentAt: Date.now(),
      receiveCount: 0,
      visibleAt: 0,
      state: "queued",
      deliveries: 0,
      duplicatesInjected: 0,
      redeliveredAfterDelete: 0,
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
      const copy = this.copies.shift() as { message: QueuedMessage; afterDelete: boolean };
      out.push(this.deliver(copy.message, true, copy.afterDelete, now));
    }
    for (let i = 0; i < this.order.length && out.length < max; i++) {
      const message = this.order[i];
      if (message.state !== "queued" || message.visibleAt > now) continue;
      const limit = this.options.maxReceiveCount;
      if (limit !== undefined && message.receiveCount >= limit) {
        message.state = "dlq";
        this.invisible.delete(message);
        this.dlq.push(message);
        continue;
      }
      message.visibleAt = now + this.options.visibilityTimeoutMs;
      this.invisible.add(message);
      out.push(this.deliver(message, false, false, now));
      if (this.options.duplicateRate > 0 && this.options.random() < this.options.duplicateRate) {
        message.duplicatesInjected++;
        this.copies.push({ message, afterDelete: false });
      }
    }
    // Keep the scan short: drop finished messages from the front.
    while (this.order.length > 0 && this.order[0].state !== "queued") this.order.shift();
    return out;
  }

  private deliver(message: QueuedMessage, duplicate: boolean, afterDelete: boolean, now: number): Delivery {
    message.receiveCount++;
    message.deliveries++;
    message.firstReceivedAt ??= now;
    this.inFlightDeliveries++;
    const receiptHandle = `${message.messageId}#${message.deliveries}`;
    this.handles.set(receiptHandle, { message, receivedAt: now });
    return { message, receiptHandle, receiveCount: message.receiveCount, duplicate, afterDelete, receivedAt: now };
  }

  /** Deletes the message (a stale handle of a deleted message is a no-op, as in SQS). */
  delete(receiptHandle: string): void {
    const held = this.handles.get(receiptHandle);
    if (held && held.message.state === "queued") {
      const message = held.message;
      message.state = "deleted";
      message.acknowledgedReceiveAt = held.receivedAt;
      this.invisible.delete(message);
      const rate = this.options.redeliverAfterDeleteRate ?? 0;
      if (rate > 0 && this.options.random() < rate) {
        message.redeliveredAfterDelete++;
        this.copies.push({ message, afterDelete: true });
        this.settle(receiptHandle);
        this.onReceivable?.();
        return;
      }
    }
    this.settle(receiptHandle);
  }

  /** Restarts an in-flight delivery's visibility timeout from now (as ChangeMessageVisibility would). */
  restartVisibility(receiptHandle: string, now = Date.now()): void {
    const held = this.handles.get(receiptHandle);
    if (!held || held.message.state !== "queued" || held.message.receiveCount === 0) return;
    // Only the latest delivery of a message owns its visibility (a duplicate copy does not move it).
    if (receiptHandle !== `${held.message.messageId}#${held.message.deliveries}`) return;
    held.message.visibleAt = now + this.options.visibilityTimeoutMs;
    this.invisible.add(held.message);
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
    for (const m of this.invisible) {
      if (m.state !== "queued") {
        this.invisible.delete(m);
        continue;
      }
      if (m.visibleAt <= now) return 0;
      next = next === undefined ? m.visibleAt : Math.min(next, m.visibleAt);
    }
    return next === undefined ? undefined : next - now;
  }

  /** Every message deleted or in the DLQ, no copy pending, no delivery in flight. */
  settled(): boolean {
    return this.inFlightDeliveries === 0 && this.copies.length === 0 && this.order.every((m) => m.state !== "queued");
  }

  /** How long messages waited: sent → first receive, and sent → the receive that was acknowledged. */
  waits(): { firstReceive: WaitStats; acknowledgedReceive: WaitStats } {
    const first: number[] = [];
    const acknowledged: number[] = [];
    for (const m of this.messages.values()) {
      if (m.firstReceivedAt !== undefined) first.push(m.firstReceivedAt - m.sentAt);
      if (m.acknowledgedReceiveAt !== undefined) acknowledged.push(m.acknowledgedReceiveAt - m.sentAt);
    }
    return { firstReceive: waitStats(first), acknowledgedReceive: waitStats(acknowledged) };
  }

  counts() {
    let queued = 0;
    let deleted = 0;
    let duplicates = 0;
    let redelivered = 0;
    let afterDelete = 0;
    for (const m of this.messages.values()) {
      if (m.state === "queued") queued++;
      else if (m.state === "deleted") deleted++;
      duplicates += m.duplicatesInjected;
      afterDelete += m.redeliveredAfterDelete;
      if (m.receiveCount - m.duplicatesInjected - m.redeliveredAfterDelete > 1) redelivered++;
    }
    return {
      sent: this.messages.size,
      queued,
      deleted,
      dlq: this.dlq.length,
      inFlight: this.inFlightDeliveries,
      duplicatesInjected: duplicates,
      redeliveredAfterDelete: afterDelete,
      redelivered,
    };
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
      ApproximateFirstReceiveTimestamp: String(d.message.firstReceivedAt ?? d.receivedAt),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/**
 * Invokes the function with a batch. `started` is called when the invocation gets an execution
 * environment: in AWS that is at once, locally it may wait for one of the few processes, and the
 * batch's visibility timeout is restarted then, so a local wait is not mistaken for a slow invocation.
 */
export type MappingInvoke = (event: { Records: ReturnType<typeof sqsRecord>[] }, started: () => void) => Promise<
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
  /** Deliveries after the message was deleted (fault stale-token) that the function acknowledged. */
  staleRecordsAcknowledged: number;
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
    staleRecordsAcknowledged: 0,
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
      const outcome = await this.invoke(event, () => {
        for (const d of batch) this.queue.restartVisibility(d.receiptHandle);
      });
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
        if (d.afterDelete) this.stats.staleRecordsAcknowledged++;
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
