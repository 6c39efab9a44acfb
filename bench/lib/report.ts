/**
 * The results file (bench/results/latest.json), its ratios and target checks,
 * and the table a person reads (latest.md). Pure functions: the harness test
 * checks them on hand-made rows.
 */
import * as fs from "fs";
import * as path from "path";
import type { FdRow } from "./fd-cell";
import { ratio, round } from "./stats";

export interface RatioRow {
  readonly n: number;
  readonly bytes: number;
  /** ours ops/s ÷ other ops/s (null when the other completed nothing). */
  readonly opsPerSec: number | null;
  /** ours peak fds ÷ other peak fds. */
  readonly peakFds: number | null;
}

export interface Ratios {
  readonly "ours/naive": RatioRow[];
  readonly "ours/sdk-default": RatioRow[];
}

export interface HandlerResult {
  readonly peakFds: number;
  readonly connections: number;
  readonly wallMs: number;
  readonly ok: boolean;
  readonly [key: string]: unknown;
}

export interface BundleResult {
  readonly bytes: number;
  /** Median time to require the bundle (config + clients at module scope) in a fresh node process. */
  readonly coldInitMs: number;
  /** Median wall time of that whole fresh process (Node start included). */
  readonly coldInitProcessMs: number;
  /** Open fds right after init. */
  readonly initFds: number;
  /** First invocation against the loopback servers, in a fresh child. */
  readonly firstInvokeMs: number;
  readonly firstInvokeOk: boolean;
  readonly runs: number;
}

export interface SynthResult {
  /** Median wall of `node dist/main.js` (all stacks). */
  readonly appMs: number;
  /** Median wall of `cdktf synth` (build + app through the CLI). */
  readonly cliMs: number;
  /** Median peak RSS of the app process, MB. */
  readonly peakRssMb: number;
  /** Median peak RSS of the largest process of a CLI run, MB. */
  readonly cliPeakRssMb: number;
  /** Median CPU time (user + system) of the app, ms: the part of appMs that does not depend on machine load. */
  readonly appCpuMs: number;
  readonly cliCpuMs: number;
  readonly appRuns: number;
  readonly cliRuns: number;
  readonly stacks: string[];
}

export interface Target {
  readonly name: string;
  readonly pass: boolean;
  /** The measured value(s), as text. */
  readonly measured: string;
}

export interface Results {
  readonly machine: Record<string, unknown>;
  readonly run: Record<string, unknown>;
  readonly fd: FdRow[];
  readonly ratios: Ratios;
  readonly handlers: Record<string, HandlerResult>;
  readonly bundles: Record<string, BundleResult>;
  readonly synth: SynthResult | Record<string, never>;
  readonly targets: Target[];
}

/** ours/naive and ours/sdk-default for every (n, bytes) cell where both were run. */
export function computeRatios(rows: readonly FdRow[]): Ratios {
  const find = (variant: string, n: number, bytes: number) => rows.find((r) => r.variant === variant && r.n === n && r.bytes === bytes);
  const build = (other: string): RatioRow[] =>
    rows
      .filter((r) => r.variant === "ours")
      .flatMap((ours) => {
        const o = find(other, ours.n, ours.bytes);
        return o ? [{ n: ours.n, bytes: ours.bytes, opsPerSec: ratio(ours.opsPerSec, o.opsPerSec), peakFds: ratio(ours.peakFds, o.peakFds) }] : [];
      });
  return { "ours/naive": build("naive"), "ours/sdk-default": build("sdk-default") };
}

export interface TargetInputs {
  readonly fd: readonly FdRow[];
  /** Every repetition of every ours cell (the row shown is the median one; bounds must hold in all). */
  readonly oursRuns: readonly FdRow[];
  readonly ratios: Ratios;
  /** MAX_SOCKETS of the `ours` cells (the processor's deployed value). */
  readonly maxSockets: number;
  readonly processor?: { peakFds: number; maxSockets: number; ok: boolean };
  readonly fanout?: { peakFds: number; connections: number; ok: boolean };
  readonly bundles: Record<string, BundleResult>;
  readonly synth?: SynthResult;
}

export const BUNDLE_LIMIT_BYTES = 1_000_000;
export const COLD_INIT_LIMIT_MS = 150;
export const APP_SYNTH_LIMIT_MS = 2000;

export function cellName(n: number, bytes: number): string {
  return `N=${n} ${sizeLabel(bytes)}`;
}

export function sizeLabel(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** The issue's targets, each with what was measured. */
export function evaluateTargets(t: TargetInputs): Target[] {
  const targets: Target[] = [];
  const list = (rows: readonly { n: number; bytes: number }[], value: (r: never) => string) =>
    rows.map((r) => `${cellName(r.n, r.bytes)}: ${value(r as never)}`).join("; ");
  const ours = t.oursRuns.length > 0 ? t.oursRuns : t.fd.filter((r) => r.variant === "ours");
  if (ours.length > 0) {
    targets.push({
      name: "ours: 0 errors in every cell",
      pass: ours.every((r) => r.errors.total === 0),
      measured: `max ${Math.max(...ours.map((r) => r.errors.total))} errors over ${ours.length} runs`,
    });
    const fdLimit = t.maxSockets + 30;
    targets.push({
      name: `ours: peak fds ≤ MAX_SOCKETS + 30 = ${fdLimit}`,
      pass: ours.every((r) => r.peakFds <= fdLimit),
      measured: `max ${Math.max(...ours.map((r) => r.peakFds))}`,
    });
    targets.push({
      name: `ours: connections ≤ MAX_SOCKETS = ${t.maxSockets}`,
      pass: ours.every((r) => r.connections <= t.maxSockets),
      measured: `max ${Math.max(...ours.map((r) => r.connections))}`,
    });
  }
  const naiveBig = t.fd.filter((r) => r.variant === "naive" && r.n >= 1000);
  if (naiveBig.length > 0) {
    targets.push({
      name: "naive: EMFILE at N ≥ 1000",
      pass: naiveBig.every((r) => (r.errors.byCode.EMFILE ?? 0) > 0),
      measured: list(naiveBig, (r: FdRow) => `${r.errors.byCode.EMFILE ?? 0} EMFILE`),
    });
  }
  const vsNaive = t.ratios["ours/naive"].filter((r) => r.n === 200);
  if (vsNaive.length > 0) {
    targets.push({
      name: "throughput: ours ≥ 1.5 × naive at N = 200",
      pass: vsNaive.every((r) => r.opsPerSec === null || r.opsPerSec >= 1.5),
      measured: list(vsNaive, (r: RatioRow) => `${r.opsPerSec ?? "∞"}×`),
    });
  }
  const vsSdk = t.ratios["ours/sdk-default"];
  if (vsSdk.length > 0) {
    targets.push({
      name: "throughput: ours ≥ 0.95 × sdk-default at every N",
      pass: vsSdk.every((r) => r.opsPerSec === null || r.opsPerSec >= 0.95),
      measured: list(vsSdk, (r: RatioRow) => `${r.opsPerSec ?? "∞"}×`),
    });
  }
  if (t.processor) {
    const limit = t.processor.maxSockets + 40;
    targets.push({
      name: `processor, 100,000 lines: peak fds ≤ MAX_SOCKETS + 40 = ${limit}`,
      pass: t.processor.ok && t.processor.peakFds <= limit,
      measured: `${t.processor.peakFds}${t.processor.ok ? "" : " (invocation failed)"}`,
    });
  }
  const bundles = Object.entries(t.bundles);
  if (bundles.length > 0) {
    targets.push({
      name: "bundles < 1 MB (1,000,000 bytes) each",
      pass: bundles.every(([, b]) => b.bytes < BUNDLE_LIMIT_BYTES),
      measured: bundles.map(([name, b]) => `${name} ${round(b.bytes / 1e6, 3)} MB`).join("; "),
    });
    targets.push({
      name: `cold init median < ${COLD_INIT_LIMIT_MS} ms each`,
      pass: bundles.every(([, b]) => b.coldInitMs < COLD_INIT_LIMIT_MS),
      measured: bundles.map(([name, b]) => `${name} ${b.coldInitMs} ms`).join("; "),
    });
  }
  if (t.synth) {
    targets.push({
      name: `app synth < ${APP_SYNTH_LIMIT_MS / 1000} s`,
      pass: t.synth.appMs < APP_SYNTH_LIMIT_MS,
      measured: `${round(t.synth.appMs / 1000, 2)} s wall (${round(t.synth.appCpuMs / 1000, 2)} s CPU)`,
    });
  }
  return targets;
}

function fmtErrors(row: FdRow): string {
  if (row.errors.total === 0) return "0";
  const codes = Object.entries(row.errors.byCode)
    .sort((a, b) => b[1] - a[1])
    .map(([code, count]) => `${count} ${code}`);
  return codes.join(", ");
}

function fmtRatio(x: number | null): string {
  return x === null ? "–" : `${x}×`;
}

/** latest.md: machine, command, the fd table, ratios, handlers, bundles, synth, targets. */
export function renderMarkdown(r: Results): string {
  const m = r.machine as { cpus: number; cpuModel: string; node: string; memGb: number; os: string };
  const run = r.run as {
    command: string;
    mode: string;
    startedAt: string;
    durationS: number;
    loadAvg: { start: number[]; end: number[]; max1m: number };
    maxSockets: number;
    taskConcurrency: number;
    caps: string[];
    s3rverStorage?: string;
    sampler: { intervalMs: number; medianGapMs: number; p99GapMs: number; maxGapMs: number; gapsOver10Ms: number; samples: number };
  };
  const lines: string[] = [];
  lines.push(`# Benchmark results (${run.mode})`);
  lines.push("");
  lines.push(
    `\`${run.command}\` · ${run.startedAt} · ${run.durationS} s · ${m.cpus} cores (${m.cpuModel}), ${m.memGb} GB, Node ${m.node}, ${m.os} · ` +
      `load average (1 min) ${run.loadAvg.start[0]} at start, ${run.loadAvg.end[0]} at end, max ${run.loadAvg.max1m} (other work on the machine)`,
  );
  lines.push("");
  if (r.fd.length > 0) {
    lines.push(
      `## File descriptors and sockets (client under \`ulimit -n 1024\`, s3rver in its own process${run.s3rverStorage ? ` storing in ${run.s3rverStorage}` : ""}; put+get of N objects; ours = MAX_SOCKETS ${run.maxSockets}, TASK_CONCURRENCY ${run.taskConcurrency})`,
    );
    lines.push("");
    const cpu = (row: FdRow) => {
      const cells = (run as { cells?: Array<{ variant: string; n: number; bytes: number; cpuPerOkOp?: { clientUs: number | null; serverUs: number | null } }> }).cells;
      const c = cells?.find((x) => x.variant === row.variant && x.n === row.n && x.bytes === row.bytes)?.cpuPerOkOp;
      return c ? `${c.clientUs ?? "–"} / ${c.serverUs ?? "–"}` : "–";
    };
    lines.push(
      ...table(
        [["variant", "l"], ["N", "r"], ["size", "r"], ["errors", "l"], ["peak fds", "r"], ["connections", "r"], ["wall ms", "r"], ["ops/s", "r"], ["CPU µs per op, client / s3rver", "r"]],
        r.fd.map((row) => [row.variant, row.n, sizeLabel(row.bytes), fmtErrors(row), row.peakFds, row.connections, row.wallMs, row.opsPerSec, cpu(row)]),
      ),
      "",
    );
    lines.push(
      ...table(
        [["cell", "l"], ["ops/s ours/naive", "r"], ["ops/s ours/sdk-default", "r"], ["peak fds ours/naive", "r"], ["peak fds ours/sdk-default", "r"]],
        r.ratios["ours/naive"].map((a) => {
          const b = r.ratios["ours/sdk-default"].find((x) => x.n === a.n && x.bytes === a.bytes);
          return [cellName(a.n, a.bytes), fmtRatio(a.opsPerSec), fmtRatio(b?.opsPerSec ?? null), fmtRatio(a.peakFds), fmtRatio(b?.peakFds ?? null)];
        }),
      ),
      "",
    );
    lines.push(
      `fd sampling: every ${run.sampler.intervalMs} ms asked; median gap ${run.sampler.medianGapMs} ms, p99 ${run.sampler.p99GapMs} ms, max ${run.sampler.maxGapMs} ms; ` +
        `${run.sampler.gapsOver10Ms} of ${run.sampler.samples} gaps ≥ 10 ms. ops/s counts successful operations (a put or a get); CPU per op is per successful op and does not depend on the machine's other load the way wall time does.`,
    );
    if (run.caps.length > 0) lines.push(`Caps: ${run.caps.join(" ")}`);
    lines.push("");
  }
  const h = Object.entries(r.handlers);
  if (h.length > 0) {
    lines.push("## Handler path (bundles under `ulimit -n 1024`, deployed environment)");
    lines.push("");
    lines.push(
      ...table(
        [["handler", "l"], ["workload", "l"], ["budget", "l"], ["peak fds", "r"], ["connections", "r"], ["wall ms", "r"], ["ok", "l"]],
        h.map(([name, x]) => {
          const budget = x.maxSockets ? `MAX_SOCKETS ${x.maxSockets}, TASK_CONCURRENCY ${x.taskConcurrency}` : "";
          return [name, String(x.workload), budget, String(x.peakFds), String(x.connections), String(x.wallMs), x.ok ? "yes" : "NO"];
        }),
      ),
      "",
    );
  }
  const b = Object.entries(r.bundles);
  if (b.length > 0) {
    lines.push("## Bundles and cold init");
    lines.push("");
    lines.push(
      ...table(
        [["function", "l"], ["bundle", "r"], ["cold init (require, median)", "r"], ["fresh process (median)", "r"], ["fds after init", "r"], ["first invocation", "r"]],
        b.map(([name, x]) => [
          name,
          `${round(x.bytes / 1024, 1)} KiB`,
          `${x.coldInitMs} ms`,
          `${x.coldInitProcessMs} ms`,
          x.initFds,
          `${x.firstInvokeMs} ms${x.firstInvokeOk ? "" : " (FAILED)"}`,
        ]),
      ),
      "",
    );
  }
  const s = r.synth as SynthResult;
  if (s && "appMs" in s) {
    lines.push("## Synth (all stacks)");
    lines.push("");
    const rows = [["`node dist/main.js`", s.appRuns, `${round(s.appMs / 1000, 2)} s`, `${round(s.appCpuMs / 1000, 2)} s`, `${s.peakRssMb} MB`]];
    if (s.cliRuns > 0) rows.push(["`cdktf synth` (CLI: build + app)", s.cliRuns, `${round(s.cliMs / 1000, 2)} s`, `${round(s.cliCpuMs / 1000, 2)} s`, `${s.cliPeakRssMb} MB`]);
    lines.push(...table([["how", "l"], ["runs", "r"], ["wall (median)", "r"], ["CPU (median)", "r"], ["peak RSS (median)", "r"]], rows), "");
  }
  if (r.targets.length > 0) {
    lines.push("## Targets");
    lines.push("");
    lines.push(...table([["target", "l"], ["measured", "l"], ["met", "l"]], r.targets.map((t) => [t.name, t.measured, t.pass ? "yes" : "**no**"])), "");
  }
  return lines.join("\n");
}

/** A Markdown table: the header, the alignment row ("r": a right-aligned, numeric column) and a row per entry. */
function table(columns: readonly (readonly [string, "l" | "r"])[], rows: readonly (readonly (string | number)[])[]): string[] {
  return [
    `| ${columns.map(([name]) => name).join(" | ")} |`,
    `| ${columns.map(([, align]) => (align === "r" ? "---:" : "---")).join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ];
}

/** Writes latest.json and latest.md (through a temporary file, so a reader never sees half a file). */
export function writeResults(dir: string, results: Results): { json: string; md: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, "latest.json");
  const md = path.join(dir, "latest.md");
  const write = (file: string, text: string) => {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  };
  write(json, `${JSON.stringify(results, null, 2)}\n`);
  write(md, `${renderMarkdown(results)}\n`);
  return { json, md };
}
