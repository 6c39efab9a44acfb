/**
 * The results file (bench/results/latest.json), its target checks, and the
 * tables a person reads (latest.md). Pure functions: the harness test checks
 * them on hand-made runs.
 */
import * as fs from "fs";
import * as path from "path";
import type { FdRun, FdSummary, PairedRatio, Spread } from "./fd-summary";
import { round } from "./stats";

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

export interface FdResults {
  /** Every measured run (the warm-up batch is not here). */
  readonly runs: FdRun[];
  readonly summaries: FdSummary[];
  /** ours/naive, ours/sdk-default and the TASK_CONCURRENCY axis, paired within each repetition. */
  readonly ratios: PairedRatio[];
}

export interface Results {
  readonly machine: Record<string, unknown>;
  readonly run: Record<string, unknown>;
  readonly fd: FdResults;
  readonly handlers: Record<string, HandlerResult>;
  readonly bundles: Record<string, BundleResult>;
  readonly synth: SynthResult | Record<string, never>;
  readonly targets: Target[];
  /** SVG charts written beside latest.md (file names). */
  readonly charts: string[];
}

export interface TargetInputs {
  readonly fd?: FdResults;
  /** The variant id of the deployed budget (`ours`) and the names of its comparisons. */
  readonly ours: string;
  /** MAX_SOCKETS of the `ours` cells (the processor's deployed value). */
  readonly maxSockets: number;
  /** The processor's planned peak fds (budget rule 6: baseline + pools + tasks × fds per task). */
  readonly plannedFds: number;
  /** Both processor splits (the 100,000-line object and the largest binary one): the higher fd peak, the largest object's peak RSS. */
  readonly processor?: { peakFds: number; ok: boolean; peakRssMb: number; memoryMb: number };
  readonly bundles: Record<string, BundleResult>;
  readonly synth?: SynthResult;
}

export const BUNDLE_LIMIT_BYTES = 1_000_000;
export const COLD_INIT_LIMIT_MS = 150;
export const APP_SYNTH_LIMIT_MS = 2000;
/** ours/naive at every 1 KiB cell over TLS (median of the paired ratios). */
export const NAIVE_RATIO_TARGET = 1.5;
/** ours/sdk-default in every TLS cell (median). */
export const SDK_RATIO_TARGET = 1.0;
/** The processor's peak RSS may use at most this share of its configured memory. */
export const MEMORY_SHARE_TARGET = 0.5;

export function cellName(n: number, bytes: number): string {
  return `N=${n} ${sizeLabel(bytes)}`;
}

export function sizeLabel(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** "1.84× (1.71–1.93)": a paired ratio's median and range. */
export function fmtSpread(s: Spread | null, unit = "×"): string {
  return s === null ? "∞" : `${s.median}${unit} (${s.min}–${s.max})`;
}

/** The targets, each with what was measured: pass/fail is printed, never decided by a reader. */
export function evaluateTargets(t: TargetInputs): Target[] {
  const targets: Target[] = [];
  const ours = t.fd?.runs.filter((r) => r.variant === t.ours) ?? [];
  if (ours.length > 0) {
    targets.push({
      name: "ours: 0 errors in every run of every cell",
      pass: ours.every((r) => r.errors.total === 0),
      measured: `max ${Math.max(...ours.map((r) => r.errors.total))} errors over ${ours.length} runs`,
    });
    targets.push({
      name: `ours: peak fds ≤ the budget's planned fds (${t.plannedFds})`,
      pass: ours.every((r) => r.peakFds <= t.plannedFds),
      measured: `max ${Math.max(...ours.map((r) => r.peakFds))}`,
    });
    targets.push({
      name: `ours: connections ≤ MAX_SOCKETS = ${t.maxSockets}`,
      pass: ours.every((r) => r.connections <= t.maxSockets),
      measured: `max ${Math.max(...ours.map((r) => r.connections))}`,
    });
  }
  const naiveBig = t.fd?.summaries.filter((s) => s.variant === "naive" && s.n >= 1000 && s.transport === "tls") ?? [];
  if (naiveBig.length > 0) {
    targets.push({
      name: "naive reproduces the incident: EMFILE at N ≥ 1000 over TLS",
      pass: naiveBig.every((s) => (s.worstErrors.byCode.EMFILE ?? 0) > 0),
      measured: naiveBig.map((s) => `${cellName(s.n, s.bytes)}: ${s.worstErrors.byCode.EMFILE ?? 0} EMFILE`).join("; "),
    });
  }
  const ratios = t.fd?.ratios ?? [];
  const vsNaive = ratios.filter((r) => r.pair === `${t.ours}/naive` && r.transport === "tls" && r.bytes === 1024);
  if (vsNaive.length > 0) {
    targets.push({
      name: `ours/naive ≥ ${NAIVE_RATIO_TARGET} at every 1 KiB cell over TLS (median, paired)`,
      pass: vsNaive.every((r) => r.opsPerSec === null || r.opsPerSec.median >= NAIVE_RATIO_TARGET),
      measured: vsNaive.map((r) => `${cellName(r.n, r.bytes)}: ${fmtSpread(r.opsPerSec)}`).join("; "),
    });
  }
  const vsSdk = ratios.filter((r) => r.pair === `${t.ours}/sdk-default` && r.transport === "tls");
  if (vsSdk.length > 0) {
    targets.push({
      name: `ours/sdk-default ≥ ${SDK_RATIO_TARGET} in every cell over TLS (median, paired)`,
      pass: vsSdk.every((r) => r.opsPerSec === null || r.opsPerSec.median >= SDK_RATIO_TARGET),
      measured: vsSdk.map((r) => `${cellName(r.n, r.bytes)}: ${fmtSpread(r.opsPerSec)}`).join("; "),
    });
  }
  if (t.processor) {
    const p = t.processor;
    targets.push({
      name: `processor, both splits: peak fds ≤ planned fds (${t.plannedFds})`,
      pass: p.ok && p.peakFds <= t.plannedFds,
      measured: `${p.peakFds}${p.ok ? "" : " (invocation failed)"}`,
    });
    const limit = round(p.memoryMb * MEMORY_SHARE_TARGET);
    targets.push({
      name: `processor: peak RSS ≤ ${MEMORY_SHARE_TARGET * 100}% of its ${p.memoryMb} MB (${limit} MB)`,
      pass: p.ok && p.peakRssMb <= limit,
      measured: `${p.peakRssMb} MB`,
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

function fmtErrors(errors: FdSummary["worstErrors"]): string {
  if (errors.total === 0) return "0";
  return Object.entries(errors.byCode)
    .sort((a, b) => b[1] - a[1])
    .map(([code, count]) => `${count} ${code}`)
    .join(", ");
}

/** The fd section of latest.md: one table per transport, then the paired ratios. */
function renderFd(fd: FdResults, run: RenderRun): string[] {
  const lines: string[] = [];
  const transports = [...new Set(fd.summaries.map((s) => s.transport))];
  lines.push(
    `## File descriptors and sockets (client under \`ulimit -n 1024\`, s3rver in its own process${run.s3rverStorage ? ` storing in ${run.s3rverStorage}` : ""}; put+get of N objects; ours = MAX_SOCKETS ${run.maxSockets}, TASK_CONCURRENCY ${run.taskConcurrency})`,
    "",
  );
  for (const transport of transports) {
    lines.push(transport === "tls" ? "### Over TLS (HTTPS, as S3 is)" : "### Over plain HTTP (the control)", "");
    lines.push(
      ...table(
        [["variant", "l"], ["N", "r"], ["size", "r"], ["runs", "r"], ["errors (worst run)", "l"], ["peak fds (max)", "r"], ["connections (max)", "r"], ["TLS handshakes (resumed)", "r"], ["ops/s median (range)", "r"], ["CPU µs per op, client / s3rver", "r"], ["client event loop busy", "r"]],
        fd.summaries
          .filter((x) => x.transport === transport)
          .map((x) => [
            x.variant,
            x.n,
            sizeLabel(x.bytes),
            x.runs,
            fmtErrors(x.worstErrors),
            x.peakFds,
            x.connections,
            transport === "tls" ? `${x.handshakes} (${x.resumedHandshakes})` : "–",
            fmtSpread(x.opsPerSec, ""),
            `${x.clientUsPerOp ?? "–"} / ${x.serverUsPerOp ?? "–"}`,
            `${Math.round(x.elu * 100)}%`,
          ]),
      ),
      "",
    );
  }
  const pairs = [...new Set(fd.ratios.map((r) => r.pair))];
  const cells = [...new Map(fd.ratios.map((r) => [`${r.transport}:${r.n}:${r.bytes}`, r])).values()];
  lines.push("### Paired ratios of ops/s: median (range) over the repetitions", "");
  lines.push(
    ...table(
      [["transport", "l"], ["cell", "l"], ["reps", "r"], ...pairs.map((p) => [p, "r"] as [string, "r"])],
      cells.map((c) => {
        const of = (pair: string) => fd.ratios.find((r) => r.pair === pair && r.transport === c.transport && r.n === c.n && r.bytes === c.bytes);
        return [c.transport, cellName(c.n, c.bytes), c.reps, ...pairs.map((p) => { const r = of(p); return r ? fmtSpread(r.opsPerSec) : "–"; })];
      }),
    ),
    "",
  );
  const s = run.sampler;
  lines.push(
    `fd sampling: every ${s.intervalMs} ms asked; median gap ${s.medianGapMs} ms, p99 ${s.p99GapMs} ms, max ${s.maxGapMs} ms; ${s.gapsOver10Ms} of ${s.samples} gaps ≥ 10 ms. ` +
      "ops/s counts successful operations (a put or a get). A ratio is taken within a repetition, where the variants ran back to back, so the machine's drift between repetitions cancels; ∞: the other side completed nothing. " +
      "CPU per op is per successful operation (median over runs) and depends less on the machine's other load than wall time does.",
  );
  if (run.caps.length > 0) lines.push(`Caps: ${run.caps.join(" ")}`);
  lines.push("");
  return lines;
}

interface RenderRun {
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
}

/** latest.md: machine, command, the fd tables, ratios, charts, handlers, bundles, synth, targets. */
export function renderMarkdown(r: Results): string {
  const m = r.machine as { cpus: number; cpuModel: string; node: string; memGb: number; os: string };
  const run = r.run as unknown as RenderRun;
  const lines: string[] = [];
  lines.push(`# Benchmark results (${run.mode})`);
  lines.push("");
  lines.push(
    `\`${run.command}\` · ${run.startedAt} · ${run.durationS} s · ${m.cpus} cores (${m.cpuModel}), ${m.memGb} GB, Node ${m.node}, ${m.os} · ` +
      `load average (1 min) ${run.loadAvg.start[0]} at start, ${run.loadAvg.end[0]} at end, max ${run.loadAvg.max1m} (other work on the machine)`,
  );
  lines.push("");
  if (r.fd.runs.length > 0) lines.push(...renderFd(r.fd, run));
  if (r.charts.length > 0) lines.push("## Charts", "", ...r.charts.map((c) => `![${c}](${c})`), "");
  const h = Object.entries(r.handlers);
  if (h.length > 0) {
    lines.push("## Handler path (bundles under `ulimit -n 1024`, deployed environment)");
    lines.push("");
    lines.push(
      ...table(
        [["handler", "l"], ["workload", "l"], ["budget", "l"], ["peak fds", "r"], ["connections", "r"], ["peak RSS", "r"], ["wall ms", "r"], ["ok", "l"]],
        h.map(([name, x]) => {
          const budget = x.maxSockets ? `MAX_SOCKETS ${x.maxSockets}, TASK_CONCURRENCY ${x.taskConcurrency}` : "";
          const rss = x.peakRssMb === undefined ? "–" : `${x.peakRssMb} MB${x.memoryMb ? ` of ${x.memoryMb}` : ""}`;
          return [name, String(x.workload), budget, String(x.peakFds), String(x.connections), rss, String(x.wallMs), x.ok ? "yes" : "NO"];
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
