/**
 * What a function writes to stdout and stderr (what CloudWatch Logs would
 * receive), collected line by line for the tests that read logs or EMF metrics.
 */
import { createObservability, type Observability } from "../../functions/shared/observability";

export interface CapturedOutput {
  readonly lines: string[];
  restore(): void;
}

/** Collects every line written to stdout and stderr until `restore()`. Powertools writes debug and info to stdout, warn and error to stderr. */
export function captureOutput(): CapturedOutput {
  const lines: string[] = [];
  const collect = (chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split("\n").filter(Boolean));
    return true;
  };
  const spies = [jest.spyOn(process.stdout, "write").mockImplementation(collect), jest.spyOn(process.stderr, "write").mockImplementation(collect)];
  return { lines, restore: () => spies.forEach((spy) => spy.mockRestore()) };
}

/** A logger and metrics as a function creates them (`createObservability`), at DEBUG, with their output captured. */
export function capturedObservability(name: string): Observability & CapturedOutput {
  const saved = process.env.POWERTOOLS_LOG_LEVEL;
  process.env.POWERTOOLS_LOG_LEVEL = "DEBUG";
  const observability = createObservability(name);
  if (saved === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
  else process.env.POWERTOOLS_LOG_LEVEL = saved;
  return { ...observability, ...captureOutput() };
}
