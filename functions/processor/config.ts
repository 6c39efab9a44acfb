/** processor configuration: its environment schema, parsed once at module scope by the handler (and at synth). */
import * as z from "zod/mini";
import { ENV } from "../../contract";
import { RUNTIME_ENV, runtimeConfig, type RuntimeConfig } from "../shared/config";
import { integers, parseEnv, type Env } from "../shared/env";
import { WORKER_ENV, workerConfig, type WorkerConfig } from "../shared/worker-config";

export interface ProcessorConfig extends RuntimeConfig, WorkerConfig {
  /** Lines per chunk for text input. */
  readonly chunkLines: number;
  /** Bytes per chunk for binary input; also the most a text chunk may hold (very long lines). */
  readonly chunkBytes: number;
}

/** Every variable the processor reads. */
export const PROCESSOR_ENV = z.object({
  ...RUNTIME_ENV,
  ...WORKER_ENV,
  ...integers("chunkLines", "chunkBytes"),
});

export function loadProcessorConfig(env: Env = process.env): ProcessorConfig {
  const e = parseEnv(PROCESSOR_ENV, env);
  return { ...runtimeConfig(e, env), ...workerConfig(e), chunkLines: e[ENV.chunkLines], chunkBytes: e[ENV.chunkBytes] };
}
