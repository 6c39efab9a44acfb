/**
 * `npm run bench -- --pipeline`: `npm run local`'s whole pipeline (the
 * synthesized dev stack, its work queues and mappings, the bundled functions)
 * at growing bursts of valid messages, with no faults. Per burst: jobs/s,
 * items/s, throttles, failed items, queue wait p50/p99, and each function's
 * peak concurrency against its mapping's maximum. The target: 0 throttles and 0
 * failed items at every size (valid work never fails because of our limits).
 */
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "../../scripts/local/args";
import { runLocal } from "../../scripts/local/run";
import type { Summary } from "../../scripts/local/summary";

export interface BurstRow {
  readonly messages: number;
  readonly itemsPerMessage: number;
  readonly items: number;
  readonly wallSeconds: number;
  readonly jobsPerSecond: number;
  readonly itemsPerSecond: number;
  readonly throttles: number;
  readonly failedItems: number;
  /** The ledger balanced with nothing lost, and the run found no problem. */
  readonly ok: boolean;
  readonly queues: readonly { readonly name: string; readonly role: string; readonly p50Ms: number; readonly p99Ms: number }[];
  readonly functions: readonly { readonly name: string; readonly peakConcurrent: number; readonly mappingMaximum: number | undefined; readonly within: boolean }[];
}

/** One burst's row from its run's summary. */
export function burstRow(summary: Summary): BurstRow {
  const functions = Object.entries(summary.functions).map(([name, f]) => ({
    name,
    peakConcurrent: f.peakConcurrent,
    mappingMaximum: f.mapping?.maximumConcurrency,
    within: f.withinMappingMaximum !== false,
  }));
  const seconds = summary.wallTimeSeconds;
  return {
    messages: summary.messages.sent,
    itemsPerMessage: summary.messages.itemsPerMessage,
    items: summary.items.total,
    wallSeconds: seconds,
    jobsPerSecond: seconds > 0 ? summary.executions.started / seconds : 0,
    itemsPerSecond: seconds > 0 ? summary.items.total / seconds : 0,
    throttles: Object.values(summary.functions).reduce((n, f) => n + f.throttles, 0),
    failedItems: summary.items.failed,
    ok: summary.ok,
    queues: Object.entries(summary.queues).map(([name, q]) => ({ name, role: q.role, p50Ms: q.wait.acknowledgedReceive.p50Ms, p99Ms: q.wait.acknowledgedReceive.p99Ms })),
    functions,
  };
}

/** The target, per burst: 0 throttles, 0 failed items, every function within its mapping's maximum, the ledger balanced. */
export function burstPasses(row: BurstRow): boolean {
  return row.ok && row.throttles === 0 && row.failedItems === 0 && row.functions.every((f) => f.within);
}

export interface PipelineBenchOptions {
  readonly bursts: readonly number[];
  readonly itemsPerMessage: number;
  readonly log: (line: string) => void;
}

/** Runs each burst after the other, with `npm run local`'s own defaults for everything else. */
export async function runPipelineBench(options: PipelineBenchOptions): Promise<BurstRow[]> {
  const rows: BurstRow[] = [];
  for (const messages of options.bursts) {
    const cli = parseArgs(["--messages", String(messages), "--items-per-message", String(options.itemsPerMessage), "--bad-ratio", "0", "--bad-item-ratio", "0", "--seed", String(messages)]);
    options.log(`pipeline burst: ${messages} messages × ${options.itemsPerMessage} items`);
    const row = burstRow(await runLocal({ ...cli, log: () => undefined }));
    options.log(
      `pipeline burst ${messages} × ${options.itemsPerMessage}: ${row.wallSeconds} s, ${row.jobsPerSecond.toFixed(2)} jobs/s, ${row.itemsPerSecond.toFixed(1)} items/s, ` +
        `${row.throttles} throttles, ${row.failedItems} failed items: ${burstPasses(row) ? "pass" : "FAIL"}`,
    );
    rows.push(row);
  }
  return rows;
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

export function renderPipelineMarkdown(rows: readonly BurstRow[], meta: { readonly command: string; readonly machine: string; readonly date: string }): string {
  const lines = [
    "# Pipeline burst benchmark",
    "",
    `\`${meta.command}\` on ${meta.machine}, ${meta.date}: \`npm run local\`'s pipeline (the synthesized dev stack, work queues, the bundled functions on 127.0.0.1) with valid messages only, no faults.`,
    "",
    "| messages × items | items | wall (s) | jobs/s | items/s | throttles | failed items | queue wait p50 / p99 (ms) | peak concurrency / mapping maximum | target |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
  ];
  for (const r of rows) {
    const waits = r.queues.map((q) => `${q.name.replace(/^fanout-pipeline-\w+-/, "")} ${q.p50Ms} / ${q.p99Ms}`).join("; ");
    const peaks = r.functions.map((f) => `${f.name} ${f.peakConcurrent} / ${f.mappingMaximum ?? "–"}`).join("; ");
    lines.push(
      `| ${r.messages} × ${r.itemsPerMessage} | ${r.items} | ${fmt(r.wallSeconds)} | ${fmt(r.jobsPerSecond, 2)} | ${fmt(r.itemsPerSecond)} | ${r.throttles} | ${r.failedItems} | ${waits} | ${peaks} | ${burstPasses(r) ? "pass" : "**fail**"} |`,
    );
  }
  lines.push("", "Target: 0 throttles and 0 failed items at every size, every function within its mapping's maximum concurrency, the ledger balanced.");
  return `${lines.join("\n")}\n`;
}

export function writePipelineResults(dir: string, rows: readonly BurstRow[], meta: { readonly command: string; readonly machine: string; readonly date: string }): { json: string; md: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, "pipeline.json");
  const md = path.join(dir, "pipeline.md");
  fs.writeFileSync(json, `${JSON.stringify({ ...meta, bursts: rows }, null, 2)}\n`);
  fs.writeFileSync(md, renderPipelineMarkdown(rows, meta));
  return { json, md };
}
