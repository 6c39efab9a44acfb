/**
 * Samples other processes' open file descriptors by counting the entries of
 * /proc/<pid>/fd (its size, on Linux 6.2 and later). One thread per process
 * does all the sampling (a Lambda child of the local runner, a benchmark cell,
 * an integration test's function): each watched pid has its own period and
 * its own statistics in shared memory, read at any time without a message round
 * trip. The thread sleeps with Atomics.wait between samples, so its rhythm does
 * not depend on the parent's event loop, and it exists only while something is
 * watched.
 *
 * The peak is a sampled peak: a spike shorter than the sampling gap can be
 * missed. `maxGapMs` (the longest time between two samples) says how fine the
 * sampling really was on a loaded machine.
 */
import { MessageChannel, Worker, type MessagePort } from "worker_threads";

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
  /** Gaps of 10 ms or more (a loaded machine). */
  readonly gapsOver10Ms: number;
  /** Nice value the sampling thread runs at (raised when the process may). */
  readonly nice: number;
}

export interface FdSampler {
  readonly pid: number;
  readonly intervalMs: number;
  /** Current statistics (peak so far, …). */
  read(): FdSample;
  /** Starts a new peak measurement; resolves once the first sample after it is in. */
  reset(): Promise<void>;
  /** Resolves once the first sample has been taken (or the process is gone). */
  started(): Promise<void>;
  /** Stops sampling and returns the final statistics. */
  stop(): Promise<FdSample>;
}

// Per watched pid (Int32): 0 stop request, 1 peak, 2 last, 3 samples, 4 max gap (µs),
// 5 reset request, 6 started, 7 gone (process ended), 8 nice value of the thread,
// 9 stopped (the thread let go of it), 10..10+GAP_BUCKETS gap histogram (0.25 ms buckets, the last open-ended).
const STOP = 0;
const RESET = 5;
const STARTED = 6;
const STOPPED = 9;
const HEAD = 10;
const GAP_BUCKETS = 400;
const SLOTS = HEAD + GAP_BUCKETS;
/** Nice value asked for the sampling thread (needs CAP_SYS_NICE; ignored otherwise). */
const SAMPLER_NICE = -10;

const THREAD_SOURCE = `
"use strict";
const { workerData, receiveMessageOnPort } = require("worker_threads");
const fs = require("fs");
const { performance } = require("perf_hooks");
const wake = new Int32Array(workerData.wake);
// A loaded 2-core machine delays an ordinary thread's wakeups by tens of ms: raise
// this thread's priority when allowed (only this thread: the measured processes keep theirs).
let nice = 0;
try {
  const tid = Number(fs.readlinkSync("/proc/thread-self").split("/").pop());
  require("os").setPriority(tid, ${SAMPLER_NICE});
  nice = require("os").getPriority(tid);
} catch {}
// Linux 6.2 and later report a /proc/<pid>/fd directory's open descriptors as its size: one stat
// instead of listing up to 1,024 entries every sample (the listing cost a quarter of a core at 2 ms).
// Older kernels report 0: list the entries there.
let statCounts = false;
try { statCounts = fs.statSync("/proc/self/fd").size > 0; } catch {}
const watches = [];
const done = (w) => { Atomics.store(w.s, ${STARTED}, 1); Atomics.store(w.s, ${STOPPED}, 1); Atomics.notify(w.s, ${STOPPED}); Atomics.notify(w.s, ${RESET}); };
for (;;) {
  for (let m; (m = receiveMessageOnPort(workerData.port)); ) {
    const s = new Int32Array(m.message.shared);
    Atomics.store(s, 8, nice);
    watches.push({ s, dir: "/proc/" + m.message.pid + "/fd", every: m.message.intervalMs, due: 0, lastAt: 0 });
  }
  let now = performance.now();
  let next = Infinity;
  for (let i = watches.length - 1; i >= 0; i--) {
    const w = watches[i];
    const s = w.s;
    if (Atomics.load(s, ${STOP}) === 1) { done(w); watches.splice(i, 1); continue; }
    const resetAsked = Atomics.load(s, ${RESET}) === 1;
    if (resetAsked) {
      Atomics.store(s, 1, Atomics.load(s, 2)); Atomics.store(s, 3, 0); Atomics.store(s, 4, 0);
      for (let j = ${HEAD}; j < ${SLOTS}; j++) Atomics.store(s, j, 0);
      w.lastAt = 0;
    }
    if (resetAsked || now >= w.due) {
      let count;
      try { count = statCounts ? fs.statSync(w.dir).size : fs.readdirSync(w.dir).length; } catch { Atomics.store(s, 7, 1); done(w); watches.splice(i, 1); continue; }
      now = performance.now();
      if (w.lastAt) {
        const gap = now - w.lastAt;
        const us = Math.round(gap * 1000);
        if (us > Atomics.load(s, 4)) Atomics.store(s, 4, us);
        Atomics.add(s, ${HEAD} + Math.min(${GAP_BUCKETS - 1}, Math.floor(gap * 4)), 1);
      }
      w.lastAt = now;
      w.due = now + w.every;
      Atomics.store(s, 2, count);
      if (count > Atomics.load(s, 1)) Atomics.store(s, 1, count);
      Atomics.add(s, 3, 1);
      Atomics.store(s, ${STARTED}, 1);
      if (resetAsked) { Atomics.store(s, ${RESET}, 0); Atomics.notify(s, ${RESET}); }
    }
    next = Math.min(next, w.due);
  }
  // Sleep until the next sample is due, or until the parent adds, resets or stops a watch.
  const seen = Atomics.load(wake, 0);
  const ms = next === Infinity ? undefined : Math.max(0, next - performance.now());
  if (ms === undefined || ms > 0) Atomics.wait(wake, 0, seen, ms);
}
`;

/** The process's sampling thread, started with the first watch and ended with the last. */
interface SamplingThread {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly wake: Int32Array;
  watching: number;
}
let thread: SamplingThread | undefined;

function acquireThread(): SamplingThread {
  if (!thread) {
    const { port1, port2 } = new MessageChannel();
    const wake = new SharedArrayBuffer(4);
    const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { port: port2, wake }, transferList: [port2] });
    worker.unref();
    port1.unref();
    thread = { worker, port: port1, wake: new Int32Array(wake), watching: 0 };
  }
  thread.watching++;
  return thread;
}

function releaseThread(t: SamplingThread): void {
  t.watching--;
  if (t.watching === 0 && thread === t) {
    thread = undefined;
    t.port.close();
    void t.worker.terminate();
  }
}

function poke(t: SamplingThread): void {
  Atomics.add(t.wake, 0, 1);
  Atomics.notify(t.wake, 0);
}

/**
 * Resolves when slot `index` of `s` no longer holds `value`, or the thread has
 * let go of the watch. Polls on a timer: Node's Atomics.waitAsync neither keeps
 * the event loop alive nor wakes it when notified.
 */
async function changed(s: Int32Array, index: number, value: number): Promise<void> {
  while (Atomics.load(s, index) === value && (index === STOPPED || Atomics.load(s, STOPPED) === 0)) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

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

/** Starts sampling `/proc/<pid>/fd` every `intervalMs` (default 2 ms). */
export function startFdSampler(pid: number, intervalMs = 2): FdSampler {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`startFdSampler: pid must be a positive integer (given ${pid})`);
  if (!(intervalMs > 0)) throw new Error(`startFdSampler: intervalMs must be > 0 (given ${intervalMs})`);
  const shared = new SharedArrayBuffer(SLOTS * 4);
  const s = new Int32Array(shared);
  const t = acquireThread();
  t.port.postMessage({ shared, pid, intervalMs });
  poke(t);
  let final: FdSample | undefined;
  let stopping: Promise<FdSample> | undefined;
  return {
    pid,
    intervalMs,
    read: () => final ?? snapshot(s),
    async reset() {
      if (final) return;
      Atomics.store(s, RESET, 1);
      poke(t);
      await changed(s, RESET, 1);
    },
    async started() {
      await changed(s, STARTED, 0);
    },
    stop() {
      stopping ??= (async () => {
        Atomics.store(s, STOP, 1);
        poke(t);
        await changed(s, STOPPED, 0);
        final = snapshot(s);
        releaseThread(t);
        return final;
      })();
      return stopping;
    },
  };
}
