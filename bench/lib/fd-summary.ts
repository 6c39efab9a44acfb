/**
 * What the fd benchmark's repetitions add up to. Pure functions on the runs
 * (the harness test checks them on hand-made rows):
 *  - a summary per variant, cell and transport: ops/s as median and range,
 *    the worst errors and fd peak of any run, CPU per operation, event-loop use;
 *  - paired ratios: in each repetition the variants ran back to back, so a
 *    ratio is taken within a repetition and its median and range reported,
 *    which cancels the machine's drift between repetitions.
 */
import type { FdRow, Transport } from "./fd-cell";
import { median, round } from "./stats";

/** One run of one variant in one cell, with the diagnostics the summary needs. */
export interface FdRun extends FdRow {
  /** The repetition (0-based; the discarded warm-up is not a run). */
  readonly rep: number;
  readonly okOps: number;
  readonly clientCpuMs: number;
  readonly serverCpuMs: number;
  readonly elu: number;
}

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface FdSummary {
  readonly variant: string;
  readonly n: number;
  readonly bytes: number;
  readonly transport: Transport;
  readonly runs: number;
  readonly opsPerSec: Spread;
  /** The run with the most failed operations: its total and codes. */
  readonly worstErrors: FdRow["errors"];
  /** Highest fd peak and most connections of any run. */
  readonly peakFds: number;
  readonly connections: number;
  /** Median TLS handshakes per run (0 over HTTP) and how many of those resumed a session. */
  readonly handshakes: number;
  readonly resumedHandshakes: number;
  /** Median CPU per successful operation, µs (null when a run completed nothing). */
  readonly clientUsPerOp: number | null;
  readonly serverUsPerOp: number | null;
  /** Median event-loop utilisation of the client. */
  readonly elu: number;
  readonly wallMs: number;
}

export interface PairedRatio {
  readonly n: number;
  readonly bytes: number;
  readonly transport: Transport;
  /** e.g. "ours/naive" */
  readonly pair: string;
  /** Repetitions where both ran. */
  readonly reps: number;
  /** ops/s of the first over the second within each repetition; null: the second completed nothing in some repetition. */
  readonly opsPerSec: Spread | null;
}

export function spread(values: readonly number[], digits = 2): Spread {
  return { median: round(median(values), digits), min: round(Math.min(...values), digits), max: round(Math.max(...values), digits) };
}

const cellKey = (r: { n: number; bytes: number; transport: Transport }) => `${r.transport}:${r.n}:${r.bytes}`;

/** One summary per variant, cell and transport, in the order the runs first appear. */
export function summarizeRuns(runs: readonly FdRun[]): FdSummary[] {
  const groups = new Map<string, FdRun[]>();
  for (const r of runs) {
    const key = `${r.variant}|${cellKey(r)}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0];
    const perOp = (ms: (r: FdRun) => number) => (g.every((r) => r.okOps > 0) ? round(median(g.map((r) => (ms(r) * 1000) / r.okOps))) : null);
    const worst = [...g].sort((a, b) => b.errors.total - a.errors.total)[0];
    return {
      variant: first.variant,
      n: first.n,
      bytes: first.bytes,
      transport: first.transport,
      runs: g.length,
      opsPerSec: spread(g.map((r) => r.opsPerSec), 1),
      worstErrors: worst.errors,
      peakFds: Math.max(...g.map((r) => r.peakFds)),
      connections: Math.max(...g.map((r) => r.connections)),
      handshakes: round(median(g.map((r) => r.handshakes))),
      resumedHandshakes: round(median(g.map((r) => r.resumedHandshakes))),
      clientUsPerOp: perOp((r) => r.clientCpuMs),
      serverUsPerOp: perOp((r) => r.serverCpuMs),
      elu: round(median(g.map((r) => r.elu)), 2),
      wallMs: round(median(g.map((r) => r.wallMs))),
    };
  });
}

/** `first/second` ops/s, paired within each repetition, for every cell and transport where both ran. */
export function pairedRatios(runs: readonly FdRun[], first: string, second: string): PairedRatio[] {
  const byCell = new Map<string, Map<number, { a?: FdRun; b?: FdRun }>>();
  for (const r of runs) {
    if (r.variant !== first && r.variant !== second) continue;
    const reps = byCell.get(cellKey(r)) ?? new Map<number, { a?: FdRun; b?: FdRun }>();
    byCell.set(cellKey(r), reps);
    const pair = reps.get(r.rep) ?? {};
    reps.set(r.rep, r.variant === first ? { ...pair, a: r } : { ...pair, b: r });
  }
  const out: PairedRatio[] = [];
  for (const reps of byCell.values()) {
    const pairs = [...reps.values()].filter((p): p is { a: FdRun; b: FdRun } => !!p.a && !!p.b);
    if (pairs.length === 0) continue;
    const { n, bytes, transport } = pairs[0].a;
    const defined = pairs.every((p) => p.b.opsPerSec > 0);
    out.push({
      n,
      bytes,
      transport,
      pair: `${first}/${second}`,
      reps: pairs.length,
      opsPerSec: defined ? spread(pairs.map((p) => p.a.opsPerSec / p.b.opsPerSec)) : null,
    });
  }
  return out;
}
