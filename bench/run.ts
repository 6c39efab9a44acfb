/**
 * The benchmarks: `npm run bench` (full) or `npm run bench -- --quick`. Writes
 * bench/results/latest.json, latest.md and the SVG charts beside them.
 *
 *   --quick                  fewer cells and repetitions (3 per cell), fewer synth runs
 *   --only=fd,handlers,bundles,synth   run only these sections
 *   --out=DIR                results folder (default bench/results)
 *   --cells=N:BYTES[:REPS[:tls|http]],…  fd cells to run instead of the mode's list (exploration)
 *   --charts                 measure nothing: render the charts again from the results in --out
 *   --pipeline               instead: the pipeline burst benchmark (bench/lib/pipeline.ts),
 *                            `--bursts=50,200,800` messages of `--items=40` items each;
 *                            writes pipeline.json, pipeline.md and burst.svg
 *
 * Sections: file descriptors and sockets (naive / sdk-default / ours, and ours
 * on the TASK_CONCURRENCY axis, under `ulimit -n 1024`, over TLS with the plain
 * HTTP control), handler path (fds, and the processor's peak memory against its
 * configured memory), bundles and cold init, synth. Everything talks to servers
 * on 127.0.0.1 only. Expects `node scripts/build.js` to have run (npm run bench does it).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import { ENV } from "../contract";
import { projectConfig } from "../modules/config/environments";
import { plannedFds } from "../modules/config/budget";
import { burstSpec, fdPeakSpec, ratioSpec, writeCharts } from "./lib/charts";
import { VARIANTS, type Transport } from "./lib/fd-cell";
import { runFdBench, variantsFor, type FdCellPlan } from "./lib/fd-bench";
import { pairedRatios, summarizeRuns } from "./lib/fd-summary";
import {
  bundleBytes,
  coldInit,
  fanoutPath,
  firstInvocation,
  FUNCTIONS,
  localFunctionEnv,
  processorPath,
  WORK_BUCKET,
} from "./lib/functions";
import { PROJECT_ROOT } from "../modules/bundle";
import { privateCopies } from "./lib/paths";
import { burstPasses, renderPipelineMarkdown, runPipelineBench, writePipelineResults, type BurstRow } from "./lib/pipeline";
import {
  evaluateTargets,
  renderMarkdown,
  writeResults,
  type BundleResult,
  type FdResults,
  type HandlerResult,
  type Results,
  type SynthResult,
} from "./lib/report";
import type { FdSample } from "../scripts/lib/fd-sampler";
import { memoryStorageDir, startServers } from "../scripts/lib/servers";
import { median, round } from "./lib/stats";
import { synthApp, synthCli, type SynthRun } from "./lib/synth";
import { makeCertificate } from "./lib/tls";

const KIB = 1024;
const MIB = 1024 * 1024;
const FD_BUCKET = "bench";
/** The environment whose deployed budget `ours` and the handlers use. */
const ENV_NAME = "dev";
const ENV_STACK = `pipeline-${ENV_NAME}`;
const BUDGET_VARS = ["MAX_SOCKETS", "TASK_CONCURRENCY", "SDK_REQUEST_TIMEOUT_MS", "SDK_CONNECT_TIMEOUT_MS"];

type Section = "fd" | "handlers" | "bundles" | "synth";
const SECTIONS: readonly Section[] = ["fd", "handlers", "bundles", "synth"];

const OPTIONS = {
  quick: { type: "boolean" },
  only: { type: "string" },
  out: { type: "string" },
  cells: { type: "string" },
  charts: { type: "boolean" },
  pipeline: { type: "boolean" },
  bursts: { type: "string" },
  items: { type: "string" },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];

interface Plan {
  readonly mode: "quick" | "full";
  readonly sections: ReadonlySet<Section>;
  readonly out: string;
  readonly cells: readonly FdCellPlan[];
  readonly caps: string[];
  readonly coldInitRuns: number;
  readonly appRuns: number;
  readonly cliRuns: number;
  readonly processorLines: number;
  readonly fanoutBatches: number;
  readonly fanoutBatchSize: number;
}

/** The three client variants without the TASK_CONCURRENCY axis (for the cells where one run takes a minute). */
const BASE_VARIANTS: readonly string[] = VARIANTS;

const cell = (n: number, bytes: number, transport: Transport, reps: number): FdCellPlan => ({ n, bytes, transport, reps });

/** `--cells=N:BYTES[:REPS[:tls|http]]`, comma-separated. */
function customCells(raw: string): FdCellPlan[] {
  return raw.split(",").map((c) => {
    const [n, bytes, reps, transport = "tls"] = c.split(":");
    const ok = [n, bytes].every((x) => /^[1-9]\d*$/.test(x)) && (reps === undefined || /^[1-9]\d*$/.test(reps)) && (transport === "tls" || transport === "http");
    if (!ok) throw new Error(`--cells: "${c}" is not N:BYTES[:REPS[:tls|http]] with positive integers`);
    return cell(Number(n), Number(bytes), transport as Transport, Number(reps ?? 1));
  });
}

function parsePlan(flags: Flags, out: string): Plan {
  const quick = flags.quick ?? false;
  const sections = new Set<Section>(flags.only ? (flags.only.split(",") as Section[]) : SECTIONS);
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section "${s}" (known: ${SECTIONS.join(", ")})`);
  const reps = quick ? 3 : 7;
  const control = 3;
  const cells: FdCellPlan[] = flags.cells
    ? customCells(flags.cells)
    : quick
    ? [
        cell(200, KIB, "tls", reps),
        cell(1000, KIB, "tls", reps),
        { ...cell(1000, 3 * MIB, "tls", reps), variants: BASE_VARIANTS },
        { ...cell(200, KIB, "http", control), variants: BASE_VARIANTS },
      ]
    : [
        cell(200, KIB, "tls", reps),
        cell(1000, KIB, "tls", reps),
        { ...cell(10000, KIB, "tls", reps), variants: BASE_VARIANTS },
        cell(200, 3 * MIB, "tls", reps),
        { ...cell(1000, 3 * MIB, "tls", reps), variants: BASE_VARIANTS },
        { ...cell(200, KIB, "http", control), variants: BASE_VARIANTS },
        { ...cell(1000, KIB, "http", control), variants: BASE_VARIANTS },
        { ...cell(200, 3 * MIB, "http", control), variants: BASE_VARIANTS },
      ];
  const caps = [
    "3 MiB objects run at N ≤ 1000: N = 10,000 would move 60 GB per variant through s3rver (hours on 2 cores).",
    flags.cells
      ? `Custom cells (--cells=${flags.cells}).`
      : quick
      ? "Quick mode: 1 KiB at N ∈ {200, 1000} and 3 MiB at N = 1000 over TLS, 200 × 1 KiB over HTTP, 3 repetitions each; the TASK_CONCURRENCY axis at 1 KiB only."
      : `TLS cells ${reps} repetitions each; the plain-HTTP control ${control}, at N ≤ 1000 and not 1000 × 3 MiB (each of those runs takes about a minute here). The TASK_CONCURRENCY axis runs at 200 and 1000 × 1 KiB and 200 × 3 MiB.`,
  ];
  return {
    mode: quick ? "quick" : "full",
    sections,
    out,
    cells,
    caps,
    coldInitRuns: quick ? 10 : 15,
    appRuns: quick ? 3 : 5,
    cliRuns: quick ? 1 : 5,
    processorLines: 100_000,
    fanoutBatches: 20,
    fanoutBatchSize: 10,
  };
}

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model?.trim() ?? "unknown",
    memGb: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    hostname: os.hostname(),
  };
}

function summarizeSynth(app: SynthRun[], cli: SynthRun[]): SynthResult {
  return {
    appMs: round(median(app.map((r) => r.wallMs))),
    cliMs: cli.length ? round(median(cli.map((r) => r.wallMs))) : NaN,
    peakRssMb: round(median(app.map((r) => r.peakRssMb))),
    cliPeakRssMb: cli.length ? round(median(cli.map((r) => r.peakRssMb))) : NaN,
    appCpuMs: round(median(app.map((r) => r.cpuMs))),
    cliCpuMs: cli.length ? round(median(cli.map((r) => r.cpuMs))) : NaN,
    appRuns: app.length,
    cliRuns: cli.length,
    stacks: app[0]?.stacks ?? [],
  };
}

/** A comma-separated list of positive integers (`--bursts=50,200`). */
function positiveInts(flag: string, raw: string): number[] {
  const values = raw.split(",").map(Number);
  if (raw === "" || values.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${flag} needs positive integers separated by commas (got "${raw}")`);
  return values;
}

async function pipelineMain(argv: readonly string[], flags: Flags, out: string): Promise<number> {
  const bursts = positiveInts("--bursts", flags.bursts ?? "50,200,800");
  const [itemsPerMessage] = positiveInts("--items", flags.items ?? "40");
  const command = `npm run bench -- ${argv.join(" ")}`;
  const rows = await runPipelineBench({ bursts, itemsPerMessage, log });
  const m = machine();
  const meta = { command, machine: `${m.cpus} × ${m.cpuModel}, ${m.memGb} GB, Node ${m.node}`, date: new Date().toISOString().slice(0, 10) };
  const written = writePipelineResults(out, rows, meta);
  await writeCharts(out, { "burst.svg": burstSpec(rows) });
  process.stdout.write(renderPipelineMarkdown(rows, meta));
  log(`wrote ${path.relative(process.cwd(), written.json)}, ${path.relative(process.cwd(), written.md)} and burst.svg`);
  return rows.every(burstPasses) ? 0 : 1;
}

/** The processor's planned fds and configured memory, from the config the stacks synthesize. */
function processorBudget(): { plannedFds: number; memoryMb: number } {
  const env = projectConfig.environments.find((e) => e.name === ENV_NAME);
  if (!env) throw new Error(`bench: no environment "${ENV_NAME}" in modules/config/environments.ts`);
  return { plannedFds: plannedFds(env.budget, "processor"), memoryMb: env.budget.processor.memoryMb };
}

/** The charts of a results folder: latest.json's fd charts, and burst.svg when pipeline.json is there. */
function chartsOf(fd: FdResults, planned: number): Record<string, Record<string, unknown>> {
  if (fd.runs.length === 0) return {};
  return { "fd-peak.svg": fdPeakSpec(fd.summaries, planned), "ratios.svg": ratioSpec(fd.ratios) };
}

async function chartsMain(out: string): Promise<void> {
  const written: string[] = [];
  const latest = path.join(out, "latest.json");
  if (fs.existsSync(latest)) {
    const results = JSON.parse(fs.readFileSync(latest, "utf8")) as Results;
    // The planned fds the run measured against, not what the config plans today.
    const planned = (results.run as { plannedFds?: unknown }).plannedFds;
    if (!results.fd?.summaries || typeof planned !== "number") throw new Error(`${latest} has no fd summaries or planned fds: it predates the paired benchmark; run npm run bench`);
    written.push(...(await writeCharts(out, chartsOf(results.fd, planned))));
  }
  const pipeline = path.join(out, "pipeline.json");
  if (fs.existsSync(pipeline)) {
    const rows = (JSON.parse(fs.readFileSync(pipeline, "utf8")) as { bursts: BurstRow[] }).bursts;
    written.push(...(await writeCharts(out, { "burst.svg": burstSpec(rows) })));
  }
  if (written.length === 0) throw new Error(`--charts: neither latest.json nor pipeline.json in ${out}`);
  log(`rendered ${written.join(", ")} in ${path.relative(process.cwd(), out) || "."}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const root = PROJECT_ROOT;
  const argv = process.argv.slice(2);
  const flags = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  const outDir = flags.out ? path.resolve(flags.out) : path.join(root, "bench", "results");
  if (flags.pipeline) {
    process.exitCode = await pipelineMain(argv, flags, outDir);
    return;
  }
  if (flags.charts) return chartsMain(outDir);
  const plan = parsePlan(flags, outDir);
  const command = `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
  const loadStart = os.loadavg().map((x) => round(x, 2));
  let maxLoad = loadStart[0];
  const loadTimer = setInterval(() => (maxLoad = Math.max(maxLoad, round(os.loadavg()[0], 2))), 1000);
  loadTimer.unref();
  log(`${plan.mode} run; sections: ${[...plan.sections].join(", ")}; load average ${loadStart.join(" ")}`);

  const copies = privateCopies(root, ["scripts/servers", "bench/fd-worker", "bench/rss-preload"], FUNCTIONS);
  const certificate = makeCertificate(path.join(copies.scriptDir, "tls"));
  const synthOptions = { root, preload: path.join(copies.scriptDir, "rss-preload.js") };
  const budget = processorBudget();
  const appRuns: SynthRun[] = [];
  const cliRuns: SynthRun[] = [];
  let fd: FdResults = { runs: [], summaries: [], ratios: [] };
  let samplerStats: FdSample[] = [];
  const handlers: Record<string, HandlerResult> = {};
  const bundles: Record<string, BundleResult> = {};
  let processorTarget: { peakFds: number; ok: boolean; peakRssMb: number; memoryMb: number } | undefined;
  let variantIds: string[] = [];

  try {
    // Synth first: it measures the app, and its output says what the stack deploys
    // (the budget `ours` and the handlers run with).
    const runs = plan.sections.has("synth") ? plan.appRuns : 1;
    let last: SynthRun | undefined;
    for (let i = 0; i < runs; i++) {
      last = await synthApp(synthOptions);
      if (plan.sections.has("synth")) appRuns.push(last);
      log(`app synth ${i + 1}/${runs}: ${round(last.wallMs)} ms wall, ${last.cpuMs} ms CPU, ${round(last.peakRssMb)} MB (${last.stacks.join(", ")})`);
    }
    const deployed = (last as SynthRun).functionEnv[ENV_STACK];
    if (!deployed?.processor) throw new Error(`no processor function in the synthesized ${ENV_STACK} stack`);
    const budgetEnv = Object.fromEntries(BUDGET_VARS.map((k) => [k, deployed.processor[k]]));
    const maxSockets = Number(budgetEnv.MAX_SOCKETS);
    const taskConcurrency = Number(budgetEnv.TASK_CONCURRENCY);
    const variants = variantsFor(maxSockets, taskConcurrency);
    variantIds = variants.map((v) => v.id);
    log(`ours = the ${ENV_STACK} processor's deployed budget: ${BUDGET_VARS.map((k) => `${k}=${budgetEnv[k]}`).join(" ")}; variants ${variantIds.join(", ")}`);

    const storageDir = memoryStorageDir();
    const servers = await startServers({
      script: path.join(copies.scriptDir, "servers.js"),
      spec: { s3: { buckets: [FD_BUCKET, WORK_BUCKET], tls: certificate }, sfn: true, origin: true },
      env: copies.env,
      storageDir,
    });
    log(`servers process ${servers.pid}: s3rver objects in ${storageDir ?? os.tmpdir()}`);
    try {
      // The handlers and bundles talk to the plain-HTTP S3 (the functions' own code paths are the same over both).
      await servers.freshS3(undefined, { plain: true });
      const endpoints = () => ({ s3: servers.s3Endpoint(), sfn: servers.sfnEndpoint, origin: servers.originUrl });

      if (plan.sections.has("bundles")) {
        for (const role of FUNCTIONS) {
          const env = localFunctionEnv(role, deployed[role], endpoints());
          const init = await coldInit(copies.bundles[role], env, plan.coldInitRuns);
          const first = await firstInvocation(role, copies.bundles[role], env, servers);
          if (!first.ok) log(`first invocation of ${role} failed: ${first.error}`);
          bundles[role] = {
            bytes: bundleBytes(copies.bundles[role]),
            coldInitMs: init.requireMs,
            coldInitProcessMs: init.processMs,
            initFds: init.fds,
            firstInvokeMs: first.invokeMs,
            firstInvokeOk: first.ok,
            runs: init.runs,
          };
          log(`${role}: ${bundles[role].bytes} bytes, cold init ${init.requireMs} ms (process ${init.processMs} ms, ${init.fds} fds), first invocation ${first.invokeMs} ms`);
        }
      }

      if (plan.sections.has("handlers")) {
        const procEnv = localFunctionEnv("processor", deployed.processor, endpoints());
        const proc = await processorPath(copies.bundles.processor, procEnv, servers, { kind: "text", lines: plan.processorLines });
        handlers.processor = {
          workload: `split one ${plan.processorLines.toLocaleString("en-US")}-line object (${round(Number(proc.detail.bytes) / MIB, 1)} MiB) into ${proc.detail.chunks} chunks`,
          peakFds: proc.peakFds,
          connections: proc.connections,
          wallMs: proc.wallMs,
          ok: proc.ok,
          ...proc.detail,
        };
        log(`processor path: peak ${proc.peakFds} fds, ${proc.connections} connections, ${proc.wallMs} ms, ok ${proc.ok}`);
        // The most memory a split can hold: the largest object the fetcher stores, in binary chunks of CHUNK_BYTES.
        const maxBytes = Number(deployed.fetcher?.[ENV.fetchMaxBytes]);
        if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new Error(`no ${ENV.fetchMaxBytes} in the synthesized ${ENV_STACK} fetcher`);
        const big = await processorPath(copies.bundles.processor, procEnv, servers, { kind: "binary", bytes: maxBytes });
        const peakRssMb = Number(big.detail.peakRssMb);
        handlers["processor (largest object)"] = {
          workload: `split one binary object of FETCH_MAX_BYTES (${round(maxBytes / MIB, 1)} MiB) into ${big.detail.chunks} chunks of CHUNK_BYTES`,
          peakFds: big.peakFds,
          connections: big.connections,
          wallMs: big.wallMs,
          ok: big.ok,
          ...big.detail,
          memoryMb: budget.memoryMb,
        };
        processorTarget = { peakFds: Math.max(proc.peakFds, big.peakFds), ok: proc.ok && big.ok, peakRssMb, memoryMb: budget.memoryMb };
        log(`processor, largest object: peak ${big.peakFds} fds, peak RSS ${peakRssMb} MB of ${budget.memoryMb} MB, ${big.wallMs} ms, ok ${big.ok}`);

        const fanEnv = localFunctionEnv("fanout", deployed.fanout, endpoints());
        const fan = await fanoutPath(copies.bundles.fanout, fanEnv, servers, plan.fanoutBatches, plan.fanoutBatchSize);
        handlers.fanout = {
          workload: `${plan.fanoutBatches} concurrent batches × ${plan.fanoutBatchSize} messages → manifest PUT + StartExecution each`,
          peakFds: fan.peakFds,
          connections: fan.connections,
          wallMs: fan.wallMs,
          ok: fan.ok,
          ...fan.detail,
        };
        log(`fanout path: peak ${fan.peakFds} fds, ${fan.connections} connections, ${fan.wallMs} ms, ok ${fan.ok}`);
      }

      if (plan.sections.has("fd")) {
        const measured = await runFdBench({
          cells: plan.cells,
          variants,
          scriptDir: copies.scriptDir,
          servers,
          bucket: FD_BUCKET,
          budgetEnv,
          env: copies.env,
          caFile: certificate.certFile,
          log,
        });
        const pairs = [
          ["ours", "naive"],
          ["ours", "sdk-default"],
          ...variantIds.filter((id) => id.startsWith("ours-tasks-")).map((id) => [id, "ours"]),
        ];
        fd = { runs: measured.runs, summaries: summarizeRuns(measured.runs), ratios: pairs.flatMap(([a, b]) => pairedRatios(measured.runs, a, b)) };
        samplerStats = measured.samplers;
      }
    } finally {
      await servers.close();
    }

    if (plan.sections.has("synth")) {
      // Last: the CLI runs cdktf.json's app command, which rebuilds dist/.
      for (let i = 0; i < plan.cliRuns; i++) {
        const run = await synthCli(synthOptions);
        cliRuns.push(run);
        log(`cdktf synth ${i + 1}/${plan.cliRuns}: ${round(run.wallMs)} ms wall, ${run.cpuMs} ms CPU over ${run.processes} processes, peak ${round(run.peakRssMb)} MB`);
      }
    }

    const synth = plan.sections.has("synth") ? summarizeSynth(appRuns, cliRuns) : undefined;
    const targets = evaluateTargets({ fd, ours: "ours", maxSockets, plannedFds: budget.plannedFds, processor: processorTarget, bundles, synth });
    const charts = await writeCharts(plan.out, chartsOf(fd, budget.plannedFds));
    const gaps = samplerStats;
    const results: Results = {
      machine: machine(),
      run: {
        command,
        mode: plan.mode,
        startedAt: new Date(started).toISOString(),
        durationS: round((Date.now() - started) / 1000, 1),
        loadAvg: { start: loadStart, end: os.loadavg().map((x) => round(x, 2)), max1m: maxLoad },
        maxSockets,
        taskConcurrency,
        variants: variantIds,
        plannedFds: budget.plannedFds,
        budgetSource: `${ENV_STACK} processor Lambda environment as synthesized from modules/config/environments.ts`,
        deployedEnv: Object.fromEntries(FUNCTIONS.map((f) => [f, Object.fromEntries(BUDGET_VARS.map((k) => [k, deployed[f]?.[k]]))])),
        ulimitClient: 1024,
        tls: "s3rver over HTTPS with a self-signed RSA-2048 certificate made for the run (openssl), trusted by the clients through NODE_EXTRA_CA_CERTS",
        s3rverStorage: storageDir ?? os.tmpdir(),
        caps: plan.caps,
        cells: plan.cells,
        sampler: {
          intervalMs: 2,
          samples: gaps.reduce((s, g) => s + g.samples, 0),
          medianGapMs: gaps.length ? median(gaps.map((g) => g.medianGapMs)) : 0,
          p99GapMs: gaps.length ? Math.max(...gaps.map((g) => g.p99GapMs)) : 0,
          maxGapMs: gaps.length ? round(Math.max(...gaps.map((g) => g.maxGapMs)), 1) : 0,
          gapsOver10Ms: gaps.reduce((s, g) => s + g.gapsOver10Ms, 0),
          nice: gaps[0]?.nice,
        },
        opsDefinition: "successful operations (each PutObject and each GetObject with its body read to the end) per second of wall time",
      },
      fd,
      handlers,
      bundles,
      synth: synth ?? {},
      targets,
      charts,
    };
    const written = writeResults(plan.out, results);
    process.stdout.write(`${renderMarkdown(results)}\n`);
    log(`wrote ${path.relative(process.cwd(), written.json)}, ${path.relative(process.cwd(), written.md)} and ${charts.length} charts in ${round((Date.now() - started) / 1000, 1)} s`);
    process.exitCode = targets.every((t) => t.pass) ? 0 : 1;
  } finally {
    clearInterval(loadTimer);
    copies.remove();
  }
}

main().catch((error) => {
  // The message says what to fix (an unknown flag, a bad --cells entry); DEBUG=1 adds where it came from.
  const e = error as Error;
  log(`failed: ${process.env.DEBUG ? (e?.stack ?? String(e)) : (e?.message ?? String(e))}`);
  process.exit(1);
});
