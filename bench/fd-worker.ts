/**
 * One cell of the file-descriptor benchmark, run in a child process under
 * `ulimit -n 1024` (the parent samples /proc/<pid>/fd while it runs).
 *
 * The cell comes in BENCH_CELL (JSON: variant, n, bytes, bucket); the S3
 * endpoint, credentials and (for `ours`) the budget come from the environment
 * exactly as a deployed function gets them. Protocol on stdout, one JSON line
 * each: `{"ready":…}` once modules are loaded and module-scope clients exist,
 * then, after the parent writes a line to stdin (its sampler is running),
 * `{"result":…}`.
 *
 * Workload: for each of N items, PutObject of `bytes` bytes, then GetObject of
 * the same key with the body read to its end (bytes counted and checked). The
 * three variants differ only in how clients are made and how the N items are
 * scheduled:
 *   naive        the incident's pattern: a new S3Client for every operation,
 *                one unbounded Promise.all over the items
 *   sdk-default  one shared S3Client with the SDK's default request handler,
 *                one unbounded Promise.all over the items
 *   ours         the functions' shared runtime: s3Client() from
 *                functions/shared/clients (agent instances, MAX_SOCKETS) and
 *                mapBounded from functions/shared/bounded (TASK_CONCURRENCY;
 *                the parent sets it for the TASK_CONCURRENCY axis)
 *
 * The endpoint may be https:// (the parent trusts the run's certificate through
 * NODE_EXTRA_CA_CERTS) or http:// (the control): the code is the same.
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mapBounded } from "../functions/shared/bounded";
import { s3Client } from "../functions/shared/clients";
import { loadRuntimeConfig } from "../functions/shared/config";

export type Variant = "naive" | "sdk-default" | "ours";

interface Cell {
  readonly variant: Variant;
  readonly n: number;
  readonly bytes: number;
  readonly bucket: string;
}

export interface WorkerResult {
  readonly wallMs: number;
  /** Successful operations (each PutObject and each GetObject counts one). */
  readonly okOps: number;
  /** Items whose put and get both succeeded with the right byte count. */
  readonly okItems: number;
  /** Failed operations, by error code. */
  readonly errors: Record<string, number>;
  /** A few error messages, for the log. */
  readonly samples: string[];
  /** CPU time (user + system) this process spent on the workload, ms. */
  readonly cpuMs: number;
  /** Event-loop utilisation over the workload (0..1): how much of the wall time the loop was busy. */
  readonly elu: number;
  /** ours: the budget the shared runtime read from the environment. */
  readonly budget?: { maxSockets: number; taskConcurrency: number };
}

/** The SDK config every variant's own clients use (the endpoint and credentials come from the environment). */
const SDK_CONFIG = { forcePathStyle: true } as const;

function errorCode(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown; cause?: { code?: unknown } } | undefined;
  if (e && typeof e.code === "string" && e.code) return e.code;
  if (e && e.cause && typeof e.cause.code === "string") return e.cause.code;
  if (e && typeof e.name === "string" && e.name && e.name !== "Error") return e.name;
  return "Error";
}

async function consume(body: unknown): Promise<number> {
  let size = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) size += chunk.length;
  return size;
}

async function main(): Promise<void> {
  const cell = JSON.parse(process.env.BENCH_CELL ?? "{}") as Cell;
  const payload = Buffer.alloc(cell.bytes, "x");
  const errors: Record<string, number> = {};
  const samples: string[] = [];
  let okOps = 0;
  let okItems = 0;
  const fail = (error: unknown) => {
    const code = errorCode(error);
    errors[code] = (errors[code] ?? 0) + 1;
    if (samples.length < 5) samples.push(`${code}: ${(error as Error)?.message ?? String(error)}`.slice(0, 300));
  };

  // Module-scope clients, as in a handler's init (not timed).
  let shared: S3Client | undefined;
  let budget: WorkerResult["budget"];
  if (cell.variant === "sdk-default") shared = new S3Client(SDK_CONFIG);
  if (cell.variant === "ours") {
    const config = loadRuntimeConfig();
    budget = { maxSockets: config.maxSockets, taskConcurrency: config.taskConcurrency };
    shared = s3Client();
  }

  const item = async (i: number): Promise<void> => {
    const key = `bench/${i}`;
    try {
      const putClient = shared ?? new S3Client(SDK_CONFIG);
      await putClient.send(new PutObjectCommand({ Bucket: cell.bucket, Key: key, Body: payload, ContentLength: payload.length }));
      okOps++;
      const getClient = shared ?? new S3Client(SDK_CONFIG);
      const out = await getClient.send(new GetObjectCommand({ Bucket: cell.bucket, Key: key }));
      const size = await consume(out.Body);
      okOps++;
      if (size !== cell.bytes) throw Object.assign(new Error(`read ${size} bytes, expected ${cell.bytes}`), { code: "SHORT_BODY" });
      okItems++;
    } catch (error) {
      fail(error);
    }
  };

  process.stdout.write(`${JSON.stringify({ ready: { pid: process.pid } })}\n`);
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  process.stdin.pause();

  const indexes = Array.from({ length: cell.n }, (_, i) => i);
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const eluStart = performance.eventLoopUtilization();
  if (cell.variant === "ours") {
    await mapBounded(indexes, (budget as { taskConcurrency: number }).taskConcurrency, item);
  } else {
    // The unbounded pattern under test (bench/ is outside functions/, where Promise.all is banned).
    await Promise.all(indexes.map(item));
  }
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const elu = performance.eventLoopUtilization(eluStart).utilization;
  const result: WorkerResult = { wallMs, cpuMs, elu, okOps, okItems, errors, samples, budget };
  process.stdout.write(`${JSON.stringify({ result })}\n`, () => process.exit(0));
}

// A crash is a result too: report it as an error code and exit non-zero.
process.on("uncaughtException", (error) => {
  process.stdout.write(`${JSON.stringify({ crash: `${errorCode(error)}: ${(error as Error).message}` })}\n`, () => process.exit(70));
});

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({ crash: `${errorCode(error)}: ${(error as Error).message}` })}\n`, () => process.exit(70));
});
