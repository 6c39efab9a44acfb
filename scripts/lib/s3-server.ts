/**
 * An S3-compatible server (s3rver) on 127.0.0.1, for tests, benchmarks and the
 * local runner. Listens on a free port, keeps its objects in a temporary folder
 * and removes it on close. Clients need path-style addressing
 * (`forcePathStyle: true`; the functions turn it on when AWS_ENDPOINT_URL_S3 is set).
 * Given a key and certificate it serves HTTPS, as S3 does, and counts the TLS
 * handshakes it completes (and how many resumed a session).
 *
 * s3rver ignores `If-None-Match`; S3 does not. In front of it, a conditional
 * write (`If-None-Match: *` on a PutObject or a CompleteMultipartUpload) of a
 * key that exists answers 412 `PreconditionFailed` with S3's XML error body and
 * writes nothing, and conditional writes of one key are serialised, so of two
 * racing for a new key exactly one wins.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import type { IncomingMessage, Server, ServerResponse } from "http";
import * as os from "os";
import * as path from "path";
import type { TLSSocket } from "tls";

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
  /** s3rver's filesystem store. */
  store: { existsObject(bucket: string, key: string): Promise<boolean> };
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

export interface S3ServerOptions {
  /** Buckets created at start. */
  readonly buckets: readonly string[];
  /** Host to listen on. @default "127.0.0.1" */
  readonly host?: string;
  /** Port. @default 0 (a free one) */
  readonly port?: number;
  /** Serve HTTPS with this PEM key and certificate (the client must trust the certificate). */
  readonly tls?: { readonly key: string; readonly cert: string };
}

export interface TlsCounts {
  /** TLS handshakes completed. */
  readonly handshakes: number;
  /** Of those, how many resumed an earlier session (an abbreviated handshake). */
  readonly resumed: number;
}

export interface S3Server {
  /** `http://127.0.0.1:<port>` (`https://` with `tls`): the value for AWS_ENDPOINT_URL_S3. */
  readonly endpoint: string;
  readonly port: number;
  /** Where the objects live (removed on close). */
  readonly directory: string;
  /** Handshakes since start or the last `resetTls` (zero without `tls`). */
  tlsCounts(): TlsCounts;
  resetTls(): void;
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
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
  });
  const { port } = await server.run();
  if (server.httpServer) guardConditionalWrites(server.httpServer, (bucket, key) => server.store.existsObject(bucket, key));
  let tls = { handshakes: 0, resumed: 0 };
  server.httpServer?.on("secureConnection", (socket: TLSSocket) => {
    tls = { handshakes: tls.handshakes + 1, resumed: tls.resumed + (socket.isSessionReused() ? 1 : 0) };
  });
  let closed = false;
  return {
    endpoint: `${options.tls ? "https" : "http"}://${host}:${port}`,
    port,
    directory,
    tlsCounts: () => tls,
    resetTls: () => void (tls = { handshakes: 0, resumed: 0 }),
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

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** The bucket and key of a path-style object request, or undefined. */
function objectOf(url: string | undefined): { bucket: string; key: string } | undefined {
  const pathname = new URL(url ?? "/", "http://s3.local").pathname;
  const match = /^\/([^/]+)\/(.+)$/.exec(pathname);
  if (!match) return undefined;
  try {
    return { bucket: decodeURIComponent(match[1]), key: decodeURIComponent(match[2]) };
  } catch {
    return undefined;
  }
}

/** A write that S3 would evaluate `If-None-Match` on: PutObject (not UploadPart, not CopyObject) or CompleteMultipartUpload. */
function isConditionalWrite(req: IncomingMessage): boolean {
  if (req.headers["if-none-match"]?.trim() !== "*") return false;
  const query = new URL(req.url ?? "/", "http://s3.local").searchParams;
  if (req.method === "PUT") return !query.has("partNumber") && !query.has("uploadId") && !req.headers["x-amz-copy-source"];
  return req.method === "POST" && query.has("uploadId");
}

/** S3's answer to a failed `If-None-Match: *`. */
function preconditionFailed(res: ServerResponse, key: string): void {
  const requestId = randomBytes(8).toString("hex").toUpperCase();
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message>" +
    `<Condition>If-None-Match</Condition><Key>${key.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)}</Key>` +
    `<RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`;
  res.writeHead(412, { "content-type": "application/xml", "content-length": Buffer.byteLength(body), "x-amz-request-id": requestId });
  res.end(body);
}

/**
 * Puts conditional writes in front of s3rver's request listener: one at a time
 * per key (a chain of promises), each checking the store before s3rver sees it
 * and holding the key until s3rver has answered.
 */
function guardConditionalWrites(httpServer: Server, exists: (bucket: string, key: string) => Promise<boolean>): void {
  const listeners = httpServer.listeners("request") as Listener[];
  httpServer.removeAllListeners("request");
  const forward: Listener = (req, res) => {
    for (const listener of listeners) listener.call(httpServer, req, res);
  };
  const tails = new Map<string, Promise<void>>();
  httpServer.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const target = isConditionalWrite(req) ? objectOf(req.url) : undefined;
    if (!target) return forward(req, res);
    const id = `${target.bucket}/${target.key}`;
    // The body waits, unread, in the request's buffer until it is this request's turn.
    const previous = tails.get(id) ?? Promise.resolve();
    const turn = previous.then(async () => {
      let found: boolean;
      try {
        found = await exists(target.bucket, target.key);
      } catch {
        found = false;
      }
      if (found) {
        preconditionFailed(res, target.key);
        req.resume(); // discard the body
        return;
      }
      await new Promise<void>((resolve) => {
        res.once("close", resolve);
        forward(req, res);
      });
    });
    const tail = turn.catch(() => undefined);
    tails.set(id, tail);
    void tail.then(() => {
      if (tails.get(id) === tail) tails.delete(id);
    });
  });
}
