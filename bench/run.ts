/**
 * The benchmarks: `npm run bench` (full) or `npm run bench -- --quick` (under a
 * minute on 2 cores). Writes bench/results/latest.json and latest.md.
 *
 *   --quick                  N ∈ {200, 1000} at 1 KiB, 3 MiB at N = 200, one run per cell,
 *                            fewer synth runs
 *   --only=fd,handlers,bundles,synth   run only these sections
 *   --out=DIR                results folder (default bench/results)
 *   --cells=N:BYTES[:REPS],… fd cells to run instead of the mode's list (exploration)
 *   --pipeline               instead: the pipeline burst benchmark (bench/lib/pipeline.ts),
 *                            `--bursts=50,200,800` messages of `--items=40` items each;
 *                            writes pipeline.json and pipeline.md
 *
 * Sections: file descriptors and sockets (naive / sdk-default / ours under
 * `ulimit -n 1024`), handler path, bundles and cold init, synth. Everything
 * talks to servers on 127.0.0.1 only. Expects `node scripts/build.js` to have
 * run (npm run bench does it).
 */
import * as os from "os";
import * as path from "path";
import { runFdCell, VARIANTS, type FdCellDetail, type FdRow } from "./lib/fd-cell";
import {
  bundleBytes,
  coldInit,
  fanoutPath,
  firstInvocation,
  FUNCTIONS,
  localFunctionEnv,
  processorPath,
  WORK_BUCKET,
  type HandlerPath,
} from "./lib/functions";
import { PROJECT_ROOT } from "../modules/bundle";
import { privateCopies } from "./lib/paths";
import { burstPasses, renderPipelineMarkdown, runPipelineBench, writePipelineResults } from "./lib/pipeline";
import {
  computeRatios,
  evaluateTargets,
  renderMarkdown,
  writeResults,
  type BundleResult,
  type HandlerResult,
  type Results,
  type SynthResult,
} from "./lib/report";
import { memoryStorageDir, startServers } from "../scripts/lib/servers";
import { median, round } from "./lib/stats";
import { synthApp, synthCli, type SynthRun } from "./lib/synth";

const KIB = 1024;
const MIB = 1024 * 1024;
const FD_BUCKET = "bench";
/** The environment whose deployed budget `ours` and the handlers use. */
const ENV_STACK = "pipeline-dev";
const BUDGET_VARS = ["MAX_SOCKETS", "TASK_CONCURRENCY", "SDK_REQUEST_TIMEOUT_MS", "SDK_CONNECT_TIMEOUT_MS"];

type Section = "fd" | "handlers" | "bundles" | "synth";

interface Plan {
  readonly mode: "quick" | "full";
  readonly sections: ReadonlySet<Section>;
  readonly out: string;
  /** [n, bytes, repetitions] */
  readonly cells: ReadonlyArray<readonly [number, number, number]>;
  readonly caps: string[];
  readonly coldInitRuns: number;
  readonly appRuns: number;
  readonly cliRuns: number;
  readonly processorLines: number;
  readonly fanoutBatches: number;
  readonly fanoutBatchSize: number;
}

function parsePlan(argv: readonly string[], root: string): Plan {
  const quick = argv.includes("--quick");
  const only = argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  const out = argv.find((a) => a.startsWith("--out="))?.slice("--out=".length);
  const all: Section[] = ["fd", "handlers", "bundles", "synth"];
  const sections = new Set<Section>(only ? (only.split(",") as Section[]) : all);
  for (const s of sections) if (!all.includes(s)) throw new Error(`unknown section "${s}" (known: ${all.join(", ")})`);
  const custom = argv.find((a) => a.startsWith("--cells="))?.slice("--cells=".length);
  const cells: Array<[number, number, number]> = custom
    ? custom.split(",").map((c) => {
        const [n, bytes, reps] = c.split(":").map(Number);
        return [n, bytes, reps || 1];
      })
    : quick
    ? [
        [200, KIB, 1],
        [1000, KIB, 1],
        [200, 3 * MIB, 1],
      ]
    : [
        [200, KIB, 5],
        [1000, KIB, 3],
        [10000, KIB, 1],
        [200, 3 * MIB, 3],
        [1000, 3 * MIB, 1],
      ];
  const caps = quick
    ? ["Quick mode: 3 MiB objects only at N = 200 (N = 1000 at 3 MiB is in the full run); one run per cell."]
    : [
        "3 MiB objects run at N ≤ 1000: N = 10,000 would move 30 GB per variant through s3rver (hours on 2 cores).",
        "Cells are repeated (N = 200: 5 runs at 1 KiB, 3 at 3 MiB; N = 1000 at 1 KiB: 3 runs) in rotating variant order; the row shown is the run with the median ops/s, and the bounds are checked on every run.",
      ];
  return {
    mode: quick ? "quick" : "full",
    sections,
    out: out ? path.resolve(out) : path.join(root, "bench", "results"),
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

async function pipelineMain(argv: readonly string[], out: string): Promise<number> {
  const value = (flag: string) => argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  const bursts = positiveInts("--bursts", value("--bursts") ?? "50,200,800");
  const [itemsPerMessage] = positiveInts("--items", value("--items") ?? "40");
  const command = `npm run bench -- ${argv.join(" ")}`;
  const rows = await runPipelineBench({ bursts, itemsPerMessage, log });
  const m = machine();
  const meta = { command, machine: `${m.cpus} × ${m.cpuModel}, ${m.memGb} GB, Node ${m.node}`, date: new Date().toISOString().slice(0, 10) };
  const written = writePipelineResults(out, rows, meta);
  process.stdout.write(renderPipelineMarkdown(rows, meta));
  log(`wrote ${path.relative(process.cwd(), written.json)} and ${path.relative(process.cwd(), written.md)}`);
  return rows.every(burstPasses) ? 0 : 1;
}

async function main(): Promise<void> {
  const started = Date.now();
  const root = PROJECT_ROOT;
  const argv = process.argv.slice(2);
  if (argv.includes("--pipeline")) {
    const out = argv.find((a) => a.startsWith("--out="))?.slice("--out=".length);
    process.exitCode = await pipelineMain(argv, out ? path.resolve(out) : path.join(root, "bench", "results"));
    return;
  }
  const plan = parsePlan(argv, root);
  const command = `npm run bench${plan.mode === "quick" ? " -- --quick" : ""}`;
  const loadStart = os.loadavg().map((x) => round(x, 2));
  let maxLoad = loadStart[0];
  const loadTimer = setInterval(() => (maxLoad = Math.max(maxLoad, round(os.loadavg()[0], 2))), 1000);
  loadTimer.unref();
  log(`${plan.mode} run; sections: ${[...plan.sections].join(", ")}; load average ${loadStart.join(" ")}`);

  const copies = privateCopies(root, ["scripts/servers", "bench/fd-worker", "bench/rss-preload"], FUNCTIONS);
  const synthOptions = { root, preload: path.join(copies.scriptDir, "rss-preload.js") };
  const appRuns: SynthRun[] = [];
  const cliRuns: SynthRun[] = [];
  const fdRows: FdRow[] = [];
  const oursRuns: FdRow[] = [];
  const cellLog: Array<Record<string, unknown>> = [];
  const samplerStats: FdCellDetail["sampler"][] = [];
  const handlers: Record<string, HandlerResult> = {};
  const bundles: Record<string, BundleResult> = {};
  let processorTarget: { peakFds: number; maxSockets: number; ok: boolean } | undefined;

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
    log(`ours = the ${ENV_STACK} processor's deployed budget: ${BUDGET_VARS.map((k) => `${k}=${budgetEnv[k]}`).join(" ")}`);

    const storageDir = memoryStorageDir();
    const servers = await startServers({
      script: path.join(copies.scriptDir, "servers.js"),
      spec: { s3: { buckets: [FD_BUCKET, WORK_BUCKET] }, sfn: true, origin: true },
      env: copies.env,
      storageDir,
    });
    log(`servers process ${servers.pid}: s3rver objects in ${storageDir ?? os.tmpdir()}`);
    try {
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

      if (plan.sections.has("fd")) {
        // Warm-up (not reported): the servers process's JIT should not be cold for the first cell.
        await runFdCell({ scriptDir: copies.scriptDir, servers, variant: "ours", n: 100, bytes: KIB, bucket: FD_BUCKET, budgetEnv, env: copies.env });
        for (const [n, bytes, reps] of plan.cells) {
          const byVariant = new Map<string, FdCellDetail[]>();
          for (let rep = 0; rep < reps; rep++) {
            const order = VARIANTS.map((_, i) => VARIANTS[(i + rep) % VARIANTS.length]);
            for (const variant of order) {
              const detail = await runFdCell({
                scriptDir: copies.scriptDir,
                servers,
                variant,
                n,
                bytes,
                bucket: FD_BUCKET,
                budgetEnv,
                env: copies.env,
              });
              const r = detail.row;
              log(
                `fd ${variant} N=${n} ${bytes} B: ${r.errors.total} errors ${JSON.stringify(r.errors.byCode)}, peak ${r.peakFds} fds, ` +
                  `${r.connections} connections, ${r.wallMs} ms, ${r.opsPerSec} ops/s (sampler max gap ${detail.sampler.maxGapMs} ms)`,
              );
              for (const m of detail.messages.slice(0, 1)) log(`  e.g. ${m}`);
              if (variant === "ours") oursRuns.push(r);
              samplerStats.push(detail.sampler);
              byVariant.set(variant, [...(byVariant.get(variant) ?? []), detail]);
            }
          }
          for (const variant of VARIANTS) {
            const details = byVariant.get(variant) ?? [];
            const sorted = [...details].sort((a, b) => a.row.opsPerSec - b.row.opsPerSec);
            const chosen = sorted[Math.floor((sorted.length - 1) / 2)];
            fdRows.push(chosen.row);
            cellLog.push({
              variant,
              n,
              bytes,
              shown: details.indexOf(chosen),
              cpuPerOkOp: {
                clientUs: chosen.okOps ? round((chosen.clientCpuMs * 1000) / chosen.okOps) : null,
                serverUs: chosen.okOps ? round((chosen.serverCpuMs * 1000) / chosen.okOps) : null,
              },
              runs: details.map((d) => ({
                okOps: d.okOps,
                opsPerSec: d.row.opsPerSec,
                wallMs: d.row.wallMs,
                peakFds: d.row.peakFds,
                connections: d.row.connections,
                errors: d.row.errors.total,
                okItems: d.okItems,
                serverPeakOpen: d.serverPeakOpen,
                clientCpuMs: d.clientCpuMs,
                serverCpuMs: d.serverCpuMs,
                samplerMaxGapMs: d.sampler.maxGapMs,
              })),
            });
          }
        }
      }

      if (plan.sections.has("handlers")) {
        const procEnv = localFunctionEnv("processor", deployed.processor, endpoints());
        const proc: HandlerPath = await processorPath(copies.bundles.processor, procEnv, servers, plan.processorLines);
        handlers.processor = {
          workload: `split one ${plan.processorLines.toLocaleString("en-US")}-line object (${round(Number(proc.detail.bytes) / MIB, 1)} MiB) into ${proc.detail.chunks} chunks`,
          peakFds: proc.peakFds,
          connections: proc.connections,
          wallMs: proc.wallMs,
          ok: proc.ok,
          ...proc.detail,
        };
        processorTarget = { peakFds: proc.peakFds, maxSockets: Number(procEnv.MAX_SOCKETS), ok: proc.ok };
        log(`processor path: peak ${proc.peakFds} fds, ${proc.connections} connections, ${proc.wallMs} ms, ok ${proc.ok}`);

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

    const ratios = computeRatios(fdRows);
    const synth = plan.sections.has("synth") ? summarizeSynth(appRuns, cliRuns) : undefined;
    const targets = evaluateTargets({
      fd: fdRows,
      oursRuns,
      ratios,
      maxSockets,
      processor: processorTarget,
      bundles,
      synth,
    });
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
        budgetSource: `${ENV_STACK} processor Lambda environment as synthesized from modules/config/environments.ts`,
        deployedEnv: Object.fromEntries(FUNCTIONS.map((f) => [f, Object.fromEntries(BUDGET_VARS.map((k) => [k, deployed[f]?.[k]]))])),
        ulimitClient: 1024,
        s3rverStorage: storageDir ?? os.tmpdir(),
        caps: plan.caps,
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
        cells: cellLog,
      },
      fd: fdRows,
      ratios,
      handlers,
      bundles,
      synth: synth ?? {},
      targets,
    };
    const written = writeResults(plan.out, results);
    process.stdout.write(`${renderMarkdown(results)}\n`);
    log(`wrote ${path.relative(process.cwd(), written.json)} and ${path.relative(process.cwd(), written.md)} in ${round((Date.now() - started) / 1000, 1)} s`);
  } finally {
    clearInterval(loadTimer);
    copies.remove();
  }
}

main().catch((error) => {
  log(`failed: ${(error as Error)?.stack ?? error}`);
  process.exit(1);
});
