/**
 * The benchmark harness on tiny inputs (the benchmarks themselves are
 * `npm run bench`, not part of npm test; the fd sampler has its own test): the
 * summaries pair repetitions and report ranges, the targets say which bound
 * held, the charts show every variant, and tiny cells run against s3rver on
 * 127.0.0.1 over TLS (a certificate made for the test) and over plain HTTP.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { burstSpec, fdPeakSpec, ratioSpec, renderSvg } from "../bench/lib/charts";
import { runFdCell, type Transport, type VariantSpec } from "../bench/lib/fd-cell";
import { variantsFor } from "../bench/lib/fd-bench";
import { pairedRatios, summarizeRuns, type FdRun } from "../bench/lib/fd-summary";
import type { BurstRow } from "../bench/lib/pipeline";
import { evaluateTargets, renderMarkdown, writeResults, type FdResults, type Results } from "../bench/lib/report";
import { makeCertificate } from "../bench/lib/tls";
import { startServers, type ServersProcess } from "../scripts/lib/servers";
import { HARNESS_ENV, harnessScriptDir } from "./helpers/harness-scripts";
import { median } from "../bench/lib/stats";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-harness-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(variant: string, rep: number, n: number, opsPerSec: number, extra: Partial<FdRun> = {}): FdRun {
  return {
    variant, rep, n, bytes: 1024, transport: "tls", errors: { total: 0, byCode: {} }, peakFds: 69, connections: 50,
    handshakes: 50, resumedHandshakes: 0, wallMs: 100, opsPerSec, okOps: 2 * n, clientCpuMs: 2 * n, serverCpuMs: n, elu: 0.9, ...extra,
  };
}

const EMFILE = { errors: { total: 995, byCode: { EMFILE: 995 } }, peakFds: 1024, connections: 1005, handshakes: 1005 };
// Two repetitions of two cells; the machine ran at half speed in repetition 1 (every variant halves).
const runs: FdRun[] = [
  run("naive", 0, 200, 100, { peakFds: 419, connections: 400, handshakes: 400 }),
  run("sdk-default", 0, 200, 200),
  run("ours", 0, 200, 220),
  run("naive", 1, 200, 50, { peakFds: 400, connections: 400, handshakes: 400 }),
  run("sdk-default", 1, 200, 100),
  run("ours", 1, 200, 90),
  run("naive", 0, 1000, 0, { ...EMFILE, okOps: 0 }),
  run("sdk-default", 0, 1000, 400),
  run("ours", 0, 1000, 440),
  run("naive", 1, 1000, 10, EMFILE),
  run("sdk-default", 1, 1000, 200),
  run("ours", 1, 1000, 230),
];

function fdResults(rows: readonly FdRun[]): FdResults {
  return {
    runs: [...rows],
    summaries: summarizeRuns(rows),
    ratios: [...pairedRatios(rows, "ours", "naive"), ...pairedRatios(rows, "ours", "sdk-default")],
  };
}

describe("summaries and paired ratios", () => {
  test("a ratio is taken within each repetition: the machine's drift between repetitions cancels", () => {
    const [r200] = pairedRatios(runs, "ours", "sdk-default");
    // 220/200 = 1.1 and 90/100 = 0.9; unpaired medians (155/150) would hide the spread.
    expect(r200).toEqual({ n: 200, bytes: 1024, transport: "tls", pair: "ours/sdk-default", reps: 2, opsPerSec: { median: 1, min: 0.9, max: 1.1 } });
    const [, vsNaive1000] = pairedRatios(runs, "ours", "naive");
    expect(vsNaive1000).toMatchObject({ n: 1000, opsPerSec: null }); // naive completed nothing in repetition 0
    expect(pairedRatios(runs, "ours", "nobody")).toEqual([]);
    expect(median([5, 1, 3, 100])).toBe(4);
  });

  test("a summary keeps the range, the worst run's errors and the highest peak", () => {
    const naive = summarizeRuns(runs).find((s) => s.variant === "naive" && s.n === 200);
    expect(naive).toMatchObject({ runs: 2, opsPerSec: { median: 75, min: 50, max: 100 }, peakFds: 419, connections: 400, handshakes: 400, clientUsPerOp: 1000, serverUsPerOp: 500 });
    const naive1000 = summarizeRuns(runs).find((s) => s.variant === "naive" && s.n === 1000);
    expect(naive1000).toMatchObject({ worstErrors: { total: 995, byCode: { EMFILE: 995 } }, clientUsPerOp: null });
  });

  test("the TASK_CONCURRENCY axis adds the value the deployed budget does not use", () => {
    expect(variantsFor(50, 50).map((v) => v.id)).toEqual(["naive", "sdk-default", "ours", "ours-tasks-100"]);
    expect(variantsFor(50, 100).at(-1)).toEqual({ id: "ours-tasks-50", worker: "ours", taskConcurrency: 50 });
    expect(variantsFor(50, 70).map((v) => v.id).slice(3)).toEqual(["ours-tasks-50", "ours-tasks-100"]);
  });
});

describe("targets", () => {
  const bundles = { fanout: { bytes: 500_000, coldInitMs: 90, coldInitProcessMs: 120, initFds: 19, firstInvokeMs: 50, firstInvokeOk: true, runs: 10 } };
  const targets = evaluateTargets({
    fd: fdResults(runs),
    ours: "ours",
    maxSockets: 50,
    plannedFds: 240,
    processor: { peakFds: 95, ok: true, peakRssMb: 600, memoryMb: 1024 },
    bundles,
  });
  const byName = (prefix: string) => targets.find((t) => t.name.startsWith(prefix));

  test("each target is printed with its measured median and range", () => {
    expect(byName("ours: 0 errors")?.pass).toBe(true);
    expect(byName("ours: peak fds ≤ the budget's planned fds (240)")).toMatchObject({ pass: true, measured: "max 69" });
    expect(byName("naive reproduces the incident")).toMatchObject({ pass: true, measured: "N=1000 1 KiB: 995 EMFILE" });
    // N=200: 2.2 and 1.8 → median 2; N=1000: naive completed nothing in one repetition → ∞, not a failure.
    expect(byName("ours/naive ≥ 1.5")).toMatchObject({ pass: true, measured: "N=200 1 KiB: 2× (1.8–2.2); N=1000 1 KiB: ∞" });
    // N=200: 1.1 and 0.9 → median 1 (met); N=1000: 1.1 and 1.15 → 1.13.
    expect(byName("ours/sdk-default ≥ 1")).toMatchObject({ pass: true, measured: "N=200 1 KiB: 1× (0.9–1.1); N=1000 1 KiB: 1.13× (1.1–1.15)" });
    expect(byName("processor, both splits: peak fds ≤ planned fds (240)")).toMatchObject({ pass: true, measured: "95" });
    expect(byName("processor: peak RSS ≤ 50% of its 1024 MB (512 MB)")).toMatchObject({ pass: false, measured: "600 MB" });
    expect(byName("bundles")?.pass).toBe(true);
  });

  test("an error or an fd peak over the plan in any one run of ours fails its target", () => {
    const bad = [...runs, run("ours", 2, 200, 300, { errors: { total: 1, byCode: { ECONNRESET: 1 } }, peakFds: 241 })];
    const t = evaluateTargets({ fd: fdResults(bad), ours: "ours", maxSockets: 50, plannedFds: 240, bundles: {} });
    expect(t.find((x) => x.name.startsWith("ours: 0 errors"))).toMatchObject({ pass: false, measured: "max 1 errors over 5 runs" });
    expect(t.find((x) => x.name.startsWith("ours: peak fds"))).toMatchObject({ pass: false, measured: "max 241" });
  });

  test("a slower ours fails the sdk-default target; HTTP control cells do not count", () => {
    const slow = runs.map((r) => (r.variant === "ours" && r.n === 1000 ? { ...r, opsPerSec: r.opsPerSec / 2 } : r));
    const http = runs.map((r) => ({ ...r, transport: "http" as Transport, opsPerSec: r.variant === "ours" ? 1 : r.opsPerSec }));
    const t = evaluateTargets({ fd: fdResults([...slow, ...http]), ours: "ours", maxSockets: 50, plannedFds: 240, bundles: {} });
    expect(t.find((x) => x.name.startsWith("ours/sdk-default"))).toMatchObject({ pass: false, measured: "N=200 1 KiB: 1× (0.9–1.1); N=1000 1 KiB: 0.56× (0.55–0.57)" });
    // The HTTP cells, where ours is 0.01× of naive, change neither target.
    expect(t.find((x) => x.name.startsWith("ours/naive"))).toMatchObject({ pass: true, measured: "N=200 1 KiB: 2× (1.8–2.2); N=1000 1 KiB: ∞" });
  });
});

describe("report and charts", () => {
  const results: Results = {
    machine: { cpus: 2, cpuModel: "test", memGb: 1, node: process.version, os: "test" },
    run: {
      command: "npm run bench",
      mode: "test",
      startedAt: "2026-01-01T00:00:00.000Z",
      durationS: 1,
      loadAvg: { start: [0], end: [0], max1m: 0 },
      maxSockets: 50,
      taskConcurrency: 50,
      caps: [],
      sampler: { intervalMs: 2, medianGapMs: 2, p99GapMs: 3, maxGapMs: 4, gapsOver10Ms: 0, samples: 10 },
    },
    fd: fdResults(runs),
    handlers: { processor: { workload: "w", peakFds: 53, connections: 33, wallMs: 400, ok: true, peakRssMb: 180, memoryMb: 1024 } },
    bundles: { processor: { bytes: 500_000, coldInitMs: 90, coldInitProcessMs: 120, initFds: 19, firstInvokeMs: 50, firstInvokeOk: true, runs: 10 } },
    synth: { appMs: 600, cliMs: 6000, peakRssMb: 120, cliPeakRssMb: 270, appCpuMs: 700, cliCpuMs: 3000, appRuns: 5, cliRuns: 5, stacks: ["state"] },
    targets: [],
    charts: ["fd-peak.svg"],
  };

  test("writes latest.json in its documented shape and markdown tables with medians and ranges", () => {
    const { json, md } = writeResults(path.join(tmp, "results"), results);
    const parsed = JSON.parse(fs.readFileSync(json, "utf8"));
    expect(Object.keys(parsed)).toEqual(expect.arrayContaining(["fd", "handlers", "bundles", "synth", "targets", "charts"]));
    expect(Object.keys(parsed.fd).sort()).toEqual(["ratios", "runs", "summaries"]);
    expect(parsed.fd.runs).toHaveLength(12);
    expect(parsed.synth).toMatchObject({ appMs: 600, cliMs: 6000, peakRssMb: 120 });
    const text = fs.readFileSync(md, "utf8");
    expect(text).toBe(`${renderMarkdown(results)}\n`);
    expect(text).toContain("### Over TLS (HTTPS, as S3 is)");
    expect(text).toContain("| naive | 1000 | 1 KiB | 2 | 995 EMFILE | 1024 | 1005 | 1005 (0) | 5 (0–10) |");
    expect(text).toContain("| tls | N=200 1 KiB | 2 | 2× (1.8–2.2) | 1× (0.9–1.1) |");
    expect(text).toContain("| processor | w |  | 53 | 33 | 180 MB of 1024 | 400 | yes |");
    expect(text).toContain("![fd-peak.svg](fd-peak.svg)");
  });

  test("the fd chart draws every variant, Lambda's limit and the planned fds", async () => {
    const svg = await renderSvg(fdPeakSpec(summarizeRuns(runs), 240));
    expect(svg.startsWith("<svg")).toBe(true);
    for (const label of ["naive", "sdk-default", "ours", "Lambda limit 1024", "budget's planned fds 240", "peak open fds"]) expect(svg).toContain(label);
    const ratios = await renderSvg(ratioSpec(fdResults(runs).ratios));
    for (const label of ["ours/naive", "ours/sdk-default", "N=200 1 KiB"]) expect(ratios).toContain(label);
    const row = (messages: number): BurstRow => ({
      messages, itemsPerMessage: 40, items: messages * 40, wallSeconds: 10, jobsPerSecond: messages / 10, itemsPerSecond: messages * 4,
      throttles: 0, failedItems: 0, ok: true, queues: [], functions: [],
    });
    const burst = await renderSvg(burstSpec([row(50), row(200)]));
    for (const label of ["50 × 40", "200 × 40", "items/s", "jobs/s", "0 throttles, 0 failed items at every size"]) expect(burst).toContain(label);
    const throttled = await renderSvg(burstSpec([row(50), { ...row(200), throttles: 3, failedItems: 1 }]));
    expect(throttled).toContain("3 throttles, 1 failed items");
  });
});

describe("fd cells on 127.0.0.1, over TLS and plain HTTP", () => {
  let servers: ServersProcess;
  let scriptDir: string;
  const cert = makeCertificate(path.join(tmp, "tls"));
  const other = makeCertificate(path.join(tmp, "other-tls"));

  beforeAll(async () => {
    scriptDir = harnessScriptDir();
    servers = await startServers({
      script: path.join(scriptDir, "servers.js"),
      spec: { s3: { buckets: ["bench"], tls: cert }, sfn: true, origin: true },
      env: HARNESS_ENV,
    });
  });
  afterAll(() => servers?.close());

  const cell = (variant: VariantSpec, transport: Transport, caFile = cert.certFile, n = 20) =>
    runFdCell({
      scriptDir,
      servers,
      variant,
      n,
      bytes: 1024,
      transport,
      caFile,
      bucket: "bench",
      budgetEnv: { MAX_SOCKETS: "8", TASK_CONCURRENCY: "4", SDK_REQUEST_TIMEOUT_MS: "30000", SDK_CONNECT_TIMEOUT_MS: "3000" },
      env: HARNESS_ENV,
      timeoutMs: 30_000,
    });
  const ours: VariantSpec = { id: "ours", worker: "ours" };

  test("ours over TLS: 20 put+get pairs, 0 errors, one handshake per connection, connections within MAX_SOCKETS", async () => {
    const detail = await cell(ours, "tls");
    expect(detail.messages).toEqual([]);
    expect(detail.row).toMatchObject({ transport: "tls", errors: { total: 0, byCode: {} } });
    expect(detail.okItems).toBe(20);
    expect(detail.budget).toEqual({ maxSockets: 8, taskConcurrency: 4 });
    expect(detail.row.connections).toBeGreaterThan(0);
    expect(detail.row.connections).toBeLessThanOrEqual(8);
    expect(detail.row.handshakes).toBe(detail.row.connections);
    expect(detail.row.peakFds).toBeGreaterThan(10);
    expect(detail.row.peakFds).toBeLessThanOrEqual(8 + 30);
    expect(detail.elu).toBeGreaterThan(0);
    expect(detail.elu).toBeLessThanOrEqual(1);
  });

  test("the axis variant runs with its own TASK_CONCURRENCY", async () => {
    const detail = await cell({ id: "ours-tasks-16", worker: "ours", taskConcurrency: 16 }, "tls");
    expect(detail.row.variant).toBe("ours-tasks-16");
    expect(detail.budget).toEqual({ maxSockets: 8, taskConcurrency: 16 });
    expect(detail.row.connections).toBeLessThanOrEqual(8);
  });

  test("naive over TLS: a new client per operation pays a full handshake per operation", async () => {
    const detail = await cell({ id: "naive", worker: "naive" }, "tls");
    expect(detail.row.errors.total).toBe(0);
    expect(detail.row).toMatchObject({ connections: 40, handshakes: 40, resumedHandshakes: 0 });
  });

  test("the plain-HTTP control: the same servers process, no handshakes", async () => {
    const detail = await cell({ id: "naive", worker: "naive" }, "http");
    expect(detail.row).toMatchObject({ transport: "http", connections: 40, handshakes: 0, errors: { total: 0 } });
  });

  test("a client that does not trust the run's certificate fails every put: the TLS is verified, not switched off", async () => {
    const detail = await cell(ours, "tls", other.certFile, 4);
    expect(detail.okItems).toBe(0);
    expect(detail.row.errors.total).toBe(4);
    expect(Object.keys(detail.row.errors.byCode)).toEqual(["DEPTH_ZERO_SELF_SIGNED_CERT"]);
  });

  test("a TLS cell without a certificate is refused before anything runs", async () => {
    await expect(runFdCell({ scriptDir, servers, variant: ours, n: 1, bytes: 1, transport: "tls", bucket: "bench", budgetEnv: {} })).rejects.toThrow(
      "runFdCell: a TLS cell needs caFile",
    );
  });
});
