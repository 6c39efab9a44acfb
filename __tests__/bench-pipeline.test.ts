/**
 * The pipeline burst benchmark's rows and target (bench/lib/pipeline.ts), from
 * run summaries of the shape `npm run local` writes (the runs themselves are
 * `npm run bench -- --pipeline`, not tests: minutes each).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { burstPasses, burstRow, renderPipelineMarkdown, writePipelineResults } from "../bench/lib/pipeline";
import type { Summary } from "../scripts/local/summary";

type FunctionStats = { peakConcurrent: number; throttles: number; maximumConcurrency: number };

/** The parts of a run's summary a burst row reads. */
function summary(o: { wall?: number; started?: number; items?: number; failed?: number; ok?: boolean; functions?: Record<string, FunctionStats> } = {}): Summary {
  const functions = o.functions ?? {
    fanout: { peakConcurrent: 5, throttles: 0, maximumConcurrency: 5 },
    fetcher: { peakConcurrent: 20, throttles: 0, maximumConcurrency: 20 },
  };
  const wait = (p50Ms: number, p99Ms: number) => ({ count: 1, p50Ms, p99Ms, maxMs: p99Ms });
  return {
    ok: o.ok ?? true,
    wallTimeSeconds: o.wall ?? 20,
    messages: { sent: o.started ?? 50, itemsPerMessage: 40 },
    executions: { started: o.started ?? 50 },
    items: { total: o.items ?? 2000, failed: o.failed ?? 0 },
    functions: Object.fromEntries(
      Object.entries(functions).map(([name, f]) => [
        name,
        { peakConcurrent: f.peakConcurrent, throttles: f.throttles, mapping: { maximumConcurrency: f.maximumConcurrency }, withinMappingMaximum: f.peakConcurrent <= f.maximumConcurrency },
      ]),
    ),
    queues: {
      "fanout-pipeline-dev-ingest": { role: "ingest", wait: { acknowledgedReceive: wait(3, 40) } },
      "fanout-pipeline-dev-fetch": { role: "work", wait: { acknowledgedReceive: wait(250, 1900) } },
    },
  } as unknown as Summary;
}

describe("pipeline burst benchmark", () => {
  test("a row has the burst's rates, throttles, failed items, queue waits and peaks against the mapping", () => {
    const row = burstRow(summary({ wall: 20, started: 50, items: 2000 }));
    expect(row).toMatchObject({ messages: 50, itemsPerMessage: 40, items: 2000, jobsPerSecond: 2.5, itemsPerSecond: 100, throttles: 0, failedItems: 0 });
    expect(row.queues).toEqual([
      { name: "fanout-pipeline-dev-ingest", role: "ingest", p50Ms: 3, p99Ms: 40 },
      { name: "fanout-pipeline-dev-fetch", role: "work", p50Ms: 250, p99Ms: 1900 },
    ]);
    expect(row.functions).toContainEqual({ name: "fetcher", peakConcurrent: 20, mappingMaximum: 20, within: true });
    expect(burstPasses(row)).toBe(true);
  });

  test.each([
    ["a throttle", summary({ functions: { fetcher: { peakConcurrent: 20, throttles: 1, maximumConcurrency: 20 } } })],
    ["a failed item", summary({ failed: 1 })],
    ["a function above its mapping's maximum", summary({ functions: { processor: { peakConcurrent: 21, throttles: 0, maximumConcurrency: 20 } } })],
    ["a ledger that does not balance", summary({ ok: false })],
  ])("fails the target with %s", (_what, s) => {
    expect(burstPasses(burstRow(s))).toBe(false);
  });

  test("writes pipeline.json and a table with one row per burst and its verdict", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-pipeline-"));
    try {
      const rows = [burstRow(summary({ started: 50 })), burstRow(summary({ started: 200, failed: 3 }))];
      const meta = { command: "npm run bench -- --pipeline", machine: "2 cores", date: "2026-12-02" };
      const { json, md } = writePipelineResults(dir, rows, meta);
      expect(JSON.parse(fs.readFileSync(json, "utf8"))).toMatchObject({ ...meta, bursts: [{ messages: 50 }, { messages: 200, failedItems: 3 }] });
      const table = fs.readFileSync(md, "utf8").split("\n").filter((l) => /^\| \d+ × 40 /.test(l));
      expect(table).toHaveLength(2);
      expect(table[0]).toMatch(/\| ingest 3 \/ 40; fetch 250 \/ 1900 \| fanout 5 \/ 5; fetcher 20 \/ 20 \| pass \|$/);
      expect(table[1]).toMatch(/\| 3 \| .* \| \*\*fail\*\* \|$/);
      expect(renderPipelineMarkdown(rows, meta)).toBe(fs.readFileSync(md, "utf8"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
