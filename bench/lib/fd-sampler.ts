/**
 * Samples another process's open file descriptors by counting the entries of
 * /proc/<pid>/fd. The loop runs in a worker thread of the benchmark's parent
 * process and sleeps with Atomics.wait between samples, so its rhythm does not
 * depend on the parent's event loop; results live in shared memory and can be
 * read at any time without a message round trip.
 *
 * The peak is a sampled peak: a spike shorter than the sampling gap can be
 * missed. `maxGapMs` (the longest time between two samples) says how fine the
 * sampling really was on a loaded machine.
 */
import { Worker } from "worker_threads";

export interface FdSample {
  /** Highest count seen since start (or the last reset). */
  readonly peak: number;
  /** Most recent count. */
  readonly last: number;
  /** Samples taken since start (or the last reset). */
  readonly samples: number;
  /** Longest time between two consecutive samples, in ms. */
  readonly maxGapMs: number;
  /** Median time between samples, in ms (0.25 ms resolution, upper edge). */
  readonly medianGapMs: number;
  /** 99th percentile of the time between samples, in ms. */
  readonly p99GapMs: number;
  /** Gaps of 10 ms or more (the issue asks for a sample every ≤ 10 ms). */
  readonly gapsOver10Ms: number;
  /** Nice value the sampler thread runs at (raised when the process may). */
  readonly nice: number;
}

export interface FdSampler {
  readonly pid: number;
  readonly intervalMs: number;
  /** Current statistics (peak so far, …). */
  read(): FdSample;
  /** Starts a new peak measurement. */
  reset(): void;
  /** Resolves once the first sample has been taken (or the process is gone). */
  started(): Promise<void>;
  /** Stops sampling and returns the final statistics. */
  stop(): Promise<FdSample>;
}

// Shared layout (Int32): 0 stop flag, 1 peak, 2 last, 3 samples, 4 max gap (µs),
// 5 reset request, 6 started, 7 gone (process ended), 8 nice value of the sampler thread,
// 9 unused, 10..10+GAP_BUCKETS gap histogram (0.25 ms buckets, the last one open-ended).
const HEAD = 10;
const GAP_BUCKETS = 400;
const SLOTS = HEAD + GAP_BUCKETS;
/** Nice value asked for the sampler thread (needs CAP_SYS_NICE; ignored otherwise). */
const SAMPLER_NICE = -10;

const SAMPLER_SOURCE = `
"use strict";
const { workerData } = require("worker_threads");
const fs = require("fs");
const { performance } = require("perf_hooks");
const s = new Int32Array(workerData.shared);
const dir = "/proc/" + workerData.pid + "/fd";
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let lastAt = 0;
// A loaded 2-core machine delays an ordinary thread's wakeups by tens of ms: raise
// this thread's priority when allowed (only this thread: the measured processes
// keep theirs).
Atomics.store(s, 8, 0);
try {
  const tid = Number(fs.readlinkSync("/proc/thread-self").split("/").pop());
  require("os").setPriority(tid, ${SAMPLER_NICE});
  Atomics.store(s, 8, require("os").getPriority(tid));
} catch {}
while (Atomics.load(s, 0) === 0) {
  if (Atomics.exchange(s, 5, 0) === 1) {
    Atomics.store(s, 1, Atomics.load(s, 2)); Atomics.store(s, 3, 0); Atomics.store(s, 4, 0);
    for (let i = ${HEAD}; i < ${SLOTS}; i++) Atomics.store(s, i, 0);
    lastAt = 0;
  }
  let count;
  try { count = fs.readdirSync(dir).length; } catch { Atomics.store(s, 7, 1); Atomics.store(s, 6, 1); break; }
  const now = performance.now();
  if (lastAt) {
    const gap = now - lastAt;
    const us = Math.round(gap * 1000);
    if (us > Atomics.load(s, 4)) Atomics.store(s, 4, us);
    Atomics.add(s, ${HEAD} + Math.min(${GAP_BUCKETS - 1}, Math.floor(gap * 4)), 1);
  }
  lastAt = now;
  Atomics.store(s, 2, count);
  if (count > Atomics.load(s, 1)) Atomics.store(s, 1, count);
  Atomics.add(s, 3, 1);
  Atomics.store(s, 6, 1);
  Atomics.wait(sleeper, 0, 0, workerData.intervalMs);
}
`;

function gapQuantile(s: Int32Array, total: number, q: number): number {
  let seen = 0;
  for (let i = HEAD; i < SLOTS; i++) {
    seen += s[i];
    if (total > 0 && seen >= q * total) return (i - HEAD + 1) / 4; // bucket's upper edge
  }
  return 0;
}

function snapshot(s: Int32Array): FdSample {
  let total = 0;
  let over10 = 0;
  for (let i = HEAD; i < SLOTS; i++) {
    total += s[i];
    if (i - HEAD >= 40) over10 += s[i]; // buckets from 10 ms up
  }
  return {
    peak: s[1],
    last: s[2],
    samples: s[3],
    maxGapMs: s[4] / 1000,
    medianGapMs: gapQuantile(s, total, 0.5),
    p99GapMs: gapQuantile(s, total, 0.99),
    gapsOver10Ms: over10,
    nice: s[8],
  };
}

/** Starts sampling `/proc/<pid>/fd` every `intervalMs` (default 2 ms; the issue asks for ≤ 10 ms). */
export function startFdSampler(pid: number, intervalMs = 2): FdSampler {
  const shared = new SharedArrayBuffer(SLOTS * 4);
  const s = new Int32Array(shared);
  const worker = new Worker(SAMPLER_SOURCE, { eval: true, workerData: { shared, pid, intervalMs } });
  worker.unref();
  let final: FdSample | undefined;
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return {
    pid,
    intervalMs,
    read: () => final ?? snapshot(s),
    reset() {
      Atomics.store(s, 5, 1);
    },
    async started() {
      const deadline = Date.now() + 10_000;
      while (Atomics.load(s, 6) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    },
    async stop() {
      if (final) return final;
      Atomics.store(s, 0, 1);
      await exited;
      final = snapshot(s);
      return final;
    },
  };
}
