/**
 * The fd and throughput section of `npm run bench`: every cell's variants,
 * repeated and interleaved. A discarded warm-up batch first (every variant on
 * every transport at a small cell: the JIT of both processes is warm before the
 * first measured run). Then repetition by repetition, every cell that still has
 * repetitions left, its variants back to back in an order that rotates with the
 * repetition, so each ratio compares runs a few seconds apart.
 */
import type { ServersProcess } from "../../scripts/lib/servers";
import { runFdCell, VARIANTS, type FdCellDetail, type Transport, type VariantSpec } from "./fd-cell";
import type { FdRun } from "./fd-summary";

/** naive, sdk-default, ours (the deployed budget), and ours at the other TASK_CONCURRENCY of the axis (= sockets, 2 × sockets). */
export function variantsFor(maxSockets: number, taskConcurrency: number): VariantSpec[] {
  const axis = [maxSockets, 2 * maxSockets].filter((t) => t !== taskConcurrency);
  return [
    ...VARIANTS.map((worker) => ({ id: worker, worker })),
    ...axis.map((t) => ({ id: `ours-tasks-${t}`, worker: "ours" as const, taskConcurrency: t })),
  ];
}

export interface FdCellPlan {
  readonly n: number;
  readonly bytes: number;
  readonly transport: Transport;
  readonly reps: number;
  /** Variant ids to run in this cell. @default every variant */
  readonly variants?: readonly string[];
}

export interface FdBenchOptions {
  readonly cells: readonly FdCellPlan[];
  readonly variants: readonly VariantSpec[];
  readonly scriptDir: string;
  readonly servers: ServersProcess;
  readonly bucket: string;
  readonly budgetEnv: Readonly<Record<string, string>>;
  readonly env?: Readonly<Record<string, string>>;
  /** The run's certificate, for the TLS cells. */
  readonly caFile: string;
  /** The warm-up cell's N (1 KiB objects). @default 100 */
  readonly warmupN?: number;
  readonly log: (message: string) => void;
}

export interface FdBenchResult {
  readonly runs: FdRun[];
  /** The fd sampler's statistics of every run, warm-up included. */
  readonly samplers: FdCellDetail["sampler"][];
}

export async function runFdBench(options: FdBenchOptions): Promise<FdBenchResult> {
  const runs: FdRun[] = [];
  const samplers: FdCellDetail["sampler"][] = [];
  const run = async (variant: VariantSpec, n: number, bytes: number, transport: Transport): Promise<FdCellDetail> => {
    const { scriptDir, servers, bucket, budgetEnv, env, caFile } = options;
    const detail = await runFdCell({ scriptDir, servers, bucket, budgetEnv, env, caFile, variant, n, bytes, transport });
    samplers.push(detail.sampler);
    return detail;
  };
  const transports = [...new Set(options.cells.map((c) => c.transport))];
  for (const transport of transports) {
    for (const variant of options.variants) await run(variant, options.warmupN ?? 100, 1024, transport);
  }
  options.log(`warm-up done (${transports.length * options.variants.length} runs, discarded)`);
  const most = Math.max(0, ...options.cells.map((c) => c.reps));
  for (let rep = 0; rep < most; rep++) {
    for (const cell of options.cells) {
      if (rep >= cell.reps) continue;
      const variants = options.variants.filter((v) => !cell.variants || cell.variants.includes(v.id));
      const order = variants.map((_, i) => variants[(i + rep) % variants.length]);
      for (const variant of order) {
        const d = await run(variant, cell.n, cell.bytes, cell.transport);
        const r = d.row;
        runs.push({ ...r, rep, okOps: d.okOps, clientCpuMs: d.clientCpuMs, serverCpuMs: d.serverCpuMs, elu: d.elu });
        options.log(
          `rep ${rep + 1}/${cell.reps} ${cell.transport} N=${cell.n} ${cell.bytes} B ${variant.id}: ${r.errors.total} errors ${JSON.stringify(r.errors.byCode)}, ` +
            `peak ${r.peakFds} fds, ${r.connections} connections, ${r.handshakes} handshakes, ${r.wallMs} ms, ${r.opsPerSec} ops/s`,
        );
        if (d.messages[0]) options.log(`  e.g. ${d.messages[0]}`);
      }
    }
  }
  return { runs, samplers };
}
