/**
 * S3 for a local run: s3rver, with the SlowDown fault proxy in front when the
 * run injects 503s, in the harness's servers process (scripts/lib/servers.ts).
 * Every S3 request of every function goes through it, so it runs in a process
 * of its own, at a raised priority: s3rver's file I/O and HTTP parsing then use
 * the second core instead of competing with the state machine interpreter on
 * the runner's main thread, or being preempted by the function processes.
 */
import * as path from "path";
import { PROJECT_ROOT } from "../../modules/bundle";
import { memoryStorageDir, startServers, type ServersProcess } from "../lib/servers";

/**
 * Scheduling priority of the S3 process (a nice value; needs privileges, else it runs at
 * normal priority; LOCAL_S3_NICE=0 turns it off). s3rver is single-threaded and every function
 * waits on it: at normal priority it was busy 80% of a 30 × 40 run's wall time. In 4 paired runs
 * (30 and 60 messages × 40 items, on the 2-core machine shared with other work) -5 was faster in 3
 * (by 8–33%) and slower in 1 (by 8%): a small, noisy gain.
 */
const DEFAULT_S3_NICE = -5;

export interface LocalS3Options {
  /** The compiled servers.js. @default dist/scripts/servers.js */
  readonly script?: string;
  readonly bucket: string;
  /** SlowDown (503) probability per request; 0 leaves the proxy out (one hop less per request). */
  readonly slowDownRate: number;
  readonly seed: number;
}

/**
 * s3rver writes two files per object. On this kind of machine /tmp is a shared
 * virtual disk and /dev/shm is memory: the objects of a local run are small, so
 * they go to /dev/shm when it exists (LOCAL_S3_DIR overrides).
 */
export function startLocalS3(options: LocalS3Options): Promise<ServersProcess> {
  const nice = Number(process.env.LOCAL_S3_NICE ?? DEFAULT_S3_NICE);
  return startServers({
    script: options.script ?? path.join(PROJECT_ROOT, "dist", "scripts", "servers.js"),
    spec: {
      s3: { buckets: [options.bucket], ...(options.slowDownRate > 0 ? { slowDown: { rate: options.slowDownRate, seed: options.seed } } : {}) },
      ...(Number.isInteger(nice) && nice !== 0 ? { nice } : {}),
    },
    storageDir: process.env.LOCAL_S3_DIR ?? memoryStorageDir(),
    // Its packages are external: found from the project, wherever the script is (a test's copy).
    env: { NODE_PATH: path.join(PROJECT_ROOT, "node_modules") },
  });
}
