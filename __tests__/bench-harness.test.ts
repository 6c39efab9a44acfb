/**
 * The benchmark harness on tiny inputs (the benchmarks themselves are
 * `npm run bench`, not part of npm test; the fd sampler has its own test): the
 * report computes ratios and targets correctly, and a tiny
 * `ours` cell (and a tiny `naive` one) runs against s3rver on 127.0.0.1.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runFdCell, type FdRow } from "../bench/lib/fd-cell";
import { computeRatios, evaluateTargets, renderMarkdown, writeResults, type Results } from "../bench/lib/report";
import { startServers, type ServersProcess } from "../scripts/lib/servers";
import { HARNESS_ENV, harnessScriptDir } from "./helpers/harness-scripts";
import { median, ratio } from "../bench/lib/stats";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-harness-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function row(variant: FdRow["variant"], n: number, opsPerSec: number, peakFds: number, extra: Partial<FdRow> = {}): FdRow {
  return { variant, n, bytes: 1024, errors: { total: 0, byCode: {} }, peakFds, connections: 10, wallMs: 100, opsPerSec, ...extra };
}

describe("report", () => {
  const rows: FdRow[] = [
    row("naive", 200, 100, 400),
    row("sdk-default", 200, 180, 70),
    row("ours", 200, 200, 50),
    row("naive", 1000, 0, 1024, { errors: { total: 1000, byCode: { EMFILE: 1000 } } }),
    row("sdk-default", 1000, 250, 70),
    row("ours", 1000, 225, 52),
  ];

  test("ratios are ours ÷ other per cell, null when the other completed nothing", () => {
    const ratios = computeRatios(rows);
    expect(ratios["ours/naive"]).toEqual([
      { n: 200, bytes: 1024, opsPerSec: 2, peakFds: 0.13 },
      { n: 1000, bytes: 1024, opsPerSec: null, peakFds: 0.05 },
    ]);
    expect(ratios["ours/sdk-default"]).toEqual([
      { n: 200, bytes: 1024, opsPerSec: 1.11, peakFds: 0.71 },
      { n: 1000, bytes: 1024, opsPerSec: 0.9, peakFds: 0.74 },
    ]);
    expect(ratio(1, 3)).toBe(0.33);
    expect(median([5, 1, 3, 100])).toBe(4);
  });

  test("targets say which bound held, with the measured values", () => {
    const ratios = computeRatios(rows);
    const targets = evaluateTargets({
      fd: rows,
      oursRuns: rows.filter((r) => r.variant === "ours"),
      ratios,
      maxSockets: 50,
      processor: { peakFds: 95, maxSockets: 50, ok: true },
      bundles: { fanout: { bytes: 500_000, coldInitMs: 90, coldInitProcessMs: 120, initFds: 19, firstInvokeMs: 50, firstInvokeOk: true, runs: 10 } },
    });
    const byName = (prefix: string) => targets.find((t) => t.name.startsWith(prefix));
    expect(byName("ours: 0 errors")?.pass).toBe(true);
    expect(byName("ours: peak fds")?.pass).toBe(true);
    expect(byName("naive: EMFILE")?.pass).toBe(true);
    expect(byName("throughput: ours ≥ 1.5")?.pass).toBe(true);
    expect(byName("throughput: ours ≥ 0.95")).toMatchObject({ pass: false, measured: expect.stringContaining("0.9×") });
    expect(byName("processor")).toMatchObject({ pass: false, measured: "95" });
    expect(byName("bundles")?.pass).toBe(true);
  });

  test("writes latest.json in its documented shape and a markdown table", () => {
    const ratios = computeRatios(rows);
    const results: Results = {
      machine: { cpus: 2, cpuModel: "test", memGb: 1, node: process.version, os: "test" },
      run: {
        command: "npm run bench",
        mode: "test",
        startedAt: "2026-01-01T00:00:00.000Z",
        durationS: 1,
        loadAvg: { start: [0], end: [0], max1m: 0 },
        maxSockets: 50,
        taskConcurrency: 32,
        caps: [],
        sampler: { intervalMs: 2, medianGapMs: 2, p99GapMs: 3, maxGapMs: 4, gapsOver10Ms: 0, samples: 10 },
      },
      fd: rows,
      ratios,
      handlers: { processor: { workload: "w", peakFds: 53, connections: 33, wallMs: 400, ok: true } },
      bundles: { processor: { bytes: 500_000, coldInitMs: 90, coldInitProcessMs: 120, initFds: 19, firstInvokeMs: 50, firstInvokeOk: true, runs: 10 } },
      synth: { appMs: 600, cliMs: 6000, peakRssMb: 120, cliPeakRssMb: 270, appCpuMs: 700, cliCpuMs: 3000, appRuns: 5, cliRuns: 5, stacks: ["state"] },
      targets: [],
    };
    const { json, md } = writeResults(path.join(tmp, "results"), results);
    const parsed = JSON.parse(fs.readFileSync(json, "utf8"));
    expect(Object.keys(parsed)).toEqual(expect.arrayContaining(["fd", "ratios", "handlers", "bundles", "synth"]));
    expect(Object.keys(parsed.fd[0]).sort()).toEqual(["bytes", "connections", "errors", "n", "opsPerSec", "peakFds", "variant", "wallMs"].sort());
    expect(Object.keys(parsed.ratios).sort()).toEqual(["ours/naive", "ours/sdk-default"]);
    expect(parsed.bundles.processor).toMatchObject({ bytes: 500_000, coldInitMs: 90 });
    expect(parsed.synth).toMatchObject({ appMs: 600, cliMs: 6000, peakRssMb: 120 });
    const text = fs.readFileSync(md, "utf8");
    expect(text).toBe(`${renderMarkdown(results)}\n`);
    expect(text).toContain("| naive | 1000 | 1 KiB | 1000 EMFILE | 1024 |");
    expect(text).toContain("2 cores");
  });
});

describe("fd cell on 127.0.0.1", () => {
  let servers: ServersProcess;
  let scriptDir: string;

  beforeAll(async () => {
    scriptDir = harnessScriptDir();
    servers = await startServers({ script: path.join(scriptDir, "servers.js"), spec: { s3: { buckets: ["bench"] }, sfn: true, origin: true }, env: HARNESS_ENV });
  });
  afterAll(() => servers?.close());

  const cell = (variant: FdRow["variant"]) =>
    runFdCell({
      scriptDir,
      servers,
      variant,
      n: 20,
      bytes: 1024,
      bucket: "bench",
      budgetEnv: { MAX_SOCKETS: "8", TASK_CONCURRENCY: "4", SDK_REQUEST_TIMEOUT_MS: "30000", SDK_CONNECT_TIMEOUT_MS: "3000" },
      env: HARNESS_ENV,
      timeoutMs: 30_000,
    });

  test("ours: 20 put+get pairs, 0 errors, connections within MAX_SOCKETS", async () => {
    const detail = await cell("ours");
    expect(detail.messages).toEqual([]);
    expect(detail.row.errors).toEqual({ total: 0, byCode: {} });
    expect(detail.okItems).toBe(20);
    expect(detail.budget).toEqual({ maxSockets: 8, taskConcurrency: 4 });
    expect(detail.row.connections).toBeGreaterThan(0);
    expect(detail.row.connections).toBeLessThanOrEqual(8);
    expect(detail.row.peakFds).toBeGreaterThan(10);
    expect(detail.row.peakFds).toBeLessThanOrEqual(8 + 30);
    expect(detail.row.opsPerSec).toBeGreaterThan(0);
  });

  test("naive: a new client per operation opens a connection per operation", async () => {
    const detail = await cell("naive");
    expect(detail.row.errors.total).toBe(0);
    expect(detail.row.connections).toBe(40);
  });
});
