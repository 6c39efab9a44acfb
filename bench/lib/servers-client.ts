/**
 * The parent's handle on the servers process (bench/servers.ts): started under
 * a high `ulimit -n`, spoken to over IPC.
 */
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { ServerCounts } from "../servers";

export interface ServersProcess {
  readonly pid: number;
  /** Current S3 endpoint (changes after freshS3). */
  s3Endpoint(): string;
  readonly sfnEndpoint: string;
  readonly originUrl: string;
  /** Replaces the S3 server with an empty one (objects deleted, counters zeroed). */
  freshS3(buckets?: string[]): Promise<string>;
  counts(): Promise<ServerCounts>;
  reset(): Promise<void>;
  executions(): Promise<{ calls: number; executions: number }>;
  close(): Promise<void>;
}

export interface StartServersOptions {
  /** Folder holding the compiled servers.js. */
  readonly scriptDir: string;
  readonly buckets: readonly string[];
  /** `ulimit -n` of the servers process. @default 20000 (or the hard limit, if lower) */
  readonly maxOpenFiles?: number;
  /** Extra environment (NODE_PATH for a private copy of the script). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Where s3rver keeps its objects (its TMPDIR). A tmpfs such as /dev/shm keeps
   * the disk, and whatever else writes to it, out of the measurement.
   * @default the system temporary folder
   */
  readonly storageDir?: string;
}

/** /dev/shm when it is a writable folder, else undefined (the system temporary folder). */
export function memoryStorageDir(): string | undefined {
  try {
    fs.accessSync("/dev/shm", fs.constants.W_OK);
    return fs.statSync("/dev/shm").isDirectory() ? "/dev/shm" : undefined;
  } catch {
    return undefined;
  }
}

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

export async function startServers(options: StartServersOptions): Promise<ServersProcess> {
  const limit = options.maxOpenFiles ?? 20000;
  const script = path.join(options.scriptDir, "servers.js");
  // `ulimit -n` fails above the hard limit: fall back to the hard limit.
  const child: ChildProcess = spawn(
    "bash",
    ["-c", `ulimit -n ${limit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$1"`, process.execPath, script],
    {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: {
        ...process.env,
        ...options.env,
        ...(options.storageDir ? { TMPDIR: options.storageDir } : {}),
        BENCH_BUCKETS: options.buckets.join(","),
      },
    },
  );
  const waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited = false;
  child.on("message", (reply: Reply) => {
    const waiter = waiting.get(reply.id);
    waiting.delete(reply.id);
    if (!waiter) return;
    if (reply.ok) waiter.resolve(reply);
    else waiter.reject(new Error(`servers process: ${reply.error}`));
  });
  child.on("exit", (code) => {
    exited = true;
    for (const waiter of waiting.values()) waiter.reject(new Error(`servers process exited (code ${code})`));
    waiting.clear();
  });
  const first = await new Promise<Reply>((resolve, reject) => {
    waiting.set(0, { resolve, reject });
    child.once("error", reject);
  });
  const ask = (cmd: string, extra: object = {}): Promise<Reply> => {
    if (exited) return Promise.reject(new Error("servers process has exited"));
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      child.send({ id, cmd, ...extra });
    });
  };
  let s3 = first.s3 as string;
  return {
    pid: child.pid as number,
    s3Endpoint: () => s3,
    sfnEndpoint: first.sfn as string,
    originUrl: first.origin as string,
    async freshS3(buckets) {
      const reply = await ask("fresh-s3", { buckets: buckets ?? options.buckets });
      s3 = reply.s3 as string;
      return s3;
    },
    counts: async () => (await ask("counts")).counts as ServerCounts,
    reset: async () => void (await ask("reset")),
    executions: async () => {
      const r = await ask("executions");
      return { calls: r.calls as number, executions: r.executions as number };
    },
    async close() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      await ask("close").catch(() => undefined);
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
