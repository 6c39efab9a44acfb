/** Command-line options of `npm run local` (parsed by `node:util` parseArgs). */
import { parseArgs as parseArgsUtil } from "node:util";
import { parseFaults } from "./faults";
import { DEFAULTS, type LocalRunOptions } from "./run";

export interface CliOptions extends Omit<LocalRunOptions, "log" | "onProgress" | "beforeClose"> {
  readonly json: boolean;
  readonly help: boolean;
  /** Force plain progress lines (or the bar) regardless of the terminal. */
  readonly progress: "auto" | "bar" | "lines" | "off";
}

export const USAGE = `Usage: npm run local -- [options]

Runs the whole pipeline on this machine: the synthesized state machine on a local
ASL interpreter (Distributed Map, task tokens, AWS's 256 KiB and 25,000-event
limits), SQS queues and event source mappings, S3 (s3rver) and an origin over
127.0.0.1, the bundled functions in child processes. Exits non-zero unless every
message sent is accounted for exactly once (succeeded / failed items / rejected /
DLQ), no function was throttled and no execution failed on an AWS limit.

  --messages N            messages to send (default ${DEFAULTS.messages})
  --items-per-message K   items per good message (default ${DEFAULTS.itemsPerMessage})
  --bad-ratio R           share of malformed messages, 0..1 (default ${DEFAULTS.badRatio})
  --bad-item-ratio R      probability an item's URL answers 404 (default ${DEFAULTS.badItemRatio})
  --bad-job-ratio R       share of good messages whose every item answers 404 (default 0)
  --url-length N          pad every item URL to exactly N characters (at most the fanout's MAX_URL_LENGTH)
  --faults LIST           e.g. s3-503:0.05,origin-timeout:0.02,origin-reset:0.02,duplicate:0.05,poison:0.02,
                          finalize-fail:0.1,stale-token:0.05,worker-kill:0.02
  --json                  print the summary as JSON on stdout
  --seed N                random seed (default: time-based; printed in the summary)
  --env NAME              environment: runs stack pipeline-NAME (default ${DEFAULTS.env})
  --synth-dir DIR         read DIR/stacks/pipeline-NAME/cdk.tf.json (e.g. cdktf.out) instead of synthesizing
  --time-scale X          local seconds per AWS second: visibility timeouts, HeartbeatSeconds, TimeoutSeconds (default ${DEFAULTS.timeScale})
  --retry-scale X         multiplies the definition's Retry waits (default ${DEFAULTS.retryScale})
  --max-environments N    child processes per function at most (default ${DEFAULTS.maxEnvironments})
  --fetch-timeout-ms N    local cap on FETCH_TIMEOUT_MS (default ${DEFAULTS.fetchTimeoutMs})
  --timeout S             give up waiting after S seconds (default ${DEFAULTS.timeoutSeconds})
  --logs DIR              write each environment's log output to DIR
  --progress MODE         auto | bar | lines | off (default auto: bar on a terminal)
  -h, --help              this text
`;

function number(name: string, raw: string | undefined, check: (n: number) => boolean, what: string): number {
  const n = Number(raw);
  if (raw === undefined || raw === "" || !Number.isFinite(n) || !check(n)) throw new Error(`${name} needs ${what} (got ${raw === undefined ? "nothing" : `"${raw}"`})`);
  return n;
}

const int = (min: number) => (n: number) => Number.isInteger(n) && n >= min;
const ratio = (n: number) => n >= 0 && n <= 1;
const positive = (n: number) => n > 0;

const STRING_OPTIONS = [
  "messages",
  "items-per-message",
  "bad-ratio",
  "bad-item-ratio",
  "bad-job-ratio",
  "url-length",
  "faults",
  "seed",
  "env",
  "synth-dir",
  "time-scale",
  "retry-scale",
  "max-environments",
  "fetch-timeout-ms",
  "timeout",
  "logs",
  "progress",
] as const;
const PROGRESS_MODES = ["auto", "bar", "lines", "off"] as const;

export function parseArgs(argv: readonly string[]): CliOptions {
  let values: Partial<Record<(typeof STRING_OPTIONS)[number], string>> & { json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgsUtil({
      args: [...argv],
      options: {
        ...Object.fromEntries(STRING_OPTIONS.map((name) => [name, { type: "string" as const }])),
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new Error(`${(e as Error).message} (see --help)`);
  }
  const opt = <T>(name: (typeof STRING_OPTIONS)[number], fallback: T, parse: (flag: string, raw: string) => T): T => {
    const raw = values[name];
    return raw === undefined ? fallback : parse(`--${name}`, raw);
  };
  const num = (check: (n: number) => boolean, what: string) => (flag: string, raw: string) => number(flag, raw, check, what);
  const folder = (flag: string, raw: string) => {
    if (raw === "") throw new Error(`${flag} needs a folder`);
    return raw;
  };
  const env = opt("env", DEFAULTS.env, (flag, raw) => {
    if (!/^[a-z0-9]{1,12}$/.test(raw)) throw new Error(`${flag} needs an environment name (got "${raw}")`);
    return raw;
  });
  const progress = opt<CliOptions["progress"]>("progress", "auto", (flag, raw) => {
    const mode = PROGRESS_MODES.find((m) => m === raw);
    if (!mode) throw new Error(`${flag} needs ${PROGRESS_MODES.join(", ")} (got "${raw}")`);
    return mode;
  });
  return {
    messages: opt("messages", DEFAULTS.messages, num(int(1), "an integer ≥ 1")),
    itemsPerMessage: opt("items-per-message", DEFAULTS.itemsPerMessage, num(int(1), "an integer ≥ 1")),
    badRatio: opt("bad-ratio", DEFAULTS.badRatio, num(ratio, "a ratio between 0 and 1")),
    badItemRatio: opt("bad-item-ratio", DEFAULTS.badItemRatio, num(ratio, "a ratio between 0 and 1")),
    badJobRatio: opt("bad-job-ratio", undefined, num(ratio, "a ratio between 0 and 1")),
    urlLength: opt("url-length", undefined, num(int(40), "an integer ≥ 40")),
    faults: parseFaults(values.faults ?? ""),
    seed: opt("seed", Date.now() % 1_000_000, num(int(0), "an integer ≥ 0")),
    env,
    synthDir: opt("synth-dir", undefined, folder),
    timeScale: opt("time-scale", DEFAULTS.timeScale, num(positive, "a number > 0")),
    retryScale: opt("retry-scale", DEFAULTS.retryScale, num((n) => n >= 0, "a number ≥ 0")),
    maxEnvironments: opt("max-environments", DEFAULTS.maxEnvironments, num(int(1), "an integer ≥ 1")),
    fetchTimeoutMs: opt("fetch-timeout-ms", DEFAULTS.fetchTimeoutMs, num(int(100), "an integer ≥ 100")),
    timeoutSeconds: opt("timeout", DEFAULTS.timeoutSeconds, num(positive, "a number of seconds > 0")),
    logsDir: opt("logs", undefined, folder),
    json: values.json ?? false,
    help: values.help ?? false,
    progress,
  };
}
