/** Command-line options of `npm run local`. */
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

export function parseArgs(argv: readonly string[]): CliOptions {
  const o: { -readonly [K in keyof CliOptions]: CliOptions[K] } = {
    messages: DEFAULTS.messages,
    itemsPerMessage: DEFAULTS.itemsPerMessage,
    badRatio: DEFAULTS.badRatio,
    badItemRatio: DEFAULTS.badItemRatio,
    faults: parseFaults(""),
    seed: Date.now() % 1_000_000,
    env: DEFAULTS.env,
    timeScale: DEFAULTS.timeScale,
    retryScale: DEFAULTS.retryScale,
    maxEnvironments: DEFAULTS.maxEnvironments,
    fetchTimeoutMs: DEFAULTS.fetchTimeoutMs,
    timeoutSeconds: DEFAULTS.timeoutSeconds,
    json: false,
    help: false,
    progress: "auto",
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => value ?? argv[++i];
    switch (arg) {
      case "--messages": o.messages = number(arg, next(), int(1), "an integer ≥ 1"); break;
      case "--items-per-message": o.itemsPerMessage = number(arg, next(), int(1), "an integer ≥ 1"); break;
      case "--bad-ratio": o.badRatio = number(arg, next(), ratio, "a ratio between 0 and 1"); break;
      case "--bad-item-ratio": o.badItemRatio = number(arg, next(), ratio, "a ratio between 0 and 1"); break;
      case "--bad-job-ratio": o.badJobRatio = number(arg, next(), ratio, "a ratio between 0 and 1"); break;
      case "--url-length": o.urlLength = number(arg, next(), int(40), "an integer ≥ 40"); break;
      case "--faults": o.faults = parseFaults(next()); break;
      case "--json": o.json = true; break;
      case "--seed": o.seed = number(arg, next(), int(0), "an integer ≥ 0"); break;
      case "--env": o.env = next() ?? ""; if (!/^[a-z0-9]{1,12}$/.test(o.env)) throw new Error(`--env needs an environment name (got "${o.env}")`); break;
      case "--synth-dir": o.synthDir = next(); if (!o.synthDir) throw new Error("--synth-dir needs a folder"); break;
      case "--time-scale": o.timeScale = number(arg, next(), positive, "a number > 0"); break;
      case "--retry-scale": o.retryScale = number(arg, next(), (n) => n >= 0, "a number ≥ 0"); break;
      case "--max-environments": o.maxEnvironments = number(arg, next(), int(1), "an integer ≥ 1"); break;
      case "--fetch-timeout-ms": o.fetchTimeoutMs = number(arg, next(), int(100), "an integer ≥ 100"); break;
      case "--timeout": o.timeoutSeconds = number(arg, next(), positive, "a number of seconds > 0"); break;
      case "--logs": o.logsDir = next(); if (!o.logsDir) throw new Error("--logs needs a folder"); break;
      case "--progress": {
        const mode = next();
        if (mode !== "auto" && mode !== "bar" && mode !== "lines" && mode !== "off") throw new Error(`--progress needs auto, bar, lines or off (got "${mode}")`);
        o.progress = mode;
        break;
      }
      case "-h":
      case "--help": o.help = true; break;
      default:
        throw new Error(`unknown option "${argv[i]}" (see --help)`);
    }
  }
  return o;
}
