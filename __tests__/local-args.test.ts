/** `npm run local`'s options: defaults, both `--flag value` and `--flag=value`, and errors that name the option and the value. */
import { parseArgs } from "../scripts/local/args";
import { DEFAULTS } from "../scripts/local/run";

test("with no options, the defaults (and a seed of its own)", () => {
  const o = parseArgs([]);
  expect(o).toMatchObject({
    messages: DEFAULTS.messages,
    itemsPerMessage: DEFAULTS.itemsPerMessage,
    env: DEFAULTS.env,
    timeScale: DEFAULTS.timeScale,
    maxEnvironments: DEFAULTS.maxEnvironments,
    json: false,
    help: false,
    progress: "auto",
  });
  expect(o.synthDir).toBeUndefined();
  expect(Number.isInteger(o.seed)).toBe(true);
});

test("reads every option, as --flag value and as --flag=value", () => {
  const o = parseArgs([
    "--messages", "200", "--items-per-message=40", "--bad-ratio", "0", "--bad-item-ratio=0.1", "--bad-job-ratio", "0.5",
    "--url-length", "300", "--faults", "s3-503:0.05,duplicate:0.1", "--json", "--seed", "7", "--env", "prod",
    "--synth-dir", "cdktf.out", "--time-scale=0.01", "--retry-scale", "0", "--max-environments", "3",
    "--fetch-timeout-ms", "1500", "--timeout", "90", "--logs", "logs", "--progress", "lines",
  ]);
  expect(o).toMatchObject({
    messages: 200, itemsPerMessage: 40, badRatio: 0, badItemRatio: 0.1, badJobRatio: 0.5, urlLength: 300, json: true, seed: 7,
    env: "prod", synthDir: "cdktf.out", timeScale: 0.01, retryScale: 0, maxEnvironments: 3, fetchTimeoutMs: 1500, timeoutSeconds: 90,
    logsDir: "logs", progress: "lines",
  });
  expect(o.faults).toEqual(parseArgs(["--faults=s3-503:0.05,duplicate:0.1"]).faults);
  expect(parseArgs(["-h"]).help).toBe(true);
});

test.each([
  [["--messages", "0"], '--messages needs an integer ≥ 1 (got "0")'],
  [["--items-per-message=2.5"], '--items-per-message needs an integer ≥ 1 (got "2.5")'],
  [["--bad-ratio", "1.5"], '--bad-ratio needs a ratio between 0 and 1 (got "1.5")'],
  [["--url-length", "10"], '--url-length needs an integer ≥ 40 (got "10")'],
  [["--env", "Prod!"], '--env needs an environment name (got "Prod!")'],
  [["--progress", "fancy"], '--progress needs auto, bar, lines, off (got "fancy")'],
  [["--time-scale", "abc"], '--time-scale needs a number > 0 (got "abc")'],
  [["--synth-dir="], "--synth-dir needs a folder"],
])("refuses %j: %s", (argv, message) => {
  expect(() => parseArgs(argv)).toThrow(message);
});

test("an unknown option, a missing value or a stray argument is a usage error pointing at --help", () => {
  expect(() => parseArgs(["--mesages", "3"])).toThrow(/--mesages.*\(see --help\)$/);
  expect(() => parseArgs(["--messages"])).toThrow(/--messages.*\(see --help\)$/);
  expect(() => parseArgs(["200"])).toThrow(/200.*\(see --help\)$/);
});
