/** processor configuration, loaded once at module scope by the handler. */
import { ENV } from "../../contract";
import { loadRuntimeConfig, type RuntimeConfig } from "../shared/config";
import { intFromEnv, type Env } from "../shared/env";
import { loadWorkerConfig, type WorkerConfig } from "../shared/worker-config";

export interface ProcessorConfig extends RuntimeConfig, WorkerConfig {
  /** Lines per chunk for text input. */
  readonly chunkLines: number;
  /** Bytes per chunk for binary input; also the most a text chunk may hold (very long lines). */
  readonly chunkBytes: number;
}

export function loadProcessorConfig(env: Env = process.env): ProcessorConfig {
  return {
    ...loadRuntimeConfig(env),
    ...loadWorkerConfig(env),
    // No fallbacks: the stack sets both, and a bundle without one fails its init.
    chunkLines: intFromEnv(env, ENV.chunkLines, { min: 1, max: 1_000_000 }),
    chunkBytes: intFromEnv(env, ENV.chunkBytes, { min: 1, max: 64 * 1024 ** 2 }),
  };
}
