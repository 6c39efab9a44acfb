/**
 * Fault injection for the local runner.
 *
 * `--faults s3-503:0.05,origin-timeout:0.02,origin-reset:0.02,duplicate:0.05,poison:0.02`
 *   s3-503          each S3 request answers 503 SlowDown (the SDK retries it)
 *   origin-timeout  each origin request hangs (the fetcher's timeout fires)
 *   origin-reset    each origin request has its connection destroyed
 *   duplicate       each ingest-queue delivery is delivered a second time (at-least-once)
 *   poison          each good message's StartExecution always fails (500), so it
 *                   goes back to the queue until maxReceiveCount sends it to the DLQ
 *   finalize-fail   each execution's finalize task is answered with SendTaskFailure
 *                   (a name no Retry takes), so the definition's own fallback writes
 *                   status.json and fails the execution
 *   stale-token     each work-queue message, once acknowledged, is delivered again:
 *                   its task token is closed by then, and the worker must skip it
 *   worker-kill     each first receive of a work-queue message has its worker's
 *                   process killed mid-invocation (Runtime.ExitError): the message
 *                   comes back after the visibility timeout
 *
 * S3 and origin faults come from a small HTTP proxy on 127.0.0.1 in front of the
 * real server; everything else passes through untouched.
 */
import * as http from "http";
import { listenOnLoopback } from "../lib/listen";

export const FAULT_NAMES = ["s3-503", "origin-timeout", "origin-reset", "duplicate", "poison", "finalize-fail", "stale-token", "worker-kill"] as const;
export type FaultName = (typeof FAULT_NAMES)[number];
export type FaultRates = Readonly<Record<FaultName, number>>;

export const NO_FAULTS: FaultRates = {
  "s3-503": 0,
  "origin-timeout": 0,
  "origin-reset": 0,
  duplicate: 0,
  poison: 0,
  "finalize-fail": 0,
  "stale-token": 0,
  "worker-kill": 0,
};

/** Parses `name:rate,…` (rates in [0, 1]); an empty string means no faults. */
export function parseFaults(spec: string | undefined): FaultRates {
  const rates: Record<FaultName, number> = { ...NO_FAULTS };
  for (const part of (spec ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    const [name, raw] = part.split(":");
    if (!(FAULT_NAMES as readonly string[]).includes(name)) {
      throw new Error(`unknown fault "${name}" (known: ${FAULT_NAMES.join(", ")})`);
    }
    const rate = raw === undefined ? NaN : Number(raw);
    if (!Number.isFinite(rate) || rate < 0 || rate > 1) {
      throw new Error(`fault "${name}" needs a rate between 0 and 1, as in ${name}:0.05 (got "${part}")`);
    }
    rates[name as FaultName] = rate;
  }
  return rates;
}

export function formatFaults(rates: FaultRates): string {
  const on = FAULT_NAMES.filter((n) => rates[n] > 0).map((n) => `${n}:${rates[n]}`);
  return on.length ? on.join(",") : "none";
}

/** A small seeded PRNG (mulberry32), so a run can be repeated with `--seed`. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the proxy does with one request. */
export type FaultAction =
  | { readonly kind: "pass" }
  | { readonly kind: "respond"; readonly status: number; readonly headers: http.OutgoingHttpHeaders; readonly body: string }
  | { readonly kind: "hang" }
  | { readonly kind: "reset" };

export interface FaultProxyOptions {
  /** The server behind the proxy. */
  readonly target: { readonly host: string; readonly port: number };
  /**
   * Decides per request. Called with the request head and, when `needsBody`
   * says so, the whole body (buffered); otherwise the body streams through.
   */
  readonly decide: (req: http.IncomingMessage, body?: Buffer) => FaultAction;
  readonly needsBody?: (req: http.IncomingMessage) => boolean;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** Requests seen, and faults injected by kind. */
  readonly counts: { requests: number; injected: Record<string, number> };
  close(): Promise<void>;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const counts = { requests: 0, injected: {} as Record<string, number> };
  // Keep-alive towards the target, like the clients do towards us.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer) => {
    const upstream = http.request(
      { host: options.target.host, port: options.target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on("error", () => res.destroy());
      },
    );
    upstream.on("error", () => res.destroy());
    if (body) upstream.end(body);
    else req.pipe(upstream);
  };

  const apply = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer) => {
    counts.requests++;
    const action = options.decide(req, body);
    if (action.kind !== "pass") {
      const label = action.kind === "respond" ? String(action.status) : action.kind;
      counts.injected[label] = (counts.injected[label] ?? 0) + 1;
    }
    switch (action.kind) {
      case "pass":
        return forward(req, res, body);
      case "respond":
        // The request body is not wanted: drain it so the connection stays usable.
        req.resume();
        res.writeHead(action.status, { ...action.headers, "content-length": Buffer.byteLength(action.body) });
        return res.end(action.body);
      case "hang":
        req.resume();
        return; // never answers; the socket is destroyed when the proxy closes
      case "reset":
        return req.socket.destroy();
    }
  };

  const server = http.createServer((req, res) => {
    if (options.needsBody?.(req)) {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => apply(req, res, Buffer.concat(chunks)));
      return;
    }
    apply(req, res);
  });
  server.keepAliveTimeout = 30_000;
  const listening = await listenOnLoopback(server);
  const { port } = listening;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    counts,
    close: () => {
      agent.destroy();
      return listening.close();
    },
  };
}

/** `host` and `port` of an `http://host:port` endpoint. */
export function hostPort(endpoint: string): { host: string; port: number } {
  const url = new URL(endpoint);
  return { host: url.hostname, port: Number(url.port) };
}

/** S3's throttling answer. */
export function slowDown(requestId: string): FaultAction {
  return {
    kind: "respond",
    status: 503,
    headers: { "content-type": "application/xml", "x-amz-request-id": requestId },
    body:
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>` +
      `<Message>Please reduce your request rate.</Message><RequestId>${requestId}</RequestId></Error>`,
  };
}

/** The proxy in front of s3rver: 503 SlowDown at `rate`. */
export function startS3FaultProxy(s3Endpoint: string, rate: number, random: () => number): Promise<FaultProxy> {
  let n = 0;
  return startFaultProxy({
    target: hostPort(s3Endpoint),
    decide: () => (rate > 0 && random() < rate ? slowDown(`local-slowdown-${++n}`) : { kind: "pass" }),
  });
}

/** The proxy in front of the origin: hangs and resets at their rates. */
export function startOriginFaultProxy(
  originUrl: string,
  rates: { timeout: number; reset: number },
  random: () => number,
): Promise<FaultProxy> {
  return startFaultProxy({
    target: hostPort(originUrl),
    decide: () => {
      const r = random();
      if (r < rates.timeout) return { kind: "hang" };
      if (r < rates.timeout + rates.reset) return { kind: "reset" };
      return { kind: "pass" };
    },
  });
}

/**
 * The proxy in front of the Step Functions endpoint: StartExecution for a
 * poisoned execution name answers 500 InternalFailure, every time.
 */
export function startSfnFaultProxy(sfnEndpoint: string, isPoisoned: (name: string) => boolean): Promise<FaultProxy> {
  return startFaultProxy({
    target: hostPort(sfnEndpoint),
    needsBody: () => true,
    decide: (_req, body) => {
      let name = "";
      try {
        name = String((JSON.parse(body?.toString("utf8") ?? "{}") as { name?: unknown }).name ?? "");
      } catch {
        return { kind: "pass" };
      }
      if (!isPoisoned(name)) return { kind: "pass" };
      return {
        kind: "respond",
        status: 500,
        headers: { "content-type": "application/x-amz-json-1.0" },
        body: JSON.stringify({ __type: "InternalFailure", message: `injected: execution ${name} is poisoned` }),
      };
    },
  });
}
