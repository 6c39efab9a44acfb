/**
 * `npm run local -- [--messages N] [--items-per-message K] [--bad-ratio R] [--faults <list>] [--json] …`
 * The whole pipeline on this machine; `--help` lists the options. Exit status 0
 * only when the ledger accounts for every message exactly once.
 */
import { parseArgs, USAGE } from "./local/args";
import { Progress } from "./local/progress";
import { runLocal } from "./local/run";
import { formatSummary } from "./local/summary";

/** The SDK warns that its 2027 releases will need Node 22: true, but not this command's business. */
function quietSdkVersionWarning(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
}

async function main(): Promise<number> {
  quietSdkVersionWarning();
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`npm run local: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const stream = process.stderr;
  let current = { sent: 0, settled: 0, executionsRunning: 0, executionsDone: 0, tasksDone: 0, throttles: 0, elapsedMs: 0 };
  const progress =
    options.progress === "off"
      ? undefined
      : new Progress(() => current, { stream, tty: options.progress === "auto" ? undefined : options.progress === "bar" });
  const log = (line: string) => (progress ? progress.log(line) : stream.write(`${line}\n`));
  let started = false;
  const interrupt = new AbortController();
  process.once("SIGINT", () => {
    log("[local] interrupted: cleaning up (Ctrl-C again to force)");
    interrupt.abort();
    process.once("SIGINT", () => process.exit(130));
  });
  try {
    const summary = await runLocal({
      ...options,
      signal: interrupt.signal,
      log,
      onProgress: (s) => {
        current = s;
        if (!started && progress) {
          started = true;
          progress.start();
        }
      },
    });
    progress?.stop();
    if (options.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stdout.write(`\n${formatSummary(summary)}\n`);
    return summary.ok ? 0 : 1;
  } catch (error) {
    progress?.stop();
    if (interrupt.signal.aborted) return 130;
    // The message says what to fix; DEBUG=1 adds where it came from.
    const e = error as Error;
    process.stderr.write(`npm run local: ${process.env.DEBUG ? (e.stack ?? String(e)) : (e.message ?? String(e))}\n`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
