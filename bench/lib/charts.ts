/**
 * The benchmark's charts, as SVG files beside the results: Vega-Lite specs
 * built from the results (typed data, no hand-drawn SVG), rendered headless by
 * Vega's own SVG renderer.
 *  - fd-peak.svg   peak open fds against N, per variant, over TLS, with Lambda's
 *                  1,024 limit and the budget's planned fds as lines
 *  - ratios.svg    the paired ops/s ratios: median, and the range as a bar
 *  - burst.svg     the pipeline burst: items/s and jobs/s per burst size
 */
import * as fs from "fs";
import * as path from "path";
import { LAMBDA_FD_LIMIT } from "../../modules/config/budget";
import type { FdSummary, PairedRatio } from "./fd-summary";
import type { BurstRow } from "./pipeline";
import { cellName, sizeLabel } from "./report";

// A Vega-Lite spec is plain JSON; vega-lite's TopLevelSpec type is a deep union the specs below satisfy.
type Spec = Record<string, unknown>;

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";
const CONFIG = { font: "sans-serif", view: { stroke: "#ddd" }, axis: { labelFontSize: 11, titleFontSize: 12 } };

export function fdPeakSpec(summaries: readonly FdSummary[], plannedFds: number): Spec {
  const values = summaries
    .filter((s) => s.transport === "tls")
    .map((s) => ({ variant: s.variant, n: s.n, size: sizeLabel(s.bytes), peakFds: s.peakFds, errors: s.worstErrors.total }));
  const lines = [
    { y: LAMBDA_FD_LIMIT, label: `Lambda limit ${LAMBDA_FD_LIMIT}` },
    { y: plannedFds, label: `budget's planned fds ${plannedFds}` },
  ];
  return {
    $schema: SCHEMA,
    title: "Peak open file descriptors, put + get of N objects over TLS (client under ulimit -n 1024)",
    config: CONFIG,
    data: { values },
    facet: { column: { field: "size", type: "nominal", title: "object size" } },
    spec: {
      width: 300,
      height: 240,
      layer: [
        {
          mark: { type: "line", point: true },
          encoding: {
            x: { field: "n", type: "quantitative", scale: { type: "log", domain: [100, 20000] }, title: "N (objects)", axis: { values: [100, 200, 1000, 10000] } },
            y: { field: "peakFds", type: "quantitative", scale: { domain: [0, 1100] }, title: "peak open fds" },
            color: { field: "variant", type: "nominal" },
            // Variants at the same peak draw over each other: a dash and a shape each keep them apart.
            strokeDash: { field: "variant", type: "nominal", legend: null },
            shape: { field: "variant", type: "nominal", legend: null },
            tooltip: [{ field: "variant" }, { field: "n" }, { field: "peakFds" }, { field: "errors" }],
          },
        },
        {
          data: { values: lines },
          layer: [
            { mark: { type: "rule", strokeDash: [4, 3], color: "#b00" }, encoding: { y: { field: "y", type: "quantitative" } } },
            { mark: { type: "text", align: "left", dx: 4, dy: -6, color: "#b00", fontSize: 10 }, encoding: { y: { field: "y", type: "quantitative" }, x: { value: 0 }, text: { field: "label" } } },
          ],
        },
      ],
    },
  };
}

export function ratioSpec(ratios: readonly PairedRatio[]): Spec {
  const values = ratios
    .filter((r) => r.opsPerSec !== null)
    .map((r) => ({
      cell: `${cellName(r.n, r.bytes)}`,
      transport: r.transport === "tls" ? "TLS" : "HTTP (control)",
      pair: r.pair,
      median: r.opsPerSec?.median,
      min: r.opsPerSec?.min,
      max: r.opsPerSec?.max,
    }));
  return {
    $schema: SCHEMA,
    title: "ops/s ratios, paired within each repetition: median and range",
    config: CONFIG,
    data: { values },
    facet: { column: { field: "transport", type: "nominal", title: null } },
    resolve: { scale: { x: "independent", xOffset: "independent" } },
    spec: {
      width: 330,
      height: 260,
      layer: [
        {
          mark: { type: "rule", strokeWidth: 2 },
          encoding: {
            x: { field: "cell", type: "nominal", sort: null, title: null, axis: { labelAngle: -30 } },
            xOffset: { field: "pair" },
            y: { field: "min", type: "quantitative", scale: { type: "log" }, title: "ratio (log scale)" },
            y2: { field: "max" },
            color: { field: "pair", type: "nominal" },
          },
        },
        {
          mark: { type: "point", filled: true, size: 50 },
          encoding: {
            x: { field: "cell", type: "nominal", sort: null },
            xOffset: { field: "pair" },
            y: { field: "median", type: "quantitative" },
            color: { field: "pair", type: "nominal" },
            tooltip: [{ field: "pair" }, { field: "cell" }, { field: "median" }, { field: "min" }, { field: "max" }],
          },
        },
        { data: { values: [{ y: 1 }] }, mark: { type: "rule", color: "#555", strokeDash: [4, 3] }, encoding: { y: { field: "y", type: "quantitative" } } },
      ],
    },
  };
}

/** What the bursts' targets came to, for the chart's title. */
function burstVerdict(rows: readonly BurstRow[]): string {
  const throttles = rows.reduce((n, r) => n + r.throttles, 0);
  const failed = rows.reduce((n, r) => n + r.failedItems, 0);
  return throttles === 0 && failed === 0 ? "0 throttles, 0 failed items at every size" : `${throttles} throttles, ${failed} failed items`;
}

export function burstSpec(rows: readonly BurstRow[]): Spec {
  const values = rows.flatMap((r) => [
    { burst: `${r.messages} × ${r.itemsPerMessage}`, messages: r.messages, measure: "items/s", value: r.itemsPerSecond, throttles: r.throttles, failed: r.failedItems },
    { burst: `${r.messages} × ${r.itemsPerMessage}`, messages: r.messages, measure: "jobs/s", value: r.jobsPerSecond, throttles: r.throttles, failed: r.failedItems },
  ]);
  return {
    $schema: SCHEMA,
    title: `Pipeline burst on the dev budget: throughput per burst (${burstVerdict(rows)})`,
    config: CONFIG,
    data: { values },
    facet: { column: { field: "measure", type: "nominal", title: null } },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 260,
      height: 220,
      mark: { type: "bar" },
      encoding: {
        x: { field: "burst", type: "ordinal", sort: { field: "messages" }, title: "messages × items", axis: { labelAngle: 0 } },
        y: { field: "value", type: "quantitative", title: null },
        tooltip: [{ field: "burst" }, { field: "value" }, { field: "throttles" }, { field: "failed" }],
      },
    },
  };
}

/** The parts of Vega and Vega-Lite used here (their own type declarations are 12,000 lines the type check would read). */
interface VegaLite {
  compile(spec: Spec): { spec: object };
}
interface Vega {
  parse(spec: object): object;
  View: new (runtime: object, options: { renderer: "none" }) => { toSVG(): Promise<string>; finalize(): void };
}

/** Renders a Vega-Lite spec to SVG text (no browser, no canvas). */
export async function renderSvg(spec: Spec): Promise<string> {
  // Loaded here: only a chart-writing run pays for them.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vega = require("vega") as Vega;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vegaLite = require("vega-lite") as VegaLite;
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes each chart (through a temporary file) and returns the file names written. */
export async function writeCharts(dir: string, charts: Readonly<Record<string, Spec>>): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, spec] of Object.entries(charts)) {
    const file = path.join(dir, name);
    fs.writeFileSync(`${file}.tmp`, await renderSvg(spec));
    fs.renameSync(`${file}.tmp`, file);
    written.push(name);
  }
  return written;
}
