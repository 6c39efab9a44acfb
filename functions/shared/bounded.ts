/**
 * The one bounded-concurrency helper. Every loop over an input-sized array goes
 * through it; `Promise.all` is not used anywhere in functions/ (a test greps).
 *
 * Unlike mapping every item to a p-limit call and awaiting them all, nothing
 * here holds a promise per input item: the producer waits for a free slot before
 * it creates the next task, so memory stays O(concurrency) and a streaming
 * producer (the processor reading an S3 body) is paused while the queue is full:
 * backpressure.
 */
import pLimit from "p-limit";

export class BoundedQueue {
  private readonly limit: pLimit.Limit;
  private inFlight = 0;
  private wakeups: Array<() => void> = [];
  private failed = false;
  private firstError: unknown;

  constructor(readonly concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be an integer >= 1 (got ${concurrency})`);
    }
    // p-limit is the hard ceiling; the slot accounting below only keeps its
    // pending queue empty so that producers wait instead of piling up work.
    this.limit = pLimit(concurrency);
  }

  /** Tasks started and not settled yet (never above `concurrency`). */
  get active(): number {
    return this.inFlight;
  }

  /**
   * Waits for a free slot, then starts `task` (does not wait for it to finish).
   * Once a task has failed, nothing new starts: this throws that first error.
   */
  async submit(task: () => Promise<unknown>): Promise<void> {
    while (this.inFlight >= this.concurrency && !this.failed) await this.nextSettle();
    if (this.failed) throw this.firstError;
    this.inFlight++;
    this.limit(task).then(
      () => this.settle(),
      (error: unknown) => {
        if (!this.failed) {
          this.failed = true;
          this.firstError = error;
        }
        this.settle();
      },
    );
  }

  /** Waits until every started task has settled; never throws. */
  async idle(): Promise<void> {
    while (this.inFlight > 0) await this.nextSettle();
  }

  /** Waits until every started task has settled, then throws the first task error, if any. */
  async drain(): Promise<void> {
    await this.idle();
    if (this.failed) throw this.firstError;
  }

  private settle(): void {
    this.inFlight--;
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const wake of wakeups) wake();
  }

  private nextSettle(): Promise<void> {
    return new Promise((resolve) => this.wakeups.push(resolve));
  }
}

/**
 * Maps `items` through `fn` with at most `limit` calls in flight; results keep
 * the input order. On the first failure nothing new starts, the calls in flight
 * are awaited, and the first error is thrown.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const queue = new BoundedQueue(limit);
  const results = new Array<R>(items.length);
  try {
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      await queue.submit(async () => {
        results[i] = await fn(item, i);
      });
    }
  } finally {
    await queue.idle();
  }
  await queue.drain();
  return results;
}
