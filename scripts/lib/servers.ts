/**
 * The one way the harness runs its loopback servers off the main thread: the
 * servers process (scripts/servers.ts, compiled to servers.js), started under a
 * high `ulimit -n` and spoken to over IPC. `npm run bench` asks for S3, the
 * StartExecution endpoint and the origin; `npm run local` for S3 behind its
 * SlowDown fault proxy.
 */
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";

/** What the servers process runs (passed to it as FANOUT_SERVERS). */
export interface ServersSpec {
  /**
   * s3rver with these buckets; `slowDown` puts the 503 SlowDown fault proxy in
   * front; `tls` serves HTTPS with the PEM key and certificate in these files.
   */
  readonly s3?: {
    readonly buckets: readonly string[];
    readonly slowDown?: { readonly rate: number; readonly seed: number };
    readonly tls?: { readonly keyFile: string; readonly certFile: string };
  };
  /** The Step Functions StartExecution endpoint. */
  readonly sfn?: boolean;
  /** The origin server. */
  readonly origin?: boolean;
  /** Nice value the process asks for (a negative one needs privileges; ignored without). */
  readonly nice?: number;
}

export interface ServerCounts {
  readonly s3: number;
  readonly sfn: number;
  readonly origin: number;
  /** Most connections open at once on the S3 server since the last reset. */
  readonly s3PeakOpen: number;
  /** TLS handshakes the S3 server completed (0 over plain HTTP), and how many of them resumed a session. */
  readonly s3Handshakes: number;
  readonly s3Resumed: number;
  /** CPU time (user + system) of the servers process since the last reset, ms. */
  readonly cpuMs: number;
}

export interface ServersProcess {
  readonly pid: number;
  /** Current S3 endpoint (changes after freshS3). */
  s3Endpoint(): string;
  /** The SlowDown fault proxy's endpoint (changes after freshS3), when asked for. */
  s3ProxyEndpoint(): string | undefined;
  readonly sfnEndpoint: string;
  readonly originUrl: string;
  /** Replaces the S3 server with an empty one (objects deleted, counters zeroed); `plain`: HTTP even when the spec has `tls`. */
  freshS3(buckets?: readonly string[], options?: { readonly plain?: boolean }): Promise<string>;
  counts(): Promise<ServerCounts>;
  reset(): Promise<void>;
  executions(): Promise<{ calls: number; executions: number }>;
  /** SlowDown answers injected so far. */
  injected(): Promise<number>;
  /** Seconds the process's event loop has been busy (its share of a run's CPU). */
  busySeconds(): Promise<number>;
  close(): Promise<void>;
}

export interface StartServersOptions {
  /** The compiled servers.js (dist/scripts/servers.js, or a private copy of it). */
  readonly script: string;
  readonly spec: ServersSpec;
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
  if (!fs.existsSync(options.script)) throw new Error(`servers process: no ${options.script} (run \`npm run build\`)`);
  const limit = options.maxOpenFiles ?? 20000;
  // `ulimit -n` fails above the hard limit: fall back to the hard limit.
  const child: ChildProcess = spawn(
    "bash",
    ["-c", `ulimit -n ${limit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$1"`, process.execPath, options.script],
    {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: {
        ...process.env,
        ...options.env,
        ...(options.storageDir ? { TMPDIR: options.storageDir } : {}),
        FANOUT_SERVERS: JSON.stringify(options.spec),
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
  let s3 = first as Reply;
  return {
    pid: child.pid as number,
    s3Endpoint: () => s3.s3 as string,
    s3ProxyEndpoint: () => s3.s3Proxy as string | undefined,
    sfnEndpoint: first.sfn as string,
    originUrl: first.origin as string,
    async freshS3(buckets, fresh) {
      s3 = await ask("fresh-s3", { buckets: buckets ?? options.spec.s3?.buckets, plain: fresh?.plain ?? false });
      return s3.s3 as string;
    },
    counts: async () => (await ask("counts")).counts as ServerCounts,
    reset: async () => void (await ask("reset")),
    executions: async () => {
      const r = await ask("executions");
      return { calls: r.calls as number, executions: r.executions as number };
    },
    injected: async () => (await ask("injected")).injected as number,
    busySeconds: async () => (await ask("busy")).busySeconds as number,
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
