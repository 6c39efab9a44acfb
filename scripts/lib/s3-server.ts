/**
 * An S3-compatible server (s3rver) on 127.0.0.1, for tests, benchmarks and the
 * local runner. Listens on a free port, keeps its objects in a temporary folder
 * and removes it on close. Clients need path-style addressing
 * (`forcePathStyle: true`; the functions turn it on when AWS_ENDPOINT_URL_S3 is set).
 */
import * as fs from "fs";
import type { Server } from "http";
import * as os from "os";
import * as path from "path";

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

export interface S3ServerOptions {
  /** Buckets created at start. */
  readonly buckets: readonly string[];
  /** Host to listen on. @default "127.0.0.1" */
  readonly host?: string;
  /** Port. @default 0 (a free one) */
  readonly port?: number;
}

export interface S3Server {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_S3. */
  readonly endpoint: string;
  readonly port: number;
  /** Where the objects live (removed on close). */
  readonly directory: string;
  close(): Promise<void>;
}

export async function startS3Server(options: S3ServerOptions): Promise<S3Server> {
  // s3rver ships no type declarations.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require("s3rver") as S3rverConstructor;
  const host = options.host ?? "127.0.0.1";
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "s3rver-"));
  const server = new S3rver({
    address: host,
    port: options.port ?? 0,
    silent: true,
    directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  let closed = false;
  return {
    endpoint: `http://${host}:${port}`,
    port,
    directory,
    async close() {
      if (closed) return;
      closed = true;
      // Keep-alive connections would hold close() open until they time out.
      const done = server.close();
      server.httpServer?.closeAllConnections();
      await done;
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
