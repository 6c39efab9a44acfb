/**
 * S3 for a local run: s3rver (scripts/lib/s3-server.ts) with the SlowDown fault
 * proxy in front of it. Every S3 request of every function goes through these
 * two servers, so when the runner is the compiled bundle they run in a worker
 * thread of their own, at a raised priority: s3rver's file I/O and HTTP parsing
 * then use the second core instead of competing with the state machine
 * interpreter on the main thread, or being preempted by the function processes.
 * (Under jest the runner is TypeScript, with no compiled file to start a worker from: they run
 * on the main thread.)
 */
import * as fs from "fs";
import * as os from "os";
import { isMainThread, parentPort, Worker, workerData } from "worker_threads";
import { startS3Server } from "../lib/s3-server";
import { seededRandom, startS3FaultProxy } from "./faults";

const ROLE = "fanout-local-s3";

/**
 * Scheduling priority of the S3 thread (a nice value). s3rver is single-threaded and every function
 * waits on it: at normal priority it was busy 80% of a 30 × 40 run's wall time. In 4 paired runs
 * (30 and 60 messages × 40 items, on the 2-core machine shared with other work) -5 was faster in 3
 * (by 8–33%) and slower in 1 (by 8%): a small, noisy gain.
 */
const DEFAULT_S3_NICE = -5;

export interface S3StackOptions {
  readonly bucket: string;
  /** SlowDown (503) probability per request. */
  readonly slowDownRate: number;
  readonly seed: number;
  /** Run in a worker thread when possible. @default true */
  readonly worker?: boolean;
}

export interface S3Stack {
  /** s3rver itself (the runner's own reads go here, never faulted). */
  readonly endpoint: string;
  /** The fault proxy: the functions' AWS_ENDPOINT_URL_S3. */
  readonly proxyEndpoint: string;
  /** Where s3rver keeps the objects (removed on close). */
  readonly directory: string;
  /** Whether it runs in a worker thread. */
  readonly inWorker: boolean;
  /** SlowDown responses injected so far. */
  injected(): Promise<number>;
  /** Seconds the S3 thread's event loop was busy so far (its share of the runner's CPU; undefined on the main thread). */
  busySeconds(): Promise<number | undefined>;
  close(): Promise<void>;
}

interface Ready {
  readonly type: "ready";
  readonly endpoint: string;
  readonly proxyEndpoint: string;
  readonly directory: string;
}

/**
 * s3rver writes two files per object under os.tmpdir(). On this kind of machine
 * /tmp is a shared virtual disk and /dev/shm is memory: the objects of a local
 * run are small, so they go to /dev/shm when it exists (LOCAL_S3_DIR overrides).
 * startS3Server creates its folder synchronously under os.tmpdir(), which reads
 * TMPDIR on each call, so TMPDIR is pointed there only for that call.
 */
function startS3ServerIn(dir: string | undefined, bucket: string): ReturnType<typeof startS3Server> {
  if (!dir) return startS3Server({ buckets: [bucket] });
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return startS3Server({ buckets: [bucket] });
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}

function objectDir(): string | undefined {
  const chosen = process.env.LOCAL_S3_DIR ?? "/dev/shm";
  try {
    fs.accessSync(chosen, fs.constants.W_OK);
    return fs.statSync(chosen).isDirectory() ? chosen : undefined;
  } catch {
    return undefined;
  }
}

async function startHere(options: S3StackOptions): Promise<S3Stack> {
  const server = await startS3ServerIn(objectDir(), options.bucket);
  const proxy = await startS3FaultProxy(server.endpoint, options.slowDownRate, seededRandom(options.seed));
  return {
    endpoint: server.endpoint,
    proxyEndpoint: proxy.endpoint,
    directory: server.directory,
    inWorker: false,
    injected: async () => proxy.counts.injected["503"] ?? 0,
    busySeconds: async () => (isMainThread ? undefined : performance.eventLoopUtilization().active / 1000),
    async close() {
      await proxy.close();
      await server.close();
    },
  };
}

/** A worker can start from this file only when it is plain JavaScript (the compiled runner). */
function workerScript(): string | undefined {
  return __filename.endsWith(".js") ? __filename : undefined;
}

export async function startS3Stack(options: S3StackOptions): Promise<S3Stack> {
  const script = options.worker === false ? undefined : workerScript();
  if (!script) return startHere(options);
  const worker = new Worker(script, { workerData: { role: ROLE, options } });
  const ready = await new Promise<Ready>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the S3 worker exited (code ${code}) before it was ready`)));
  });
  let pending: ((n: number) => void)[] = [];
  let pendingBusy: ((n: number) => void)[] = [];
  worker.on("message", (m: { type: string; injected?: number; busySeconds?: number }) => {
    if (m.type === "injected") for (const p of pending.splice(0)) p(m.injected ?? 0);
    if (m.type === "busy") for (const p of pendingBusy.splice(0)) p(m.busySeconds ?? 0);
  });
  return {
    endpoint: ready.endpoint,
    proxyEndpoint: ready.proxyEndpoint,
    directory: ready.directory,
    inWorker: true,
    injected: () =>
      new Promise<number>((resolve) => {
        pending.push(resolve);
        worker.postMessage("injected");
      }),
    busySeconds: () =>
      new Promise<number>((resolve) => {
        pendingBusy.push(resolve);
        worker.postMessage("busy");
      }),
    async close() {
      pending = [];
      pendingBusy = [];
      const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
      worker.postMessage("close");
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** True inside the S3 worker thread (the runner's entry point then serves instead of running). */
export function isS3Worker(): boolean {
  return !isMainThread && (workerData as { role?: string } | null)?.role === ROLE;
}

/** The worker's side. */
export async function serveS3Worker(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("serveS3Worker runs in a worker thread");
  // Every function's S3 request queues on this one thread: keep it from being preempted by the
  // function processes it serves (on Linux this renices only the calling thread; needs privileges,
  // else it runs at normal priority). LOCAL_S3_NICE=0 turns it off.
  const nice = Number(process.env.LOCAL_S3_NICE ?? DEFAULT_S3_NICE);
  if (Number.isInteger(nice) && nice !== 0) {
    try {
      os.setPriority(nice);
    } catch {
      // not permitted: normal priority
    }
  }
  const stack = await startHere((workerData as { options: S3StackOptions }).options);
  port.on("message", (m: string) => {
    if (m === "injected") void stack.injected().then((injected) => port.postMessage({ type: "injected", injected }));
    if (m === "busy") port.postMessage({ type: "busy", busySeconds: performance.eventLoopUtilization().active / 1000 });
    if (m === "close") void stack.close().finally(() => process.exit(0));
  });
  const ready: Ready = { type: "ready", endpoint: stack.endpoint, proxyEndpoint: stack.proxyEndpoint, directory: stack.directory };
  port.postMessage(ready);
}
